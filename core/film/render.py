"""The film's order of work and its end: the next unit to render, the frames done so far, the stitch and report.

The LF_Film node renders one pending unit at a time on ComfyUI's executor (nodes/film.py); the runner
(scripts/film.py) hands units to several servers. Both skip finished units (a re-run resumes a stopped one from its
frames on disk) and end with `finish_film`.
"""

from __future__ import annotations

import json
from pathlib import Path

from .plan import FilmPlan, Unit
from .stitch import stitch


def next_unit(plan: FilmPlan) -> Unit | None:
    """The first unit in plan order that ComfyUI renders and that is not done (its dependencies come before it and
    are done), or None when only the stitch is left."""
    return next((unit for unit in plan.units.values() if unit.kind != "stitch" and not plan.is_done(unit.id)), None)


def frames_done(plan: FilmPlan) -> int:
    """Frames of the units that are done (of `plan.rendered_frames`)."""
    return sum(unit.frames for unit in plan.units.values() if plan.is_done(unit.id))


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
        report.film.meter.plot().save(plan.film_dir / "report_meter.png")
    plan.finish("stitch", {})
    return video, report_json, report_plot


def film_outputs(plan: FilmPlan, encoder: str = "") -> tuple[Path, Path | None, Path | None, bool]:
    """Once every rendered unit is done: the film's video and report files (None where not measured), stitching
    (and measuring) first unless the stitch is done with this plan's key; the last value says whether it stitched."""
    if plan.is_done("stitch") and plan.video_path.exists():
        report_json, report_plot = plan.film_dir / "report.json", plan.film_dir / "report.png"
        return (plan.video_path, report_json if report_json.exists() else None,
                report_plot if report_plot.exists() else None, False)
    return (*finish_film(plan, encoder), True)
