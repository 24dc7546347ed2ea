"""Any drawing or photo -> a clean scribble map for the scribble ControlNet (white lines on black).

Steps, per image: resize to a multiple of 8; take the ink (dark-on-light drawings are inverted automatically) or,
for photos, Canny edges; threshold; measure the stroke width and thicken strokes thinner than `min_line_width`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import torch

from .images import check_image_batch

logger = logging.getLogger("LongForm")

INVERT_MODES = ("auto", "dark lines on light", "light lines on dark")
# Below this share of line pixels a scribble map is treated as blank.
MIN_INK_FRACTION = 1e-4


def snap_size(width: int, height: int, target_width: int = 0, target_height: int = 0) -> tuple[int, int]:
    """The output size: the target (0 keeps the input's, or scales with the other side), rounded down to x8."""
    if target_width and not target_height:
        target_height = round(height * target_width / width)
    elif target_height and not target_width:
        target_width = round(width * target_height / height)
    out_width, out_height = (target_width or width) // 8 * 8, (target_height or height) // 8 * 8
    if out_width < 8 or out_height < 8:
        raise ValueError(
            f"The scribble would be {out_width}x{out_height} pixels: 'width' and 'height' must give at least 8 "
            f"pixels per side (input is {width}x{height}). Use a larger image or size."
        )
    return out_width, out_height


def stroke_width(lines: np.ndarray) -> float:
    """Mean stroke width in pixels of a binary line map: 2 * area / perimeter (a stroke is a long thin strip)."""
    import cv2

    contours, _ = cv2.findContours(lines.astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(contour, True) for contour in contours)
    return 2.0 * float(lines.sum()) / perimeter if perimeter > 0 else 0.0


def _ink(gray: np.ndarray, invert: str) -> np.ndarray:
    """Line strength in 0..1 from a grey image: drawings on a light background are inverted."""
    if invert == "auto":
        invert = "dark lines on light" if np.median(gray) > 0.5 else "light lines on dark"
    return 1.0 - gray if invert == "dark lines on light" else gray


@dataclass(frozen=True)
class ScribbleSettings:
    """How a drawing becomes a scribble map.

    `threshold` in 0..1 cuts the ink (with `edges`, it scales Canny's thresholds), `invert` is one of INVERT_MODES,
    `min_line_width` (pixels at the output size) thickens thinner strokes, `width`/`height` of 0 keep the input's.
    """

    threshold: float = 0.5
    invert: str = "auto"
    min_line_width: int = 3
    edges: bool = False
    width: int = 0
    height: int = 0

    def __post_init__(self) -> None:
        if self.invert not in INVERT_MODES:
            raise ValueError(f"'invert' must be one of {', '.join(INVERT_MODES)}; got '{self.invert}'.")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"'threshold' must be between 0 and 1 (exclusive); got {self.threshold}.")


def scribble_map(image: np.ndarray, settings: ScribbleSettings) -> np.ndarray:
    """One RGB image (H, W, 3, float 0..1) -> a binary line map (H', W') of bools, H' and W' multiples of 8."""
    import cv2

    threshold, invert, edges = settings.threshold, settings.invert, settings.edges
    out_width, out_height = snap_size(image.shape[1], image.shape[0], settings.width, settings.height)
    gray = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2GRAY)
    gray = cv2.resize(gray, (out_width, out_height), interpolation=cv2.INTER_AREA)
    if edges:
        # Canny's hysteresis thresholds scale with `threshold` (0.5 -> the usual 100 / 200 on 8-bit images).
        high = 400.0 * threshold
        lines = cv2.Canny((gray * 255).round().astype(np.uint8), high / 2, high) > 0
    else:
        lines = _ink(gray, invert) > threshold
    if lines.mean() < MIN_INK_FRACTION:
        raise ValueError(
            f"The sketch is blank after thresholding at threshold={threshold} "
            f"(edges={'on' if edges else 'off'}, invert='{invert}'): no line pixels are left. Lower 'threshold', "
            "check 'invert', or draw darker lines."
        )
    width_now = stroke_width(lines)
    if settings.min_line_width > 1 and width_now < settings.min_line_width:
        radius = math.ceil((settings.min_line_width - width_now) / 2)
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        lines = cv2.dilate(lines.astype(np.uint8), kernel) > 0
    return lines


def prepare_scribble(
    images: torch.Tensor, settings: ScribbleSettings = ScribbleSettings()
) -> tuple[torch.Tensor, torch.Tensor]:
    """An IMAGE batch -> (scribble IMAGE batch: white lines on black, preview IMAGE batch: input | scribble)."""
    import cv2

    images = check_image_batch(images, "image")
    scribbles, previews = [], []
    for index, frame in enumerate(images.numpy()):
        try:
            lines = scribble_map(frame, settings)
        except ValueError as error:
            if len(images) > 1:
                raise ValueError(f"image {index} of the batch: {error}") from error
            raise
        scribble = np.repeat(lines[..., None].astype(np.float32), 3, axis=-1)
        source = cv2.resize(frame, (lines.shape[1], lines.shape[0]), interpolation=cv2.INTER_AREA)
        scribbles.append(scribble)
        previews.append(np.concatenate([source, scribble], axis=1))
    return torch.from_numpy(np.stack(scribbles)), torch.from_numpy(np.stack(previews))
