"""The meter's report of one video: VBench's figures where their models are installed ("not measured" and the
manifest entry where not), the motion guard beside every consistency figure, cuts or storyboard seams, colour drift,
the drift curve and prompt-switch latency; per scene and for the whole video. JSON (every figure with its definition
id, definitions.py) and one plot.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import curves
from .definitions import DEFINITIONS
from .frames import FrameSource
from .measure import Measures, MeterModels, measure

SUBJECT_MODEL, BACKGROUND_MODEL = "dino_vitb16", "clip_vitb32"
KIND_FIGURE = {"subject": "subject_similarity", "background": "background_similarity",
               "clip": "clip_consistency", "pixel": "pixel_thumbnail_cosine"}


@dataclass
class Timeline:
    """What a storyboard says about a video: its segments and the prompt scheduled for each frame."""

    segments: list[dict]  # {"label", "kind", "start", "count"}
    prompts: list[str]
    scheduled: list[int]  # per frame, an index into prompts
    chunk_starts: list[int] = field(default_factory=list)  # a video engine's chunk boundaries inside scenes

    def boundaries(self) -> list[int]:
        """Frames that start a segment or a chunk after the first: the pair (k-1, k) straddles a seam."""
        return sorted({segment["start"] for segment in self.segments[1:]} | set(self.chunk_starts))


def storyboard_timeline(board, chunk_starts: list[int] = ()) -> Timeline:
    """A storyboard's segments (scenes, crossfades, morphs) and per-frame prompts: in a scene the dominant keyframe's,
    in a transition the leaving prompt, then the arriving one. `chunk_starts`: where a rendered film's chunks join."""
    scenes = board.scenes
    prompts: list[str] = []
    scheduled: list[int] = []
    segments = []

    def index_of(prompt: str) -> int:
        if prompt not in prompts:
            prompts.append(prompt)
        return prompts.index(prompt)

    for segment in board.timeline():
        scene = scenes[segment.scene]
        if segment.kind == "scene":
            weights = scene.schedule.weights()
            scheduled += [index_of(scene.schedule.keyframes[int(weights[k].argmax())].prompt)
                          for k in range(segment.count)]
            label = scene.name
        else:
            leaving = scene.schedule.keyframes[scene.schedule.segment(scene.frame_count - 1)[0]].prompt
            arriving = scenes[segment.scene + 1].schedule.keyframes[0].prompt
            scheduled += [index_of(leaving if (k + 1) / (segment.count + 1) < 0.5 else arriving)
                          for k in range(segment.count)]
            label = f"{segment.kind} {scene.name}-{scenes[segment.scene + 1].name}"
        segments.append({"label": label, "kind": segment.kind, "start": segment.start, "count": segment.count})
    return Timeline(segments, prompts, scheduled, list(chunk_starts))


def figure(definition: str, value=None, not_measured: str = "", **extra) -> dict:
    """One figure of the JSON: its value (None when not measured, with the reason) and its definition id."""
    if definition not in DEFINITIONS:
        raise KeyError(f"no definition '{definition}'")
    entry = {"value": value, "definition": definition, **extra}
    if value is None and not_measured:
        entry["not_measured"] = not_measured
    return entry


def _missing(metric: str) -> str:
    from .vbench import NOT_MEASURED

    return f"not measured: its model is not installed; install {NOT_MEASURED[metric]} (python install.py --models meter)"


def meter_models(clip=None, prompts: tuple[str, ...] = (), references: torch.Tensor | None = None) -> MeterModels:
    """VBench's models that are installed (DINO, CLIP ViT-B/32, RAFT, AMT-S; each None when not), with the probe's
    CLIP encoder, prompts and reference vectors for adherence and identity."""
    from . import features, vbench

    return MeterModels(features.load_feature_model(SUBJECT_MODEL), features.load_feature_model(BACKGROUND_MODEL),
                       vbench.load_raft(), vbench.load_interpolator(), clip, prompts, references)


def vbench_figures(measures: Measures) -> dict[str, dict]:
    """VBench's five video-quality figures of the pass (core/meter/vbench.py): each its value, or "not measured" and
    why (its model is not installed, or the video is too short or too small for it)."""
    figures = {}
    for metric in ("temporal_flickering", "subject_consistency", "background_consistency", "dynamic_degree",
                   "motion_smoothness"):
        value = measures.vbench[metric]
        extra = {}
        if metric == "dynamic_degree" and value is not None:
            extra = {"pairs_above_threshold": sum(score > value.threshold for score in value.pair_scores),
                     "pairs_needed": value.pairs_needed, "pairs": len(value.pair_scores),
                     "threshold_px": round(value.threshold, 3)}
            value = float(value.dynamic)
        figures[metric] = figure(metric, None if value is None else round(float(value), 6),
                                 "" if value is not None else measures.not_measured.get(metric) or _missing(metric),
                                 **extra)
    return figures


