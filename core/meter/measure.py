"""One pass over a video: every per-frame figure the report reads, a chunk at a time, in memory that does not grow with
the video's length (per-frame scalars are kept, a few bytes a frame; feature vectors feed streaming sums and are
dropped, except at the frames a caller asks to keep).

Per frame k (a pair figure compares frame k-1 with frame k; NaN at frame 0):
- warp error, mean absolute pixel difference (0..1), colour histogram distance, mean CIELAB colour;
- the motion guard's mean top-5% flow, on VBench's frame sampling for dynamic degree: pairs (k - s, k) with
  s = round(fps / 8) (about 8 fps), on frames scaled to a short side of at most 256 (pixels.FLOW_SIDE);
- one vector per kind: "pixel" (the pixel thumbnail, always), "subject" (DINO), "background" (CLIP ViT-B/32) when
  VBench's feature models (core/meter/features.py) are installed, "clip" (the probe's CLIP) when an encoder is given, with the cosine
  to each scheduled prompt (adherence) and to each reference picture.
Scenes are given (a storyboard's segments) or found on the way: a hard cut at frame k when the histogram distance
of (k-1, k) is at least CUT_MIN and at least CUT_RATIO x the median of the scene's last CUT_WINDOW distances plus
CUT_MARGIN (an adaptive threshold: a busy scene needs a bigger jump). A film's per-chunk figures are cached in its
folder, keyed by its frame files, so a re-run measures only frames that changed or are new.
"""

from __future__ import annotations

import collections
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import host
from . import pixels
from .frames import CHUNK_FRAMES, FrameSource

CUT_MIN, CUT_RATIO, CUT_MARGIN, CUT_WINDOW = 0.3, 3.0, 0.1, 30
GUARD_FPS = 8.0  # VBench's dynamic degree samples the video at about 8 frames per second
GAP_FRAMES = (2, 5, 10, 20, 50)
GAP_SECONDS = (1, 10)
STILLS = 10  # pictures on the report's time line
SCALARS = ("warp_error", "pixel_difference", "histogram_distance", "flow_top")


@dataclass
class MeterModels:
    """What the pass embeds frames with: VBench's feature models (either may be None), the probe's CLIP encoder
    with the prompts and reference vectors it scores each frame against."""

    subject: object | None = None  # features.FeatureModel (dino_vitb16)
    background: object | None = None  # features.FeatureModel (clip_vitb32)
    clip: object | None = None  # encoders.ClipEncoder
    prompts: tuple[str, ...] = ()
    references: torch.Tensor | None = None  # [R, D] unit CLIP vectors

    def tag(self) -> str:
        """A short hash of what the cached vectors depend on (the models' names)."""
        names = [getattr(self.subject, "name", ""), getattr(self.background, "name", ""),
                 str(getattr(self.clip, "path", "") if self.clip is not None else "")]
        return hashlib.sha256("|".join(names).encode()).hexdigest()[:8]


def gaps(fps: float) -> dict[str, int]:
    """The drift curve's gaps by label: 2, 5, 10, 20, 50 frames, 1 s and 10 s (in frames at `fps`)."""
    result = {f"{gap} frames": gap for gap in GAP_FRAMES}
    result.update({f"{seconds} s": max(1, round(seconds * fps)) for seconds in GAP_SECONDS})
    return dict(sorted(result.items(), key=lambda item: item[1]))


class DriftCurve:
    """Streaming mean cosine of frame pairs at fixed gaps: a ring of the last max(gap) vectors."""

    def __init__(self, gap_frames: dict[str, int]):
        self.gaps = gap_frames
        self.ring: collections.deque = collections.deque(maxlen=max(gap_frames.values()))
        self.sums = {label: 0.0 for label in gap_frames}
        self.counts = {label: 0 for label in gap_frames}

    def add(self, vector: np.ndarray) -> None:
        for label, gap in self.gaps.items():
            if len(self.ring) >= gap:
                self.sums[label] += float(vector @ self.ring[-gap])
                self.counts[label] += 1
        self.ring.append(vector)

    def curve(self) -> dict[str, float | None]:
        return {label: (round(self.sums[label] / self.counts[label], 6) if self.counts[label] else None)
                for label in self.gaps}


