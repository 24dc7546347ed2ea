"""Peak memory (RSS) of the sketch_to_video chain: on ComfyUI's native models against the diffusers path it replaces.

Each path runs in a fresh subprocess on the same tiny model files (the pack's tiny SD 1.5 checkpoint, kohya LoRA at
0.8, scribble ControlNet), 64x64, the shipped workflow's settings: the example sketch -> scribble map -> a stylized
first frame (20 steps) -> FRAMES animated frames (denoise 0.45, the three consistency switches on). The native path is
the nodes of workflows/sketch_to_video.json (core loaders, CLIPTextEncode, ControlNetApplyAdvanced, KSampler,
VAEDecode, LF Animate) in a process that imported ComfyUI; the diffusers path is the pack as it was at
DIFFUSERS_COMMIT (its LF_PIPELINE loader, stylizer and animator), extracted with `git archive`. Both read the same
files, built by the tiny builders of TINY_COMMIT: their tensors are today's, and their metadata still carries the
diffusers configs the former engine builds its models from (later builders leave them out). The figure is the
process's peak resident set size (ru_maxrss) after the chain.

Peak memory is one run per path (a maximum, not a timing: it does not move with the neighbours' load).

Run: `COMFYUI_DIR=... python bench/bench_memory.py [--quick]` (or through bench/run_all.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DIFFUSERS_COMMIT = "77161ae"  # the last commit whose nodes ran on the pack's own diffusers pipeline
TINY_COMMIT = "074b785"  # the last commit whose tiny files carry diffusers configs (1860688 dropped them)
TINY_MODELS = {"sd15", "controlnet_scribble", "lora_pokemon"}  # the kohya LoRA is written beside lora_pokemon
FRAMES = 8
SIZE = 64
STRENGTH = 0.45
PROMPT = "a cute yellow pokemon creature with red cheeks, pokemon style, clean lines, simple background"
NEGATIVE = "lowres, blurry, deformed, text, watermark"
SKETCH = REPO_ROOT / "example_inputs" / "longform_sketch.png"
CHECKPOINT = "longform-tiny-sd15.safetensors"
CONTROLNET = "longform-tiny-controlnet-scribble.safetensors"
LORA = "longform-tiny-lora-kohya.safetensors"


def _sketch():
    import numpy as np
    import torch
    from PIL import Image

    picture = np.asarray(Image.open(SKETCH).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(picture)[None]


def run_native(models: Path, frames: int) -> None:
    """The chain on ComfyUI's models, as the shipped workflow wires it."""
    import torch

    sys.path.insert(0, str(REPO_ROOT / "bench"))
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from _comfy import import_comfyui, work_dir

    base = work_dir("bench_memory_")
    (base / "models").symlink_to(models, target_is_directory=True)
    comfy = import_comfyui(base)
    from _pack import load_pack

    pack = load_pack()
    nodes, lf = comfy.nodes, pack.NODE_CLASS_MAPPINGS
    with torch.inference_mode():
        model, clip, vae = nodes.CheckpointLoaderSimple().load_checkpoint(CHECKPOINT)
        model, clip = nodes.LoraLoader().load_lora(model, clip, LORA, 0.8, 0.8)
        (control_net,) = nodes.ControlNetLoader().load_controlnet(CONTROLNET)
        scribble, _ = lf["LF_SketchToScribble"]().prepare(_sketch(), 0.5, "auto", 3, False, SIZE, SIZE)
        (positive,) = nodes.CLIPTextEncode().encode(clip, PROMPT)
        (negative,) = nodes.CLIPTextEncode().encode(clip, NEGATIVE)
        controlled = nodes.ControlNetApplyAdvanced().apply_controlnet(positive, negative, control_net, scribble, 1.0,
                                                                      0.0, 1.0, vae=vae)
        (latent,) = nodes.EmptyLatentImage().generate(SIZE, SIZE, 1)
        (samples,) = nodes.KSampler().sample(model, 42, 20, 7.5, "euler_ancestral", "normal", *controlled, latent)
        (first,) = nodes.VAEDecode().decode(vae, samples)
        lf["LF_Animate"]().run(model, vae, positive, negative, first, "euler_ancestral", "normal", 9, 7.0,
                               str(STRENGTH), 7, "per frame", True, True, 0.5, 8.0, "in memory",
                               control_net=control_net, scribble=scribble, frames=frames)


