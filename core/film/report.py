"""The film report: the metrics video-editing papers report, per scene, for the whole film, and across each seam.

Per frame or per pair of consecutive frames, from the consistency meter's pass over the film's PNG frames
(core/meter: a chunk at a time, cached per chunk in the film folder, so a re-run scores only new frames):
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
(models/encoders), the same the clip report uses. The meter's own report of the film (motion guard, seams with
ΔE and warp-error spikes, colour drift, drift curve, prompt-switch latency, VBench's figures) is its "meter" part.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..clip_report import ENCODER_KIND
from ..images import from_pil
from ..meter.report import VideoReport
from .plan import FilmPlan
from .stitch import chunk_boundaries, film_frames

METRICS = {
    "consistency": "CLIP cosine of consecutive frames",
    "warp_error": "flow-warped pixel MSE of consecutive frames",
    "adherence": "CLIP cosine with the scheduled prompt",
    "identity": "CLIP cosine with the character reference",
}


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
    meter: VideoReport | None = None  # the meter's report of the same pass: motion guard, seams, drift, latency
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
            **({"meter": self.meter.summary()} if self.meter is not None else {}),
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


def measure(plan: FilmPlan, encoder_name: str) -> FilmMeasures:
    """Every per-frame measure of a rendered film: the meter's pass over its frames (read from disk a chunk at a time,
    cached per chunk in the film folder so a re-run scores only new frames), with the CLIP figures read from it."""
    from ..encoders import load_encoder
    from ..meter.frames import FileFrames
    from ..meter.report import storyboard_timeline, video_report

    encoder = load_encoder(ENCODER_KIND, encoder_name)
    board = plan.board
    chunks = chunk_boundaries(plan)
    timeline = storyboard_timeline(board, [chunk["frame"] for chunk in chunks])
    characters = list(board.characters)
    references = None
    if characters:
        pictures = [from_pil(_pil(board.characters[name].reference)) for name in characters]
        references = torch.nn.functional.normalize(
            torch.cat([encoder.encode_images(picture).vectors.float() for picture in pictures]), dim=-1)
    meter = video_report(FileFrames(film_frames(plan), board.fps, board.title), timeline, encoder, references,
                         cache_dir=plan.film_dir / "meter")
    measures = meter.measures
    count = measures.count
    scheduled = timeline.scheduled
    frame_scene = [segment.scene if segment.kind == "scene" else -1
                   for segment in board.timeline() for _ in range(segment.count)]
    scene_prompts = [{scheduled[k] for k in range(count) if frame_scene[k] == scene.index} for scene in board.scenes]
    adherence = measures.adherence[np.arange(count), scheduled]
    identity, correct = np.full(count, np.nan), np.full(count, np.nan)
    for k in range(count):
        scene = frame_scene[k]
        if scene < 0:
            continue
        correct[k] = float(int(measures.adherence[k].argmax()) in scene_prompts[scene])
        character = board.scenes[scene].character
        if character is not None:
            identity[k] = float(np.clip(measures.reference[k, characters.index(character.name)], -1, 1))
    return FilmMeasures(board.fps, measures.consecutive["clip"], measures.scalars["warp_error"], adherence, identity,
                        correct, timeline.segments, meter, chunks)


def _pil(path: Path):
    from PIL import Image

    with Image.open(path) as picture:
        return picture.convert("RGB")


def film_report(plan: FilmPlan, encoder_name: str, baseline: FilmPlan | None = None) -> FilmReport:
    """The report of a rendered film, with the baseline's measures beside it when a rendered baseline is given."""
    return FilmReport(measure(plan, encoder_name), measure(baseline, encoder_name) if baseline else None,
                      encoder_name)
