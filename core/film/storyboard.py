"""Storyboards: a film described as YAML (or JSON, a subset of YAML), checked field by field with line numbers.

    title: fox-walk                  # names the film's folder (letters, digits, - and _)
    fps: 8
    width: 512                       # multiples of 8
    height: 512
    negative: lowres, blurry         # optional: negative prompt of keyframes that give no --neg
    interpolation: eased             # optional: linear, eased, slerp or step (how a schedule blends)
    render: {steps: 20, strength: 0.45}    # optional: see RENDER_FIELDS
    engine: sd15                     # optional: sd15 (default), wan22-ti2v, or a template .json in the input folder
    video: {chunk: 33, overlap: 5}   # optional: the video engines' chunks, see VIDEO_FIELDS
    models: {checkpoint: v1-5-pruned-emaonly.safetensors}   # optional: see MODEL_FIELDS
    characters:
      fox: {reference: longform_character.png, weight: 0.7}
    scenes:
      - name: forest
        duration: 20                 # seconds
        schedule: |                  # the pack's schedule syntax; seconds relative to the scene
          0: a fox in a sunny forest
          12s: a fox in a forest at dusk
        sketch: longform_sketch.png  # optional: the scene's layout (scribble ControlNet)
        character: fox               # optional: held by the identity lock
        seed: 1                      # optional: default the scene's index
        engine: wan22-ti2v           # optional: this scene's engine (default: the film's)
        keyframe: first.png          # optional, video engines: the first frame (default: an sd15 keyframe unit)
        transition: {crossfade: 8}   # into the next scene: cut (default), {crossfade: N} or {morph: N} frames

Picture names resolve inside the input folder (ComfyUI's input folder, or the one the runner is given) and may not
leave it. Every error is collected and reported at once, each with its line; a scene's schedule errors carry the
storyboard's line numbers too. `storyboard_schema()` is the same rules as a JSON Schema, for editors.

The film's time line: each scene's frames (round(duration x fps)), and between two scenes the transition's N frames
(a cut has none). Crossfade frames dissolve the last frame of a scene into the first of the next; morph frames are an
img2img chain rendered from the one to the other.

Engines: `sd15` renders a scene as today's keyframe, animate and morph units; any other engine (`wan22-ti2v`, the
shipped Wan 2.2 TI2V 5B template, or a user's template file) renders it as chunks of `video.chunk` frames, each
continuing from the last `video.overlap` frames of the one before (core/film/plan.py). A morph needs sd15 on both
sides; a scene may need at most MAX_CHUNKS_PER_SCENE chunks.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..paths import inside, safe_name
from ..schedule import INTERPOLATIONS, PromptSchedule, ScheduleError, frame_count_for, parse_schedule
from ..text import issue_report

TRANSITIONS = ("cut", "crossfade", "morph")
SD15 = "sd15"
ENGINES = (SD15, "wan22-ti2v")  # built in; any other engine is a template file (.json) in the input folder
TEMPLATE_SUFFIX = ".json"
MAX_CHUNKS_PER_SCENE = 64  # bounds a scene's chain of chunks (each waits for the one before)
SEED_MODES = ("fixed", "per frame")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
# Bounds on a film (SECURITY.md), as a schedule's are: each scene is capped by its schedule (600 s), the film here.
MAX_SCENES = 500
MAX_FILM_FRAMES = 108_000  # 30 minutes at 60 fps, 2.5 hours at 12 fps


@dataclass(frozen=True)
class StoryboardIssue:
    """One error at a 1-based line of the storyboard file."""

    line: int
    where: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.where}: {self.message}"


class StoryboardError(ValueError):
    """A storyboard with errors; `issues` holds every one, each with its line."""

    def __init__(self, issues: list[StoryboardIssue], source: str = "storyboard"):
        self.issues = sorted(issues, key=lambda issue: issue.line)
        super().__init__(issue_report(source, self.issues, "The storyboard format is described in docs/film.md."))


# ------------------------------------------------------------------------------------------------------------ model


@dataclass(frozen=True)
class Character:
    """A character: the reference picture the identity lock holds, and the lock's weight."""

    name: str
    reference: Path
    weight: float