def run_diffusers(models: Path, source: Path, frames: int) -> None:
    """The same chain on the pack's former diffusers engine (LF_PIPELINE), from its source at DIFFUSERS_COMMIT."""
    sys.path.insert(0, str(source / "scripts"))
    from _pack import load_pack

    load_pack()
    from longform_pack.core import animate, host, schedule, sketch, stylize, video

    host.set_models_dir(models)
    scribble, _ = sketch.prepare_scribble(_sketch(), sketch.ScribbleSettings(width=SIZE, height=SIZE))
    pipeline = stylize.load_pipeline(CHECKPOINT, CONTROLNET, [(LORA, 0.8)], "euler_a")
    first = stylize.stylize(pipeline, scribble, PROMPT, NEGATIVE, seed=42, steps=20, guidance=7.5, width=SIZE,
                            height=SIZE)
    plan = schedule.parse_schedule(f"0: {PROMPT}", frames, fps=8.0, default_negative=NEGATIVE)
    settings = animate.AnimateSettings(steps=20, guidance=7.0, strength=str(STRENGTH), seed=7, seed_mode="per frame")
    animate.animate(pipeline, video.to_uint8(first)[0], video.to_uint8(scribble), plan, settings)


def build_tiny(source: Path, models: Path) -> None:
    """The tiny SD 1.5 files with the builders of the pack's source at `source` (in a process of its own)."""
    sys.path.insert(0, str(source / "scripts"))
    from _pack import load_pack

    load_pack()
    from longform_pack.core import tiny

    tiny.build_all(models, only=TINY_MODELS, cache_dir=models.parent / "tiny-cache")


def _extract(commit: str, destination: Path) -> Path:
    """The pack's files at `commit` in `destination`."""
    destination.mkdir()
    archive = subprocess.run(["git", "archive", commit], cwd=REPO_ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(destination)], input=archive.stdout, check=True)
    return destination


def _measure(path: str, models: Path, frames: int, source: Path | None = None) -> float:
    """Run one path in a fresh interpreter; its peak RSS in MiB."""
    command = [sys.executable, __file__, "--run", path, "--models", str(models), "--frames", str(frames)]
    if source is not None:
        command += ["--source", str(source)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LONGFORM_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT)
    if result.returncode != 0:
        raise RuntimeError(f"the {path} path failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])["peak_rss_mib"]


def main(quick: bool = False) -> dict:
    """Build the tiny models once, run both paths in subprocesses, print and return their peak RSS. `quick`: 2 frames,
    to check the script end to end (its figures are not for results.json)."""
    frames = 2 if quick else FRAMES
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    from _comfy import work_dir

    work = work_dir("bench_memory_")
    tiny_source = _extract(TINY_COMMIT, work / "tiny_source")
    subprocess.run([sys.executable, __file__, "--build-tiny", "--source", str(tiny_source), "--models",
                    str(work / "models")], check=True, cwd=REPO_ROOT)
    source = _extract(DIFFUSERS_COMMIT, work / "diffusers_source")
    figures = {"native (ComfyUI models)": _measure("native", work / "models", frames),
               f"diffusers engine ({DIFFUSERS_COMMIT})": _measure("diffusers", work / "models", frames, source)}
    print(f"sketch_to_video chain, tiny models, {SIZE}x{SIZE}, {frames} frames: peak RSS of a fresh process")
    for name, mib in figures.items():
        print(f"{name:<28} {mib:>8.0f} MiB")
    native, old = figures.values()
    return {"size": SIZE, "frames": frames, "peak_rss_mib": figures,
            "ratio_native_vs_diffusers": round(native / old, 3)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", choices=("native", "diffusers"))
    parser.add_argument("--models", type=Path)
    parser.add_argument("--source", type=Path)
    parser.add_argument("--frames", type=int, default=FRAMES)
    parser.add_argument("--quick", action="store_true", help="2 frames, to check the script (figures not kept)")
    parser.add_argument("--build-tiny", action="store_true", help="(internal) build the tiny files of --source")
    args = parser.parse_args()
    if args.build_tiny:
        build_tiny(args.source, args.models)
    elif args.run is None:
        main(args.quick)
    else:
        if args.run == "native":
            run_native(args.models, args.frames)
        else:
            run_diffusers(args.models, args.source, args.frames)
        print(json.dumps({"peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
