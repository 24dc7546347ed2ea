"""What the content-based resume keys cost: the stream-to-disk key (core/comfy_glue.py `fingerprint`) on the tiny
models through ComfyUI's loaders, and a model file's sha256 (core/file_hash.py, the film units' key), with an estimate
for a real SD 1.5 from the measured hashing rate.

The weights of a loaded MODEL, VAE and ControlNet are digested once per load (cached by the module object); every
later key costs the LoRA patches' tensors and the conditioning only. A model file is hashed once per (size, mtime).

Run: `COMFYUI_DIR=... python bench/bench_resume_key.py` (prints a table; not part of bench/results.json).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "bench"))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

# SD 1.5 in fp16, as most users load it: UNet 859.5M, VAE 83.7M, ControlNet 361.3M parameters (2 bytes each).
SD15_FP16_BYTES = {"UNet": 859.5e6 * 2, "VAE": 83.7e6 * 2, "ControlNet": 361.3e6 * 2}
SD15_FILE_BYTES = 2.13e9  # v1-5-pruned-emaonly.safetensors (fp16 weights and EMA-free)


def _timed(function) -> tuple[float, object]:
    start = time.perf_counter()
    value = function()
    return time.perf_counter() - start, value


def _bytes(module) -> int:
    return sum(tensor.numel() * tensor.element_size() for tensor in module.state_dict().values())


def main() -> None:
    import torch

    from _comfy import import_comfyui, tiny_models, work_dir
    from _pack import load_pack

    load_pack()
    torch.set_num_threads(1)
    from longform_pack.core import animate, comfy_glue, file_hash, tiny

    base = work_dir("bench_resume_key_")
    tiny.build_all(base / "models")
    comfy = import_comfyui(base)
    models = tiny_models(comfy)
    parts = {"UNet": models.model.model.diffusion_model, "VAE": models.vae.first_stage_model,
             "ControlNet": models.control_net.control_model}
    print(f"{'tiny model':<12} {'MiB':>8} {'first digest s':>15} {'MiB/s':>8}")
    rates = []
    for name, module in parts.items():
        seconds, _ = _timed(lambda: comfy_glue.module_digest(module))
        size = _bytes(module) / 2**20
        rates.append(size / seconds)
        print(f"{name:<12} {size:8.1f} {seconds:15.3f} {size / seconds:8.0f}")

    clip = models.clip
    positive = comfy.nodes.CLIPTextEncode().encode(clip, "a fox")[0]
    negative = comfy.nodes.CLIPTextEncode().encode(clip, "blurry")[0]
    first = np.zeros((64, 64, 3), dtype=np.uint8)
    animator = animate.Animator(models.model, models.vae, positive, negative, first, animate.AnimateSettings(),
                                models.control_net, np.zeros((1, 64, 64, 3), dtype=np.uint8), 16)
    repeats = [_timed(lambda: animate.run_key(animator, models.model, models.vae))[0] for _ in range(5)]
    lora_bytes = sum(tensor.numel() * tensor.element_size() for entries in models.model.patches.values()
                     for entry in entries for tensor in _tensors(entry[1]))
    print(f"run key, weights cached (LoRA {lora_bytes / 2**20:.1f} MiB, 16 frames): median "
          f"{sorted(repeats)[2] * 1000:.1f} ms (min {min(repeats) * 1000:.1f}, max {max(repeats) * 1000:.1f})")

    checkpoint = next((base / "models" / "checkpoints").glob("longform-tiny-sd15*.safetensors"))
    seconds, _ = _timed(lambda: file_hash.sha256_file(checkpoint))
    file_rate = checkpoint.stat().st_size / 2**20 / seconds
    print(f"file sha256 of {checkpoint.name} ({checkpoint.stat().st_size / 2**20:.0f} MiB): {seconds:.2f} s "
          f"({file_rate:.0f} MiB/s); cached per (size, mtime) afterwards")

    rate = float(np.median(rates)) * 2**20
    print("estimate for SD 1.5 fp16 at the median rate measured above (once per load; each later key: the LoRAs):")
    for name, size in SD15_FP16_BYTES.items():
        print(f"  {name:<11} {size / 1e9:5.2f} GB  {size / rate:5.1f} s")
    print(f"  checkpoint file {SD15_FILE_BYTES / 1e9:.2f} GB: {SD15_FILE_BYTES / (file_rate * 2**20):.1f} s once")


def _tensors(value) -> list:
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [tensor for item in value for tensor in _tensors(item)]
    return _tensors(getattr(value, "weights", ()))


if __name__ == "__main__":
    main()
