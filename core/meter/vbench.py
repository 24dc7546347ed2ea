"""VBench's temporal-quality metrics, computed as VBench 0.1.5 computes them, on streamed frames.

VBench: Huang et al., "VBench: Comprehensive Benchmark Suite for Video Generative Models", CVPR 2024, section 3.1 and
supplementary A; the code is the `vbench` package 0.1.5 (one module per metric, named below). Each function here
takes `chunks`, an iterable of [n, h, w, 3] float 0..1 tensors in frame order, and keeps only what its formula
carries from frame to frame, so memory does not grow with the video. Frames are taken at their 8-bit values, as VBench
reads decoded video. tests/test_meter_vbench.py runs VBench's own functions on the same clips and stand-in weights.

A metric whose model is not installed returns None; `NOT_MEASURED` names the manifest entry or the file it needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .. import host
from .. import images as image_utils
from ..model_files import load_pickle, load_safetensors
from ..tiny_marker import is_tiny, warn_if_tiny
from . import features
from .features import FeatureModel, cached_by_file, eight_bit


# RAFT and AMT-S have no manifest entries yet: install.py verifies every download against a sha256, and neither
# publisher gives one (torchvision's file name carries only the first 8 hex digits of its sha256, 22a6c225). Until
# they are known, the user puts the files in models/encoders.
MODEL_FOLDER = "encoders"
RAFT_FILENAME = "raft_large_C_T_V1.safetensors"
RAFT_TINY_FILENAME = "longform-tiny-raft-large.safetensors"
RAFT_SOURCE = "https://download.pytorch.org/models/raft_large_C_T_V1-22a6c225.pth"
AMT_FILENAME = "amt-s.pth"
AMT_TINY_FILENAME = "longform-tiny-amt-s.pth"
AMT_SOURCE = "https://huggingface.co/lalala125/AMT/resolve/main/amt-s.pth"
# What a report says for a metric it could not measure: the manifest entry to install, or the file to put in place.
NOT_MEASURED = {
    "subject_consistency": "dino_vitb16",
    "background_consistency": "clip_probe",
    "dynamic_degree": f"models/{MODEL_FOLDER}/{RAFT_FILENAME} (no manifest entry yet: {RAFT_SOURCE}, saved as "
                      "safetensors)",
    "motion_smoothness": f"models/{MODEL_FOLDER}/{AMT_FILENAME} (no manifest entry yet: {AMT_SOURCE})",
}

RAFT_ITERATIONS = 20  # DynamicDegree.infer: self.model(image1, image2, iters=20, test_mode=True)
RAFT_PAIRS_PER_BATCH = 4
DYNAMIC_SAMPLE_FPS = 8  # DynamicDegree.get_frames: interval = max(1, round(fps / 8))
TOP_FLOW_FRACTION = 0.05  # DynamicDegree.get_score: mean of the largest 5% of flow magnitudes
RAFT_MIN_SIDE = 128  # torchvision's RAFT needs 16 feature cells a side at 1/8 scale (the original RAFT has no check)
AMT_MULTIPLE = 16  # MotionSmoothness: InputPadder(shape, 16) at scale 1
AMT_MIN_SIDE = 128  # its correlation, pooled 3 times from 1/8 scale, needs 2 cells a side (1 gives NaN)
AMT_PAIRS_PER_BATCH = 4


class StreamMeter:
    """A metric fed chunk by chunk: `update(chunk)` for each [n, h, w, 3] chunk in frame order, then `result()`.

    Meters keep only what their formula carries from frame to frame, so several can share one pass over a video
    (`measure`). Every chunk must have the first chunk's frame size.
    """

    metric = ""

    def __init__(self):
        self.frames = 0
        self.size: tuple[int, int] | None = None

    def update(self, chunk: torch.Tensor) -> None:
        """Take the next frames, [n, h, w, 3] in 0..1."""
        chunk = image_utils.check_image_batch(chunk, "chunk")
        size = (int(chunk.shape[1]), int(chunk.shape[2]))
        if self.size is None:
            self._check_size(*size)
            self.size = size
        elif size != self.size:
            raise ValueError(f"'{self.metric}': frame {self.frames} is {size[1]}x{size[0]}, but the video's frames "
                             f"are {self.size[1]}x{self.size[0]}: give frames of one size.")
        self._take(chunk)
        self.frames += len(chunk)

    def _check_size(self, height: int, width: int) -> None:
        """Refuse a frame size the metric cannot measure (ValueError)."""

    def _take(self, chunk: torch.Tensor) -> None:
        raise NotImplementedError

    def result(self):
        raise NotImplementedError


def measure(chunks: Iterable[torch.Tensor], *meters: StreamMeter) -> None:
    """Feed every chunk to every meter, checking for the user's interrupt between chunks (one pass over the video)."""
    for chunk in chunks:
        host.check_interrupt()
        for meter in meters:
            meter.update(chunk)


