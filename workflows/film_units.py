"""The film's unit workflows: the one place where a storyboard's units become ComfyUI graphs (API format).

Three kinds of unit are rendered by ComfyUI (the stitch and the crossfades are plain frame arithmetic, core/film):
- keyframe: a scene's sketch -> scribble -> stylized picture (core KSampler) on the identity-locked MODEL;
- animate: the scene animated from its keyframe with its schedule's per-frame conditioning (LF Animate), streamed to
  disk (frames, video chunks) with resume;
- morph: an img2img chain from the last frame of one scene towards the next one's prompt, sketch and character.

Built on ComfyUI's native types with the same helpers as the shipped workflows (workflows/source.py: checkpoint +
LF Load LoRA + ControlNet, LF Identity Lock on the MODEL, the scribble, the core stylize chain), with the storyboard's
settings set on the nodes they create. Each graph is the workflow of a unit template (core/film/templates.py): the
nodes the film fills per unit (prompt, negative, start image, seed, steps, size, fps, output) carry `[film:<slot>]`
tags in their titles, as a user's template does, and the plan fills them. A unit reads earlier units' files from
ComfyUI's output folder ("<name> [output]") and the storyboard's pictures from its input folder. Nothing else in the
film code knows which nodes a unit uses: when the shipped workflows change, this module follows them.
"""

from __future__ import annotations

import longform_workflow_sources as source
from workflow_graph import Graph, Node, Output


def _set(node: Node, **values) -> Node:
    """Give a node the storyboard's values in place of the shipped workflow's."""
    node.values.update(values)
    return node


def _tag(node: Node, *slots: str) -> Node:
    """Declare `slots` in the node's title: the plan fills them (core/film/templates.py)."""
    node.title = " ".join([node.title or node.class_type] + [f"[film:{slot}]" for slot in slots])
    return node


def _origin(value: Output) -> Node:
    return value.node


def _scene_models(graph: Graph, board, scene, models: dict[str, str]):
    """The checkpoint, the style LoRA on its MODEL and CLIP, the ControlNet, the MODEL identity-locked to the scene's
    character when it has one, and the scene's scribble map."""
    checkpoint, lora, control_net = source._models(graph)
    _set(checkpoint, ckpt_name=models["checkpoint"])
    _set(lora, lora_name=models["lora"], strength_model=board.render["lora_strength"],
         strength_clip=board.render["lora_strength"])
    _set(control_net, control_net_name=models["controlnet"])
    model = lora.out(0)
    if scene.character is not None:
        reference, clip_vision, locked = source._identity(graph, model, weight=scene.character.weight)
        _set(reference, image=_input_name(board, scene.character.reference))
        _set(clip_vision, clip_name=models["clip_vision"])
        _set(locked, ipadapter=models["ipadapter"])
        model = locked.out(0)
    scribble = source._scribble(graph)
    if scene.sketch is not None:
        _set(_origin(scribble.values["image"]), image=_input_name(board, scene.sketch))
    else:
        _blank_scribble(graph, scribble)
    _tag(scribble, "width", "height")
    return checkpoint, lora, control_net, model, scribble


def _blank_scribble(graph: Graph, scribble: Node) -> None:
    """No sketch: the scribble map becomes a blank picture (the ControlNet's strength is 0 below), and the sketch
    loader and the map's preview leave the graph."""
    readers = [node for node in graph.nodes
               if any(isinstance(value, Output) and value.node is scribble for value in node.values.values())]
    dropped = {id(_origin(scribble.values["image"]))} | {id(node) for node in readers if node.class_type == "PreviewImage"}
    graph.nodes[:] = [node for node in graph.nodes if id(node) not in dropped]
    for number, node in enumerate(graph.nodes, start=1):  # ids stay 1..n: the graph numbers the next node n + 1
        node.id = number
    scribble.class_type, scribble.title = "EmptyImage", "No Sketch"
    scribble.values = {"batch_size": 1, "color": 0}


def _control_strength(board, scene) -> float:
    return board.render["controlnet_strength"] if scene.sketch is not None else 0.0


