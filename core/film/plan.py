"""A film's plan: its units, their dependencies, their workflows and fingerprints, and their state on disk.

Units, in an order where every unit comes after the ones it needs:
- `keyframe-<scene>`: the scene's first picture (independent of every other unit);
- `animate-<scene>`: the scene animated from its keyframe (needs that keyframe only);
- `morph-<scene>-<next>`: a morph transition, rendered from the scene's last frame (needs that scene's animation);
- `stitch`: crossfades, the film video and its report (needs every animation and morph).

Every rendered unit is an API-format ComfyUI workflow (workflows/film_units.py) written to
`<output>/film/<title>/<unit>/workflow.json` beside `unit.json`, which records its key: a fingerprint of the workflow,
the pictures it reads and its dependencies' keys. A unit whose recorded key matches and which finished is skipped on a
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
from .storyboard import Scene, Storyboard

logger = logging.getLogger("LongForm")

UNIT_FILE = "unit.json"
WORKFLOW_FILE = "workflow.json"
CLIP_FOLDER = "clip"  # the animator's run folder inside a unit's folder


@dataclass(frozen=True)
class Unit:
    """One piece of work: its id, kind, scene (a transition's: the scene it leaves), dependencies, the frames it
    makes, its workflow (None for the stitch, which runs beside the renderer) and key."""

    id: str
    kind: str
    scene: int
    deps: tuple[str, ...]
    frames: int
    workflow: dict[str, Any] | None
    key: str


class FilmPlan:
    """The units of one storyboard rendered into `output_root` (ComfyUI's output folder, shared by every server)."""

    def __init__(self, board: Storyboard, output_root: Path, node_classes: dict[str, type],
                 rename: Callable[[dict], dict] | None = None, size: int | None = None,
                 max_steps: int | None = None):
        """`rename` rewrites every unit workflow (e.g. scripts/tiny_profile.py's `with_tiny_models`: the tiny
        stand-ins' filenames); `size` replaces the storyboard's width and height (the tiny models' 64); `max_steps`
        caps its sampler steps (the tiny profile's few steps)."""
        from .graphs import unit_graphs

        if size is not None:
            board = dataclasses.replace(board, width=size, height=size)
        if max_steps is not None and board.render["steps"] > max_steps:
            board = dataclasses.replace(board, render={**board.render, "steps": max_steps})
        self.board = board
        self.output_root = Path(output_root).resolve()
        self.film_dir = self.output_root / "film" / board.title
        self._rename = rename
        self._graphs = unit_graphs().UNIT_GRAPHS
        self._node_classes = node_classes
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

    @property
    def video_path(self) -> Path:
        return self.film_dir / f"{self.board.title}.mp4"

    # ------------------------------------------------------------------------------------------------------ building

    def _models(self) -> dict[str, str]:
        return dict(self.board.models)

    def _add(self, unit_id: str, kind: str, scene: int, deps: tuple[str, ...], frames: int, graph, pictures) -> None:
        workflow = graph.to_api(self._node_classes) if graph is not None else None
        if workflow is not None and self._rename is not None:
            workflow = self._rename(workflow)
        key = fingerprint(kind, workflow, [self.units[dep].key for dep in deps],
                          [_file_digest(path) for path in pictures if path is not None], model_digests(workflow))
        self.units[unit_id] = Unit(unit_id, kind, scene, deps, frames, workflow, key)

    def _build(self) -> None:
        board, models, graphs = self.board, self._models(), self._graphs
        for scene in board.scenes:
            pictures = (scene.sketch, scene.character.reference if scene.character else None)
            unit_id = f"keyframe-{scene.name}"
            prefix = self.rel(self.unit_dir(unit_id) / "render")
            self._add(unit_id, "keyframe", scene.index, (), 1, graphs["keyframe"](board, scene, models, prefix), pictures)
        for scene in board.scenes:
            pictures = (scene.sketch, scene.character.reference if scene.character else None)
            unit_id = f"animate-{scene.name}"
            keyframe = f"{self.rel(self.keyframe_path(scene))} [output]"
            graph = graphs["animate"](board, scene, models, keyframe, self.rel(self.clip_dir(unit_id)))
            self._add(unit_id, "animate", scene.index, (f"keyframe-{scene.name}",), scene.frame_count, graph, pictures)
        for scene, following in zip(board.scenes, board.scenes[1:]):
            if scene.transition.kind != "morph":
                continue
            pictures = (following.sketch, following.character.reference if following.character else None)
            unit_id = f"morph-{scene.name}-{following.name}"
            last = f"{self.rel(self.frame_path(f'animate-{scene.name}', scene.frame_count - 1))} [output]"
            graph = graphs["morph"](board, scene, following, models, last, self.rel(self.clip_dir(unit_id)))
            self._add(unit_id, "morph", scene.index, (f"animate-{scene.name}",), scene.transition.frames, graph,
                      pictures)
        rendered = tuple(unit_id for unit_id, unit in self.units.items() if unit.kind in ("animate", "morph"))
        timeline = [segment.__dict__ for segment in board.timeline()]
        self.units["stitch"] = Unit("stitch", "stitch", -1, rendered, 0, None,
                                    fingerprint("stitch", timeline, [self.units[dep].key for dep in rendered]))

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
        count = 0
        while count < unit.frames and self.frame_path(unit_id, count).exists():
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
        if unit.workflow is not None:
            _write_json(folder / WORKFLOW_FILE, unit.workflow)
        _write_json(folder / UNIT_FILE, {"id": unit.id, "kind": unit.kind, "key": unit.key, "deps": list(unit.deps),
                                         "status": "running"})

    def finish(self, unit_id: str, outputs: dict[str, Any] | None = None) -> None:
        """Record a unit as done, after putting its result where the plan expects it (a keyframe's PNG). `outputs`
        are the ComfyUI history's outputs of the unit's workflow; without them the saved pictures are found on disk."""
        unit = self.units[unit_id]
        if unit.kind == "keyframe":
            saved = self._saved_pictures(unit_id, outputs)
            if len(saved) != 1:
                raise RuntimeError(f"{unit_id} saved {len(saved)} pictures instead of its keyframe: ComfyUI ran only "
                                   f"part of {self.unit_dir(unit_id) / WORKFLOW_FILE} (see the server's log).")
            os.replace(saved[0], self.keyframe_path(self.board.scenes[unit.scene]))
        elif unit.kind in ("animate", "morph") and self.frames_on_disk(unit_id) != unit.frames:
            raise RuntimeError(f"{unit_id} finished with {self.frames_on_disk(unit_id)} of {unit.frames} frames on "
                               f"disk in {self.clip_dir(unit_id)}: is the server's output folder {self.output_root}?")
        _write_json(self.unit_dir(unit_id) / UNIT_FILE, {"id": unit.id, "kind": unit.kind, "key": unit.key,
                                                          "deps": list(unit.deps), "status": "done"})

    def _saved_pictures(self, unit_id: str, outputs: dict[str, Any] | None) -> list[Path]:
        """The pictures a unit's SaveImage wrote: those its history `outputs` name, or without them (the LF_Film
        node's expanded SaveImage reports to no one) the newest one in the unit's folder under the prefix `_build`
        gave it ("render": render_00001_.png, render_00002_.png after a re-run, ...)."""
        if outputs is None:
            return sorted(self.unit_dir(unit_id).glob("render_*_.png"))[-1:]
        return [self.output_root / record.get("subfolder", "") / record["filename"]
                for node_output in outputs.values() for record in node_output.get("images", [])
                if record.get("type") == "output"]

    def ready(self, done: set[str], taken: set[str]) -> list[Unit]:
        """Units not done nor taken whose dependencies are all done."""
        return [unit for unit_id, unit in self.units.items()
                if unit_id not in done and unit_id not in taken and all(dep in done for dep in unit.deps)]

    @property
    def rendered_frames(self) -> int:
        """Frames the ComfyUI units make in all (keyframes count one each)."""
        return sum(unit.frames for unit in self.units.values())


def _file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _write_json(path: Path, value: Any) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(value, indent=1), encoding="utf-8")
    os.replace(temporary, path)
