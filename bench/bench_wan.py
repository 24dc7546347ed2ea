"""The tiny Wan 2.2 TI2V 5B on this CPU: time to build its files, to load them, and to render one film chunk.

- build: `core.tiny` building the tiny DiT (0.94 M parameters) and the Wan 2.2 VAE at its fixed size (704.7 M, 1.4 GB
  in fp16) into an empty cache (what `install.py --tiny` pays once per builder version);
- load: UNETLoader (+ ModelSamplingSD3, shift 8) and VAELoader, ComfyUI's own loaders;
- one chunk: Wan22ImageToVideoLatent (a 64x64 start image, 9 frames) + KSampler (4 uni_pc steps, cfg 5) + VAEDecode,
  best of ROUNDS, the sampler and the decode timed apart.

The text encoding is the test-only stand-in (tests/comfy_test_nodes): umt5-xxl cannot be tiny. Needs COMFYUI_DIR.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SIZE = 64
FRAMES = 9
STEPS = 4
ROUNDS = 2


def main() -> dict:
    """Build, load and render; print and return the seconds of each."""
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    sys.path.insert(0, str(REPO_ROOT / "bench"))
    sys.path.insert(0, str(REPO_ROOT / "tests"))
    from _pack import load_pack

    load_pack()
    from _comfy import import_comfyui, work_dir

    from longform_pack.core import manifest, tiny

    work = work_dir("bench_wan_")
    started = time.perf_counter()
    tiny.build_all(work / "models", only={"wan22_ti2v_5b", "wan22_vae"}, cache_dir=work / "cache")
    build = time.perf_counter() - started

    comfy = import_comfyui(work)
    import torch
    from comfy_extras.nodes_model_advanced import ModelSamplingSD3
    from comfy_extras.nodes_wan import Wan22ImageToVideoLatent
    from comfy_test_nodes import wan_test_conditioning

    nodes = comfy.nodes
    started = time.perf_counter()
    (model,) = nodes.UNETLoader().load_unet(manifest.entry("wan22_ti2v_5b").tiny_filename, "default")
    (model,) = ModelSamplingSD3().patch(model, 8.0)
    (vae,) = nodes.VAELoader().load_vae(manifest.entry("wan22_vae").tiny_filename)
    load = time.perf_counter() - started

    start_image = torch.rand(1, SIZE, SIZE, 3, generator=torch.Generator().manual_seed(0))
    positive, negative = wan_test_conditioning("a lighthouse at dusk"), wan_test_conditioning("blurry")
    timings: dict[str, list[float]] = {"latent (encode start image)": [], "sample": [], "decode": []}
    with torch.inference_mode():
        for round_index in range(ROUNDS):
            started = time.perf_counter()
            latent = Wan22ImageToVideoLatent.execute(vae=vae, width=SIZE, height=SIZE, length=FRAMES, batch_size=1,
                                                     start_image=start_image).result[0]
            encoded = time.perf_counter()
            (sampled,) = nodes.KSampler().sample(model, round_index, STEPS, 5.0, "uni_pc", "simple", positive,
                                                 negative, latent)
            sampled_at = time.perf_counter()
            (video,) = nodes.VAEDecode().decode(vae, sampled)
            timings["latent (encode start image)"].append(encoded - started)
            timings["sample"].append(sampled_at - encoded)
            timings["decode"].append(time.perf_counter() - sampled_at)
    assert video.shape == (FRAMES, SIZE, SIZE, 3)

    chunk = {name: min(values) for name, values in timings.items()}
    print(f"tiny Wan 2.2 TI2V 5B, {SIZE}x{SIZE}, {FRAMES} frames, {STEPS} steps, {torch.get_num_threads()} threads")
    print(f"{'build tiny DiT + Wan 2.2 VAE (empty cache)':<46} {build:>7.1f} s")
    print(f"{'load (UNETLoader + VAELoader)':<46} {load:>7.1f} s")
    for name, seconds in chunk.items():
        print(f"{'chunk: ' + name:<46} {seconds:>7.1f} s  (best of {ROUNDS})")
    print(f"{'chunk total':<46} {sum(chunk.values()):>7.1f} s")
    return {"size": SIZE, "frames": FRAMES, "steps": STEPS, "build_seconds": round(build, 2),
            "load_seconds": round(load, 2), "chunk_seconds": {k: round(v, 2) for k, v in chunk.items()},
            "chunk_total_seconds": round(sum(chunk.values()), 2)}


if __name__ == "__main__":
    main()
