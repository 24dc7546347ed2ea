"""Identity-lock overhead: core KSampler on a MODEL patched by LF_IdentityLock (base, plus, FaceID) against the same
KSampler on the unpatched MODEL.

The core chain on the tiny models: CheckpointLoaderSimple (the tiny SD 1.5: 320/640 channels, 7 cross-attention
layers), CLIPTextEncode, CLIPVisionLoader (the ViT-H stand-in), the tiny IP-Adapters and insightface pack, KSampler at
64x64 (8x8 latent), euler, CFG, 4 steps. All four paths run interleaved, REPEATS times each
after a warm-up. Times are the process's CPU time (one torch thread), which other jobs on a shared machine disturb far
less than the wall clock; each path's figure is the spread (median, min-max) of its seconds per image and of its
per-repeat ratio to the unpatched run, and 1.0 inside that spread is noise. The lock node's own cost (reading the
adapter, encoding the reference with the ViT-H) is
timed separately.

ComfyUI is imported into a child process (it switches the pack's host to its ComfyUI branch for good), so
bench/run_all.py can run the other benchmarks after this one. COMFYUI_DIR (default build/ComfyUI) names its source.

Run: `python bench/bench_identity.py [--quick]` (or through bench/run_all.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from _timing import MIN_REPEATS, format_spread, path_rows  # noqa: E402

REPEATS = MIN_REPEATS
SIZE = 64
ADAPTERS = {
    "base": "longform-tiny-ip-adapter_sd15.safetensors",
    "plus": "longform-tiny-ip-adapter-plus_sd15.safetensors",
    "faceid": "longform-tiny-ip-adapter-faceid_sd15.bin",
}
MODELS = {"sd15", "clip_vision_h", "ipadapter_sd15", "ipadapter_plus_sd15", "ipadapter_faceid_sd15",
          "insightface_buffalo_l"}


def _face():
    """A cartoon face the tiny detector finds (skin-coloured oval on blue)."""
    from PIL import Image, ImageDraw

    from longform_pack.core import images

    picture = Image.new("RGB", (96, 96), (60, 80, 160))
    ImageDraw.Draw(picture).ellipse((24, 16, 72, 80), fill=(225, 180, 150))
    return images.from_pil(picture)


def _import_comfyui(base: Path) -> None:
    """ComfyUI from COMFYUI_DIR (default build/ComfyUI) in this process, on the CPU, its base directory `base`."""
    sys.path.insert(0, str(Path(os.environ.get("COMFYUI_DIR", REPO_ROOT / "build" / "ComfyUI")).resolve()))
    from comfy.cli_args import args  # parses no argv: comfy.options.args_parsing is off outside main.py

    args.cpu = True
    args.base_directory = str(base)


def measure(steps: int) -> dict:
    """In the child: build the tiny models into a temporary ComfyUI base directory, time there, remove it."""
    from _pack import load_pack

    pack = load_pack()
    from longform_pack.core import tiny

    base = Path(tempfile.mkdtemp(prefix="bench_identity_"))
    try:
        tiny.build_all(base / "models", only=MODELS)
        _import_comfyui(base)
        return _time_paths(pack, steps)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _time_paths(pack, steps: int) -> dict:
    """Unpatched and locked KSampler runs, interleaved; the lock node's own time per variant."""
    import nodes as core_nodes
    import torch

    from longform_pack.core import host, manifest

    host.register_model_folders()
    model, clip, _ = core_nodes.CheckpointLoaderSimple().load_checkpoint(manifest.entry("sd15").tiny_filename)
    clip_vision = core_nodes.CLIPVisionLoader().load_clip(manifest.entry("clip_vision_h").tiny_filename)[0]
    positive = core_nodes.CLIPTextEncode().encode(clip, "a character")[0]
    negative = core_nodes.CLIPTextEncode().encode(clip, "blurry")[0]
    latent = {"samples": torch.zeros(1, 4, SIZE // 8, SIZE // 8)}
    reference = _face()
    lock_node = pack.NODE_CLASS_MAPPINGS["LF_IdentityLock"]()

    prepare_seconds, paths = {}, {"unpatched": model}
    for variant, name in ADAPTERS.items():
        start = time.process_time()
        paths[variant] = lock_node.lock(model, reference, name, 0.8, 0.0, 1.0, clip_vision=clip_vision,
                                        insightface="models/longform_tiny")[0]
        prepare_seconds[variant] = time.process_time() - start

    def render(target) -> None:
        core_nodes.KSampler().sample(target, 1, steps, 5.0, "euler", "normal", positive, negative, latent)

    times: dict[str, list[float]] = {name: [] for name in paths}
    for target in paths.values():
        render(target)  # warm-up
    for _ in range(REPEATS):
        for name, target in paths.items():
            start = time.process_time()
            render(target)
            times[name].append(time.process_time() - start)
    rows = path_rows(times, "unpatched", "image")
    for name, row in rows.items():
        row["lock_node_seconds"] = prepare_seconds.get(name)
    return {"size": SIZE, "steps": steps, "repeats": REPEATS, "sampler": "euler / normal, CFG 5", "clock": "process CPU time",
            "device": str(host.torch_device()), "threads": torch.get_num_threads(), "paths": rows}


def main(quick: bool = False) -> dict:
    """Run `measure` in a child process; print a table and return the figures. `quick`: 1 step a run, to check the
    script end to end (its figures are not for results.json)."""
    env = {**os.environ, "LONGFORM_PROGRESS": "0", "TQDM_DISABLE": "1"}
    child = subprocess.run([sys.executable, __file__, "--child", "1" if quick else "4"], cwd=REPO_ROOT, env=env,
                           capture_output=True,
                           text=True)
    if child.returncode != 0:
        raise RuntimeError(f"bench_identity child failed:\n{child.stderr[-4000:]}")
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"identity lock on ComfyUI's MODEL, tiny models, {SIZE}x{SIZE}, {figures['steps']} steps, CFG, {REPEATS} "
          f"interleaved repeats ({figures['threads']} threads, {figures['device']}, CPU seconds)")
    print(f"{'path':<10} {'s/image: median (min-max)':>30} {'ratio to unpatched':>30} {'':>8} {'lock node s':>12}")
    for name, row in figures["paths"].items():
        node = "-" if row["lock_node_seconds"] is None else f"{row['lock_node_seconds']:.3f}"
        print(f"{name:<10} {format_spread(row['seconds_per_image']):>30} {format_spread(row['ratio']):>30} "
              f"{row['vs_reference']:>8} {node:>12}")
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        print(json.dumps(measure(int(sys.argv[2]))))
    else:
        main(quick="--quick" in sys.argv[1:])
