"""The whole pack through its core library, no ComfyUI needed: `make demo` (or `python scripts/demo.py --out outputs`).

1. The from-scratch DDPM trained on scikit-learn's digits and sampled with classifier-free guidance: a grid of every
   class, the denoising strip and its animation, the loss curve. Meaningful pictures on any machine, no downloads.
2. The sketch-to-video chain of workflows/sketch_to_video.json: sketch -> scribble map -> SD 1.5 + scribble ControlNet
   + pokemon LoRA with the character's identity locked by IP-Adapter -> a clip whose prompt changes mid-way
   (sunny forest -> stormy night) -> mp4 + gif -> a clip report. On the real weights when `install.py --models` has
   fetched them into the models dir; else on the tiny stand-ins, under a banner: their pictures are not meaningful.

Everything goes under --out; the script prints each file it wrote.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))  # install.py: where the pack sits in ComfyUI
sys.path.insert(0, str(REPO_ROOT / "scripts"))
sys.path.insert(0, str(REPO_ROOT / "workflows"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models come from disk only
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")  # the demo prints its own progress

from _pack import load_pack  # noqa: E402

load_pack()
import install  # noqa: E402
import source as workflow_source  # noqa: E402  (the shipped workflows' prompts, schedule and model files)
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from longform_pack.core import host, manifest, tiny  # noqa: E402
from longform_pack.core.images import from_pil, to_pil  # noqa: E402

# The manifest entries of the models the chain loads (sketch_to_video.json names the same files).
CHAIN_MODEL_IDS = ("sd15", "controlnet_scribble", "lora_pokemon", "ipadapter_plus_sd15", "clip_vision_h", "clip_probe")
TINY_BANNER = """
################################################################################################################
#  TINY MODELS: the real weights are not in {models_dir}.
#  The chain below runs end to end on seeded random stand-ins, so its pictures are NOT meaningful (noise-like).
#  For real pictures: python install.py --models stylize identity probe   (about 9 GB), then run the demo again.
################################################################################################################
"""


def default_models_dir() -> Path:
    """$LONGFORM_MODELS_DIR, else <ComfyUI>/models when the pack sits in custom_nodes/, else ./models."""
    if os.environ.get(host.MODELS_DIR_ENV):
        return Path(os.environ[host.MODELS_DIR_ENV])
    comfyui = install.comfyui_root()  # unresolved: a pack symlinked into custom_nodes/ still finds its ComfyUI
    return comfyui / "models" if comfyui is not None else REPO_ROOT / "models"


def real_weights_present(models_dir: Path) -> bool:
    """True when every model the chain needs is in `models_dir` at the manifest's size."""
    for model_id in CHAIN_MODEL_IDS:
        item = manifest.entry(model_id)
        path = models_dir / item.folder / item.filename
        if not path.is_file() or (item.size_bytes and path.stat().st_size != item.size_bytes):
            return False
    return True


class Written:
    """The files the demo wrote, printed as they come."""

    def __init__(self, out: Path):
        self.out = out
        self.paths: list[Path] = []

    def image(self, picture: Image.Image, name: str) -> Path:
        """Save `picture` as out/`name` and record it."""
        path = self.out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        picture.save(path)
        return self.add(path)

    def add(self, path: Path) -> Path:
        """Record a file written elsewhere."""
        self.paths.append(Path(path))
        print(f"  wrote {Path(path).relative_to(self.out)}")
        return Path(path)


def ddpm_demo(written: Written, train_steps: int | None) -> dict:
    """Train the default recipe on digits (or reuse a finished run), sample every class, draw the steps."""
    from longform_pack.core.ddpm import (TrainConfig, animation_frames, grid_image, loss_curve_image, sample,
                                         save_animation, strip_image, train)

    print("\n== 1/2  Tiny conditional DDPM on scikit-learn's digits (from scratch, CPU)")
    config = TrainConfig() if train_steps is None else TrainConfig(steps=train_steps)
    result = train(config, name="demo-digits")  # a finished run of the same recipe is reused, not retrained
    last = result.losses[-100:]
    print(f"  trained {config.steps} steps in {result.seconds:.0f} s, final loss {sum(last) / len(last):.4f}")
    labels = [str(digit) for digit in range(10) for _ in range(8)]
    started = time.perf_counter()
    samples = sample(result.model, labels, guidance=3.0, sampler="ddim", steps=50, seed=0)
    sample_seconds = time.perf_counter() - started
    written.image(grid_image(samples, columns=8), "ddpm/digits_grid_guidance3.png")
    strip_samples = sample(result.model, [str(digit) for digit in range(10)], guidance=3.0, sampler="ddpm",
                           steps=1000, seed=1)
    written.image(strip_image(strip_samples), "ddpm/denoising_strip.png")
    written.add(save_animation(animation_frames(strip_samples), written.out / "ddpm" / "denoising.gif"))
    written.image(loss_curve_image(result.losses), "ddpm/loss_curve.png")
    return {"train_steps": config.steps, "train_seconds": round(result.seconds, 1),
            "sample_seconds_80_ddim50": round(sample_seconds, 2)}


