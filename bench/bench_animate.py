"""LF Animate per frame against the core img2img chain a user would wire by hand, on ComfyUI's own models.

Tiny models (the pack's tiny SD 1.5 checkpoint + kohya LoRA at 0.8 + scribble ControlNet, loaded by ComfyUI's
CheckpointLoaderSimple, LoraLoader and ControlNetLoader in this process), 64x64, CFG. The core path is, per frame:
VAEEncode of the previous frame -> ControlNetApplyAdvanced (the frame's conditioning slice, the scribble) -> KSampler
(seed + frame, denoise = the strength) -> VAEDecode -> 8-bit round trip, i.e. the nodes a user would chain. LF Animate
runs the same clip with every consistency switch off (the same work: the ratio is the node's overhead, bar <= 1.05)
and with all on (cross-frame attention, colour matching, shared noise). Paths run interleaved, REPEATS times each after
a warm-up; the figure is the best (minimum) process CPU seconds per frame (one torch thread: CPU time, which a loaded
shared machine disturbs far less than the wall clock), with the median beside it.

Run: `COMFYUI_DIR=... python bench/bench_animate.py` (or through bench/run_all.py).
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
from _timing import overhead_rows  # noqa: E402

REPEATS = 3
THREADS = 1  # tiny tensors: more threads only add contention on a shared CPU, for both paths alike
FRAMES = 4
STEPS = 4
STRENGTH = 0.5
CFG = 7.0
SIZE = 64
SAMPLER, SCHEDULER = "euler", "normal"


def main() -> dict:
    """Time the core chain and LF Animate on the tiny models; print a table and return the figures."""
    from _pack import load_pack

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
    positive = _per_frame(comfy, models.clip, "a sunny forest", "a stormy night")
    negative = _per_frame(comfy, models.clip, "blurry", "blurry")
    on = animate.AnimateSettings(steps=STEPS, cfg=CFG, sampler_name=SAMPLER, scheduler=SCHEDULER,
                                 strength=str(STRENGTH), seed=0)
    off = dataclasses.replace(on, cross_frame_attention=False, color_match=False, shared_noise=0.0)

    def lf_animate(settings) -> np.ndarray:
        return animate.animate(animate.Animator(models.model, models.vae, positive, negative, first, settings,
                                                models.control_net, scribble)).frames

    def core_chain() -> np.ndarray:
        nodes, frames, previous = comfy.nodes, [], first
        hint = torch.from_numpy(scribble).float() / 255.0
        for frame in range(FRAMES):
            cond = animate.frame_conditioning(positive, frame, FRAMES)
            uncond = animate.frame_conditioning(negative, frame, FRAMES)
            cond, uncond = nodes.ControlNetApplyAdvanced().apply_controlnet(cond, uncond, models.control_net, hint,
                                                                            1.0, 0.0, 1.0, vae=models.vae)
            (latent,) = nodes.VAEEncode().encode(models.vae, torch.from_numpy(previous).float()[None] / 255.0)
            (samples,) = nodes.KSampler().sample(models.model, frame, STEPS, CFG, SAMPLER, SCHEDULER, cond, uncond,
                                                 latent, denoise=STRENGTH)
            (decoded,) = nodes.VAEDecode().decode(models.vae, samples)
            previous = (decoded[0].clamp(0, 1).numpy() * 255.0).round().astype(np.uint8)
            frames.append(previous)
        return np.stack(frames)

    paths = {"core KSampler img2img": core_chain, "LF Animate, switches off": lambda: lf_animate(off),
             "LF Animate, switches on": lambda: lf_animate(on)}
    times: dict[str, list[float]] = {name: [] for name in paths}
    with torch.inference_mode():
        outputs = {name: run() for name, run in paths.items()}  # warm-up
        for _ in range(REPEATS):
            for name, run in paths.items():
                start = time.process_time()
                run()
                times[name].append((time.process_time() - start) / FRAMES)
        effects = _switch_effects(lf_animate, on, first)
    same = int(np.abs(outputs["core KSampler img2img"].astype(int)
                      - outputs["LF Animate, switches off"].astype(int)).max())

    rows = overhead_rows(times, "core KSampler img2img", "frame")
    print(f"LF Animate vs the core chain, tiny models via ComfyUI's loaders, {SIZE}x{SIZE}, {FRAMES} frames, "
          f"{STEPS} steps at denoise {STRENGTH}, CFG {CFG}, best of {REPEATS} ({torch.get_num_threads()} thread)")
    print(f"{'path':<26} {'s/frame':>9} {'median':>9} {'ratio':>7}")
    for name, row in rows.items():
        print(f"{name:<26} {row['seconds_per_frame']:>9.4f} {row['median_seconds_per_frame']:>9.4f} "
              f"{1 + row['overhead_vs_bare']:>7.3f}")
    print(f"largest pixel difference, LF Animate (switches off) vs the core chain: {same} of 255")
    print(f"consistency switches, same clip: {'variant':<16} {'consecutive |diff|':>19} {'colour drift':>13}")
    for name, row in effects.items():
        print(f"{'':32} {name:<16} {row['consecutive_difference']:>19.4f} {row['colour_drift']:>13.4f}")
    ratio = rows["LF Animate, switches off"]["seconds_per_frame"] / rows["core KSampler img2img"]["seconds_per_frame"]
    return {"size": SIZE, "frames": FRAMES, "steps": STEPS, "strength": STRENGTH, "repeats": REPEATS,
            "sampler": f"{SAMPLER}/{SCHEDULER}", "device": "cpu", "paths": rows,
            "ratio_lf_animate_vs_core_ksampler": round(ratio, 4), "bar": 1.05,
            "max_pixel_difference_vs_core": same, "switch_effects": effects}


def _per_frame(comfy, clip, first: str, last: str) -> list:
    """Per-frame CONDITIONING as LF Prompt Schedule gives it: CLIP's encodings of two prompts blended linearly over
    the frames, one batch row per frame (cond and pooled_output)."""
    (a,), (b,) = (comfy.nodes.CLIPTextEncode().encode(clip, text)[0] for text in (first, last))
    weights = torch.linspace(0, 1, FRAMES)
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
    main()
