"""The CLIP vision stand-in: a ViT-H/14 image encoder of the published shapes, random from a seed.

ComfyUI's `CLIPVisionLoader` picks its fixed config by the layers a file holds (a layer 30 means ViT-H) and SD 1.5's
IP-Adapters read ViT-H's outputs (image embeds 1024 wide, penultimate hidden states 1280 wide), so the stand-in keeps
the full architecture: 32 layers, width 1280, projection 1024, 632M parameters, stored in fp16 (1.26 GB) in the
transformers layout of the published `image_encoder/model.safetensors`. Its config rides in the metadata (`config`).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..tiny_marker import TINY_METADATA
from .weights import on_meta, seeded_state_dict

# ViT-H/14 as ComfyUI's clip_vision_config_h.json and the published encoder's config.json describe it.
VIT_H_CONFIG = {
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "num_hidden_layers": 32,
    "num_attention_heads": 16,
    "image_size": 224,
    "patch_size": 14,
    "projection_dim": 1024,
    "hidden_act": "gelu",
    "layer_norm_eps": 1e-5,
}
CLIP_VISION_WIDTH = VIT_H_CONFIG["hidden_size"]  # penultimate hidden states (IP-Adapter Plus reads these)
CLIP_VISION_PROJECTION = VIT_H_CONFIG["projection_dim"]  # image_embeds (the base IP-Adapter reads these)
CLIP_VISION_SEED = 604


def build_clip_vision_h(path: Path) -> None:
    """The ViT-H CLIP vision stand-in (CLIPVisionModelWithProjection keys), fp16, its config in the metadata."""
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    model = on_meta(lambda: CLIPVisionModelWithProjection(CLIPVisionConfig(**VIT_H_CONFIG)))
    state = seeded_state_dict(model, CLIP_VISION_SEED, torch.float16)
    save_file(state, str(path), metadata={**TINY_METADATA, "config": json.dumps(VIT_H_CONFIG)})


BUILDERS = {"clip_vision_h": build_clip_vision_h}
