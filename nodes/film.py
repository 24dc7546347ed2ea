"""The film node: a storyboard rendered inside this ComfyUI through node expansion, one unit after another. Logic lives
in core/film/.

LF_Film expands into the first pending unit's workflow plus an LF_FilmStep node that waits for the unit's end; the step
records the unit done and expands into the next pending unit plus another step, and the last step stitches the film.
Each expansion's result links to its step's outputs, so LF_Film's outputs arrive with the last step. One unit at a time,
because a unit reads an earlier unit's files (LoadImage checks its file when ComfyUI adds it to the prompt).
"""

from __future__ import annotations

import json
import logging

from ..core import host, video
from ..core.checks import validate_inputs
from ..core.film import expand, plan, render
from ..core.film.storyboard import load_storyboard
from ..core.images import from_pil
from ..core.paths import readable_path, safe_name

logger = logging.getLogger("LongForm")

CATEGORY = "LongForm/film"
STORYBOARD_SUFFIXES = (".yaml", ".yml", ".json")
NO_REPORT = "none"
STEP = "LF_FilmStep"
FILM_OUTPUTS = ("STRING", "IMAGE", "STRING")
FILM_OUTPUT_NAMES = ("video_path", "report_plot", "report_json")


def list_storyboards() -> list[str]:
    """Storyboard files in the input folder, as names relative to it."""
    root = host.input_dir()
    if not root.is_dir():
        return []
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*")
                  if path.suffix.lower() in STORYBOARD_SUFFIXES and path.is_file())


def _plan(storyboard: str) -> plan.FilmPlan:
    from . import NODE_CLASS_MAPPINGS

    board = load_storyboard(readable_path("input", storyboard, "storyboard"), host.input_dir())
    return plan.FilmPlan(board, host.output_dir(), NODE_CLASS_MAPPINGS)


def _output_node_predicate(unit_id: str):
    """Whether a node type is an output node in this ComfyUI; a type it lacks is refused, naming the unit."""
    classes = host.node_classes()

    def is_output(class_type: str) -> bool:
        if class_type not in classes:
            raise ValueError(f"Film unit {unit_id} uses node type {class_type}, which this ComfyUI does not have: "
                             f"install the pack that provides it.")
        return getattr(classes[class_type], "OUTPUT_NODE", False) is True

    return is_output


def _advance(film: plan.FilmPlan, storyboard: str, encoder: str, film_node: str, dynprompt, rendered: list[str]):
    """The film's next move: expand into its next pending unit and a step after it, or, with none left, stitch (and
    report) and return LF_Film's outputs and preview."""
    with host.progress(film.rendered_frames, f"film {film.board.title}", node_id=film_node) as bar:
        bar.update_absolute(render.frames_done(film))
    unit = render.next_unit(film)
    if unit is None:
        video_path, report_json, report_plot, stitched = render.film_outputs(film, "" if encoder == NO_REPORT
                                                                              else encoder)
        summary = json.loads(report_json.read_text(encoding="utf-8")) if report_json else {}
        summary["rendered_units"] = rendered + (["stitch"] if stitched else [])
        plot = from_pil(_open(report_plot)) if report_plot else from_pil(_blank())
        return {"ui": video.ui_preview(video_path, host.output_dir()),
                "result": (str(video_path), plot, json.dumps(summary, indent=1))}
    logger.info("film %s: %s (%d frames), its workflow in %s", film.board.title, unit.id, unit.frames,
                film.unit_dir(unit.id) / plan.WORKFLOW_FILE)
    film.begin(unit.id)
    builder = host.graph_builder(f"{film_node}.")
    end = expand.add_unit(builder, unit.id, unit.workflow, _output_node_predicate(unit.id),
                          lambda node_id: dynprompt.has_node(node_id))
    step = builder.node(STEP, id=f"{unit.id}.step", storyboard=storyboard, encoder=encoder, film_node=film_node,
                        unit=unit.id, rendered=json.dumps(rendered + [unit.id]), after=end)
    return {"result": tuple(step.out(index) for index in range(len(FILM_OUTPUTS))), "expand": builder.finalize()}