class FirstAndPreviousConsistency(StreamMeter):
    """The mean over frames t >= 1 of (max(0, cos(f_t, f_{t-1})) + max(0, cos(f_t, f_0))) / 2, f = model.embed:
    VBench's subject consistency with DINO, its background consistency with CLIP."""

    def __init__(self, model: FeatureModel | None, metric: str):
        super().__init__()
        self.model, self.metric = model, metric  # model None: fed features by `add_features` only
        self.first = self.previous = None
        self.total, self.count = 0.0, 0

    def _take(self, chunk: torch.Tensor) -> None:
        self.add_features(self.model.embed(chunk))

    def add_features(self, features: torch.Tensor) -> None:
        """Take the next frames' L2-normalised features, [n, d] in frame order (what `model.embed` gives)."""
        for feature in features:
            if self.first is None:
                self.first = feature
            else:
                to_previous = max(0.0, float(torch.dot(self.previous, feature)))
                to_first = max(0.0, float(torch.dot(self.first, feature)))
                self.total += (to_previous + to_first) / 2
                self.count += 1
            self.previous = feature

    def result(self) -> float:
        if self.count == 0:  # frames seen: fed by `update` or by `add_features`, 0 or 1 here
            raise ValueError(f"'{self.metric}' needs a video of at least 2 frames; got {int(self.first is not None)}.")
        return self.total / self.count


def subject_consistency(chunks: Iterable[torch.Tensor], model: FeatureModel | None) -> float | None:
    """VBench's subject consistency (`vbench.subject_consistency.subject_consistency`), in 0..1.

    With d_t the L2-normalised DINO ViT-B/16 feature of frame t (`dino_transform(224)`, see features.py), over the
    T frames of the video:  S = 1/(T-1) * sum_{t=1}^{T-1} ( max(0, <d_t, d_{t-1}>) + max(0, <d_t, d_0>) ) / 2.
    Every frame is used (no sampling). None when `model` (DINO) is None: not installed.
    """
    if model is None:
        return None
    meter = FirstAndPreviousConsistency(model, "subject_consistency")
    measure(chunks, meter)
    return meter.result()


def background_consistency(chunks: Iterable[torch.Tensor], model: FeatureModel | None) -> float | None:
    """VBench's background consistency (`vbench.background_consistency.background_consistency`), in 0..1.

    The subject-consistency formula on CLIP ViT-B/32 image embeddings (`clip_transform(224)`: resize, centre crop;
    see features.py). Every frame is used. None when `model` (CLIP) is None: not installed.
    """
    if model is None:
        return None
    meter = FirstAndPreviousConsistency(model, "background_consistency")
    measure(chunks, meter)
    return meter.result()


class TemporalFlickering(StreamMeter):
    """VBench's temporal flickering (`vbench.temporal_flickering.cal_score`), in 0..1 (1 = no change at all).

    With x_t the 8-bit frame t:  F = (255 - 1/(T-1) * sum_{t=0}^{T-2} mean|x_{t+1} - x_t|) / 255, the mean over all
    pixels and channels. Every frame is used. VBench scores it on videos of static scenes, where any change is
    flicker; on moving video it also counts the motion.
    """

    metric = "temporal_flickering"

    def __init__(self):
        super().__init__()
        self.previous = None
        self.total, self.pairs = 0.0, 0

    def _take(self, chunk: torch.Tensor) -> None:
        for frame in eight_bit(chunk):
            if self.previous is not None:
                self.total += float((frame - self.previous).abs().mean())
                self.pairs += 1
            self.previous = frame

    def result(self) -> float:
        return flickering(self.total / self.pairs if self.pairs else None, self.frames)