def _input_name(board, path) -> str:
    return path.relative_to(board.input_dir).as_posix()


def keyframe(board, scene, models: dict[str, str]) -> Graph:
    """A scene's first picture: its sketch stylized with its first prompt on the identity-locked MODEL, one PNG
    (slots: prompt, negative, seed, steps, width, height, images)."""
    graph = Graph(f"keyframe-{scene.name}")
    checkpoint, lora, control_net, model, scribble = _scene_models(graph, board, scene, models)
    image = source._stylize(graph, model, lora.out(1), checkpoint.out(2), control_net, scribble)
    sampler = _origin(image.values["samples"])
    controlled = _origin(sampler.values["positive"])
    _tag(_origin(controlled.values["positive"]), "prompt")
    _tag(_origin(controlled.values["negative"]), "negative")
    _set(controlled, strength=_control_strength(board, scene))
    _tag(_origin(sampler.values["latent_image"]), "width", "height")
    _tag(_set(sampler, cfg=board.render["guidance"]), "seed", "steps")
    graph.node("SaveImage", title="Keyframe [film:images]", images=image.out(0))
    return graph


def _animation(graph: Graph, board, scene, parts, seconds: float, strength: float, run_name: str) -> Graph:
    """Slots: start_image (the first frame), prompt (the schedule's text), seed, steps, fps, width, height."""
    checkpoint, lora, control_net, model, scribble = parts
    start = graph.node("LoadImage", title="First Frame [film:start_image]")
    schedule = graph.node("LF_PromptSchedule", title="LF_PromptSchedule [film:prompt] [film:fps]", clip=lora.out(1),
                          seconds=seconds, interpolation=board.interpolation, negative=board.negative)
    render = board.render
    frames = graph.node(
        "LF_Animate", title="LF_Animate [film:seed] [film:steps] [film:fps]", model=model, vae=checkpoint.out(2),
        positive=schedule.out(0), negative=schedule.out(1), first_frame=start.out(0), control_net=control_net.out(0),
        scribble=scribble.out(0), sampler_name="euler_ancestral", scheduler="normal", cfg=render["guidance"],
        strength=str(strength), seed_mode=render["seed_mode"], cross_frame_attention=render["cross_frame_attention"],
        color_match=render["color_match"], shared_noise=render["shared_noise"], mode="stream to disk",
        controlnet_strength=_control_strength(board, scene), run_name=run_name, video_format="mp4", resume=True,
        preview_frames=4,
    )
    graph.node("PreviewAny", title="Clip", source=frames.out(1))
    return graph


def animate(board, scene, models: dict[str, str], run_name: str) -> Graph:
    """A scene animated from its keyframe with its schedule, streamed to `run_name` in the output folder."""
    graph = Graph(f"animate-{scene.name}")
    parts = _scene_models(graph, board, scene, models)
    return _animation(graph, board, scene, parts, scene.duration, board.render["strength"], run_name)


def morph(board, scene, next_scene, models: dict[str, str], run_name: str) -> Graph:
    """The transition's frames: an img2img chain from `scene`'s last frame towards `next_scene` (its prompt is
    `morph_schedule`), under the next scene's sketch and character."""
    graph = Graph(f"morph-{scene.name}-{next_scene.name}")
    parts = _scene_models(graph, board, next_scene, models)
    return _animation(graph, board, next_scene, parts, scene.transition.frames / board.fps,
                      board.render["morph_strength"], run_name)


def morph_schedule(scene, next_scene) -> str:
    """A morph's prompt schedule: `scene`'s last prompt blending into `next_scene`'s first over the transition."""
    frames = scene.transition.frames
    leaving = scene.schedule.keyframes[scene.schedule.segment(scene.frame_count - 1)[0]]
    arriving = next_scene.schedule.keyframes[0]
    if frames > 1:
        return f"0: {_keyframe_text(leaving)}\n{frames - 1}: {_keyframe_text(arriving)}"
    return f"0: {_keyframe_text(arriving)}"


def _keyframe_text(keyframe) -> str:
    return f"{keyframe.prompt} --neg {keyframe.negative}" if keyframe.negative else keyframe.prompt