@dataclass
class Measures:
    """Everything one pass gathered. Arrays are per frame; `consecutive[kind][k]` is the cosine of frames k-1 and k."""

    name: str
    fps: float
    size: tuple[int, int]
    guard_stride: int
    scene_starts: list[int]
    cuts_detected: bool
    scalars: dict[str, np.ndarray]
    lab: np.ndarray  # [frames, 3]
    consecutive: dict[str, np.ndarray]
    drift: dict[str, dict[str, float | None]]
    scene_means: dict[str, list[np.ndarray]]  # per kind, each scene's mean unit vector (renormalised)
    kept: dict[int, dict[str, np.ndarray]]
    adherence: np.ndarray | None  # [frames, prompts]
    reference: np.ndarray | None  # [frames, references]
    stills: list[tuple[int, np.ndarray]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.lab)


class _Pass:
    """The state of one pass; `run` feeds it chunk by chunk."""

    def __init__(self, source: FrameSource, models: MeterModels, scene_starts: list[int] | None,
                 keep: Iterable[int]):
        self.source, self.models = source, models
        self.stride = max(1, round(source.fps / GUARD_FPS))
        self.given_scenes = scene_starts
        self.scene_starts = list(scene_starts) if scene_starts is not None else [0]
        self.keep = set(keep)
        self.scalars = {name: [] for name in SCALARS}
        self.lab: list[np.ndarray] = []
        self.kinds = ["pixel"] + [kind for kind, model in (("subject", models.subject),
                                                             ("background", models.background),
                                                             ("clip", models.clip)) if model is not None]
        self.drift = {kind: DriftCurve(gaps(source.fps)) for kind in self.kinds}
        self.consecutive = {kind: [] for kind in self.kinds}
        self.previous_vector: dict[str, np.ndarray] = {}
        self.scene_sums: dict[str, list[np.ndarray]] = {kind: [] for kind in self.kinds}
        self.kept: dict[int, dict[str, np.ndarray]] = {}
        self.adherence: list[np.ndarray] = []
        self.reference: list[np.ndarray] = []
        self.text_vectors = None
        if models.clip is not None and models.prompts:
            self.text_vectors = torch.nn.functional.normalize(
                models.clip.encode_texts(list(models.prompts), truncate=True).vectors.float(), dim=-1).numpy()
        planned = np.linspace(0, max(source.count - 1, 0), STILLS).round().astype(int)
        self.still_frames = set(planned.tolist())
        self.stills: list[tuple[int, np.ndarray]] = []
        self.previous_frame: np.ndarray | None = None
        self.guard_greys: collections.deque = collections.deque(maxlen=self.stride)

    # ------------------------------------------------------------------------------------------------ figures
    def compute(self, chunk: np.ndarray, start: int) -> dict[str, np.ndarray]:
        """Every figure of one chunk that does not depend on earlier scenes (what the cache stores)."""
        record = {name: np.full(len(chunk), np.nan) for name in SCALARS}
        record["lab"] = np.stack([pixels.mean_lab(frame) for frame in chunk])
        record["pixel"] = np.stack([pixels.thumbnail(frame) for frame in chunk])
        previous = self.previous_frame
        greys = list(self.guard_greys)
        previous_histogram = pixels.histogram(previous) if previous is not None else None
        same_scale = self.stride == 1 and pixels.flow_scale(self.source.size) == 1.0
        for offset, frame in enumerate(chunk):
            k = start + offset
            histogram = pixels.histogram(frame)
            guard = pixels.guard_grey(frame)
            pair_flow = None
            if previous is not None:
                pair_flow = pixels.flow(pixels.grey(frame), pixels.grey(previous))
                record["warp_error"][offset] = pixels.warp_error(previous, frame, pair_flow)
                record["pixel_difference"][offset] = float(
                    np.abs(frame.astype(np.float32) - previous.astype(np.float32)).mean() / 255.0)
                record["histogram_distance"][offset] = pixels.histogram_distance(previous_histogram, histogram)
            if k >= self.stride and k % self.stride == 0:
                guard_flow = pair_flow if same_scale else pixels.flow(guard, greys[-self.stride], fast=True)
                record["flow_top"][offset] = pixels.top_flow(guard_flow)
            greys.append(guard)
            previous, previous_histogram = frame, histogram
        batch = torch.from_numpy(chunk).float() / 255.0
        for kind, model in (("subject", self.models.subject), ("background", self.models.background)):
            if model is not None:
                record[kind] = model.embed(batch).float().numpy()
        if self.models.clip is not None:
            record["clip"] = torch.nn.functional.normalize(
                self.models.clip.encode_images(batch).vectors.float(), dim=-1).numpy()
        return record

    def consume(self, chunk: np.ndarray, record: dict[str, np.ndarray], start: int) -> None:
        """Fold one chunk's record into the pass: scenes (cuts), drift sums, consecutive cosines, kept vectors."""
        for offset, frame in enumerate(chunk):
            k = start + offset
            for name in SCALARS:
                self.scalars[name].append(float(record[name][offset]))
            self.lab.append(record["lab"][offset])
            if k > 0 and self.given_scenes is None and self._is_cut(k):
                self.scene_starts.append(k)
            if k in self.still_frames:
                self.stills.append((k, _small(frame)))
            new_scene = k == self.scene_starts[-1]
            for kind in self.kinds:
                vector = record[kind][offset]
                self.drift[kind].add(vector)
                previous = self.previous_vector.get(kind)
                self.consecutive[kind].append(float(vector @ previous) if previous is not None else np.nan)
                self.previous_vector[kind] = vector
                if new_scene or not self.scene_sums[kind]:
                    self.scene_sums[kind].append(np.zeros_like(vector, dtype=np.float64))
                self.scene_sums[kind][-1] += vector
            if k in self.keep:
                self.kept[k] = {kind: record[kind][offset] for kind in self.kinds}
            if self.text_vectors is not None:
                self.adherence.append(self.text_vectors @ record["clip"][offset])
            if self.models.references is not None:
                self.reference.append(self.models.references.float().numpy() @ record["clip"][offset])
            self.previous_frame = frame
            self.guard_greys.append(pixels.guard_grey(frame))

    def _is_cut(self, k: int) -> bool:
        distances = self.scalars["histogram_distance"]
        current = distances[k]
        history = [d for d in distances[max(self.scene_starts[-1] + 1, k - CUT_WINDOW):k] if np.isfinite(d)]
        baseline = float(np.median(history)) if history else 0.0
        return current >= CUT_MIN and current >= CUT_RATIO * baseline + CUT_MARGIN

    def result(self) -> Measures:
        def unit(vector: np.ndarray) -> np.ndarray:
            return vector / max(float(np.linalg.norm(vector)), 1e-12)

        return Measures(
            self.source.name, self.source.fps, self.source.size, self.stride, self.scene_starts,
            self.given_scenes is None, {name: np.asarray(values) for name, values in self.scalars.items()},
            np.asarray(self.lab), {kind: np.asarray(values) for kind, values in self.consecutive.items()},
            {kind: curve.curve() for kind, curve in self.drift.items()},
            {kind: [unit(total) for total in sums] for kind, sums in self.scene_sums.items()}, self.kept,
            np.asarray(self.adherence) if self.adherence else None,
            np.asarray(self.reference) if self.reference else None, self.stills)


