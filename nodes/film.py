"""The film node: a storyboard rendered inside this ComfyUI, one unit after another. Logic lives in core/film/."""

from __future__ import annotations

import json

from ..core import host, video
from ..core.checks import validate_inputs
from ..core.film import execute, plan, render
from ..core.film.storyboard import load_storyboard
from ..core.images import from_pil
from ..core.paths import readable_path, safe_name

CATEGORY = "LongForm/film"
STORYBOARD_SUFFIXES = (".yaml", ".yml", ".json")
NO_REPORT = "none"


def list_storyboards() -> list[str]:
    """Storyboard files in the input folder, as names relative to it."""
    root = host.input_dir()
    if not root.is_dir():
        return []
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*")
                  if path.suffix.lower() in STORYBOARD_SUFFIXES and path.is_file())


class LF_Film:
    """Render a storyboard's scenes, transitions and stitch in this ComfyUI, with a film report."""

    DESCRIPTION = (
        "Renders a film from a storyboard (a .yaml or .json file in the input folder; docs/film.md): each scene's "
        "keyframe, its animation, the morph transitions, then crossfades and one mp4 joined without re-encoding, in "
        "output/film/<title>/. Units run one after another in this ComfyUI and stream their frames to disk: queue "
        "again after a stop and finished units are skipped, a stopped one resumes at its last frame. For several "
        "servers, use scripts/film.py. With a CLIP encoder, a film report (consistency, warp error, prompt adherence, "
        "identity, per scene and across each seam)."
    )
    CATEGORY = CATEGORY
    FUNCTION = "render"
    OUTPUT_NODE = True
    RETURN_TYPES = ("STRING", "IMAGE", "STRING")
    RETURN_NAMES = ("video_path", "report_plot", "report_json")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "storyboard": (list_storyboards(), {"tooltip": "A storyboard file in the input folder (.yaml or .json); "
                                                           "its pictures are names in the input folder too."}),
                "encoder": ([NO_REPORT] + host.list_models("encoders", (".safetensors",)),
                            {"tooltip": "The probe's CLIP in models/encoders for the film report, or none."}),
            }
        }

    @classmethod
    def VALIDATE_INPUTS(cls, storyboard):
        return validate_inputs(cls, {"storyboard": storyboard}, names={"storyboard": safe_name})

    def render(self, storyboard: str, encoder: str):
        from . import NODE_CLASS_MAPPINGS

        board = load_storyboard(readable_path("input", storyboard, "storyboard"), host.input_dir())
        film = plan.FilmPlan(board, host.output_dir(), NODE_CLASS_MAPPINGS)
        cache: dict = {}  # shared by the film's units: each model loads once
        result = render.render_sequential(film, lambda workflow: execute.run_workflow(workflow, cache=cache),
                                          "" if encoder == NO_REPORT else encoder)
        summary = json.loads(result.report_json.read_text(encoding="utf-8")) if result.report_json else {}
        summary["rendered_units"] = result.rendered
        plot = from_pil(_open(result.report_plot)) if result.report_plot else from_pil(_blank())
        return {"ui": video.ui_preview(result.video, host.output_dir()),
                "result": (str(result.video), plot, json.dumps(summary, indent=1))}


def _open(path):
    from PIL import Image

    with Image.open(path) as picture:
        return picture.convert("RGB")


def _blank():
    from PIL import Image

    return Image.new("RGB", (64, 64), "white")


NODE_CLASS_MAPPINGS = {"LF_Film": LF_Film}
NODE_DISPLAY_NAME_MAPPINGS = {"LF_Film": "LF Film"}
