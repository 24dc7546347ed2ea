"""The film report: the metrics video-editing papers report, per scene, for the whole film, and across each seam.

Per frame or per pair of consecutive frames, read from the film's PNG frames in order (a few at a time):
- CLIP frame consistency: cosine of consecutive frames' CLIP image embeddings (as Rerender-A-Video, FRESCO and
  ControlVideo report it);
- warp error: frame k-1 warped onto frame k along the optical flow from k to k-1 (OpenCV DIS), then the mean squared
  pixel error (0..1 scale) over the pixels (the papers' "Pixel-MSE");
- prompt adherence: cosine of the frame's CLIP embedding with the prompt scheduled for it (the dominant keyframe; in a
  transition the leaving prompt, then the arriving one), and frame-wise accuracy: the share of a scene's frames whose
  closest prompt, among every scene's, is one of its own scene's;
- identity: cosine with the CLIP embedding of the scene's character reference (scenes without a character: none).
Each pair that straddles a boundary (scene to transition, transition to scene, or a cut) is reported on its own,
so a seam shows as a spike beside the scene means. A video-engine scene's chunk boundaries (where a chunk's overlap
with the one before starts) are listed with the pair that straddles each, and marked on the plot. An optional baseline (the same storyboard rendered without the
consistency switches) is measured the same way and shown beside. The embeddings are the probe's CLIP
(models/encoders), the same the clip report uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .. import host
from ..clip_report import ENCODER_KIND
from ..identity_score import cosine_to_reference
from ..images import from_pil
from .plan import FilmPlan
from .stitch import chunk_boundaries, segment_frames

METRICS = {
    "consistency": "CLIP cosine of consecutive frames",
    "warp_error": "flow-warped pixel MSE of consecutive frames",
    "adherence": "CLIP cosine with the scheduled prompt",
    "identity": "CLIP cosine with the character reference",
}
_BATCH = 16


@dataclass
class FilmMeasures:
    """Per-frame curves of one rendered film (NaN where a measure does not apply) and where its seams are."""

    fps: float
    consistency: np.ndarray  # [frames]; entry k compares frames k-1 and k (entry 0 is NaN)
    warp_error: np.ndarray  # [frames]; same pairing
    adherence: np.ndarray  # [frames]
    identity: np.ndarray  # [frames]
    correct: np.ndarray  # [frames] 1.0 / 0.0 for scene frames, NaN in transitions
    segments: list[dict]  # {"label", "kind", "start", "count"}
    chunks: list[dict] = field(default_factory=list)  # {"frame", "scene", "chunk", "overlap"}: chunk boundaries

    def boundaries(self) -> list[int]:
        """Frames that start a segment after the first: the pair (k-1, k) straddles a seam."""
        return [segment["start"] for segment in self.segments[1:]]

    def summary(self) -> dict:
        """Means per segment, for the whole film, and the figures of each seam's pair."""

        def mean(values: np.ndarray) -> float | None:
            finite = values[np.isfinite(values)]
            return round(float(finite.mean()), 6) if finite.size else None

        seams = set(self.boundaries())
        inside = np.array([k not in seams for k in range(len(self.consistency))])
        per_segment = []
        for segment in self.segments:
            span = slice(segment["start"], segment["start"] + segment["count"])
            pairs = slice(segment["start"] + 1, segment["start"] + segment["count"])  # pairs inside the segment
            per_segment.append({**segment, "consistency": mean(self.consistency[pairs]),
                                "warp_error": mean(self.warp_error[pairs]), "adherence": mean(self.adherence[span]),
                                "identity": mean(self.identity[span]), "accuracy": mean(self.correct[span])})
        return {
            "frames": len(self.adherence), "fps": self.fps,
            "film": {"consistency": mean(self.consistency[inside]), "warp_error": mean(self.warp_error[inside]),
                     "adherence": mean(self.adherence), "identity": mean(self.identity),
                     "accuracy": mean(self.correct)},
            "segments": per_segment,
            "seams": [{"frame": k, "from": self._label(k - 1), "to": self._label(k),
                       "consistency": mean(self.consistency[k:k + 1]), "warp_error": mean(self.warp_error[k:k + 1])}
                      for k in self.boundaries()],
            "chunk_boundaries": [{**chunk, "consistency": mean(self.consistency[chunk["frame"]:chunk["frame"] + 1]),
                                  "warp_error": mean(self.warp_error[chunk["frame"]:chunk["frame"] + 1])}
                                 for chunk in self.chunks],
        }

    def _label(self, frame: int) -> str:
        return next(s["label"] for s in self.segments if s["start"] <= frame < s["start"] + s["count"])


