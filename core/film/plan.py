"""A film's plan: its units, their dependencies, their workflows and fingerprints, and their state on disk.

Units, in an order where every unit comes after the ones it needs:
- `keyframe-<scene>`: the scene's first picture (independent of every other unit), unless a video-engine scene
  starts from a picture of the input folder (its `keyframe`);
- `animate-<scene>`: an sd15 scene animated from its keyframe (needs that keyframe only);
- `chunk-<scene>-<k>`: a video-engine scene's k-th chunk of `video.chunk` frames. Chunk 0 starts from the keyframe;
  chunk k+1 from chunk k's last `video.overlap` frames (one multi-frame file, `tail.png`), which it renders again
  and which the stitch blends across (core/film/continuity.py). Chunks of one scene form a chain; scenes run in
  parallel. Chunk k's seed is the scene's seed + 7919 k; its prompt is the schedule's at its first frame and, when
  the schedule changes inside the chunk, its conditioning is blended towards the prompt at its last frame by the
  share of its frames after the change (the template's prompt_next and prompt_blend slots);
- `morph-<scene>-<next>`: a morph transition, rendered from the scene's last frame (needs that scene's animation);
- `stitch`: crossfades, the film video and its report (needs every animation, chunk and morph).

Every rendered unit is a unit template (core/film/templates.py) filled with its values: the sd15 units' templates are
built by workflows/film_units.py, a video engine's is its template file. The filled API-format workflow is written to
`<output>/film/<title>/<unit>/workflow.json` beside `unit.json`, which records its key: a fingerprint of the workflow,
the pictures it reads and its dependencies' keys. A unit's images are found on disk, under its folder, by the
filename prefix the film gave its `images` slot (so a runner that cannot read ComfyUI's history collects them too). A unit whose recorded key matches and which finished is skipped on a
re-run; one that stopped half way resumes (the animator's stream-to-disk resume picks up at its last frame on disk);
one whose key changed starts over. Files are shared through the output folder: every server that renders a film's
units writes into the same output folder (one machine, or shared storage).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..video import FRAME_PATTERN, fingerprint
from .model_digests import model_digests
from .storyboard import Engine, Scene, Storyboard, chunk_count
from .templates import UnitTemplate, load_template

logger = logging.getLogger("LongForm")

UNIT_FILE = "unit.json"
WORKFLOW_FILE = "workflow.json"
CLIP_FOLDER = "clip"  # the animator's run folder inside a unit's folder
RENDER_NAME = "render"  # the filename prefix of the images a unit saves, inside its folder
FRAMES_FOLDER = "frames"
TAIL_FILE = "tail.png"  # a chunk's last `overlap` frames, the next chunk's start (an APNG: one LoadImage batch)
CHUNK_SEED_STEP = 7919
SHIPPED_TEMPLATES = Path(__file__).resolve().parents[2] / "workflows" / "templates"
ENGINE_TEMPLATES = {"wan22-ti2v": "wan22_ti2v.json"}  # built-in video engines and their shipped template files
CHUNK_SLOTS = ("prompt", "start_image", "seed", "frames", "images")  # what every video engine's template declares
CHUNK_FIELDS = {"frames": "video.chunk", "width": "width", "height": "height", "steps": "video.steps"}  # their sources
UNIT_SLOTS = {"keyframe": ("prompt", "seed", "images"), "animate": ("prompt", "start_image", "seed"),
              "morph": ("prompt", "start_image", "seed")}


@dataclass(frozen=True)
class Unit:
    """One piece of work: its id, kind, scene (a transition's: the scene it leaves), dependencies, the frames it
    makes, its workflow (None for the stitch, which runs beside the renderer) and key; a chunk's index in its
    scene."""

    id: str
    kind: str
    scene: int
    deps: tuple[str, ...]
    frames: int
    workflow: dict[str, Any] | None
    key: str
    chunk: int = 0


class FilmPlan:
    """The units of one storyboard rendered into `output_root` (ComfyUI's output folder, shared by every server)."""

    def __init__(self, board: Storyboard, output_root: Path, node_classes: dict[str, type],
                 rename: Callable[[dict], dict] | None = None, size: int | None = None,
                 max_steps: int | None = None):
        """`rename` rewrites every unit workflow (e.g. scripts/tiny_profile.py's `with_tiny_models`: the tiny
        stand-ins' filenames); `size` replaces the storyboard's width and height (the tiny models' 64); `max_steps`
        caps its sampler steps (the tiny profile's few steps). A template missing a slot its units need raises
        ValueError here, before anything renders; `check()` compares the templates with a ComfyUI."""
        from .graphs import unit_graphs

        if size is not None:
            board = dataclasses.replace(board, width=size, height=size)
        if max_steps is not None and board.render["steps"] > max_steps:
            board = dataclasses.replace(board, render={**board.render, "steps": max_steps})
        if max_steps is not None and board.video["steps"] > max_steps:
            board = dataclasses.replace(board, video={**board.video, "steps": max_steps})
        self.board = board
        self.output_root = Path(output_root).resolve()
        self.film_dir = self.output_root / "film" / board.title
        self._rename = rename
        self._graphs = unit_graphs()
        self._node_classes = node_classes
        self.templates: dict[str, UnitTemplate] = {}  # every template a unit was filled from (files: by path)
        self.units: dict[str, Unit] = {}
        self._build()

    # ------------------------------------------------------------------------------------------------------- layout

    def rel(self, path: Path) -> str:
        """`path` as a name inside the output folder (what ComfyUI's nodes take)."""
        return Path(path).relative_to(self.output_root).as_posix()

    def unit_dir(self, unit_id: str) -> Path:
        return self.film_dir / unit_id

    def keyframe_path(self, scene: Scene) -> Path:
        return self.unit_dir(f"keyframe-{scene.name}") / "keyframe.png"

    def clip_dir(self, unit_id: str) -> Path:
        """The animator's run folder of an animate or morph unit: frames/, chunks/, clip.mp4, state.json."""
        return self.unit_dir(unit_id) / CLIP_FOLDER

    def frame_path(self, unit_id: str, index: int) -> Path:
        return self.clip_dir(unit_id) / "frames" / FRAME_PATTERN.format(index)

    def clip_video(self, unit_id: str) -> Path:
        return self.clip_dir(unit_id) / f"{CLIP_FOLDER}.mp4"

    def chunk_id(self, scene: Scene, index: int) -> str:
        return f"chunk-{scene.name}-{index}"

    def chunk_ids(self, scene: Scene) -> list[str]:
        """A video-engine scene's chunk units, in order."""
        return [self.chunk_id(scene, index) for index in range(self.chunk_count(scene))]

    def chunk_count(self, scene: Scene) -> int:
        return chunk_count(scene.frame_count, self.board.video["chunk"], self.board.video["overlap"])

    def chunk_start(self, index: int) -> int:
        """The scene frame a chunk's first frame falls on."""
        return index * (self.board.video["chunk"] - self.board.video["overlap"])

    def chunk_frame_path(self, unit_id: str, index: int) -> Path:
        return self.unit_dir(unit_id) / FRAMES_FOLDER / FRAME_PATTERN.format(index)

    def tail_path(self, unit_id: str) -> Path:
        return self.unit_dir(unit_id) / TAIL_FILE

    def scene_dir(self, scene: Scene) -> Path:
        """Where the stitch assembles a video-engine scene's frames from its chunks (frames/, clip.mp4)."""
        return self.film_dir / f"scene-{scene.name}"

    def anchor_path(self, scene: Scene) -> Path:
        """The picture a video-engine scene starts from: its keyframe picture, or its keyframe unit's."""
        return scene.keyframe if scene.keyframe is not None else self.keyframe_path(scene)

    @property
    def video_path(self) -> Path:
        return self.film_dir / f"{self.board.title}.mp4"

    # ------------------------------------------------------------------------------------------------------ building

    def _models(self) -> dict[str, str]:
        return dict(self.board.models)

    def _add(self, unit_id: str, kind: str, scene: int, deps: tuple[str, ...], frames: int, template: UnitTemplate,
             values: dict[str, Any], pictures, chunk: int = 0) -> None:
        """A unit: `template` filled with `values` (its images saved under its folder), renamed, fingerprinted."""
        if template.has("images"):
            values = {**values, "images": self.rel(self.unit_dir(unit_id) / RENDER_NAME)}
        workflow = template.fill(values)
        if self._rename is not None:
            workflow = self._rename(workflow)
        key = fingerprint(kind, workflow, [self.units[dep].key for dep in deps],
                          [_file_digest(path) for path in pictures if path is not None], model_digests(workflow))
        self.units[unit_id] = Unit(unit_id, kind, scene, deps, frames, workflow, key, chunk)

    def _sd15_template(self, kind: str, graph) -> UnitTemplate:
        from .templates import parse_template

        template = parse_template(graph.to_api(self._node_classes), f"sd15 {kind} ({graph.name})")
        template.require(UNIT_SLOTS[kind], f"an sd15 {kind} unit")
        self.templates[template.name] = template
        return template

    def _engine_template(self, engine: Engine) -> UnitTemplate:
        path = engine.template or SHIPPED_TEMPLATES / ENGINE_TEMPLATES[engine.name]
        if str(path) not in self.templates:
            template = load_template(path)
            template.require(CHUNK_SLOTS, "a chunk of a video engine")
            self.templates[str(path)] = template
        return self.templates[str(path)]

    def _sd15_values(self, scene: Scene) -> dict[str, Any]:
        board = self.board
        return {"seed": scene.seed, "steps": board.render["steps"], "width": board.width, "height": board.height,
                "fps": board.fps}

    def _build(self) -> None:
        board, models, graphs = self.board, self._models(), self._graphs
        for scene in board.scenes:
            if scene.engine.chunked and scene.keyframe is not None:
                continue
            pictures = (scene.sketch, scene.character.reference if scene.character else None)
            first = scene.schedule.keyframes[0]
            template = self._sd15_template("keyframe", graphs.keyframe(board, scene, models))
            self._add(f"keyframe-{scene.name}", "keyframe", scene.index, (), 1, template,
                      {**self._sd15_values(scene), "prompt": first.prompt, "negative": first.negative}, pictures)
        for scene in board.scenes:
            if scene.engine.chunked:
                self._add_chunks(scene)
                continue
            pictures = (scene.sketch, scene.character.reference if scene.character else None)
            unit_id = f"animate-{scene.name}"
            keyframe = f"{self.rel(self.keyframe_path(scene))} [output]"
            template = self._sd15_template("animate", graphs.animate(board, scene, models,
                                                                        self.rel(self.clip_dir(unit_id))))
            self._add(unit_id, "animate", scene.index, (f"keyframe-{scene.name}",), scene.frame_count, template,
                      {**self._sd15_values(scene), "prompt": scene.schedule_text, "start_image": keyframe}, pictures)
        for scene, following in zip(board.scenes, board.scenes[1:]):
            if scene.transition.kind != "morph":
                continue
            pictures = (following.sketch, following.character.reference if following.character else None)
            unit_id = f"morph-{scene.name}-{following.name}"
            last = f"{self.rel(self.frame_path(f'animate-{scene.name}', scene.frame_count - 1))} [output]"
            graph = graphs.morph(board, scene, following, models, self.rel(self.clip_dir(unit_id)))
            values = {**self._sd15_values(following), "prompt": graphs.morph_schedule(scene, following),
                      "start_image": last}
            self._add(unit_id, "morph", scene.index, (f"animate-{scene.name}",), scene.transition.frames,
                      self._sd15_template("morph", graph), values, pictures)
        rendered = tuple(unit_id for unit_id, unit in self.units.items() if unit.kind in ("animate", "chunk", "morph"))
        timeline = [segment.__dict__ for segment in board.timeline()]
        self.units["stitch"] = Unit("stitch", "stitch", -1, rendered, 0, None,
                                    fingerprint("stitch", timeline, [self.units[dep].key for dep in rendered]))

    def _add_chunks(self, scene: Scene) -> None:
        """A video-engine scene's chain of chunks (see the module's docstring)."""
        board, video = self.board, self.board.video
        template = self._engine_template(scene.engine)
        keyframes, frames = scene.schedule.keyframes, scene.frame_count
        for index in range(self.chunk_count(scene)):
            start = self.chunk_start(index)
            end = min(start + video["chunk"], frames)  # the last chunk renders past the scene's end
            first, last = _active(keyframes, start), _active(keyframes, end - 1)
            values = {"prompt": keyframes[first].prompt, "negative": keyframes[first].negative,
                      "seed": scene.seed + CHUNK_SEED_STEP * index, "frames": video["chunk"], "width": board.width,
                      "height": board.height, "fps": board.fps, "steps": video["steps"]}
            if first != last:
                template.require(("prompt_next", "prompt_blend"), f"scene {scene.name!r}, whose prompt changes at "
                                                                  f"frame {keyframes[last].frame} inside chunk {index},")
            values.update(prompt_next=keyframes[last].prompt,
                          prompt_blend=(end - keyframes[last].frame) / (end - start) if first != last else 0.0)
            if index == 0 and scene.keyframe is not None:
                deps, values["start_image"] = (), scene.keyframe.relative_to(board.input_dir).as_posix()
            elif index == 0:
                deps, values["start_image"] = (f"keyframe-{scene.name}",), f"{self.rel(self.keyframe_path(scene))} [output]"
            else:
                previous = self.chunk_id(scene, index - 1)
                deps, values["start_image"] = (previous,), f"{self.rel(self.tail_path(previous))} [output]"
            self._add(self.chunk_id(scene, index), "chunk", scene.index, deps, video["chunk"], template, values,
                      (scene.keyframe,) if index == 0 else (), chunk=index)

    def check(self, object_info: dict[str, Any]) -> None:
        """Every template of the plan against a ComfyUI's /object_info; ValueError before anything renders."""
        for template in self.templates.values():
            template.check(object_info)
        for unit in self.units.values():
            if unit.kind == "chunk":
                self._engine_template(self.board.scenes[unit.scene].engine).check_values(unit.workflow, object_info,
                                                                                         CHUNK_FIELDS)

    @property
    def node_types(self) -> set[str]:
        """The node types the plan's templates use."""
        return {node["class_type"] for template in self.templates.values() for node in template.workflow.values()}

    # --------------------------------------------------------------------------------------------------------- state

    def record(self, unit_id: str) -> dict[str, Any] | None:
        path = self.unit_dir(unit_id) / UNIT_FILE
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None

    def is_done(self, unit_id: str) -> bool:
        """True when the unit finished with the key it has now."""
        record = self.record(unit_id)
        return bool(record) and record.get("key") == self.units[unit_id].key and record.get("status") == "done"

    def frames_on_disk(self, unit_id: str) -> int:
        """Frames of a unit written so far (the progress of a running or stopped unit)."""
        unit = self.units[unit_id]
        if unit.kind == "keyframe":
            return int(self.keyframe_path(self.board.scenes[unit.scene]).exists())
        if unit.kind == "stitch":
            return 0
        frame_path = self.chunk_frame_path if unit.kind == "chunk" else self.frame_path
        count = 0
        while count < unit.frames and frame_path(unit_id, count).exists():
            count += 1
        return count

    def begin(self, unit_id: str) -> None:
        """Prepare a unit's folder: keep a stopped run with this key (to resume it), clear one with another key,
        write its workflow and record it as running."""
        unit, folder = self.units[unit_id], self.unit_dir(unit_id)
        record = self.record(unit_id)
        if record is not None and record.get("key") != unit.key and folder.is_dir():
            logger.info("%s: its inputs changed since the last run; starting it over.", unit_id)
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in self.saved_images(unit_id):  # a stopped run's pictures: the unit saves its own anew
            stale.unlink()
        if unit.workflow is not None:
            _write_json(folder / WORKFLOW_FILE, unit.workflow)
        _write_json(folder / UNIT_FILE, {"id": unit.id, "kind": unit.kind, "key": unit.key, "deps": list(unit.deps),
                                         "status": "running"})

    def saved_images(self, unit_id: str) -> list[Path]:
        """The pictures a unit's images slot saved (ComfyUI's SaveImage: `<prefix>_<counter>_.png`), in order."""
        return sorted(self.unit_dir(unit_id).glob(f"{RENDER_NAME}_*_.png"))

    def finish(self, unit_id: str, outputs: dict[str, Any] | None = None) -> None:
        """Record a unit as done, after putting its result where the plan expects it: a keyframe's PNG; a chunk's
        frames (colours anchored) and its tail. The images are read from disk; `outputs` (ComfyUI's history entry's
        outputs, when the runner has them) only explains a unit that saved none where the plan looks."""
        unit = self.units[unit_id]
        if unit.kind in ("keyframe", "chunk"):
            saved = self.saved_images(unit_id)
            if len(saved) != unit.frames:
                elsewhere = [record["filename"] for node_output in (outputs or {}).values()
                             for record in node_output.get("images", [])]
                raise RuntimeError(f"{unit_id} saved {len(saved)} of its {unit.frames} pictures in "
                                   f"{self.unit_dir(unit_id)}" + (f" (ComfyUI reports {', '.join(elsewhere[:3])}: is "
                                                                  f"the server's output folder {self.output_root}?)"
                                                                  if elsewhere and not saved else
                                                                  f"; ComfyUI ran only part of {WORKFLOW_FILE} (see "
                                                                  "the server's log)."))
            if unit.kind == "keyframe":
                os.replace(saved[0], self.keyframe_path(self.board.scenes[unit.scene]))
            else:
                self._keep_chunk(unit, saved)
        elif unit.kind in ("animate", "morph") and self.frames_on_disk(unit_id) != unit.frames:
            raise RuntimeError(f"{unit_id} finished with {self.frames_on_disk(unit_id)} of {unit.frames} frames on "
                               f"disk in {self.clip_dir(unit_id)}: is the server's output folder {self.output_root}?")
        _write_json(self.unit_dir(unit_id) / UNIT_FILE, {"id": unit.id, "kind": unit.kind, "key": unit.key,
                                                          "deps": list(unit.deps), "status": "done"})

    def _keep_chunk(self, unit: Unit, saved: list[Path]) -> None:
        """A chunk's frames as the film keeps them (matched to the scene's anchor when anchor_colours is on), and
        its last `overlap` frames as the next chunk's start: one APNG that LoadImage reads as a batch. Written
        without frame durations, as Pillow merges equal consecutive frames of an animated WebP (always) or of a
        timed APNG: a still tail would come back shorter."""
        from PIL import Image

        from ..images import from_pil, to_uint8

        scene = self.board.scenes[unit.scene]
        frames = from_pil([_open_rgb(path) for path in saved])
        if self.board.video["anchor_colours"]:
            from .continuity import anchor_colours

            frames = anchor_colours(frames, from_pil(_open_rgb(self.anchor_path(scene))))
        pictures = [Image.fromarray(frame) for frame in to_uint8(frames)]
        folder = self.unit_dir(unit.id) / FRAMES_FOLDER
        folder.mkdir(exist_ok=True)
        for index, picture in enumerate(pictures):
            picture.save(self.chunk_frame_path(unit.id, index), compress_level=1)
        tail = pictures[-self.board.video["overlap"]:]
        temporary = self.tail_path(unit.id).with_suffix(".tmp")
        tail[0].save(temporary, format="PNG", save_all=True, append_images=tail[1:], compress_level=1)
        os.replace(temporary, self.tail_path(unit.id))
        for path in saved:
            path.unlink()

    def ready(self, done: set[str], taken: set[str]) -> list[Unit]:
        """Units not done nor taken whose dependencies are all done."""
        return [unit for unit_id, unit in self.units.items()
                if unit_id not in done and unit_id not in taken and all(dep in done for dep in unit.deps)]

    @property
    def rendered_frames(self) -> int:
        """Frames the ComfyUI units make in all (keyframes count one each)."""
        return sum(unit.frames for unit in self.units.values())


def _active(keyframes, frame: int) -> int:
    """The schedule keyframe in force at `frame`: the last one at or before it."""
    return max(index for index, keyframe in enumerate(keyframes) if keyframe.frame <= frame or index == 0)


def _open_rgb(path: Path):
    from PIL import Image

    with Image.open(path) as picture:
        return picture.convert("RGB")


def _file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _write_json(path: Path, value: Any) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(value, indent=1), encoding="utf-8")
    os.replace(temporary, path)