@dataclass
class VideoReport:
    """One pass's measures, VBench's figures, and the storyboard timeline when there is one."""

    measures: Measures
    vbench: dict[str, dict]
    timeline: Timeline | None = None
    notes: list[str] = field(default_factory=list)

    # -------------------------------------------------------------------------------------------- the JSON
    def guard(self, frames: slice = slice(None)) -> dict:
        """The motion guard printed beside each consistency figure."""
        motion = curves.motion_guard(self.measures, frames)
        dynamic = self.vbench.get("dynamic_degree", {})
        return {"dynamic_degree": dynamic.get("value") if dynamic.get("value") is not None
                else dynamic.get("not_measured", "not measured"),
                "mean_top5_flow": motion["mean_top5_flow"], "static": motion["static"]}

    def spans(self) -> list[tuple[str, str, int, int]]:
        """(label, kind, start, stop) of each scene: the storyboard's segments, or the stretches between cuts."""
        if self.timeline is not None:
            return [(s["label"], s["kind"], s["start"], s["start"] + s["count"]) for s in self.timeline.segments]
        return [(f"scene {index + 1}", "scene", start, stop)
                for index, (start, stop) in enumerate(curves.scene_spans(self.measures))]

    def summary(self) -> dict:
        measures = self.measures
        beside = self.guard()
        drift = curves.colour_drift(measures)
        consistency = {name: {**entry, "beside": beside} for name, entry in self.vbench.items()
                       if name not in ("dynamic_degree",)}
        for kind, values in measures.consecutive.items():
            consistency[f"consecutive_{KIND_FIGURE[kind]}"] = figure(
                _consecutive_definition(kind), curves.finite_mean(values), feature=kind, beside=beside)
        result = {
            "video": measures.name, "frames": measures.count, "fps": measures.fps,
            "size": list(measures.size), "definitions": {key: d.text for key, d in DEFINITIONS.items()},
            "whole": {
                **consistency,
                "dynamic_degree": self.vbench["dynamic_degree"],
                "motion_guard": figure("static", beside["static"], **curves.motion_guard(measures)),
                "colour_drift": figure("colour_drift", round(float(drift["to_first"][-1]), 4),
                                       max_to_first=round(float(drift["to_first"].max()), 4),
                                       max_to_scene_anchor=round(float(drift["to_scene_anchor"].max()), 4),
                                       slope_per_second=curves.drift_slope(drift["to_first"], measures.fps)),
                "warp_error": figure("warp_error", curves.finite_mean(self._inside("warp_error"))),
                "pixel_difference": figure("pixel_difference", curves.finite_mean(self._inside("pixel_difference"))),
            },
            "drift_curve": figure("drift_curve", {KIND_FIGURE[kind]: curve for kind, curve in measures.drift.items()},
                                  between_scenes=self._between_scenes()),
            "scenes": [self._scene(label, kind, start, stop, drift) for label, kind, start, stop in self.spans()],
            "notes": self.notes,
        }
        if self.timeline is None:
            result["cuts"] = figure("cuts", curves.cuts(measures))
        else:
            result["seams"] = figure("seam", self._seams())
            result["prompt_switches"] = figure(
                "prompt_switch_latency",
                curves.switch_latency(measures, self.timeline.scheduled, self.timeline.prompts) or None,
                "not measured: give a CLIP encoder (models/encoders) to score adherence")
        return result

    def _inside(self, name: str) -> np.ndarray:
        """A pair figure without the pairs that straddle a scene boundary."""
        values = self.measures.scalars[name].copy()
        values[[start for _, _, start, _ in self.spans()[1:]]] = np.nan
        return values

    def _between_scenes(self) -> dict[str, list[float]]:
        return {KIND_FIGURE[kind]: [round(float(a @ b), 6) for a, b in itertools.pairwise(means)]
                for kind, means in self.measures.scene_means.items()}

    def _scene(self, label: str, kind: str, start: int, stop: int, drift: dict) -> dict:
        pairs = slice(start + 1, stop)
        scene = {"label": label, "kind": kind, "start": start, "frames": stop - start,
                 "motion_guard": figure("static", None, **curves.motion_guard(self.measures, slice(start, stop))),
                 "warp_error": figure("warp_error", curves.finite_mean(self.measures.scalars["warp_error"][pairs])),
                 "colour_drift": figure("colour_drift", round(float(drift["to_scene_anchor"][stop - 1]), 4),
                                        max_to_scene_anchor=round(float(drift["to_scene_anchor"][start:stop].max()),
                                                                  4))}
        scene["motion_guard"]["value"] = scene["motion_guard"]["static"]
        for feature, values in self.measures.consecutive.items():
            scene[f"consecutive_{KIND_FIGURE[feature]}"] = figure(
                _consecutive_definition(feature), curves.finite_mean(values[pairs]), feature=feature,
                beside={**self.guard(slice(start, stop)), "dynamic_degree": "whole video only"})
        return scene

    def _seams(self) -> list[dict]:
        spans = self.spans()
        found = []
        for (leaving, leaving_kind, start, stop), (arriving, arriving_kind, _, _) in itertools.pairwise(spans):
            kind = arriving_kind if arriving_kind != "scene" else ("cut" if leaving_kind == "scene" else
                                                                   f"end of {leaving_kind}")
            found.append({"from": leaving, "to": arriving, "kind": kind, **curves.seam(self.measures, stop,
                                                                                       (start, stop))})
        if self.timeline is not None:
            for frame in self.timeline.chunk_starts:
                label, _, start, stop = next(span for span in spans if span[2] <= frame < span[3])
                found.append({"from": label, "to": label, "kind": "chunk boundary",
                              **curves.seam(self.measures, frame, (start, stop))})
        return sorted(found, key=lambda seam: seam["frame"])

    # -------------------------------------------------------------------------------------------- the plot
    def plot(self):
        """Time line with stills, seams and cuts marked; per-frame curves; the drift curve; the headline figures."""
        from ..images import figure_to_pil, new_figure

        measures = self.measures
        seconds = np.arange(measures.count) / measures.fps
        marks = [start for _, _, start, _ in self.spans()[1:]]
        switches = ([frame for frame, _, _ in curves.prompt_switches(self.timeline.scheduled)]
                    if self.timeline is not None and measures.adherence is not None else [])
        canvas = new_figure(12, 12)
        grid = canvas.add_gridspec(6, 2, height_ratios=[1.3, 1, 1, 1, 1, 1.6], hspace=0.55, wspace=0.25,
                                   top=0.96, bottom=0.06, left=0.06, right=0.98)
        strip = canvas.add_subplot(grid[0, :])
        if measures.stills:
            strip.imshow(np.concatenate([still for _, still in measures.stills], axis=1))
            width = measures.stills[0][1].shape[1]
            strip.set_xticks([width * (i + 0.5) for i in range(len(measures.stills))])
            strip.set_xticklabels([f"{frame / measures.fps:.1f}s" for frame, _ in measures.stills], fontsize=7)
        strip.set_yticks([])
        guard = curves.motion_guard(measures)
        strip.set_title(f"{measures.name}: {measures.count} frames at {measures.fps:g} fps"
                        f"{'  STATIC' if guard['static'] else ''}", fontsize=11)
        drift = curves.colour_drift(measures)
        panels = [
            ("similarity of consecutive frames", {KIND_FIGURE[k]: v for k, v in measures.consecutive.items()}, None),
            ("mean top-5% flow (px); dashed: static threshold", {"flow": measures.scalars["flow_top"]},
             guard["threshold_px"]),
            ("colour drift ΔE*ab (CIE 1976)", {"to first frame": drift["to_first"],
                                               "to scene's first frame": drift["to_scene_anchor"]}, None),
            ("warp error (flow-warped pixel MSE)", {"warp error": measures.scalars["warp_error"]}, None),
        ]
        shared = None
        for row, (title, lines, threshold) in enumerate(panels, start=1):
            axes = canvas.add_subplot(grid[row, :], sharex=shared)
            shared = shared or axes
            for label, values in lines.items():
                finite = np.isfinite(values)
                axes.plot(seconds[finite], np.asarray(values)[finite], marker=".", markersize=2, linewidth=1,
                          label=label)
            if threshold is not None:
                axes.axhline(threshold, color="red", linestyle="--", linewidth=1)
            for frame in marks:
                axes.axvline(frame / measures.fps, color="grey", linestyle=":", linewidth=1)
            for frame in switches:
                axes.axvline(frame / measures.fps, color="purple", linestyle="--", linewidth=0.8)
            if row == 1:  # scene names over their stretch, so a dip reads as "at the forest-storm seam"
                for label, _, start, stop in self.spans():
                    axes.annotate(label, ((start + stop) / 2 / measures.fps, 1.0), xycoords=("data", "axes fraction"),
                                  xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", fontsize=7,
                                  color="dimgrey")
            axes.set_title(title, fontsize=9, pad=12 if row == 1 else 6)
            axes.tick_params(labelsize=7)
            if len(lines) > 1:
                axes.legend(fontsize=7, loc="best")
        axes.set_xlabel("seconds (dotted: " + ("seams; dashed: prompt switches" if self.timeline is not None else
                                               "detected cuts") + ")", fontsize=8)
        curve_axes = canvas.add_subplot(grid[5, 0])
        for kind, curve in measures.drift.items():
            points = [(label, value) for label, value in curve.items() if value is not None]
            if points:
                curve_axes.plot(range(len(points)), [value for _, value in points], marker="o",
                                label=KIND_FIGURE[kind])
                curve_axes.set_xticks(range(len(points)))
                curve_axes.set_xticklabels([label for label, _ in points], fontsize=7, rotation=30)
        curve_axes.set_title("drift curve: similarity at a gap", fontsize=9)
        curve_axes.tick_params(labelsize=7)
        curve_axes.legend(fontsize=7)
        text_axes = canvas.add_subplot(grid[5, 1])
        text_axes.axis("off")
        text_axes.text(0, 1, "\n".join(self.headline()), va="top", fontsize=8, family="monospace")
        return figure_to_pil(canvas)

    def headline(self) -> list[str]:
        """The figures people look for first, each beside the motion guard."""
        beside = self.guard()
        dynamic = beside["dynamic_degree"]
        lines = [f"dynamic degree: {_shown(dynamic) if not isinstance(dynamic, str) else 'not measured'}",
                 f"mean top-5% flow: {_shown(beside['mean_top5_flow'])} px   static: {beside['static']}"]
        for name, entry in self.vbench.items():
            if name != "dynamic_degree":
                lines.append(f"{name.replace('_', ' ')}: {_shown(entry['value'] if entry['value'] is not None else 'not measured')}")
        drift = curves.colour_drift(self.measures)
        lines.append(f"colour drift ΔE to frame 0: end {drift['to_first'][-1]:.2f}, max {drift['to_first'].max():.2f}")
        if self.timeline is None:
            lines.append(f"cuts at frames: {', '.join(str(k) for k in self.measures.scene_starts[1:]) or 'none'}")
        else:
            lines.append(f"seams: {len(self.timeline.boundaries())}")
            for switch in curves.switch_latency(self.measures, self.timeline.scheduled, self.timeline.prompts):
                lines.append(f"prompt switch at frame {switch['frame']}: {switch['latency_frames']} frames to follow")
        return lines


