"""Animator overhead per frame: the animator's frame loop against bare img2img calls chained by hand.

Tiny models only (the tiny SD 1.5 + scribble ControlNet + LoRA, built into a temporary models dir), 64x64, CFG. The
bare path is diffusers' StableDiffusionControlNetImg2ImgPipeline called once per frame on the previous frame's output,
with the prompt embeddings computed beforehand: what a user would write without the animator. The animator runs the
same clip with every consistency switch on (cross-frame attention, colour matching, shared noise) and with all off.
Paths run interleaved in one process, REPEATS times each after a warm-up; the figure is the best (minimum) seconds per
frame, the least disturbed by other processes on a shared machine, with the median beside it; one torch thread. No GPU was lent to this
project's sessions, so the full-size figure (4 s at 12 fps, 512x512, fp16) is not measured.

Run: `python bench/bench_animate.py` (or through bench/run_all.py).
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(REPO_ROOT / "bench"))

from _timing import overhead_rows  # noqa: E402

REPEATS = 7
THREADS = 1  # tiny tensors: more threads only add contention on a shared CPU, for both paths alike
FRAMES = 12
STEPS = 8
STRENGTH = 0.5
SIZE = 64


def main() -> dict:
    """Time the bare img2img chain and the animator on the tiny models; print a table and return the figures."""
    from _pack import load_pack

    load_pack()
    torch.set_num_threads(THREADS)
    from diffusers import StableDiffusionControlNetImg2ImgPipeline

    from longform_pack.core import animate, host, schedule, stylize, tiny

    models = Path(tempfile.mkdtemp(prefix="bench_animate_"))
    previous_models = host.set_models_dir(models)
    try:
        tiny.build_all(models)
        pipeline = stylize.load_pipeline("longform-tiny-sd15.safetensors", "longform-tiny-controlnet-scribble.safetensors",
                                         [("longform-tiny-lora-kohya.safetensors", 0.8)])
        first = _picture()
        scribble = np.zeros((1, SIZE, SIZE, 3), dtype=np.uint8)
        scribble[0, 24:40, 8:56] = 255
        clip = schedule.parse_schedule("0: a sunny forest\n8: a stormy night", FRAMES, fps=12.0)
        on = animate.AnimateSettings(steps=STEPS, strength=str(STRENGTH), guidance=7.0)
        off = dataclasses.replace(on, cross_frame_attention=False, color_match=False, shared_noise=0.0)
        bare_pipe = StableDiffusionControlNetImg2ImgPipeline.from_pipe(pipeline.pipe)
        bare_pipe.set_progress_bar_config(disable=True)

        def bare_chain() -> None:
            with dataclasses.replace(pipeline, pipe=bare_pipe).prepared():
                positive, negative = bare_pipe.encode_prompt(clip.prompts, bare_pipe.device, 1, True, clip.negatives)
                image = torch.from_numpy(first).permute(2, 0, 1)[None].float() / 255.0
                control = torch.from_numpy(scribble[0]).permute(2, 0, 1)[None].float() / 255.0
                for frame in range(FRAMES):
                    image = bare_pipe(
                        image=image, control_image=control, prompt_embeds=positive[:1], negative_prompt_embeds=negative[:1],
                        strength=STRENGTH, num_inference_steps=STEPS, guidance_scale=7.0,
                        generator=torch.Generator().manual_seed(frame), output_type="pt",
                    ).images

        def animator(settings) -> None:
            animate.animate(pipeline, first, scribble, clip, settings)

        paths = {"bare img2img": bare_chain, "animator, switches on": lambda: animator(on),
                 "animator, switches off": lambda: animator(off)}
        times: dict[str, list[float]] = {name: [] for name in paths}
        for run in paths.values():
            run()  # warm-up
        for _ in range(REPEATS):
            for name, run in paths.items():
                start = time.perf_counter()
                run()
                times[name].append((time.perf_counter() - start) / FRAMES)

        effects = _switch_effects(pipeline, first, scribble, clip, on, animate)
    finally:
        host.set_models_dir(previous_models)
        shutil.rmtree(models, ignore_errors=True)

    extras = {size: _extras_seconds(size) for size in (SIZE, 512)}
    rows = overhead_rows(times, "bare img2img", "frame")
    print(f"animator, tiny models, {SIZE}x{SIZE}, {FRAMES} frames, {STEPS} steps x strength {STRENGTH}, CFG, "
          f"best of {REPEATS} ({torch.get_num_threads()} threads)")
    print(f"{'path':<24} {'s/frame':>9} {'median':>9} {'overhead':>9}")
    for name, row in rows.items():
        print(f"{name:<24} {row['seconds_per_frame']:>9.4f} {row['median_seconds_per_frame']:>9.4f} "
              f"{row['overhead_vs_bare']:>+9.1%}")
    for size, seconds in extras.items():
        print(f"animator's own work per frame at {size}x{size} (noise, embedding blend, colour match, 8-bit round "
              f"trip): {seconds * 1000:.2f} ms")
    print(f"consistency switches, same clip: {'variant':<16} {'consecutive |diff|':>19} {'colour drift':>13}")
    for name, row in effects.items():
        print(f"{'':32} {name:<16} {row['consecutive_difference']:>19.4f} {row['colour_drift']:>13.4f}")
    return {"size": SIZE, "frames": FRAMES, "steps": STEPS, "strength": STRENGTH, "repeats": REPEATS,
            "device": str(host.torch_device()), "paths": rows, "switch_effects": effects,
            "extras_seconds_per_frame": {f"{size}x{size}": seconds for size, seconds in extras.items()}}


def _picture() -> np.ndarray:
    """A first frame with flat colours (a face-like oval on green), so that colour drift shows."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (SIZE, SIZE), (40, 120, 60))
    ImageDraw.Draw(picture).ellipse((SIZE // 4, SIZE // 5, 3 * SIZE // 4, 7 * SIZE // 8), fill=(220, 180, 140))
    return np.asarray(picture).copy()


def _switch_effects(pipeline, first, scribble, clip, settings, animate) -> dict:
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
        frames = animate.animate(pipeline, first, scribble, clip, variant).frames.astype(np.float32) / 255.0
        effects[name] = {
            "consecutive_difference": float(np.abs(np.diff(frames, axis=0)).mean()),
            "colour_drift": float(np.abs(frames[-1].mean(axis=(0, 1)) - reference_colour).mean()),
        }
    return effects


def _extras_seconds(size: int, repeats: int = 20) -> float:
    """Best time of the per-frame work the animator adds around the img2img call, without the call itself: the
    frame's starting noise (shared-noise mix), the schedule's embedding blend (SD 1.5 shapes), LAB colour matching
    and the 8-bit round trip. A deterministic complement to the end-to-end figures, which a shared CPU blurs."""
    from longform_pack.core import animate, schedule

    settings = animate.AnimateSettings()
    clip = schedule.parse_schedule("0: a\n10: b", 20, interpolation="slerp")
    embeddings = torch.randn(2, 77, 768, generator=torch.Generator().manual_seed(0))
    picture = np.random.default_rng(0).random((size, size, 3), dtype=np.float32)
    stats = animate.lab_stats(picture)
    best = float("inf")
    for index in range(repeats):
        start = time.perf_counter()
        animate.frame_noise(settings, index, (1, 4, size // 8, size // 8))
        schedule.blend(embeddings, clip, 5)
        matched = animate.color_match(picture, stats)
        (np.clip(matched, 0, 1) * 255).round().astype(np.uint8)
        best = min(best, time.perf_counter() - start)
    return best


if __name__ == "__main__":
    main()
