"""One pass over a video: every per-frame figure the report reads, a chunk at a time, in memory that does not grow with
the video's length (per-frame scalars are kept, a few bytes a frame; feature vectors feed streaming sums and are
dropped, except at the frames a caller asks to keep).

Per frame k (a pair figure compares frame k-1 with frame k; NaN at frame 0):
- warp error, mean absolute pixel difference (0..1), colour histogram distance, mean CIELAB colour;
- the motion guard's mean top-5% flow, on VBench's frame sampling for dynamic degree: pairs (k - s, k) with
  s = round(fps / 8) (about 8 fps), on frames scaled to a short side of at most 256 (pixels.FLOW_SIDE);
- one vector per kind: "pixel" (the pixel thumbnail, always), "subject" (DINO), "background" (CLIP ViT-B/32) when
  VBench's feature models (core/meter/features.py) are installed, "clip" (the probe's CLIP) when an encoder is given, with the cosine
  to each scheduled prompt (adherence) and to each reference picture;
- when RAFT and AMT-S are installed, VBench's per-pair inputs (core/meter/vbench.py): RAFT's top-5% flow of each pair
  dynamic degree samples, at its second frame, and AMT-S's error rebuilding frame k-1 from k-2 and k, at even k.
VBench's five figures are folded from these in the same pass (its subject and background consistency from the
"subject" and "background" vectors), so every model sees each frame once and a film's re-run re-scores only new frames.
Scenes are given (a storyboard's segments) or found on the way: a hard cut at frame k when the histogram distance
of (k-1, k) is at least CUT_MIN and at least CUT_RATIO x the median of the scene's last CUT_WINDOW distances plus
CUT_MARGIN (an adaptive threshold: a busy scene needs a bigger jump). A film's per-chunk figures are cached in its
folder, keyed by its frame files, so a re-run measures only frames that changed or are new.
"""

from __future__ import annotations

import collections
import functools
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import host
from . import pixels, vbench
from .frames import CHUNK_FRAMES, FrameSource

CUT_MIN, CUT_RATIO, CUT_MARGIN, CUT_WINDOW = 0.3, 3.0, 0.1, 30
GAP_FRAMES = (2, 5, 10, 20, 50)
GAP_SECONDS = (1, 10)
STILLS = 10  # pictures on the report's time line
SCALARS = ("warp_error", "pixel_difference", "histogram_distance", "flow_top")


@dataclass
class MeterModels:
    """What the pass measures frames with: VBench's models (any may be None: not installed), the probe's CLIP encoder
    with the prompts and reference vectors it scores each frame against."""

    subject: object | None = None  # features.FeatureModel (dino_vitb16)
    background: object | None = None  # features.FeatureModel (clip_vitb32)
    raft: object | None = None  # vbench.RaftFlow
    interpolator: object | None = None  # vbench.FrameInterpolator (AMT-S)
    clip: object | None = None  # encoders.ClipEncoder
    prompts: tuple[str, ...] = ()
    references: torch.Tensor | None = None  # [R, D] unit CLIP vectors

    def tag(self) -> str:
        """A short hash of what the cached vectors depend on (the models' names)."""
        names = [getattr(model, "name", "") for model in (self.subject, self.background, self.raft, self.interpolator)]
        names.append(str(getattr(self.clip, "path", "") if self.clip is not None else ""))
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
    vbench: dict[str, object]  # VBench's five figures (dynamic degree as vbench.DynamicDegree); None: not measured
    not_measured: dict[str, str]  # why a figure is None when its model is installed (a video too short or too small)
    stills: list[tuple[int, np.ndarray]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.lab)


