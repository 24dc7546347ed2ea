"""Shipped workflows made to run on the tiny stand-ins: used by `make demo` without real weights and by the host tests.

The workflows name the real model files of models_manifest.json; the tiny stand-ins (`install.py --tiny`) have other
names, are built for 64x64 pictures (at 512x512 their full-resolution attention makes a run take minutes), and a DDPM
workflow only needs a few training steps to show that its graph runs (the full recipe is the benchmark's job).
"""

from __future__ import annotations

from typing import Any

from _pack import load_pack

load_pack()
from longform_pack.core.manifest import load_manifest  # noqa: E402

REAL_NAMES = tuple(entry.filename for entry in load_manifest())
# Entries without a stand-in (umt5-xxl) are left out: a workflow must drop the step that uses them first.
TINY_NAMES = {entry.filename: entry.tiny_filename for entry in load_manifest() if entry.tiny_filename}
TINY_SIZE = 64
TINY_TRAIN_STEPS = 40
# A video model's frames: 9 is three of Wan's latent frames (its VAE compresses time 4x after the first frame).
TINY_VIDEO_FRAMES = 9
VIDEO_LATENT_NODES = {"Wan22ImageToVideoLatent"}
# The test-only stand-in for Wan's text encoding (tests/comfy_test_nodes): umt5-xxl cannot be tiny.
TEST_TEXT_ENCODER = "LFTest_WanTextEncode"
# Sampler steps of the diffusion nodes: on two CPU cores a step of the tiny SD 1.5 costs about a second, and a clip
# multiplies it by its frames; a few steps show the graph runs (the benchmarks time full runs).
TINY_SAMPLER_STEPS = 4
SAMPLER_NODES = {"KSampler", "KSamplerAdvanced", "LF_Stylize", "LF_Animate"}


def _manifest_name(value: str) -> str | None:
    """The manifest filename that `value` names, alone or as "<folder>/<filename>", or None."""
    return next((real for real in REAL_NAMES if value == real or value.endswith("/" + real)), None)


def _strings(value: Any):
    if isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def models_named(prompt: dict[str, Any]) -> set[str]:
    """The manifest filenames a workflow names anywhere in its inputs."""
    return {name for name in map(_manifest_name, _strings(prompt)) if name is not None}


def with_tiny_models(value: Any) -> Any:
    """Swap every manifest filename in a workflow (alone or as "<folder>/<filename>") for its tiny stand-in's."""
    if isinstance(value, dict):
        return {key: with_tiny_models(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_tiny_models(item) for item in value]
    if isinstance(value, str) and (real := _manifest_name(value)) is not None:
        if real not in TINY_NAMES:
            raise ValueError(
                f"The workflow names '{value}', a model with no tiny stand-in (ComfyUI builds it at full size "
                "whatever the file holds). Replace the step that uses it first: tiny_profile() does that for Wan's "
                "text encoder."
            )
        return value[: len(value) - len(real)] + TINY_NAMES[real]
    return value


def film_profile() -> dict[str, Any]:
    """FilmPlan's options for the tiny models (film.py --tiny): their filenames, their size, few sampler steps."""
    return {"rename": with_tiny_models, "size": TINY_SIZE, "max_steps": TINY_SAMPLER_STEPS}


def with_test_text_encoder(prompt: dict[str, Any]) -> dict[str, Any]:
    """Test only: Wan's text encoding (CLIPLoader of type `wan` + CLIPTextEncode) replaced by LFTest_WanTextEncode.

    ComfyUI builds umt5-xxl at its full size (5.7 B parameters) whatever the file holds, so tests on tiny models swap
    this one step for the test-only node, which gives CONDITIONING of Wan's shape from a hash of the text. Each
    CLIPTextEncode fed by such a loader keeps its id, title and text; the loaders are dropped. Other nodes are untouched.
    """
    wan_loaders = {node_id for node_id, node in prompt.items()
                   if node["class_type"] == "CLIPLoader" and node["inputs"].get("type") == "wan"}
    rewritten = {}
    for node_id, node in prompt.items():
        if node_id in wan_loaders:
            continue
        clip = node["inputs"].get("clip")
        if node["class_type"] == "CLIPTextEncode" and isinstance(clip, list) and clip[0] in wan_loaders:
            node = {**node, "class_type": TEST_TEXT_ENCODER, "inputs": {"text": node["inputs"]["text"]}}
        rewritten[node_id] = node
    for node_id, node in rewritten.items():
        for name, value in node["inputs"].items():
            if isinstance(value, list) and value and value[0] in wan_loaders:
                raise ValueError(f"Node {node_id} ({node['class_type']}) input '{name}' uses Wan's text encoder "
                                 "directly: only CLIPTextEncode can be replaced by the test-only text encoder.")
    return rewritten


def tiny_profile(prompt: dict[str, Any]) -> dict[str, Any]:
    """An API workflow made to run on the tiny models: their filenames, their native picture size, short training, few
    sampler steps, short videos; Wan's text encoding by the test-only node (`with_test_text_encoder`)."""
    prompt = with_tiny_models(with_test_text_encoder(prompt))
    for node in prompt.values():
        if node["class_type"] == "LF_DDPMTrain":
            node["inputs"]["steps"] = min(node["inputs"]["steps"], TINY_TRAIN_STEPS)
        if node["class_type"] in SAMPLER_NODES and isinstance(node["inputs"].get("steps"), int):
            node["inputs"]["steps"] = min(node["inputs"]["steps"], TINY_SAMPLER_STEPS)
        for name in ("width", "height"):
            if isinstance(node["inputs"].get(name), int) and node["inputs"][name] > TINY_SIZE:
                node["inputs"][name] = TINY_SIZE
        if node["class_type"] in VIDEO_LATENT_NODES and isinstance(node["inputs"].get("length"), int):
            node["inputs"]["length"] = min(node["inputs"]["length"], TINY_VIDEO_FRAMES)
    return prompt