class LF_Film:
    """Render a storyboard's scenes, transitions and stitch in this ComfyUI, with a film report."""

    DESCRIPTION = (
        "Renders a film from a storyboard (a .yaml or .json file in the input folder; docs/film.md): each scene's "
        "keyframe, its animation, the morph transitions, then crossfades and one mp4 joined without re-encoding, in "
        "output/film/<title>/. Each unit's workflow runs on ComfyUI's own executor (node expansion), one unit after "
        "another, and streams its frames to disk: queue again after a stop and finished units are skipped, a stopped "
        "one resumes at its last frame. For several servers, use scripts/film.py. With a CLIP encoder, a film report "
        "(consistency, warp error, prompt adherence, identity, per scene and across each seam)."
    )
    CATEGORY = CATEGORY
    FUNCTION = "render"
    OUTPUT_NODE = True
    RETURN_TYPES = FILM_OUTPUTS
    RETURN_NAMES = FILM_OUTPUT_NAMES

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "storyboard": (list_storyboards(), {"tooltip": "A storyboard file in the input folder (.yaml or .json); "
                                                           "its pictures are names in the input folder too."}),
                "encoder": ([NO_REPORT] + host.list_models("encoders", (".safetensors",)),
                            {"tooltip": "The probe's CLIP in models/encoders for the film report, or none."}),
            },
            "hidden": {"film_node": "UNIQUE_ID", "dynprompt": "DYNPROMPT"},
        }

    @classmethod
    def VALIDATE_INPUTS(cls, storyboard=None):
        return validate_inputs(cls, {"storyboard": storyboard}, names={"storyboard": safe_name})

    def render(self, storyboard: str, encoder: str, film_node: str, dynprompt):
        film = _plan(storyboard)
        film.check(host.object_info(film.node_types))  # every template against this ComfyUI, before any unit runs
        return _advance(film, storyboard, encoder, film_node, dynprompt, [])


class LF_FilmStep:
    """Internal: what LF Film expands into after each unit. Not for users' workflows."""

    DESCRIPTION = (
        "Internal to LF Film, which adds it to the running prompt after each unit of a film (node expansion): it "
        "records the unit done, then continues with the next unit or stitches the film. Not meant for workflows."
    )
    CATEGORY = f"{CATEGORY}/internal"
    FUNCTION = "step"
    RETURN_TYPES = FILM_OUTPUTS
    RETURN_NAMES = FILM_OUTPUT_NAMES

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "storyboard": ("STRING", {"tooltip": "LF Film's storyboard."}),
                "encoder": ("STRING", {"tooltip": "LF Film's encoder for the film report, or none."}),
                "film_node": ("STRING", {"tooltip": "LF Film's node id in the prompt."}),
                "unit": ("STRING", {"tooltip": "The unit that has just rendered."}),
                "rendered": ("STRING", {"tooltip": "The units rendered so far in this run (a JSON list)."}),
                "after": ("*", {"tooltip": "An output of the unit's last node: the step runs once the unit is done."}),
            },
            "hidden": {"dynprompt": "DYNPROMPT"},
        }

    def step(self, storyboard: str, encoder: str, film_node: str, unit: str, rendered: str, after, dynprompt):
        # `after` carries nothing the step reads: linking it makes ComfyUI run the step once the unit has run.
        film = _plan(storyboard)
        film.finish(unit)
        return _advance(film, storyboard, encoder, film_node, dynprompt, json.loads(rendered))


def _open(path):
    from PIL import Image

    with Image.open(path) as picture:
        return picture.convert("RGB")


def _blank():
    from PIL import Image

    return Image.new("RGB", (64, 64), "white")


NODE_CLASS_MAPPINGS = {"LF_Film": LF_Film, STEP: LF_FilmStep}
NODE_DISPLAY_NAME_MAPPINGS = {"LF_Film": "LF Film", STEP: "LF Film Step (Internal)"}
