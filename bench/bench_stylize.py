"""LF Stylize against the core chain it stands for, on ComfyUI's own models.

Tiny models (the pack's tiny SD 1.5 checkpoint + kohya LoRA at 0.8 + scribble ControlNet, loaded by ComfyUI's
CheckpointLoaderSimple, LoraLoader and ControlNetLoader in this process), 64x64, 10 steps, CFG. The core path is
CLIPTextEncode x2 -> ControlNetApplyAdvanced -> EmptyLatentImage -> KSampler -> VAEDecode; LF Stylize takes the same
CLIP and prompts. Both must give the same pixels (checked); the ratio of their times is the node's overhead. Paths run
interleaved, REPEATS times each after a warm-up, timed in process CPU seconds per image (one torch thread: CPU time,
which a loaded shared machine disturbs far less than the wall clock). The ratio is the spread of the per-repeat ratios
(median, min-max) against the 1.05 bar; the bar inside the spread is noise.

Run: `COMFYUI_DIR=... python bench/bench_stylize.py [--quick]` (or through bench/run_all.py).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from _comfy import import_comfyui, tiny_models, work_dir  # noqa: E402
from _timing import MIN_REPEATS, against_bar, format_spread, path_rows  # noqa: E402

REPEATS = MIN_REPEATS
THREADS = 1
BAR = 1.05
SIZE = 64
CFG = 7.5
SAMPLER, SCHEDULER = "euler_ancestral", "normal"
PROMPT, NEGATIVE = "a cute yellow creature, clean lines", "lowres, blurry"


def main(quick: bool = False) -> dict:
    """Time LF Stylize and the core chain on the tiny models; print a table and return the figures. `quick`: 2 steps,
    to check the script end to end (its figures are not for results.json)."""
    from _pack import load_pack

    steps = 2 if quick else 10

    pack = load_pack()
    torch.set_num_threads(THREADS)
    from longform_pack.core import tiny

    base = work_dir("bench_stylize_")
    tiny.build_all(base / "models")
    comfy = import_comfyui(base)
    models = tiny_models(comfy)
    nodes = comfy.nodes
    scribble = torch.zeros(1, SIZE, SIZE, 3)
    scribble[0, 24:40, 8:56] = 1.0

    def core_chain() -> torch.Tensor:
        (positive,) = nodes.CLIPTextEncode().encode(models.clip, PROMPT)
        (negative,) = nodes.CLIPTextEncode().encode(models.clip, NEGATIVE)
        positive, negative = nodes.ControlNetApplyAdvanced().apply_controlnet(
            positive, negative, models.control_net, scribble, 1.0, 0.0, 1.0, vae=models.vae)
        (latent,) = nodes.EmptyLatentImage().generate(SIZE, SIZE, 1)
        (samples,) = nodes.KSampler().sample(models.model, 42, steps, CFG, SAMPLER, SCHEDULER, positive, negative,
                                             latent)
        return nodes.VAEDecode().decode(models.vae, samples)[0]

    def lf_stylize() -> torch.Tensor:
        return pack.nodes.stylize.LF_Stylize().render(
            models.model, models.vae, models.control_net, scribble, 42, steps, CFG, SAMPLER, SCHEDULER, 1.0, 0.0, 1.0,
            SIZE, SIZE, clip=models.clip, prompt=PROMPT, negative_prompt=NEGATIVE)[0]

    paths = {"core chain": core_chain, "LF Stylize": lf_stylize}
    times: dict[str, list[float]] = {name: [] for name in paths}
    with torch.inference_mode():
        images = {name: run() for name, run in paths.items()}  # warm-up
        for _ in range(REPEATS):
            for name, run in paths.items():
                start = time.process_time()
                run()
                times[name].append(time.process_time() - start)
    identical = bool(torch.equal(images["core chain"], images["LF Stylize"]))
    rows = path_rows(times, "core chain", "image")
    rows["LF Stylize"]["vs_bar"] = against_bar(rows["LF Stylize"]["ratio"], BAR)
    print(f"LF Stylize vs the core chain, tiny models via ComfyUI's loaders, {SIZE}x{SIZE}, {steps} steps "
          f"{SAMPLER}/{SCHEDULER}, CFG {CFG}, {REPEATS} interleaved repeats ({torch.get_num_threads()} thread, CPU s)")
    for name, row in rows.items():
        print(f"{name:<12} s/image {format_spread(row['seconds_per_image'])}  ratio {format_spread(row['ratio'])}")
    print(f"LF Stylize vs the {BAR} bar: {rows['LF Stylize']['vs_bar']}; same pixels as the core chain: {identical}")
    return {"size": SIZE, "steps": steps, "sampler": f"{SAMPLER}/{SCHEDULER}", "repeats": REPEATS, "device": "cpu",
            "clock": "process CPU time", "paths": rows, "ratio_lf_stylize_vs_core_chain": rows["LF Stylize"]["ratio"],
            "bar": BAR, "identical_to_core_chain": identical}


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