def _small(frame: np.ndarray, height: int = 96) -> np.ndarray:
    from PIL import Image

    width = max(1, round(frame.shape[1] * height / frame.shape[0]))
    return np.asarray(Image.fromarray(frame).resize((width, height), Image.BILINEAR))


def measure(source: FrameSource, models: MeterModels | None = None, scene_starts: list[int] | None = None,
            keep: Iterable[int] = (), cache_dir: Path | None = None, desc: str = "") -> Measures:
    """Every per-frame figure of `source` in one pass, under one progress bar (interruptible per chunk).

    `scene_starts`: the first frame of each scene when known (a storyboard), else hard cuts are detected. `keep`:
    frames whose vectors the caller needs afterwards (either side of a seam or a prompt switch). `cache_dir`: where
    per-chunk figures are kept between runs, for sources whose chunks have keys (a film's frame files).
    """
    models = models or MeterModels()
    state = _Pass(source, models, scene_starts, keep)
    with host.progress(source.count, desc or f"measuring {source.name}") as bar:
        start = 0
        for chunk, key in zip(source.chunks(CHUNK_FRAMES), source.chunk_keys(CHUNK_FRAMES)):
            cached = cache_dir / f"{key}-{models.tag()}.npz" if cache_dir is not None and key is not None else None
            if cached is not None and cached.is_file():
                with np.load(cached) as stored:
                    record = {name: stored[name] for name in stored.files}
            else:
                record = state.compute(chunk, start)
                if cached is not None:
                    cached.parent.mkdir(parents=True, exist_ok=True)
                    temporary = cached.with_suffix(".tmp.npz")
                    np.savez(temporary, **record)
                    temporary.replace(cached)
            state.consume(chunk, record, start)
            start += len(chunk)
            bar.update(len(chunk))
    if start == 0:
        raise ValueError(f"'{source.name}' has no frames to measure.")
    return state.result()
