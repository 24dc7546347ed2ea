"""Model-free figures of one frame or one pair of frames (uint8 RGB arrays [H, W, 3]), from OpenCV and numpy.

- optical flow: OpenCV DIS on grey frames (medium preset; fast for the motion guard), in pixels;
- warp error: the previous frame warped onto the current one along the flow, mean squared error on a 0..1 scale;
- colour: the frame's mean colour in CIELAB (OpenCV's sRGB -> XYZ (D65) -> L*a*b*), and ΔE*ab (CIE 1976: the
  Euclidean distance in L*a*b*);
- histogram distance: half the L1 distance of two normalised 8x8x8 RGB histograms (0 same colours .. 1 disjoint);
- pixel thumbnail: the grey frame at 16x16, mean removed, L2-normalised; the cosine of two thumbnails is the
  pixel-space similarity the drift curve falls back on when no feature model is installed.
"""

from __future__ import annotations

import numpy as np

FLOW_SIDE = 256  # the motion guard's flow runs on frames scaled so the short side is at most this (VBench's scale)
THUMBNAIL_SIDE = 16
HISTOGRAM_BINS = 8


def grey(frame: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


def flow(current_grey: np.ndarray, previous_grey: np.ndarray, fast: bool = False) -> np.ndarray:
    """Dense flow [H, W, 2] from `current_grey` to `previous_grey` (OpenCV DIS, medium preset; `fast`: the fast
    preset, enough for the motion guard's top-5% magnitude), in pixels."""
    import cv2

    preset = cv2.DISOPTICAL_FLOW_PRESET_FAST if fast else cv2.DISOPTICAL_FLOW_PRESET_MEDIUM
    return cv2.DISOpticalFlow_create(preset).calc(current_grey, previous_grey, None)


def warp_error(previous: np.ndarray, current: np.ndarray, flow_to_previous: np.ndarray | None = None) -> float:
    """Mean squared error (0..1 scale) between `current` and `previous` warped onto it along the optical flow from
    `current` to `previous`; the flow is computed when not given."""
    import cv2

    if flow_to_previous is None:
        flow_to_previous = flow(grey(current), grey(previous))
    height, width = current.shape[:2]
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    warped = cv2.remap(previous, grid_x + flow_to_previous[..., 0], grid_y + flow_to_previous[..., 1],
                       cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    difference = (warped.astype(np.float32) - current.astype(np.float32)) / 255.0
    return float(np.mean(difference**2))


def flow_scale(size: tuple[int, int]) -> float:
    """The factor that brings a frame of `size` (height, width) to the motion guard's short side (at most 1)."""
    return min(1.0, FLOW_SIDE / min(size))


def guard_grey(frame: np.ndarray) -> np.ndarray:
    """The grey frame the motion guard's flow runs on: scaled to a short side of at most FLOW_SIDE."""
    import cv2

    scale = flow_scale(frame.shape[:2])
    picture = grey(frame)
    if scale < 1.0:
        size = (max(1, round(frame.shape[1] * scale)), max(1, round(frame.shape[0] * scale)))
        picture = cv2.resize(picture, size, interpolation=cv2.INTER_AREA)
    return picture


def top_flow(flow_field: np.ndarray, share: float = 0.05) -> float:
    """Mean of the largest `share` of the flow's magnitudes: VBench's dynamic-degree statistic (top 5%, the count
    rounded down as VBench does)."""
    magnitude = np.sqrt((flow_field.astype(np.float32) ** 2).sum(-1)).ravel()
    count = max(1, int(magnitude.size * share))
    return float(np.partition(magnitude, magnitude.size - count)[-count:].mean())


def mean_lab(frame: np.ndarray) -> np.ndarray:
    """The frame's mean colour in CIELAB [L*, a*, b*] (L* 0..100), from sRGB with D65 white (OpenCV's float path)."""
    import cv2

    lab = cv2.cvtColor(frame.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    return lab.reshape(-1, 3).mean(0).astype(np.float64)


def delta_e(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    """ΔE*ab (CIE 1976) between L*a*b* colours (the last axis)."""
    return np.sqrt(((np.asarray(lab_a, np.float64) - np.asarray(lab_b, np.float64)) ** 2).sum(-1))


def histogram(frame: np.ndarray) -> np.ndarray:
    """The frame's normalised 8x8x8 RGB histogram (flattened, sums to 1)."""
    bins = (frame.reshape(-1, 3) // (256 // HISTOGRAM_BINS)).astype(np.int64)
    index = (bins[:, 0] * HISTOGRAM_BINS + bins[:, 1]) * HISTOGRAM_BINS + bins[:, 2]
    counts = np.bincount(index, minlength=HISTOGRAM_BINS**3).astype(np.float64)
    return counts / counts.sum()


def histogram_distance(histogram_a: np.ndarray, histogram_b: np.ndarray) -> float:
    """Half the L1 distance of two normalised histograms: 0 for the same colours, 1 for disjoint ones."""
    return float(0.5 * np.abs(histogram_a - histogram_b).sum())


def thumbnail(frame: np.ndarray) -> np.ndarray:
    """The pixel-space vector: grey 16x16 (area average), mean removed, L2-normalised (zeros for a flat frame)."""
    import cv2

    small = cv2.resize(grey(frame), (THUMBNAIL_SIDE, THUMBNAIL_SIDE), interpolation=cv2.INTER_AREA)
    vector = small.astype(np.float32).ravel()
    vector -= vector.mean()
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 1e-6 else vector