@dataclass
class FilmReport:
    """The film's measures, and optionally the baseline's (same storyboard, consistency switches off)."""

    film: FilmMeasures
    baseline: FilmMeasures | None = None
    encoder: str = ""
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        result = {"encoder": self.encoder, "metrics": METRICS, **self.film.summary()}
        if self.baseline is not None:
            result["baseline"] = self.baseline.summary()
        return result

    def plot(self):
        """One panel per metric over the film's time line (seconds); seams dotted, the baseline dashed."""
        from ..images import figure_to_pil, new_figure

        figure = new_figure(10, 2.2 * len(METRICS))
        seconds = np.arange(len(self.film.adherence)) / self.film.fps
        first = None
        for row, (name, title) in enumerate(METRICS.items(), start=1):
            axes = figure.add_subplot(len(METRICS), 1, row, sharex=first)
            first = first or axes
            axes.plot(seconds, getattr(self.film, name), marker=".", markersize=3, linewidth=1, label="film")
            if self.baseline is not None:
                axes.plot(seconds, getattr(self.baseline, name), linestyle="--", linewidth=1,
                          label="baseline (switches off)")
            for frame in self.film.boundaries():
                axes.axvline(frame / self.film.fps, color="grey", linestyle=":", linewidth=1)
            for chunk in self.film.chunks:
                axes.axvline(chunk["frame"] / self.film.fps, color="tab:orange", linestyle="--", linewidth=0.8)
            axes.set_title(title, fontsize=9, pad=14 if row == 1 else 6)
            axes.tick_params(labelsize=7)
            if row == 1:
                axes.legend(fontsize=7, loc="best")
                # scene names over their stretch of the time line, so a spike reads as "at the forest-storm seam"
                for segment in self.film.segments:
                    if segment["kind"] == "scene":
                        middle = (segment["start"] + segment["count"] / 2) / self.film.fps
                        axes.annotate(segment["label"], (middle, 1.0), xycoords=("data", "axes fraction"),
                                      xytext=(0, 2), textcoords="offset points", ha="center", va="bottom",
                                      fontsize=7, color="dimgrey")
        axes.set_xlabel("seconds (dotted: scene and transition boundaries; dashed orange: chunk boundaries)")
        figure.tight_layout()
        return figure_to_pil(figure)