@dataclass(frozen=True)
class Transition:
    """How a scene passes into the next: `kind` cut, crossfade or morph, over `frames` frames (0 for a cut)."""

    kind: str = "cut"
    frames: int = 0


@dataclass(frozen=True)
class Engine:
    """What renders a scene: a built-in engine's name, or a user's template file (`template`, in the input folder)."""

    name: str
    template: Path | None = None

    @property
    def chunked(self) -> bool:
        """True for the video engines, which render a scene as chained chunks (everything but sd15)."""
        return self.name != SD15


@dataclass(frozen=True)
class Scene:
    """One scene: its schedule (seconds relative to the scene), optional sketch and character, seed, transition."""

    index: int
    name: str
    duration: float
    schedule: PromptSchedule
    schedule_text: str
    sketch: Path | None
    character: Character | None
    seed: int
    transition: Transition
    line: int
    engine: Engine = Engine(SD15)
    keyframe: Path | None = None

    @property
    def frame_count(self) -> int:
        return self.schedule.frame_count


@dataclass(frozen=True)
class Segment:
    """A stretch of the film's time line: a scene's frames or a transition's, from `start` for `count` frames."""

    kind: str  # "scene" or a transition kind
    scene: int  # the scene, or the scene a transition leaves
    start: int
    count: int


@dataclass(frozen=True)
class Storyboard:
    """A checked storyboard: film settings, characters and scenes in order."""

    title: str
    fps: float
    width: int
    height: int
    negative: str
    interpolation: str
    render: dict[str, Any]
    models: dict[str, str]
    characters: dict[str, Character]
    scenes: tuple[Scene, ...]
    input_dir: Path
    source: str = "storyboard"
    engine: Engine = Engine(SD15)
    video: dict[str, Any] = dataclasses.field(default_factory=lambda: {name: rule.default
                                                                        for name, rule in VIDEO_FIELDS.items()})

    def timeline(self) -> list[Segment]:
        """Scenes and transitions in order, each with its first frame on the film's time line."""
        segments, start = [], 0
        for scene in self.scenes:
            segments.append(Segment("scene", scene.index, start, scene.frame_count))
            start += scene.frame_count
            if scene.transition.frames:
                segments.append(Segment(scene.transition.kind, scene.index, start, scene.transition.frames))
                start += scene.transition.frames
        return segments

    @property
    def frame_count(self) -> int:
        """Frames in the whole film."""
        last = self.timeline()[-1]
        return last.start + last.count

    @property
    def seconds(self) -> float:
        return self.frame_count / self.fps


def baseline_of(board: Storyboard) -> Storyboard:
    """The same storyboard with the animator's consistency switches off, as its own film (`<title>-baseline`): the
    in-house baseline the film report prints beside the film (video engines: colour anchoring off)."""
    render = {**board.render, "cross_frame_attention": False, "color_match": False, "shared_noise": 0.0}
    return dataclasses.replace(board, title=f"{board.title}-baseline", render=render,
                               video={**board.video, "anchor_colours": False})


# --------------------------------------------------------------------------------------------------------- the rules


@dataclass(frozen=True)
class Rule:
    """One field: its JSON type, whether it is required, its default, and a check returning an error or None."""

    kind: str  # "string", "integer", "number", "boolean", "object", "array", "transition", "picture", "engine"
    required: bool = False
    default: Any = None
    check: Callable[[Any], str | None] | None = None
    description: str = ""
    choices: tuple[str, ...] = ()


def _between(low: float, high: float) -> Callable[[Any], str | None]:
    return lambda value: None if low <= value <= high else f"{value} is outside {low:g} to {high:g}"


def _multiple_of_8(value: int) -> str | None:
    return None if 64 <= value <= 2048 and value % 8 == 0 else f"{value} is not a multiple of 8 from 64 to 2048"


def _name(value: str) -> str | None:
    return None if _NAME_RE.match(value) else f"{value!r} is not a name (letters, digits, '-' and '_', up to 64)"