class _Pass:
    """The state of one pass; `measure` feeds it chunk by chunk."""

    def __init__(self, source: FrameSource, models: MeterModels, scene_starts: list[int] | None,
                 keep: Iterable[int]):
        self.source, self.models = source, models
        self.stride = vbench.sample_interval(source.fps)  # the guard samples pairs as VBench's dynamic degree does
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
        self.recent_frames: collections.deque = collections.deque(maxlen=self.context)
        self.not_measured: dict[str, str] = {}
        self.pair_scores: dict[str, list[float]] = {}  # VBench's per-pair inputs, in frame order
        self.raft = self._fitting(models.raft, "dynamic_degree", vbench.check_raft_size)
        self.interpolator = self._fitting(models.interpolator, "motion_smoothness", vbench.check_interpolator_size)
        self.consistency = {kind: vbench.FirstAndPreviousConsistency(None, metric)
                            for kind, metric in (("subject", "subject_consistency"),
                                                 ("background", "background_consistency"))
                            if kind in self.kinds}

    def _fitting(self, network, metric: str, check):
        """`network` when the video's frames fit it (`check`), else None with the reason under `metric`."""
        if network is not None:
            try:
                check(*self.source.size)
            except ValueError as error:
                self.not_measured[metric] = f"not measured: {error}"
                return None
        return network

    @property
    def context(self) -> int:
        """How many frames before a chunk its figures read: the guard's and RAFT's pair, AMT-S's triple."""
        return max(self.stride, 2)

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
        window = list(self.recent_frames) + list(chunk)  # frame k is window[k - first]
        first = start - len(self.recent_frames)
        indices = range(start, start + len(chunk))
        if self.raft is not None:
            pairs = [k for k in indices if k >= self.stride and k % self.stride == 0]
            record["raft_top"] = _scores(functools.partial(vbench.raft_pair_scores, self.raft), pairs,
                                         (self.stride, 0), window, first, indices, vbench.RAFT_PAIRS_PER_BATCH)
        if self.interpolator is not None:
            triples = [k for k in indices if k >= 2 and k % 2 == 0]
            record["interpolation_error"] = _scores(functools.partial(vbench.interpolation_errors, self.interpolator),
                                                    triples, (2, 0, 1), window, first, indices,
                                                    vbench.AMT_PAIRS_PER_BATCH)
        batch = torch.from_numpy(chunk).float() / 255.0
        for kind, model in (("subject", self.models.subject), ("background", self.models.background)):
            if model is not None:
                record[kind] = model.embed(batch).float().numpy()
        if self.models.clip is not None:
            record["clip"] = torch.nn.functional.normalize(
                self.models.clip.encode_images(batch).vectors.float(), dim=-1).numpy()
        return record

    def consume(self, chunk: np.ndarray, record: dict[str, np.ndarray], start: int) -> None:
        """Fold one chunk's record into the pass: scenes (cuts), drift sums, consecutive cosines, kept vectors,
        VBench's running figures."""
        for kind, meter in self.consistency.items():
            meter.add_features(torch.from_numpy(record[kind]))
        for name in ("raft_top", "interpolation_error"):
            if name in record:
                self.pair_scores.setdefault(name, []).extend(float(v) for v in record[name] if np.isfinite(v))
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
            self.recent_frames.append(frame)

    def _is_cut(self, k: int) -> bool:
        distances = self.scalars["histogram_distance"]
        current = distances[k]
        history = [d for d in distances[max(self.scene_starts[-1] + 1, k - CUT_WINDOW):k] if np.isfinite(d)]
        baseline = float(np.median(history)) if history else 0.0
        return current >= CUT_MIN and current >= CUT_RATIO * baseline + CUT_MARGIN

    def vbench_figures(self) -> dict[str, object]:
        """VBench's five figures of the whole pass (None where the model is missing or the video too short, with
        the reason in `not_measured`)."""
        count = len(self.lab)
        figures: dict[str, object] = {}

        def settle(metric: str, compute) -> None:
            try:
                figures[metric] = compute()
            except ValueError as error:  # a video too short for the metric
                figures[metric] = None
                self.not_measured[metric] = f"not measured: {error}"

        differences = self.scalars["pixel_difference"][1:]  # every pair of consecutive frames, 0..1
        settle("temporal_flickering", lambda: vbench.flickering(
            255.0 * float(np.mean(differences)) if differences else None, count))
        for kind, metric in (("subject", "subject_consistency"), ("background", "background_consistency")):
            figures[metric] = None
            if kind in self.consistency:
                settle(metric, self.consistency[kind].result)
        figures["dynamic_degree"] = figures["motion_smoothness"] = None
        if self.raft is not None:
            figures["dynamic_degree"] = vbench.dynamic_decision(
                self.pair_scores.get("raft_top", []), len(range(0, count, self.stride)), self.source.size,
                self.stride)
        if self.interpolator is not None:
            settle("motion_smoothness", lambda: vbench.smoothness(self.pair_scores.get("interpolation_error", []),
                                                                  count))
        return figures

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
            np.asarray(self.reference) if self.reference else None, self.vbench_figures(), self.not_measured,
            self.stills)


def _scores(score, frames: list[int], lags: tuple[int, ...], window: list[np.ndarray], first: int,
            chunk: range, batch_size: int) -> np.ndarray:
    """One figure per frame of `chunk` (frame indices): `score(*batches)` at `frames`, NaN elsewhere. For frame k the
    batches hold frames k - lag, one batch per lag, as [n, 3, h, w] floats 0..255, from `window` (frame `first`
    first), `batch_size` frames at a time (interruptible between)."""
    values = np.full(len(chunk), np.nan)
    for batch_start in range(0, len(frames), batch_size):
        host.check_interrupt()
        batch = frames[batch_start:batch_start + batch_size]
        tensors = [torch.stack([torch.from_numpy(window[k - lag - first]).permute(2, 0, 1).float() for k in batch])
                   for lag in lags]
        values[[k - chunk.start for k in batch]] = score(*tensors)
    return values


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
        for chunk, key in zip(source.chunks(CHUNK_FRAMES), source.chunk_keys(CHUNK_FRAMES, state.context)):
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