def flickering(mean_difference: float | None, frames: int) -> float:
    """Temporal flickering from the mean over consecutive pairs of mean|x_{t+1} - x_t| (8-bit values) of a video of
    `frames` frames; `mean_difference` None: no pair (ValueError)."""
    if mean_difference is None:
        raise ValueError(f"'temporal_flickering' needs a video of at least 2 frames; got {frames}.")
    return (255.0 - mean_difference) / 255.0


def temporal_flickering(chunks: Iterable[torch.Tensor]) -> float:
    """VBench's temporal flickering of a video (defined in `TemporalFlickering`)."""
    meter = TemporalFlickering()
    measure(chunks, meter)
    return meter.result()


# ------------------------------------------------------------------------------------------------ dynamic degree


class LoadedNetwork:
    """A network holding its weights (strictly loaded), under the host's memory management, computing in fp32 as
    VBench does (RAFT with mixed precision off, AMT-S): their iterative refinements drift in half precision."""

    def __init__(self, model: torch.nn.Module, state: dict[str, torch.Tensor], name: str, tiny: bool):
        model.load_state_dict(state, strict=True)
        self.model = model.eval()
        self.managed = host.ManagedModel(self.model, host.ENCODER, compute_dtype=torch.float32)
        self.name = name
        self.tiny = tiny