FILM_FIELDS: dict[str, Rule] = {
    "title": Rule("string", True, check=_name, description="Names the film's folder in the output folder."),
    "fps": Rule("number", True, check=_between(1, 60), description="Frames per second of the film."),
    "width": Rule("integer", True, check=_multiple_of_8, description="Frame width in pixels (multiple of 8)."),
    "height": Rule("integer", True, check=_multiple_of_8, description="Frame height in pixels (multiple of 8)."),
    "negative": Rule("string", default="lowres, blurry, deformed, text, watermark",
                     description="Negative prompt of keyframes that give no --neg."),
    "interpolation": Rule("string", default="eased", choices=INTERPOLATIONS,
                          description="How each scene's schedule blends its prompts."),
    "render": Rule("object", description="Render settings of the sd15 engine (steps, strength, ...)."),
    "engine": Rule("engine", default=SD15, description="What renders the scenes: sd15, wan22-ti2v, or a template "
                                                      "file (.json, API format) in the input folder."),
    "video": Rule("object", description="The video engines' chunks (chunk, overlap, steps, anchor_colours)."),
    "models": Rule("object", description="Model files, by ComfyUI folder."),
    "characters": Rule("object", description="Characters by name."),
    "scenes": Rule("array", True, description="The scenes, in order."),
}
RENDER_FIELDS: dict[str, Rule] = {
    "steps": Rule("integer", default=20, check=_between(1, 150),
                  description="Sampler steps of each frame (KSampler's steps, at its denoise)."),
    "guidance": Rule("number", default=7.5, check=_between(1, 30), description="Classifier-free guidance."),
    "strength": Rule("number", default=0.45, check=_between(0.05, 1),
                     description="Denoising strength of each animated frame."),
    "morph_strength": Rule("number", default=0.6, check=_between(0.05, 1),
                           description="Denoising strength of each morph frame."),
    "controlnet_strength": Rule("number", default=1.0, check=_between(0, 2),
                                description="How strongly a scene's sketch steers its frames."),
    "lora_strength": Rule("number", default=0.8, check=_between(0, 2), description="Style LoRA strength."),
    "seed_mode": Rule("string", default="per frame", choices=SEED_MODES, description="Seed per frame or fixed."),
    "cross_frame_attention": Rule("boolean", default=True, description="Consistency switch: frame-0 attention."),
    "color_match": Rule("boolean", default=True, description="Consistency switch: LAB colour matching."),
    "shared_noise": Rule("number", default=0.5, check=_between(0, 1), description="Consistency switch: shared noise."),
}
VIDEO_FIELDS: dict[str, Rule] = {
    "chunk": Rule("integer", default=33, check=_between(2, 1024),
                  description="Frames each chunk renders (Wan: 1 + a multiple of 4)."),
    "overlap": Rule("integer", default=5, check=_between(1, 1023),
                    description="Frames a chunk continues from and blends with the chunk before (Wan: 1 + a "
                                "multiple of 4)."),
    "steps": Rule("integer", default=20, check=_between(1, 150), description="Sampler steps of each chunk."),
    "anchor_colours": Rule("boolean", default=True,
                           description="Match each chunk's colours to the scene's keyframe (LAB)."),
}
MODEL_FIELDS: dict[str, Rule] = {
    "checkpoint": Rule("string", default="v1-5-pruned-emaonly.safetensors", description="models/checkpoints"),
    "controlnet": Rule("string", default="control_v11p_sd15_scribble_fp16.safetensors", description="models/controlnet"),
    "lora": Rule("string", default="pokemon_lora_sd15.safetensors", description="models/loras"),
    "ipadapter": Rule("string", default="ip-adapter-plus_sd15.safetensors", description="models/ipadapter"),
    "clip_vision": Rule("string", default="CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors", description="models/clip_vision"),
}
CHARACTER_FIELDS: dict[str, Rule] = {
    "reference": Rule("picture", True, description="Reference picture in the input folder."),
    "weight": Rule("number", default=0.7, check=_between(0, 2), description="Identity lock weight."),
}
SCENE_FIELDS: dict[str, Rule] = {
    "name": Rule("string", True, check=_name, description="Names the scene's units and files."),
    "duration": Rule("number", True, check=_between(0.1, 600), description="Seconds (up to 600)."),
    "schedule": Rule("string", True, description="Prompt schedule; seconds relative to the scene."),
    "sketch": Rule("picture", description="Layout sketch in the input folder (scribble ControlNet)."),
    "character": Rule("string", description="A name from characters."),
    "seed": Rule("integer", check=_between(0, 2**31 - 1), description="Seed (default: the scene's index)."),
    "transition": Rule("transition",
                       description="cut, {crossfade: N} or {morph: N}: N frames into the next scene."),
    "engine": Rule("engine", description="This scene's engine (default: the film's)."),
    "keyframe": Rule("picture", description="Video engines: the scene's first frame, a picture in the input folder "
                                            "(default: an sd15 keyframe from its sketch and character)."),
}