def chain_demo(written: Written, real: bool, size: int, seconds: float, fps: float, steps: int) -> dict:
    """sketch_to_video through the core: the same models, prompts and schedule as the shipped workflow."""
    from longform_pack.core import animate, clip_report, identity, schedule, sketch, stylize, video

    names = {model_id: manifest.entry(model_id).filename if real else manifest.entry(model_id).tiny_filename
             for model_id in CHAIN_MODEL_IDS}
    face_pack = manifest.entry("insightface_buffalo_l")
    insightface_pack = face_pack.filename if real else face_pack.tiny_filename
    print(f"\n== 2/2  Sketch -> stylized image -> identity-locked clip ({'real' if real else 'TINY'} models, "
          f"{size}x{size}, {seconds:g} s at {fps:g} fps, {steps} steps, {host.torch_device()})")
    examples = REPO_ROOT / "example_inputs"
    sketch_image = from_pil(Image.open(examples / workflow_source.SKETCH).convert("RGB"))
    reference = from_pil(Image.open(examples / workflow_source.CHARACTER).convert("RGB"))

    scribble, preview = sketch.prepare_scribble(sketch_image, sketch.ScribbleSettings(width=size, height=size))
    written.image(to_pil(preview)[0], "chain/scribble_preview.png")
    pipeline = stylize.load_pipeline(names["sd15"], names["controlnet_scribble"], [(names["lora_pokemon"], 0.8)],
                                     "euler_a")
    locked, lock = identity.lock_identity(pipeline, names["ipadapter_plus_sd15"], reference, 0.7,
                                          clip_vision_name=names["clip_vision_h"], insightface_pack=insightface_pack)
    first = stylize.stylize(locked, scribble, workflow_source.STYLE_PROMPT, workflow_source.NEGATIVE_PROMPT, seed=42,
                            steps=steps, guidance=7.5, width=size, height=size)
    written.image(to_pil(first)[0], "chain/stylized_first_frame.png")

    frame_count = schedule.frame_count_for(seconds, fps)
    plan = schedule.parse_schedule(workflow_source.SCHEDULE, frame_count, fps=fps, interpolation="eased",
                                   field="schedule")
    written.image(schedule.timeline_image(plan), "chain/schedule_timeline.png")
    settings = animate.AnimateSettings(steps=steps, guidance=7.0, strength="0.45", seed=7, seed_mode="per frame")
    started = time.perf_counter()
    frames = animate.animate(locked, video.to_uint8(first)[0], video.to_uint8(scribble), plan, settings).frames
    animate_seconds = time.perf_counter() - started
    for suffix in ("mp4", "gif"):
        path = written.out / "chain" / f"sketch_to_video.{suffix}"
        written.add(video.write_video(frames, path, fps=fps))
    clip = torch.from_numpy(frames).float() / 255.0
    report = clip_report.clip_report(clip, plan, names["clip_probe"], reference)
    written.image(report.plot(), "chain/clip_report.png")
    summary_path = written.out / "chain" / "clip_report.json"
    summary_path.write_text(json.dumps(report.summary(), indent=1))
    written.add(summary_path)
    return {"models": "real" if real else "tiny", "ipadapter": lock.variant, "frames": int(len(frames)),
            "animate_seconds": round(animate_seconds, 1), "seconds_per_frame": round(animate_seconds / len(frames), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="outputs", help="folder for everything the demo writes (default: outputs)")
    parser.add_argument("--models-dir", help="where install.py put the real weights (default: <ComfyUI>/models "
                        "when the pack is in custom_nodes/, else $LONGFORM_MODELS_DIR or ./models)")
    parser.add_argument("--only", choices=("ddpm", "chain"), help="run one part only")
    parser.add_argument("--ddpm-steps", type=int, help="DDPM training steps (default: the benchmarked recipe)")
    parser.add_argument("--size", type=int, help="chain picture size (default: 512 on a GPU, 256 on the CPU, 64 "
                        "on the tiny models)")
    parser.add_argument("--seconds", type=float, default=3.0, help="clip length in seconds (default 3)")
    parser.add_argument("--fps", type=float, help="clip frames per second (default: 8, or 4 with real weights on "
                        "the CPU)")
    parser.add_argument("--steps", type=int, help="sampler steps of a full denoise (default: 20, or 10 with real "
                        "weights on the CPU)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    written = Written(out)
    models_dir = Path(args.models_dir).resolve() if args.models_dir else default_models_dir().resolve()
    real = real_weights_present(models_dir)
    if not real:
        print(TINY_BANNER.format(models_dir=models_dir))
        models_dir = out / "tiny-models"
        tiny.build_all(models_dir)
    host.set_models_dir(models_dir)
    cpu = host.torch_device().type == "cpu"
    figures: dict = {"models_dir": str(models_dir)}
    started = time.perf_counter()
    try:
        if args.only in (None, "ddpm"):
            figures["ddpm"] = ddpm_demo(written, args.ddpm_steps)
        if args.only in (None, "chain"):
            size = args.size or (64 if not real else 256 if cpu else 512)
            fps = args.fps or (4.0 if real and cpu else 8.0)
            steps = args.steps or (10 if real and cpu else 20)
            figures["chain"] = chain_demo(written, real, size, args.seconds, fps, steps)
    except (ValueError, FileNotFoundError) as error:
        print(f"\ndemo stopped: {error}", file=sys.stderr)
        return 1
    figures["wall_seconds"] = round(time.perf_counter() - started, 1)
    (out / "demo_summary.json").write_text(json.dumps(figures, indent=1) + "\n")
    written.add(out / "demo_summary.json")
    print(f"\nDone in {figures['wall_seconds']:.0f} s: {len(written.paths)} files under {out}")
    if not real:
        print("(the chain ran on the TINY models: its pictures are not meaningful; the DDPM digits are)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
