"""Sampling a trained DDPM with classifier-free guidance, and pictures of the result: grid, denoising strip, animation.

Guidance convention: eps = eps_uncond + w * (eps_cond - eps_uncond). w = 1 runs only the conditional pass (it *is*
the plain conditional model), w = 0 only the unconditional one; other values run both in one batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from .. import host
from ..checks import check_finite
from ..images import font, labelled_grid
from ..video import check_written
from .diffusion import Trajectory
from .train import DDPMModel

MAX_SAMPLES = 10000
_REPEAT = re.compile(r"^(?P<condition>.*?)\s+[x\u00d7]\s*(?P<count>\d+)$", re.IGNORECASE)


@dataclass
class Samples:
    """Generated images in 0..1 ([N, C, H, W], CPU) in the order of `conditions`, and the recorded trajectory."""

    images: torch.Tensor
    conditions: list[str]
    trajectory: Trajectory
    guidance: float


def parse_conditions(text: str) -> list[str]:
    """One condition per line, `label x N` repeating it N times; blank lines are skipped. Order is kept."""
    conditions: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = _REPEAT.match(line)
        condition, count = (match["condition"].strip(), int(match["count"])) if match else (line, 1)
        if not condition or count < 1:
            raise ValueError(f"labels line {number} '{line}' is not 'label' or 'label x N' with N >= 1.")
        if len(conditions) + count > MAX_SAMPLES:  # checked before the list grows: 'x 1000000000000' is one line
            raise ValueError(f"'labels' asks for more than {MAX_SAMPLES} images (line {number}: '{line[:60]}'); "
                             f"ask for at most {MAX_SAMPLES} at once.")
        conditions.extend([condition] * count)
    if not conditions:
        raise ValueError("labels is empty: give one label (or prompt) per line, e.g. '3 x 8'.")
    return conditions


def guided_denoiser(model: DDPMModel, cond: torch.Tensor, guidance: float):
    """The network with classifier-free guidance w folded in: (x_t, t) -> guided output."""
    dtype = next(model.network.parameters()).dtype  # the host's choice; the sampler's maths stays in fp32
    cond = cond.to(dtype) if cond.is_floating_point() else cond
    count = len(cond)
    keep = torch.zeros(count, dtype=torch.bool, device=cond.device)

    def network(x: torch.Tensor, t: torch.Tensor, c: torch.Tensor, drop: torch.Tensor) -> torch.Tensor:
        return model.network(x.to(dtype), t, c, drop).to(x.dtype)

    def denoise(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if guidance == 1:
            return network(x, t, cond, keep)
        if guidance == 0:
            return network(x, t, cond, ~keep)
        both = network(torch.cat([x, x]), torch.cat([t, t]), torch.cat([cond, cond]), torch.cat([keep, ~keep]))
        conditional, unconditional = both[:count], both[count:]
        return unconditional + guidance * (conditional - unconditional)

    return denoise


@torch.no_grad()
def sample(model: DDPMModel, conditions: list[str], guidance: float = 3.0, sampler: str = "ddim", steps: int = 50,
           eta: float = 0.0, seed: int = 0, frames: int = 24, recorded: int = 16,
           device: torch.device | str | None = None) -> Samples:
    """Generate one image per condition (label or prompt), in order, with guidance scale `guidance`.

    `frames` evenly spaced steps (x_t and predicted x_0) of the first `recorded` images are kept for the strip and
    the animation. Deterministic for a seed.
    """
    guidance, eta = check_finite(guidance, "guidance"), check_finite(eta, "eta")
    if guidance < 0:
        raise ValueError(f"guidance must be 0 or more; got {guidance}.")
    device = model.load(device)
    cond = model.embed(conditions).to(device)
    config = model.config
    steps_list = model.diffusion.sampling_timesteps(steps)
    record = set(torch.linspace(0, len(steps_list) - 1, min(frames, len(steps_list))).round().long().tolist())
    generator = torch.Generator().manual_seed(int(seed))
    with host.progress(steps, f"sampling {len(conditions)} images") as bar:
        trajectory = model.diffusion.sample(
            guided_denoiser(model, cond, guidance),
            (len(conditions), config.channels, config.image_size, config.image_size),
            sampler=sampler, steps=steps, eta=eta, generator=generator, device=device, record=record,
            on_step=bar.update,
        )
    trajectory.noisy = [x[:recorded] for x in trajectory.noisy]
    trajectory.predicted = [x[:recorded] for x in trajectory.predicted]
    images = ((trajectory.images + 1) / 2).clamp(0, 1).cpu()
    return Samples(images, list(conditions), trajectory, guidance)


def to_image_batch(images: torch.Tensor) -> torch.Tensor:
    """[N, C, H, W] in 0..1 as a ComfyUI IMAGE batch [N, H, W, 3]."""
    batch = images.permute(0, 2, 3, 1).float().cpu()
    return batch.expand(-1, -1, -1, 3).contiguous() if batch.shape[-1] == 1 else batch


def _pictures(images: torch.Tensor, signed: bool = False) -> list[Image.Image]:
    """Tensors as PIL pictures; `signed` maps [-1, 1] (x_t, predicted x_0) to 0..1 first."""
    values = ((images + 1) / 2) if signed else images
    from ..images import to_pil

    return to_pil(to_image_batch(values.clamp(0, 1)))


def cell_size(image_size: int) -> int:
    """Display size of one sample: tiny images are enlarged (nearest) so they can be seen."""
    return max(image_size, 48)


def grid_image(samples: Samples, columns: int = 10) -> Image.Image:
    """The samples in a grid, each labelled with its condition."""
    size = cell_size(samples.images.shape[-1])
    return labelled_grid(_pictures(samples.images), samples.conditions, columns=columns, cell=size)


def strip_image(samples: Samples, columns: int = 8) -> Image.Image:
    """The denoising strip: for each recorded sample a row of x_t and a row of predicted x_0, at `columns`
    evenly spaced recorded steps (left: pure noise, right: the end), with the timestep written above."""
    trajectory = samples.trajectory
    picks = torch.linspace(0, len(trajectory.timesteps) - 1, min(columns, len(trajectory.timesteps)))
    picks = picks.round().long().tolist()
    size = cell_size(samples.images.shape[-1])
    rows = len(trajectory.noisy[0])
    margin, header, gap = 70, 20, 6  # gaps keep neighbouring 8x8 cells apart
    sheet = Image.new("RGB", (margin + len(picks) * (size + gap), header + rows * (2 * size + gap)), "white")
    draw = ImageDraw.Draw(sheet)
    text_font = font(12)
    for column, pick in enumerate(picks):
        x = margin + column * (size + gap)
        draw.text((x + 2, 3), f"t={trajectory.timesteps[pick]}", fill="black", font=text_font)
        noisy = _pictures(trajectory.noisy[pick], signed=True)
        predicted = _pictures(trajectory.predicted[pick], signed=True)
        for row in range(rows):
            y = header + row * (2 * size + gap)
            sheet.paste(noisy[row].resize((size, size), Image.NEAREST), (x, y))
            sheet.paste(predicted[row].resize((size, size), Image.NEAREST), (x, y + size))
    for row in range(rows):
        y = header + row * (2 * size + gap)
        draw.text((2, y + 2), f"{samples.conditions[row]}: x_t", fill="black", font=text_font)
        draw.text((2, y + size + 2), "pred x_0", fill="black", font=text_font)
    return sheet


def animation_frames(samples: Samples) -> list[Image.Image]:
    """One frame per recorded step: the grid of x_t beside the grid of predicted x_0, then the final images."""
    trajectory = samples.trajectory
    count = len(trajectory.noisy[0])
    labels = samples.conditions[:count]
    size = cell_size(samples.images.shape[-1])
    columns = min(count, 4)
    frames = []
    for t, noisy, predicted in zip(trajectory.timesteps, trajectory.noisy, trajectory.predicted):
        left = labelled_grid(_pictures(noisy, signed=True), labels, columns=columns, cell=size)
        right = labelled_grid(_pictures(predicted, signed=True), labels, columns=columns, cell=size)
        frames.append(_side_by_side(left, right, f"t={t}   left: x_t   right: predicted x_0"))
    final = labelled_grid(_pictures(samples.images[:count]), labels, columns=columns, cell=size)
    frames.append(_side_by_side(final, final, "final samples"))
    return frames


def _side_by_side(left: Image.Image, right: Image.Image, caption: str) -> Image.Image:
    header, gap = 20, 8
    frame = Image.new("RGB", (left.width + gap + right.width, header + max(left.height, right.height)), "white")
    frame.paste(left, (0, header))
    frame.paste(right, (left.width + gap, header))
    ImageDraw.Draw(frame).text((2, 3), caption, fill="black", font=font(12))
    return frame


def save_animation(frames: list[Image.Image], path: Path, frame_ms: int = 120) -> Path:
    """Write the frames as an animated .webp or .gif (by suffix), looping, the last frame held longer."""
    if path.suffix.lower() not in (".webp", ".gif"):
        raise ValueError(f"animation file must end in .webp or .gif; got '{path.name}'.")
    path.parent.mkdir(parents=True, exist_ok=True)
    durations = [frame_ms] * (len(frames) - 1) + [frame_ms * 10]
    options = {"lossless": True} if path.suffix.lower() == ".webp" else {}
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0, **options)
    return check_written(path)