def storyboard_schema() -> dict[str, Any]:
    """The storyboard's rules as a JSON Schema (draft 2020-12), generated from the same tables the parser checks."""

    def properties(rules: dict[str, Rule]) -> dict[str, Any]:
        out = {}
        for name, rule in rules.items():
            if rule.kind == "picture":
                spec: dict[str, Any] = {"type": "string", "pattern": r"\.(png|jpg|jpeg|webp)$"}
            elif rule.kind == "engine":
                spec = {"anyOf": [{"enum": list(ENGINES)}, {"type": "string", "pattern": r"\.json$"}]}
            elif rule.kind == "transition":
                frames = {"type": "integer", "minimum": 1, "maximum": 240}
                spec = {"oneOf": [{"const": "cut"}] + [
                    {"type": "object", "properties": {kind: frames}, "required": [kind], "additionalProperties": False}
                    for kind in TRANSITIONS[1:]]}
            else:
                spec = {"type": rule.kind}
            if rule.choices:
                spec["enum"] = list(rule.choices)
            if rule.default not in (None, {}):
                spec["default"] = rule.default
            spec["description"] = rule.description
            out[name] = spec
        return out

    def record(rules: dict[str, Rule]) -> dict[str, Any]:
        return {"type": "object", "properties": properties(rules), "additionalProperties": False,
                "required": [name for name, rule in rules.items() if rule.required]}

    schema = record(FILM_FIELDS)
    schema.update({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "LongForm storyboard"})
    schema["properties"]["render"].update(record(RENDER_FIELDS))
    schema["properties"]["models"].update(record(MODEL_FIELDS))
    schema["properties"]["video"].update(record(VIDEO_FIELDS))
    schema["properties"]["characters"].update({"additionalProperties": record(CHARACTER_FIELDS)})
    schema["properties"]["scenes"].update({"items": record(SCENE_FIELDS), "minItems": 1})
    return schema


# ----------------------------------------------------------------------------------------------------------- parsing