class RaftFlow(LoadedNetwork):
    """RAFT (Teed & Deng 2020), torchvision's `raft_large`, holding the raft-things weights (torchvision's
    `Raft_Large_Weights.C_T_V1`, ported from the authors' raft-things.pth, which VBench uses)."""

    @torch.inference_mode()
    def flow(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """Flow [n, 2, H, W] from `first` to `second`, both [n, 3, H, W] floats 0..255 with H, W multiples of 8,
        after RAFT's 20 refinement steps (VBench's setting); RAFT's input scaling 2 * x / 255 - 1 is applied here."""
        device = self.managed.load()
        first = (2 * (first / 255.0) - 1.0).to(device=device, dtype=self.managed.dtype)
        second = (2 * (second / 255.0) - 1.0).to(device=device, dtype=self.managed.dtype)
        return self.model(first, second, num_flow_updates=RAFT_ITERATIONS)[-1].float().cpu()


_RAFT_CACHE: dict[tuple, RaftFlow] = {}


def _first_present(real: str, tiny: str, field: str) -> Path | None:
    """models/encoders/`real`, else its tiny stand-in `tiny`, else None."""
    for name in (real, tiny):
        try:
            return host.model_path(MODEL_FOLDER, name, field)
        except FileNotFoundError:
            continue
    return None


def load_raft() -> RaftFlow | None:
    """RAFT from models/encoders/raft_large_C_T_V1.safetensors (torchvision's file, converted to safetensors; its tiny
    stand-in when only that is there), or None when neither is."""
    path = _first_present(RAFT_FILENAME, RAFT_TINY_FILENAME, "raft")
    if path is None:
        return None

    def build() -> RaftFlow:
        from torchvision.models.optical_flow import raft_large

        state, metadata = load_safetensors(path, "raft")
        if "update_block.flow_head.conv2.weight" not in state:
            raise ValueError(f"'raft': '{path.name}' holds no RAFT weights in torchvision's layout: put torchvision's "
                             f"raft_large C_T_V1 weights there, saved as safetensors ({RAFT_SOURCE}).")
        warn_if_tiny(metadata, path)
        return RaftFlow(raft_large(weights=None, progress=False), state, path.name, is_tiny(metadata))

    return cached_by_file(_RAFT_CACHE, path, build)


def clear_cache() -> None:
    """Forget every network the meter loaded (DINO, RAFT, AMT-S), which frees them."""
    features.clear_cache()
    _RAFT_CACHE.clear()
    _INTERPOLATOR_CACHE.clear()


def _padding(height: int, width: int, multiple: int) -> list[int]:
    """The `InputPadder` of RAFT (sintel mode) and AMT as F.pad's [left, right, top, bottom]: up to a multiple of
    `multiple`, split evenly with the odd pixel after."""
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    return [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2]


def top_flow(flow: torch.Tensor) -> torch.Tensor:
    """`DynamicDegree.get_score` per pair: the mean of the largest int(H * W * 0.05) flow magnitudes, over the padded
    frame."""
    magnitude = flow.square().sum(dim=1).sqrt().flatten(1)
    keep = int(magnitude.shape[1] * TOP_FLOW_FRACTION)
    return magnitude.topk(keep, dim=1).values.mean(dim=1)


@dataclass(frozen=True)
class DynamicDegree:
    """VBench's dynamic-degree decision for one video and what it was made from."""

    dynamic: bool
    pair_scores: list[float]  # top-5% flow magnitude (pixels) of each sampled pair
    threshold: float  # 6 * min(h, w) / 256 pixels
    pairs_needed: int  # round(4 * sampled frames / 16)
    sample_interval: int  # every this many frames


class DynamicDegreeMeter(StreamMeter):
    """VBench's dynamic degree (`vbench.dynamic_degree.DynamicDegree.infer`); `result()` gives it with its inputs.

    Frames are sampled every max(1, round(fps / 8)) frames from the first. For each consecutive sampled pair, RAFT
    (20 iterations, frames padded to multiples of 8 by replication) gives the flow; the pair's score is the mean of
    its largest 5% flow magnitudes. The video is dynamic when at least round(4 * N / 16) pairs (N sampled frames)
    score above 6 * min(h, w) / 256, the thresholds VBench scales from its 256-pixel, 16-frame reference.
    """

    metric = "dynamic_degree"

    def __init__(self, fps: float, raft: RaftFlow):
        super().__init__()
        self.raft = raft
        self.interval = sample_interval(fps)
        self.scores: list[float] = []
        self.sampled = 0
        self.pending: list[torch.Tensor] = []  # sampled frames whose pairs are not scored yet (the last one stays)

    def _check_size(self, height: int, width: int) -> None:
        check_raft_size(height, width)

    def _take(self, chunk: torch.Tensor) -> None:
        first_index = self.frames
        for offset, frame in enumerate(eight_bit(chunk)):
            if (first_index + offset) % self.interval == 0:
                self.pending.append(frame)
                self.sampled += 1
                if len(self.pending) > RAFT_PAIRS_PER_BATCH:
                    self._score_pending()

    def _score_pending(self) -> None:
        self.scores += raft_pair_scores(self.raft, torch.stack(self.pending[:-1]), torch.stack(self.pending[1:]))
        del self.pending[:-1]

    def result(self) -> DynamicDegree:
        if self.sampled == 0:
            raise ValueError("'dynamic_degree' got no frames: give a video.")
        if len(self.pending) > 1:
            self._score_pending()
        return dynamic_decision(self.scores, self.sampled, self.size, self.interval)


def check_raft_size(height: int, width: int) -> None:
    """Refuse (ValueError) a frame size torchvision's RAFT cannot take."""
    if min(height + (-height) % 8, width + (-width) % 8) < RAFT_MIN_SIDE:
        raise ValueError(f"'dynamic_degree' needs frames of at least {RAFT_MIN_SIDE} pixels a side once padded to a "
                         f"multiple of 8 (torchvision's RAFT refuses smaller ones); got {width}x{height}. Measure it "
                         "on a larger video.")


def raft_pair_scores(raft: RaftFlow, first: torch.Tensor, second: torch.Tensor) -> list[float]:
    """`DynamicDegree.get_score` of each pair: RAFT's flow from `first` to `second` ([n, 3, h, w], 0..255), frames
    padded by replication to multiples of 8, and the mean of its largest 5% magnitudes."""
    padding = _padding(*first.shape[-2:], 8)
    first, second = F.pad(first, padding, mode="replicate"), F.pad(second, padding, mode="replicate")
    return [float(v) for v in top_flow(raft.flow(first, second))]


def dynamic_decision(scores: list[float], sampled: int, size: tuple[int, int], interval: int) -> DynamicDegree:
    """VBench's decision from the pair scores of `sampled` frames of `size` (h, w) taken every `interval` frames."""
    threshold = 6.0 * (min(size) / 256.0)
    needed = round(4 * (sampled / 16.0))
    # VBench's check_move tests the count after each pair, so with a need of 0 any one pair makes the video
    # dynamic; a single sampled frame (no pair) is static.
    above = sum(score > threshold for score in scores)
    return DynamicDegree(bool(scores) and above >= needed, list(scores), threshold, needed, interval)


def sample_interval(fps: float) -> int:
    """Dynamic degree's frame sampling: every max(1, round(fps / 8)) frames, from the first."""
    if not fps or fps <= 0:
        raise ValueError(f"'fps' must be a positive frame rate; got {fps}. Give the video's frames per second.")
    return max(1, round(fps / DYNAMIC_SAMPLE_FPS))


def dynamic_degree_details(chunks: Iterable[torch.Tensor], fps: float, raft: RaftFlow) -> DynamicDegree:
    """VBench's dynamic-degree decision for a video, with its inputs (defined in `DynamicDegreeMeter`)."""
    meter = DynamicDegreeMeter(fps, raft)
    measure(chunks, meter)
    return meter.result()


def dynamic_degree(chunks: Iterable[torch.Tensor], fps: float, raft: RaftFlow | None) -> float | None:
    """VBench's dynamic degree of one video: 1.0 when dynamic, 0.0 when static (VBench's per-video result; its
    benchmark figure is the fraction of dynamic videos). None when `raft` is None: not installed. The definition is
    in `DynamicDegreeMeter`."""
    if raft is None:
        return None
    return float(dynamic_degree_details(chunks, fps, raft).dynamic)


# ------------------------------------------------------------------------------------------------ motion smoothness


class FrameInterpolator(LoadedNetwork):
    """AMT-S (core/meter/amt.py): the frame halfway between two frames."""

    @torch.inference_mode()
    def middle(self, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """The frames at t = 0.5 between `first` and `second` ([n, 3, H, W] in 0..1, H and W multiples of 16)."""
        device = self.managed.load()
        first, second = (x.to(device=device, dtype=self.managed.dtype) for x in (first, second))
        halfway = torch.full((len(first), 1, 1, 1), 0.5, device=device, dtype=self.managed.dtype)
        return self.model(first, second, halfway).float().cpu()


_INTERPOLATOR_CACHE: dict[tuple, FrameInterpolator] = {}


def load_interpolator() -> FrameInterpolator | None:
    """AMT-S from models/encoders/amt-s.pth (the published file: a PyTorch pickle holding `state_dict`, read with
    weights_only; its tiny stand-in when only that is there), or None when neither is."""
    path = _first_present(AMT_FILENAME, AMT_TINY_FILENAME, "interpolator")
    if path is None:
        return None

    def build() -> FrameInterpolator:
        from .amt import AmtS

        saved = load_pickle(path, "interpolator")
        state = saved.get("state_dict") if isinstance(saved, dict) else None
        if not isinstance(state, dict) or "comb_block.0.weight" not in state:
            raise ValueError(f"'interpolator': '{path.name}' holds no AMT-S weights (a 'state_dict' with AMT-S's "
                             f"layers): put the published amt-s.pth there ({AMT_SOURCE}).")
        metadata = {k: v for k, v in saved.items() if isinstance(v, str)}  # the tiny stand-in's mark rides here
        warn_if_tiny(metadata, path)
        return FrameInterpolator(AmtS(), state, path.name, is_tiny(metadata))

    return cached_by_file(_INTERPOLATOR_CACHE, path, build)


class MotionSmoothnessMeter(StreamMeter):
    """VBench's motion smoothness (`vbench.motion_smoothness.MotionSmoothness.motion_score`), in 0..1.

    The even frames x_0, x_2, ... are kept and AMT-S rebuilds each odd frame from its two neighbours (t = 0.5, frames
    padded by replication to multiples of 16, the rebuilt frame cut back and truncated to 8 bits as VBench's
    `tensor2img` does). With K rebuilt frames:  M = (255 - 1/K * sum_k mean|x^_{2k+1} - x_{2k+1}|) / 255. A trailing
    odd frame with no even frame after it is not scored. VBench runs AMT at full resolution on the CPU, and on a GPU
    for frames up to a few megapixels (it scales larger frames down by the GPU's memory); the pack always runs it
    at full resolution.
    """

    metric = "motion_smoothness"

    def __init__(self, interpolator: FrameInterpolator):
        super().__init__()
        self.interpolator = interpolator
        self.scores: list[float] = []
        self.anchors: list[torch.Tensor] = []  # even frames (0..255) waiting for their pair; the last one stays
        self.targets: list[torch.Tensor] = []  # the odd frame (0..255) after each anchor but the last

    def _check_size(self, height: int, width: int) -> None:
        check_interpolator_size(height, width)

    def _take(self, chunk: torch.Tensor) -> None:
        first_index = self.frames
        for offset, frame in enumerate(eight_bit(chunk)):
            if (first_index + offset) % 2 == 0:
                self.anchors.append(frame)
                if len(self.anchors) > AMT_PAIRS_PER_BATCH:
                    self._score_pending()
            else:
                self.targets.append(frame)

    def _score_pending(self) -> None:
        pairs = len(self.anchors) - 1
        self.scores += interpolation_errors(self.interpolator, torch.stack(self.anchors[:-1]),
                                            torch.stack(self.anchors[1:]), torch.stack(self.targets[:pairs]))
        del self.anchors[:-1], self.targets[:pairs]

    def result(self) -> float:
        if len(self.anchors) > 1:
            self._score_pending()
        return smoothness(self.scores, self.frames)


def check_interpolator_size(height: int, width: int) -> None:
    """Refuse (ValueError) a frame size AMT-S cannot take."""
    padding = _padding(height, width, AMT_MULTIPLE)
    if min(height + padding[2] + padding[3], width + padding[0] + padding[1]) < AMT_MIN_SIDE:
        raise ValueError(f"'motion_smoothness' needs frames of at least {AMT_MIN_SIDE} pixels a side once padded to "
                         f"a multiple of 16 (AMT-S pools its correlation 3 times from 1/8 scale; VBench's own code "
                         f"returns NaN below that); got {width}x{height}.")


def interpolation_errors(interpolator: FrameInterpolator, before: torch.Tensor, after: torch.Tensor,
                         targets: torch.Tensor) -> list[float]:
    """Per triple, the mean |rebuilt - target| (0..255) of the frame AMT-S rebuilds halfway between `before` and
    `after`; all [n, 3, h, w] holding 8-bit values. Frames are padded by replication to multiples of 16, the rebuilt
    frame is cut back and truncated to 8 bits as VBench's `tensor2img` does."""
    padding = _padding(*before.shape[-2:], AMT_MULTIPLE)
    left, _, top, _ = padding
    middle = interpolator.middle(F.pad(before / 255.0, padding, mode="replicate"),
                                 F.pad(after / 255.0, padding, mode="replicate"))
    middle = middle[:, :, top : top + before.shape[-2], left : left + before.shape[-1]]
    rebuilt = (middle * 255.0).clamp(0, 255).to(torch.uint8).float()
    return [float(v) for v in (rebuilt - targets).abs().mean(dim=(1, 2, 3))]


def smoothness(errors: list[float], frames: int) -> float:
    """Motion smoothness of a video of `frames` frames from its rebuilt odd frames' mean absolute errors (0..255):
    (255 - their mean) / 255; ValueError when none was rebuilt (under 3 frames)."""
    if not errors:
        raise ValueError(f"'motion_smoothness' needs a video of at least 3 frames; got {frames}.")
    return (255.0 - float(np.mean(errors))) / 255.0


def motion_smoothness(chunks: Iterable[torch.Tensor], interpolator: FrameInterpolator | None) -> float | None:
    """VBench's motion smoothness of a video (defined in `MotionSmoothnessMeter`); None when `interpolator` is None:
    AMT-S is not installed."""
    if interpolator is None:
        return None
    meter = MotionSmoothnessMeter(interpolator)
    measure(chunks, meter)
    return meter.result()
