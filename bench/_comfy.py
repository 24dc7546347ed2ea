"""ComfyUI inside a benchmark process: imported from $COMFYUI_DIR on the CPU, the tiny models loaded by its own loaders.

As tests/native does, the benches call ComfyUI's classes in-process (no server): the core nodes a user would chain,
and the pack's nodes, on the same MODEL, CLIP, VAE and CONTROL_NET objects.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

CHECKPOINT = "longform-tiny-sd15.safetensors"
CONTROLNET = "longform-tiny-controlnet-scribble.safetensors"
LORA = "longform-tiny-lora-kohya.safetensors"


def work_dir(prefix: str) -> Path:
    """A temporary folder for a benchmark's models and outputs, removed when the process ends."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, True)
    return path


def import_comfyui(base: Path) -> SimpleNamespace:
    """ComfyUI's modules, on the CPU, with `base` as its base directory (models/ under it)."""
    comfyui_dir = os.environ.get("COMFYUI_DIR")
    if not comfyui_dir:
        raise SystemExit("set COMFYUI_DIR to a ComfyUI work tree (v0.3.64): the benchmark runs ComfyUI's own classes")
    sys.path.insert(0, str(Path(comfyui_dir).resolve()))
    from comfy.cli_args import args

    args.cpu = True
    args.base_directory = str(base)
    for folder in ("input", "output", "temp", "user"):
        (base / folder).mkdir(parents=True, exist_ok=True)
    import comfy.model_management
    import comfy.utils
    import folder_paths
    import nodes

    comfy.utils.PROGRESS_BAR_ENABLED = False  # tables, not sampler progress bars, in the benchmark's log

    return SimpleNamespace(nodes=nodes, folder_paths=folder_paths, model_management=comfy.model_management)


def tiny_models(comfy: SimpleNamespace) -> SimpleNamespace:
    """The tiny checkpoint (+ kohya LoRA at 0.8) and scribble ControlNet through the core loader nodes."""
    nodes = comfy.nodes
    model, clip, vae = nodes.CheckpointLoaderSimple().load_checkpoint(CHECKPOINT)
    model, clip = nodes.LoraLoader().load_lora(model, clip, LORA, 0.8, 0.8)
    (control_net,) = nodes.ControlNetLoader().load_controlnet(CONTROLNET)
    return SimpleNamespace(model=model, clip=clip, vae=vae, control_net=control_net)
