"""Rendering a plan one unit at a time (the LF_Film node, and the runner's single-server path), and the film's end.

`render_sequential` takes a function that runs one API workflow and returns its outputs (in this ComfyUI process, or
on one server); the parallel runner (scripts/film.py) hands units to several servers and calls `finish_film` the same
way. Either way a re-run skips finished units and resumes a stopped one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .. import host
from .plan import FilmPlan
from .stitch import stitch

logger = logging.getLogger("LongForm")

RunWorkflow = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class FilmResult:
    """The film's video, its report files (when measured), and the units rendered in this run."""

    video: Path
    report_json: Path | None
    report_plot: Path | None
    rendered: list[str]


def finish_film(plan: FilmPlan, encoder: str = "", baseline: FilmPlan | None = None
                ) -> tuple[Path, Path | None, Path | None]:
    """The stitch unit: crossfades, the video, and with a CLIP `encoder` (models/encoders) the film report, beside
    it a rendered `baseline`'s figures when one is given."""
    plan.begin("stitch")
    video = stitch(plan)
    report_json = report_plot = None
    if encoder:
        from .report import film_report

        report = film_report(plan, encoder, baseline)
        report_json = plan.film_dir / "report.json"
        report_json.write_text(json.dumps(report.summary(), indent=1), encoding="utf-8")
        report_plot = plan.film_dir / "report.png"
        report.plot().save(report_plot)
    plan.finish("stitch", {})
    return video, report_json, report_plot


def render_sequential(plan: FilmPlan, run_workflow: RunWorkflow, encoder: str = "") -> FilmResult:
    """Render every unit not yet done, in order, with `run_workflow`; then stitch (and report). In ComfyUI the
    plan's templates are first checked against its registered node classes (outside it, `run_workflow` is a
    stand-in with no node classes to check against)."""
    if host.in_comfyui():
        plan.check(host.object_info(plan.node_types))
    rendered = []
    with host.progress(plan.rendered_frames, f"film {plan.board.title}") as bar:
        for unit in plan.units.values():
            if plan.is_done(unit.id):
                bar.update(unit.frames)
                continue
            if unit.kind == "stitch":
                continue
            logger.info("film %s: %s (%d frames)", plan.board.title, unit.id, unit.frames)
            plan.begin(unit.id)
            plan.finish(unit.id, run_workflow(unit.workflow))
            rendered.append(unit.id)
            bar.update(unit.frames)
    if plan.is_done("stitch") and plan.video_path.exists():
        report_json, report_plot = plan.film_dir / "report.json", plan.film_dir / "report.png"
        return FilmResult(plan.video_path, report_json if report_json.exists() else None,
                          report_plot if report_plot.exists() else None, rendered)
    video, report_json, report_plot = finish_film(plan, encoder)
    return FilmResult(video, report_json, report_plot, rendered + ["stitch"])