def warp_error(previous: np.ndarray, current: np.ndarray) -> float:
    """Mean squared error (0..1 scale) between `current` and `previous` warped onto it along the optical flow from
    `current` to `previous` (OpenCV DIS, medium preset); uint8 RGB frames."""
    import cv2

    gray_current = cv2.cvtColor(current, cv2.COLOR_RGB2GRAY)
    gray_previous = cv2.cvtColor(previous, cv2.COLOR_RGB2GRAY)
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(gray_current, gray_previous, None)
    height, width = gray_current.shape
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    warped = cv2.remap(previous, grid_x + flow[..., 0], grid_y + flow[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    difference = (warped.astype(np.float32) - current.astype(np.float32)) / 255.0
    return float(np.mean(difference**2))


def _scheduled_prompts(plan: FilmPlan) -> tuple[list[str], list[int], list[dict]]:
    """Per film frame: the index of its scheduled prompt in a list of distinct prompts, and the timeline's segments."""
    scenes = plan.board.scenes
    prompts: list[str] = []
    per_frame: list[int] = []
    segments = []

    def index_of(prompt: str) -> int:
        if prompt not in prompts:
            prompts.append(prompt)
        return prompts.index(prompt)

    for segment in plan.board.timeline():
        scene = scenes[segment.scene]
        if segment.kind == "scene":
            weights = scene.schedule.weights()
            per_frame += [index_of(scene.schedule.keyframes[int(weights[k].argmax())].prompt)
                          for k in range(segment.count)]
            label = scene.name
        else:
            leaving = scene.schedule.keyframes[scene.schedule.segment(scene.frame_count - 1)[0]].prompt
            arriving = scenes[segment.scene + 1].schedule.keyframes[0].prompt
            per_frame += [index_of(leaving if (k + 1) / (segment.count + 1) < 0.5 else arriving)
                          for k in range(segment.count)]
            label = f"{segment.kind} {scene.name}-{scenes[segment.scene + 1].name}"
        segments.append({"label": label, "kind": segment.kind, "start": segment.start, "count": segment.count})
    return prompts, per_frame, segments


def _load(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as picture:
        return np.asarray(picture.convert("RGB")).copy()


def measure(plan: FilmPlan, encoder_name: str) -> FilmMeasures:
    """Every per-frame measure of a rendered film (its frames are read from disk a batch at a time), under one
    progress bar."""
    from ..encoders import load_encoder

    encoder = load_encoder(ENCODER_KIND, encoder_name)
    board = plan.board
    paths = [path for segment in board.timeline() for path in segment_frames(plan, segment)]
    count = len(paths)
    with host.progress(count, f"film report {board.title}") as bar:
        prompts, scheduled, segments = _scheduled_prompts(plan)
        text_vectors = torch.nn.functional.normalize(encoder.encode_texts(prompts, truncate=True).vectors.float(),
                                                     dim=-1)
        references = {name: encoder.encode_images(from_pil(_pil(character.reference))).vectors
                      for name, character in board.characters.items()}
        frame_scene = [segment.scene if segment.kind == "scene" else -1
                       for segment in board.timeline() for _ in range(segment.count)]
        scene_prompts = [{scheduled[k] for k in range(len(scheduled)) if frame_scene[k] == scene.index}
                         for scene in board.scenes]
        consistency, warp = np.full(count, np.nan), np.full(count, np.nan)
        adherence, identity, correct = np.full(count, np.nan), np.full(count, np.nan), np.full(count, np.nan)
        previous_frame, previous_vector = None, None
        for start in range(0, count, _BATCH):
            frames = [_load(path) for path in paths[start:start + _BATCH]]
            batch = torch.from_numpy(np.stack(frames)).float() / 255.0
            vectors = torch.nn.functional.normalize(encoder.encode_images(batch).vectors.float(), dim=-1)
            for offset, (frame, vector) in enumerate(zip(frames, vectors)):
                k = start + offset
                similarities = text_vectors @ vector
                adherence[k] = float(similarities[scheduled[k]])
                scene = frame_scene[k]
                if scene >= 0:
                    correct[k] = float(int(similarities.argmax()) in scene_prompts[scene])
                    character = board.scenes[scene].character
                    if character is not None:
                        identity[k] = cosine_to_reference(vector[None], references[character.name])[0]
                if previous_frame is not None:
                    consistency[k] = float(vector @ previous_vector)
                    warp[k] = warp_error(previous_frame, frame)
                previous_frame, previous_vector = frame, vector
            bar.update(len(frames))
    return FilmMeasures(board.fps, consistency, warp, adherence, identity, correct, segments, chunk_boundaries(plan))


def _pil(path: Path):
    from PIL import Image

    with Image.open(path) as picture:
        return picture.convert("RGB")


def film_report(plan: FilmPlan, encoder_name: str, baseline: FilmPlan | None = None) -> FilmReport:
    """The report of a rendered film, with the baseline's measures beside it when a rendered baseline is given."""
    return FilmReport(measure(plan, encoder_name), measure(baseline, encoder_name) if baseline else None,
                      encoder_name)
