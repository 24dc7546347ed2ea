"""The film's unit workflows: the one place where a storyboard's units become ComfyUI graphs (API format).

Three kinds of unit are rendered by ComfyUI (the stitch and the crossfades are plain frame arithmetic, core/film):
- keyframe: a scene's sketch -> scribble -> stylized picture, identity-locked when the scene has a character;
- animate: the scene animated from its keyframe with its schedule, streamed to disk (frames, video chunks) with resume;
- morph: an img2img chain from the last frame of one scene towards the next one's prompt, sketch and character.

Built on the same helpers as the shipped workflows (workflows/source.py), with the storyboard's values set on the
nodes they create. A unit reads earlier units' files from ComfyUI's output folder ("<name> [output]") and the
storyboard's pictures from its input folder. When the shipped workflows move to ComfyUI's native nodes, this module
follows them; nothing else in the film code knows which nodes a unit uses.
"""

from __future__ import annotations

import longform_workflow_sources as source
from workflow_graph import Graph, Node, Output


def _set(node: Node, **values) -> Node:
    """Give a node the storyboard's values in place of the shipped workflow's."""
    node.values.update(values)
    return node


def _origin(value: Output) -> Node:
    return value.node


def _scene_pipeline(graph: Graph, board, scene, models: dict[str, str], weight_scale: float = 1.0):
    """The scene's scribble map and its pipeline: the stylize models, identity-locked to its character if it has one."""
    if scene.character is not None:
        reference, scribble, pipeline = source._identity_locked_pipeline(graph, weight=scene.character.weight)
        _set(reference, image=_input_name(board, scene.character.reference))
        _set(pipeline, weight=scene.character.weight * weight_scale, ipadapter=models["ipadapter"],
             clip_vision=models["clip_vision"])
        loader = _origin(pipeline.values["pipeline"])
    else:
        scribble, pipeline = source._stylized_pipeline(graph)
        loader = pipeline
    _set(loader, checkpoint=models["checkpoint"], controlnet=models["controlnet"], lora=models["lora"],
         lora_strength=board.render["lora_strength"])
    if scene.sketch is not None:
        _set(scribble, width=board.width, height=board.height)
        _set(_origin(scribble.values["image"]), image=_input_name(board, scene.sketch))
    else:
        _blank_scribble(graph, scribble, board)
    return scribble, pipeline


def _blank_scribble(graph: Graph, scribble: Node, board) -> None:
    """No sketch: the scribble map becomes a blank picture (the ControlNet is switched off below), and the sketch
    loader and the map's preview leave the graph."""
    readers = [node for node in graph.nodes
               if any(isinstance(value, Output) and value.node is scribble for value in node.values.values())]
    dropped = {id(_origin(scribble.values["image"]))} | {id(node) for node in readers if node.class_type == "PreviewImage"}
    graph.nodes[:] = [node for node in graph.nodes if id(node) not in dropped]
    for number, node in enumerate(graph.nodes, start=1):  # ids stay 1..n: the graph numbers the next node n + 1
        node.id = number
    scribble.class_type, scribble.title = "EmptyImage", "No Sketch"
    scribble.values = {"width": board.width, "height": board.height, "batch_size": 1, "color": 0}


def _control_strength(board, scene) -> float:
    return board.render["controlnet_strength"] if scene.sketch is not None else 0.0


def _input_name(board, path) -> str:
    return path.relative_to(board.input_dir).as_posix()


def keyframe(board, scene, models: dict[str, str], filename_prefix: str) -> Graph:
    """A scene's first picture: its sketch stylized with its first prompt, identity-locked, saved as one PNG."""
    graph = Graph(f"keyframe-{scene.name}")
    scribble, pipeline = _scene_pipeline(graph, board, scene, models)
    first = scene.schedule.keyframes[0]
    image = source._stylize(graph, pipeline, scribble)
    _set(image, prompt=first.prompt, negative_prompt=first.negative, seed=scene.seed, steps=board.render["steps"],
         guidance=board.render["guidance"], controlnet_strength=_control_strength(board, scene), width=board.width,
         height=board.height, previews=False)
    graph.node("SaveImage", title="Keyframe", images=image.out(0), filename_prefix=filename_prefix)
    return graph


def _animation(graph: Graph, board, scene, models: dict[str, str], pipeline, scribble, first_frame: str,
               schedule_text: str, seconds: float, strength: float, run_name: str) -> Graph:
    start = graph.node("LoadImage", title="First Frame", image=first_frame)
    # LF_PromptSchedule encodes with a ComfyUI CLIP; the diffusers pipeline has none, so the checkpoint gives it.
    checkpoint = graph.node("CheckpointLoaderSimple", title="Schedule Text Encoder", ckpt_name=models["checkpoint"])
    schedule = graph.node("LF_PromptSchedule", clip=checkpoint.out(1), text=schedule_text, seconds=seconds,
                          fps=board.fps, interpolation=board.interpolation, negative=board.negative)
    render = board.render
    frames = graph.node(
        "LF_Animate", pipeline=pipeline.out(0), first_frame=start.out(0), scribble=scribble.out(0),
        schedule=schedule.out(2), steps=render["steps"], guidance=render["guidance"], strength=str(strength),
        controlnet_strength=_control_strength(board, scene), seed=scene.seed, seed_mode=render["seed_mode"],
        cross_frame_attention=render["cross_frame_attention"], color_match=render["color_match"],
        shared_noise=render["shared_noise"], mode="stream to disk", run_name=run_name, video_format="mp4",
        resume=True, preview_frames=4,
    )
    graph.node("PreviewAny", title="Clip", source=frames.out(1))
    return graph


def animate(board, scene, models: dict[str, str], keyframe_image: str, run_name: str) -> Graph:
    """A scene animated from its keyframe (`keyframe_image`, an annotated name) with its schedule, streamed to
    `run_name` in the output folder."""
    graph = Graph(f"animate-{scene.name}")
    scribble, pipeline = _scene_pipeline(graph, board, scene, models)
    return _animation(graph, board, scene, models, pipeline, scribble, keyframe_image, scene.schedule_text, scene.duration,
                      board.render["strength"], run_name)


def morph(board, scene, next_scene, models: dict[str, str], last_frame_image: str, run_name: str) -> Graph:
    """The transition's frames: an img2img chain from `scene`'s last frame, its prompt blending into `next_scene`'s
    first prompt, under the next scene's sketch and character."""
    graph = Graph(f"morph-{scene.name}-{next_scene.name}")
    scribble, pipeline = _scene_pipeline(graph, board, next_scene, models)
    frames = scene.transition.frames
    leaving = scene.schedule.keyframes[scene.schedule.segment(scene.frame_count - 1)[0]]
    arriving = next_scene.schedule.keyframes[0]
    text = f"0: {_keyframe_text(arriving)}"
    if frames > 1:
        text = f"0: {_keyframe_text(leaving)}\n{frames - 1}: {_keyframe_text(arriving)}"
    return _animation(graph, board, next_scene, models, pipeline, scribble, last_frame_image, text, frames / board.fps,
                      board.render["morph_strength"], run_name)


def _keyframe_text(keyframe) -> str:
    return f"{keyframe.prompt} --neg {keyframe.negative}" if keyframe.negative else keyframe.prompt


UNIT_GRAPHS = {"keyframe": keyframe, "animate": animate, "morph": morph}
