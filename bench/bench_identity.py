"""Identity-lock overhead: the stylizer's run with an IP-Adapter (base, plus, FaceID) against the bare stylizer.

Tiny models only (the tiny SD 1.5 + scribble ControlNet, the tiny IP-Adapters, CLIP vision and insightface pack, built
into a temporary models dir). All four paths run interleaved in one process, REPEATS times each after a warm-up; the
figure is the best (minimum) time per image, the least disturbed by other processes on a shared machine, with the
median beside it, and the overhead of the best against bare's best. The one-off cost of preparing the lock (reading
the adapter, encoding the reference, building the modules) is timed separately on a cold cache. Full-size 512x512
figures need a GPU, which this project's sessions did not have: not measured.

Run: `python bench/bench_identity.py` (or through bench/run_all.py).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from _timing import overhead_rows  # noqa: E402

REPEATS = 5
STEPS = 4
SIZE = 64
ADAPTERS = {
    "base": "longform-tiny-ip-adapter_sd15.safetensors",
    "plus": "longform-tiny-ip-adapter-plus_sd15.safetensors",
    "faceid": "longform-tiny-ip-adapter-faceid_sd15.bin",
}


def _face() -> torch.Tensor:
    """A cartoon face the tiny detector finds (skin-coloured oval on blue)."""
    from PIL import Image, ImageDraw

    from longform_pack.core import images

    picture = Image.new("RGB", (96, 96), (60, 80, 160))
    ImageDraw.Draw(picture).ellipse((24, 16, 72, 80), fill=(225, 180, 150))
    return images.from_pil(picture)


def main() -> dict:
    """Time bare vs identity-locked stylizer runs on the tiny models; print a table and return the figures."""
    from _pack import load_pack

    load_pack()
    from longform_pack.core import host, identity, stylize, tiny

    models = Path(tempfile.mkdtemp(prefix="bench_identity_"))
    previous = host.set_models_dir(models)
    try:
        tiny.build_all(models)
        pipeline = stylize.load_pipeline("longform-tiny-sd15.safetensors", "longform-tiny-controlnet-scribble.safetensors")
        scribble = torch.zeros(1, SIZE, SIZE, 3)
        scribble[:, SIZE // 2 - 2 : SIZE // 2 + 2, 8:-8] = 1.0
        reference = _face()

        def prepare(variant: str):
            return identity.prepare_identity(
                pipeline.pipe.unet, ADAPTERS[variant], reference, 0.8,
                clip_vision_name="longform-tiny-clip-vision.safetensors", insightface_pack="models/longform_tiny",
            )

        prepare_seconds = {}
        for variant in ADAPTERS:
            start = time.perf_counter()
            prepare(variant)
            prepare_seconds[variant] = time.perf_counter() - start
        paths = {"bare": pipeline, **{v: identity.lock_pipeline(pipeline, prepare(v)) for v in ADAPTERS}}

        def render(target) -> None:
            stylize.stylize(target, scribble, "a character", seed=1, steps=STEPS, width=SIZE, height=SIZE)

        times: dict[str, list[float]] = {name: [] for name in paths}
        for target in paths.values():
            render(target)  # warm-up
        for _ in range(REPEATS):
            for name, target in paths.items():
                start = time.perf_counter()
                render(target)
                times[name].append(time.perf_counter() - start)
        rows = overhead_rows(times, "bare", "image")
        for name, row in rows.items():
            row["prepare_seconds"] = prepare_seconds.get(name)
    finally:
        host.set_models_dir(previous)
        shutil.rmtree(models, ignore_errors=True)

    print(f"identity lock, tiny models, {SIZE}x{SIZE}, {STEPS} steps, CFG, best of {REPEATS} ({torch.get_num_threads()} threads)")
    print(f"{'path':<8} {'s/image':>9} {'median':>9} {'overhead':>9} {'prepare s':>10}")
    for name, row in rows.items():
        prepare_text = "-" if row["prepare_seconds"] is None else f"{row['prepare_seconds']:.3f}"
        print(
            f"{name:<8} {row['seconds_per_image']:>9.3f} {row['median_seconds_per_image']:>9.3f} "
            f"{row['overhead_vs_bare']:>+9.1%} {prepare_text:>10}"
        )
    return {"size": SIZE, "steps": STEPS, "repeats": REPEATS, "device": str(host.torch_device()), "paths": rows}


if __name__ == "__main__":
    main()