def load_storyboard(path: str | Path, input_dir: str | Path) -> Storyboard:
    """Read and check a storyboard file; pictures resolve inside `input_dir`. StoryboardError lists every error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"'storyboard' is {str(path)!r}: no such file. Give a .yaml or .json storyboard "
                                "(example_inputs/storyboard.yaml is one).")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise StoryboardError([StoryboardIssue(line, "encoding", f"byte 0x{data[error.start]:02x} is not UTF-8 text; "
                                                                 "save the storyboard as UTF-8")], path.name) from None
    return parse_storyboard(text, input_dir, source=path.name)


def parse_storyboard(text: str, input_dir: str | Path, source: str = "storyboard") -> Storyboard:
    """Check storyboard `text` (YAML or JSON); pictures resolve inside `input_dir`. StoryboardError lists every error."""
    import yaml

    issues: list[StoryboardIssue] = []
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise StoryboardError([StoryboardIssue(line, "syntax", str(getattr(error, "problem", error)))], source) from None
    except RecursionError:
        raise StoryboardError([StoryboardIssue(1, "syntax", "the file nests lists or mappings too deeply to read; a "
                                                            "storyboard needs only a few levels")], source) from None
    reader = _Reader(issues, Path(input_dir))
    if not isinstance(root, yaml.MappingNode):
        raise StoryboardError([StoryboardIssue(1, "storyboard", "the file must be a mapping with title, fps, width, "
                                                                "height and scenes")], source)
    film = reader.record(root, FILM_FIELDS, "storyboard")
    render = reader.record(film.pop("render"), RENDER_FIELDS, "render")
    models = reader.record(film.pop("models"), MODEL_FIELDS, "models")
    video = _video(reader, film.pop("video"))
    if not isinstance(film["engine"], Engine):  # the default's name, or None after an issue
        film["engine"] = Engine(SD15)
    characters = _characters(reader, film.pop("characters"))
    scenes = _scenes(reader, film, characters, video)
    if issues:
        raise StoryboardError(issues, source)
    return Storyboard(title=film["title"], fps=float(film["fps"]), width=film["width"], height=film["height"],
                      negative=film["negative"], interpolation=film["interpolation"], render=render, models=models,
                      characters=characters, scenes=tuple(scenes), input_dir=Path(input_dir).resolve(), source=source,
                      engine=film["engine"], video=video)


def _video(reader: "_Reader", node) -> dict[str, Any]:
    values = reader.record(node, VIDEO_FIELDS, "video")
    if values["chunk"] is not None and values["overlap"] is not None and values["overlap"] >= values["chunk"]:
        reader.issue(node, "video.overlap", f"{values['overlap']} frames of overlap leave nothing new in a chunk of "
                                            f"{values['chunk']}; make it smaller than chunk")
        values["overlap"] = None
    return values


def chunk_count(frames: int, chunk: int, overlap: int) -> int:
    """Chunks of `chunk` frames, each overlapping the one before by `overlap`, that cover `frames` frames."""
    return 1 if frames <= chunk else 1 + math.ceil((frames - chunk) / (chunk - overlap))


def _characters(reader: "_Reader", node) -> dict[str, Character]:
    import yaml

    found: dict[str, Character] = {}
    if node is None:
        return found
    for key_node, value_node in node.value if isinstance(node, yaml.MappingNode) else []:
        name = key_node.value
        problem = _name(str(name))
        if problem:
            reader.issue(key_node, f"characters.{name}", problem)
            continue
        values = reader.record(value_node, CHARACTER_FIELDS, f"characters.{name}")
        if values.get("reference") is not None:
            found[name] = Character(name, values["reference"], float(values["weight"]))
    return found


def _scenes(reader: "_Reader", film: dict, characters: dict[str, Character], video: dict[str, Any]) -> list[Scene]:
    import yaml

    node = film.get("scenes")
    if node is None:
        return []
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        reader.issue(node, "scenes", "give a list of scenes, each starting with '- name: ...'")
        return []
    if len(node.value) > MAX_SCENES:
        reader.issue(node.value[MAX_SCENES], f"scenes[{MAX_SCENES}]", f"the film has {len(node.value)} scenes; a "
                     f"storyboard holds at most {MAX_SCENES}: split the film into several storyboards")
        return []
    scenes, names = [], {}
    fps = float(film["fps"]) if film.get("fps") else None
    for index, item in enumerate(node.value):
        where = f"scenes[{index}]"
        values = reader.record(item, SCENE_FIELDS, where, keep_nodes=("schedule", "character", "name"))
        name_node = values.get("name")
        name = name_node.value if name_node is not None else None
        if name in names:
            reader.issue(name_node, f"{where}.name", f"{name!r} is already scene {names[name]}'s name; names are unique")
        elif name is not None:
            names[name] = index
        character = None
        if values.get("character") is not None:
            wanted = values["character"].value
            character = characters.get(wanted)
            if character is None:
                known = ", ".join(characters) or "none are defined"
                reader.issue(values["character"], f"{where}.character", f"no character {wanted!r} ({known})")
        transition = values.get("transition") or Transition()
        if index == len(node.value) - 1 and transition.kind != "cut":
            written = next(value for key, value in item.value if key.value == "transition")
            reader.issue(written, f"{where}.transition", f"the last scene has a {transition.kind} into nothing; "
                                                      "remove it (the film ends with its last scene)")
        schedule = None
        if fps and values.get("duration") and values.get("schedule") is not None:
            schedule = _schedule(reader, values["schedule"], values["duration"], fps, film, where)
        engine = values.get("engine") or film["engine"]
        if values.get("keyframe") is not None and not engine.chunked:
            reader.issue(item, f"{where}.keyframe", f"a keyframe picture is for the video engines; this scene's "
                                                    f"engine is {engine.name} (remove it, or set engine)")
        if schedule is None or name is None:
            continue
        if engine.chunked and video["chunk"] and video["overlap"] is not None:
            chunks = chunk_count(schedule.frame_count, video["chunk"], video["overlap"])
            if chunks > MAX_CHUNKS_PER_SCENE:
                reader.issue(item, f"{where}.duration", f"{schedule.frame_count} frames need {chunks} chunks of "
                                                        f"{video['chunk']} (overlap {video['overlap']}), more than "
                                                        f"MAX_CHUNKS_PER_SCENE ({MAX_CHUNKS_PER_SCENE}); split the "
                                                        "scene or make video.chunk longer")
        scenes.append(Scene(index=index, name=name, duration=float(values["duration"]), schedule=schedule,
                            schedule_text=values["schedule"].value, sketch=values.get("sketch"), character=character,
                            seed=index if values.get("seed") is None else values["seed"], transition=transition,
                            line=item.start_mark.line + 1, engine=engine, keyframe=values.get("keyframe")))
    _check_film_length(reader, scenes)
    for scene, following in zip(scenes, scenes[1:]):
        if scene.transition.kind == "morph" and (scene.engine.chunked or following.engine.chunked):
            reader.issue(node.value[scene.index], f"scenes[{scene.index}].transition",
                         "a morph is rendered by sd15 and needs sd15 scenes on both sides; use a crossfade or a cut")
    return scenes


def _check_film_length(reader: "_Reader", scenes: list[Scene]) -> None:
    """An issue at the scene where the film (scenes and transitions) passes MAX_FILM_FRAMES frames."""
    total = 0
    for scene in scenes:
        total += scene.frame_count + scene.transition.frames
        if total > MAX_FILM_FRAMES:
            reader.issues.append(StoryboardIssue(scene.line, f"scenes[{scene.index}]", f"the film reaches {total} "
                                                 f"frames by this scene; a film holds at most {MAX_FILM_FRAMES} "
                                                 "frames: split it into several storyboards"))
            return


def _schedule(reader: "_Reader", node, duration: float, fps: float, film: dict, where: str) -> PromptSchedule | None:
    """The scene's schedule parsed by the pack's parser; its errors moved to the storyboard's lines."""
    first_line = node.start_mark.line + (2 if node.style in ("|", ">") else 1)
    try:
        frames = frame_count_for(duration, fps)
        return parse_schedule(node.value, frames, fps=fps, default_negative=film.get("negative") or "",
                              interpolation=film.get("interpolation") or "eased", field=f"{where}.schedule")
    except ScheduleError as error:
        for issue in error.issues:
            reader.issues.append(StoryboardIssue(first_line + issue.line - 1, f"{where}.schedule", issue.message))
    except ValueError as error:
        reader.issue(node, f"{where}.schedule", str(error))
    return None


