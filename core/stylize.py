"""The stylizer on ComfyUI's models: a scribble map and conditioning become an image through the core ControlNet chain.

`render()` is EmptyLatentImage (one latent per scribble) + ControlNetApplyAdvanced + KSampler + VAEDecode in one
call, through `comfy_glue` (the same calls the core nodes make), so LF Stylize gives the core chain's pixels for the
same seed and settings, on whatever MODEL it is handed (a checkpoint, LoRAs, an identity lock). ComfyUI's memory
manager loads and evicts every model it touches.
"""

from __future__ import annotations

import torch

from . import comfy_glue
from .images import check_image_batch


# Pixels a side. One sampler step is one call no interrupt reaches, and its attention grows with the fourth power of
# the side (8192 took 15 GB inside one step): 2048, as a storyboard's size, is four times SD 1.5's native 512.
MIN_SIDE, MAX_SIDE = 64, 2048


def _check_size(width: int, height: int) -> None:
    for field_name, value in (("width", width), ("height", height)):
        if not MIN_SIDE <= value <= MAX_SIDE or value % 8:
            raise ValueError(f"'{field_name}' is {value}; give a multiple of 8 from {MIN_SIDE} to {MAX_SIDE} pixels "
                             f"(the pack's largest side: render larger with an upscaler).")


def render(model, vae, control_net, scribble: torch.Tensor, positive: list, negative: list, seed: int = 0,
           steps: int = 20, cfg: float = 7.5, sampler_name: str = "euler", scheduler: str = "normal",
           controlnet_strength: float = 1.0, control_start: float = 0.0, control_end: float = 1.0,
           width: int = 512, height: int = 512) -> tuple[torch.Tensor, dict]:
    """The core chain in one call: EmptyLatentImage (one latent per scribble), ControlNetApplyAdvanced, KSampler,
    VAEDecode, on ComfyUI's MODEL, VAE, CONTROL_NET and CONDITIONING. Returns the IMAGE batch and the LATENT."""
    _check_size(width, height)
    if steps < 1:
        raise ValueError(f"'steps' must be at least 1; got {steps}.")
    if not 0.0 <= control_start < control_end <= 1.0:
        raise ValueError(f"'control_start' ({control_start}) must be below 'control_end' ({control_end}), both in 0..1.")
    hint = check_image_batch(scribble, "scribble")
    positive, negative = comfy_glue.apply_controlnet(positive, negative, control_net, hint, controlnet_strength,
                                                     control_start, control_end, vae)
    latent = comfy_glue.empty_latent(hint.shape[0], height, width)
    samples = comfy_glue.sample(model, seed, steps, cfg, sampler_name, scheduler, positive, negative, latent)
    return comfy_glue.vae_decode(vae, samples), {"samples": samples}
