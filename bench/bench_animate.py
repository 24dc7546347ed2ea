"""LF Animate per frame against the core img2img chain a user would wire by hand, on ComfyUI's own models.

Tiny models (the pack's tiny SD 1.5 checkpoint + kohya LoRA at 0.8 + scribble ControlNet, loaded by ComfyUI's
CheckpointLoaderSimple, LoraLoader and ControlNetLoader in this process), 64x64, CFG. The core path is, per frame:
VAEEncode of the previous frame -> ControlNetApplyAdvanced (the frame's conditioning slice, the scribble) -> KSampler
(seed + frame, denoise = the strength) -> VAEDecode -> 8-bit round trip, i.e. the nodes a user would chain. LF Animate
runs the same clip with every consistency switch off (the same work: the ratio is the node's overhead, bar <= 1.05)
and with all on (cross-frame attention, colour matching, shared noise). Paths run interleaved, REPEATS times each after
a warm-up, timed in process CPU seconds per frame (one torch thread: CPU time, which a loaded shared machine disturbs
far less than the wall clock). Each ratio to the core chain is the spread of the per-repeat ratios (median, min-max):
switches off against the 1.05 bar, switches on against 1.0; a bar inside the spread is noise, not a finding.

Run: `COMFYUI_DIR=... python bench/bench_animate.py [--quick]` (or through bench/run_all.py).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from _comfy import import_comfyui, tiny_models, work_dir  # noqa: E402
from _timing import MIN_REPEATS, against_bar, format_spread, path_rows  # noqa: E402

REPEATS = MIN_REPEATS
THREADS = 1  # tiny tensors: more threads only add contention on a shared CPU, for both paths alike
BAR = 1.05
STRENGTH = 0.5
CFG = 7.0
SIZE = 64
SAMPLER, SCHEDULER = "euler", "normal"


def main(quick: bool = False) -> dict:
    """Time the core chain and LF Animate on the tiny models; print a table and return the figures. `quick`: 2 frames
    of 2 steps, to check the script end to end (its figures are not for results.json)."""
    from _pack import load_pack

    frames, steps = (2, 2) if quick else (4, 4)

    load_pack()
    torch.set_num_threads(THREADS)
    from longform_pack.core import animate, tiny

    base = work_dir("bench_animate_")
    tiny.build_all(base / "models")
    comfy = import_comfyui(base)
    models = tiny_models(comfy)
    first = _picture()
    scribble = np.zeros((1, SIZE, SIZE, 3), dtype=np.uint8)
    scribble[0, 24:40, 8:56] = 255
    positive = _per_frame(comfy, models.clip, "a sunny forest", "a stormy night", frames)
    negative = _per_frame(comfy, models.clip, "blurry", "blurry", frames)
    on = animate.AnimateSettings(steps=steps, cfg=CFG, sampler_name=SAMPLER, scheduler=SCHEDULER,
                                 strength=str(STRENGTH), seed=0)
    off = dataclasses.replace(on, cross_frame_attention=False, color_match=False, shared_noise=0.0)

    def lf_animate(settings) -> np.ndarray:
        return animate.animate(animate.Animator(models.model, models.vae, positive, negative, first, settings,
                                                models.control_net, scribble)).frames

    def core_chain() -> np.ndarray:
        nodes, rendered, previous = comfy.nodes, [], first
        hint = torch.from_numpy(scribble).float() / 255.0
        for frame in range(frames):
            cond = animate.frame_conditioning(positive, frame, frames)
            uncond = animate.frame_conditioning(negative, frame, frames)
            cond, uncond = nodes.ControlNetApplyAdvanced().apply_controlnet(cond, uncond, models.control_net, hint,
                                                                            1.0, 0.0, 1.0, vae=models.vae)
            (latent,) = nodes.VAEEncode().encode(models.vae, torch.from_numpy(previous).float()[None] / 255.0)
            (samples,) = nodes.KSampler().sample(models.model, frame, steps, CFG, SAMPLER, SCHEDULER, cond, uncond,
                                                 latent, denoise=STRENGTH)
            (decoded,) = nodes.VAEDecode().decode(models.vae, samples)
            previous = (decoded[0].clamp(0, 1).numpy() * 255.0).round().astype(np.uint8)
            rendered.append(previous)
        return np.stack(rendered)

    paths = {"core KSampler img2img": core_chain, "LF Animate, switches off": lambda: lf_animate(off),
             "LF Animate, switches on": lambda: lf_animate(on)}
    times: dict[str, list[float]] = {name: [] for name in paths}
    with torch.inference_mode():
        outputs = {name: run() for name, run in paths.items()}  # warm-up
        for _ in range(REPEATS):
            for name, run in paths.items():
                start = time.process_time()
                run()
                times[name].append((time.process_time() - start) / frames)
        effects = _switch_effects(lf_animate, on, first)
    same = int(np.abs(outputs["core KSampler img2img"].astype(int)
                      - outputs["LF Animate, switches off"].astype(int)).max())

    rows = path_rows(times, "core KSampler img2img", "frame")
    off_ratio, on_ratio = rows["LF Animate, switches off"]["ratio"], rows["LF Animate, switches on"]["ratio"]
    rows["LF Animate, switches off"]["vs_bar"] = against_bar(off_ratio, BAR)
    print(f"LF Animate vs the core chain, tiny models via ComfyUI's loaders, {SIZE}x{SIZE}, {frames} frames, "
          f"{steps} steps at denoise {STRENGTH}, CFG {CFG}, {REPEATS} interleaved repeats "
          f"({torch.get_num_threads()} thread, CPU s)")
    print(f"{'path':<26} {'s/frame: median (min-max)':>30} {'ratio to core: median (min-max)':>34}")
    for name, row in rows.items():
        print(f"{name:<26} {format_spread(row['seconds_per_frame']):>30} {format_spread(row['ratio']):>34}")
    print(f"switches off (the same work) vs the {BAR} bar: {rows['LF Animate, switches off']['vs_bar']}")
    print(f"switches on (more work) vs the core chain: {rows['LF Animate, switches on']['vs_reference']}"
          + (" (1.0 lies inside the spread: a faster or slower median here is noise)"
             if rows["LF Animate, switches on"]["vs_reference"] == "noise" else ""))
    print(f"largest pixel difference, LF Animate (switches off) vs the core chain: {same} of 255")
    print(f"consistency switches, same clip: {'variant':<16} {'consecutive |diff|':>19} {'colour drift':>13}")
    for name, row in effects.items():
        print(f"{'':32} {name:<16} {row['consecutive_difference']:>19.4f} {row['colour_drift']:>13.4f}")
    return {"size": SIZE, "frames": frames, "steps": steps, "strength": STRENGTH, "repeats": REPEATS,
            "sampler": f"{SAMPLER}/{SCHEDULER}", "device": "cpu", "clock": "process CPU time", "paths": rows,
            "ratio_lf_animate_vs_core_ksampler": off_ratio, "ratio_switches_on_vs_core_ksampler": on_ratio,
            "bar": BAR, "max_pixel_difference_vs_core": same, "switch_effects": effects}


def _per_frame(comfy, clip, first: str, last: str, frames: int) -> list:
    """Per-frame CONDITIONING as LF Prompt Schedule gives it: CLIP's encodings of two prompts blended linearly over
    the frames, one batch row per frame (cond and pooled_output)."""
    (a,), (b,) = (comfy.nodes.CLIPTextEncode().encode(clip, text)[0] for text in (first, last))
    weights = torch.linspace(0, 1, frames)
    cond = torch.cat([torch.lerp(a[0], b[0], w) for w in weights])
    pooled = torch.cat([torch.lerp(a[1]["pooled_output"], b[1]["pooled_output"], w) for w in weights])
    return [[cond, {"pooled_output": pooled}]]


def _picture() -> np.ndarray:
    """A first frame with flat colours (a face-like oval on green), so that colour drift shows."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (SIZE, SIZE), (40, 120, 60))
    ImageDraw.Draw(picture).ellipse((SIZE // 4, SIZE // 5, 3 * SIZE // 4, 7 * SIZE // 8), fill=(220, 180, 140))
    return np.asarray(picture).copy()


def _switch_effects(lf_animate, settings, first) -> dict:
    """Each consistency switch off in turn (and all off): the mean absolute difference of consecutive frames and the
    last frame's mean colour distance from the first frame (0..1). Tiny models: the sizes of the effects, not looks."""
    variants = {
        "all on": settings,
        "no cross-frame": dataclasses.replace(settings, cross_frame_attention=False),
        "no colour match": dataclasses.replace(settings, color_match=False),
        "no shared noise": dataclasses.replace(settings, shared_noise=0.0),
        "all off": dataclasses.replace(settings, cross_frame_attention=False, color_match=False, shared_noise=0.0),
    }
    reference_colour = first.astype(np.float32).mean(axis=(0, 1)) / 255.0
    effects = {}
    for name, variant in variants.items():
        frames = lf_animate(variant).astype(np.float32) / 255.0
        effects[name] = {
            "consecutive_difference": float(np.abs(np.diff(frames, axis=0)).mean()),
            "colour_drift": float(np.abs(frames[-1].mean(axis=(0, 1)) - reference_colour).mean()),
        }
    return effects


if __name__ == "__main__":
    main(quick="--quick" in sys.argv[1:])
