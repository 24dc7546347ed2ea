"""CLIP vision features from ComfyUI's CLIP_VISION (core `CLIPVisionLoader`): the one image encoder the identity lock
and the identity score share, loaded once by ComfyUI and managed by it.

A CLIP_VISION is used through its public `encode_image(image)` (ComfyUI's own preprocessing: resize, centre crop,
CLIP's normalisation), which returns `image_embeds` [B, projection] and `penultimate_hidden_states` [B, tokens, width].
Nothing here imports ComfyUI.
"""

from __future__ import annotations

import torch

# Pictures per encode_image call: bounds the encoder's activations on long clips.
CHUNK = 8


def check_clip_vision(clip_vision, field: str = "clip_vision") -> None:
    """Raise ValueError unless `clip_vision` is a CLIP_VISION (anything with `encode_image`)."""
    if clip_vision is None or not callable(getattr(clip_vision, "encode_image", None)):
        raise ValueError(
            f"'{field}' must be a CLIP_VISION (from the core Load CLIP Vision node, e.g. "
            f"CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors); got {type(clip_vision).__name__}."
        )


@torch.no_grad()
def image_embeds(clip_vision, images: torch.Tensor) -> torch.Tensor:
    """[B, projection] float32 CLIP image embeddings of an IMAGE batch, on the CPU."""
    return torch.cat([clip_vision.encode_image(chunk)["image_embeds"].float().cpu() for chunk in images.split(CHUNK)])


@torch.no_grad()
def penultimate(clip_vision, images: torch.Tensor) -> torch.Tensor:
    """[B, tokens, width] float32 penultimate hidden states of an IMAGE batch (IP-Adapter Plus's input), on the CPU."""
    return torch.cat([
        clip_vision.encode_image(chunk)["penultimate_hidden_states"].float().cpu() for chunk in images.split(CHUNK)
    ])