def _consecutive_definition(kind: str) -> str:
    return {"clip": "clip_consistency", "pixel": "pixel_thumbnail_cosine"}.get(kind, "consecutive_feature_similarity")


def _shown(value) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)[:60]


def seam_frames(timeline: Timeline | None) -> set[int]:
    """Frames whose vectors a storyboard's seams and switches read (either side of each)."""
    if timeline is None:
        return set()
    frames = set(timeline.boundaries()) | {frame for frame, _, _ in curves.prompt_switches(timeline.scheduled)}
    return frames | {frame - 1 for frame in frames}


def video_report(source: FrameSource, timeline: Timeline | None = None, clip=None,
                 references: torch.Tensor | None = None, cache_dir: Path | None = None) -> VideoReport:
    """Measure `source` and return its report. `timeline`: a storyboard's segments and prompts (seams and switch
    latency instead of detected cuts); `clip`: the probe's CLIP encoder (encoders.load_encoder("clip", ...)), for
    adherence, and identity with `references` ([R, D] unit CLIP vectors); `cache_dir`: per-chunk figures kept
    between runs."""
    models = meter_models(clip, tuple(timeline.prompts) if timeline is not None else (), references)
    measures = measure(source, models, [s["start"] for s in timeline.segments] if timeline is not None else None,
                       seam_frames(timeline), cache_dir, f"video report {source.name}")
    if timeline is not None and len(timeline.scheduled) != measures.count:
        raise ValueError(f"'storyboard' describes {len(timeline.scheduled)} frames but the video {source.name!r} has "
                         f"{measures.count}: give the storyboard this video was rendered from.")
    notes = [f"{name} is not installed: seams and switches read the pixel thumbnail instead, named as such"
             for name, model in ((SUBJECT_MODEL, models.subject), (BACKGROUND_MODEL, models.background))
             if model is None]
    return VideoReport(measures, vbench_figures(measures), timeline, notes)