class _Reader:
    """Turns YAML nodes into checked Python values, recording issues with their lines."""

    def __init__(self, issues: list[StoryboardIssue], input_dir: Path):
        self.issues, self.input_dir = issues, input_dir

    def issue(self, node, where: str, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else 1
        self.issues.append(StoryboardIssue(line, where, message))

    def record(self, node, rules: dict[str, Rule], where: str, keep_nodes: tuple[str, ...] = ()) -> dict[str, Any]:
        """The fields of a mapping node checked against `rules`; defaults filled; `keep_nodes` fields stay nodes
        (object and array fields always do)."""
        import yaml

        values: dict[str, Any] = {name: rule.default for name, rule in rules.items()}
        if node is None:
            return values
        if not isinstance(node, yaml.MappingNode):
            self.issue(node, where, f"expected a mapping of {', '.join(rules)}")
            return values
        seen = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key not in rules:
                self.issue(key_node, f"{where}.{key}", f"unknown field; known: {', '.join(rules)}")
                continue
            if key in seen:
                self.issue(key_node, f"{where}.{key}", "given twice")
            seen.add(key)
            rule = rules[key]
            if rule.kind in ("object", "array") or key in keep_nodes:
                if key in keep_nodes and rule.kind == "string" and not self._scalar(value_node, "string"):
                    self.issue(value_node, f"{where}.{key}", "expected text")
                    values[key] = None
                    continue
                values[key] = value_node
                continue
            values[key] = self.value(value_node, rule, f"{where}.{key}")
        for name, rule in rules.items():
            if rule.required and name not in seen:
                self.issue(node, where, f"missing required field '{name}' ({rule.description})")
        return values

    def value(self, node, rule: Rule, where: str) -> Any:
        """One scalar (or transition) field, converted and checked; None with an issue when it is wrong."""
        if rule.kind == "transition":
            return self.transition(node, where)
        if rule.kind == "engine":
            return self.engine(node, where)
        if not self._scalar(node, rule.kind):
            shown = node.value if isinstance(node.value, str) else "a " + type(node).__name__[:-4].lower()
            article = "an" if rule.kind == "integer" else "a"
            self.issue(node, where, f"expected {article} {rule.kind}, got {shown}")
            return None
        value = _convert(node, rule.kind)
        if rule.choices and value not in rule.choices:
            self.issue(node, where, f"{value!r} is not one of {', '.join(rule.choices)}")
            return None
        problem = rule.check(value) if rule.check else None
        if problem:
            self.issue(node, where, problem)
            return None
        if rule.kind == "picture":
            return self.picture(node, value, where)
        return value

    def transition(self, node, where: str) -> Transition | None:
        import yaml

        if isinstance(node, yaml.ScalarNode) and node.value == "cut":
            return Transition()
        if isinstance(node, yaml.MappingNode) and len(node.value) == 1:
            kind_node, frames_node = node.value[0]
            if kind_node.value in TRANSITIONS[1:]:
                if self._scalar(frames_node, "integer") and 1 <= _convert(frames_node, "integer") <= 240:
                    return Transition(kind_node.value, _convert(frames_node, "integer"))
                self.issue(frames_node, where, f"{kind_node.value} needs a whole number of frames from 1 to 240")
                return None
        self.issue(node, where, "write cut, {crossfade: N} or {morph: N} (N frames)")
        return None

    def engine(self, node, where: str) -> Engine | None:
        """A built-in engine, or a template file resolved inside the input folder; None with an issue."""
        if not self._scalar(node, "string"):
            self.issue(node, where, f"expected {', '.join(ENGINES)} or a template file (.json)")
            return None
        if node.value in ENGINES:
            return Engine(node.value)
        if not node.value.lower().endswith(TEMPLATE_SUFFIX):
            self.issue(node, where, f"{node.value!r} is no engine: write {', '.join(ENGINES)}, or a template file "
                                    "(an API-format workflow .json in the input folder)")
            return None
        path = self.file(node, node.value, where, (TEMPLATE_SUFFIX,), "template")
        return Engine(node.value, path) if path is not None else None

    def picture(self, node, name: str, where: str) -> Path | None:
        """`name` resolved inside the input folder by the pack's path rule (core/paths.py), or None with an issue."""
        return self.file(node, name, where, PICTURE_SUFFIXES, "picture")

    def file(self, node, name: str, where: str, suffixes: tuple[str, ...], what: str) -> Path | None:
        """`name` resolved inside the input folder by the pack's path rule, with one of `suffixes`."""
        root = self.input_dir.resolve()
        try:
            name = safe_name(name, where)
        except ValueError as error:
            self.issue(node, where, str(error))
            return None
        candidate = (root / name).resolve()
        if not inside(candidate, [root]):
            self.issue(node, where, f"{name!r} leads outside the input folder {root} (a symlink); put the {what} "
                                    "itself there")
        elif candidate.suffix.lower() not in suffixes:
            self.issue(node, where, f"{name!r} is not a {what} ({', '.join(suffixes)})")
        elif not candidate.is_file():
            self.issue(node, where, f"{name!r} is not in the input folder {root}; put the {what} there")
        else:
            return candidate
        return None

    @staticmethod
    def _scalar(node, kind: str) -> bool:
        import yaml

        if not isinstance(node, yaml.ScalarNode):
            return False
        tag = node.tag.rsplit(":", 1)[-1]
        if kind in ("string", "picture"):
            return tag == "str"
        if kind == "integer":
            return tag == "int"
        if kind == "number":
            return tag in ("int", "float")
        return tag == "bool"


def _convert(node, kind: str) -> Any:
    """A scalar node's value as Python, through YAML's own resolver."""
    import yaml

    value = yaml.safe_load(yaml.serialize(node)) if kind not in ("string", "picture") else node.value
    return float(value) if kind == "number" else value


__all__ = ["baseline_of", "chunk_count", "Character", "Engine", "Scene", "Segment", "Storyboard", "StoryboardError", "StoryboardIssue", "Transition",
           "load_storyboard", "parse_storyboard", "storyboard_schema"]
