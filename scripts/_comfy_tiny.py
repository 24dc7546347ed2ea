"""ComfyUI's own model classes built in memory for the identity tests and benchmark: an SD 1.5 MODEL of the agreed tiny
UNet config and a CLIP_VISION of ViT-H's widths, with seeded random weights.

ComfyUI detects the UNet as SD 1.5 (`load_diffusion_model_state_dict`); the CLIP vision is ComfyUI's ClipVisionModel
from a config with ViT-H's widths (image_embeds 1024, hidden 1280) but two layers and 28x28 input, so it costs
seconds, not the full ViT-H's 632M parameters. Call `import_comfyui` (or run under tests/native's `comfy` fixture)
first.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

SMALL_VIT_H = {"attention_dropout": 0.0, "dropout": 0.0, "hidden_act": "gelu", "hidden_size": 1280, "image_size": 28,
               "initializer_factor": 1.0, "initializer_range": 0.02, "intermediate_size": 1280, "layer_norm_eps": 1e-5,
               "model_type": "clip_vision_model", "num_attention_heads": 16, "num_channels": 3,
               "num_hidden_layers": 2, "patch_size": 14, "projection_dim": 1024, "torch_dtype": "float32"}


def import_comfyui(comfyui_dir: Path, base: Path) -> None:
    """Import ComfyUI from `comfyui_dir` into this process on the CPU, its base directory `base`."""
    sys.path.insert(0, str(Path(comfyui_dir).resolve()))
    from comfy.cli_args import args  # parses no argv: comfy.options.args_parsing is off outside main.py

    args.cpu = True
    args.base_directory = str(base)
    import comfy.model_management  # noqa: F401
    import folder_paths  # noqa: F401
    import nodes  # noqa: F401


def randomised_state(module: torch.nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Seeded weights for a module built with ComfyUI's uninitialised ops: matrices ~ N(0, 1/fan_in), norm weights 1,
    biases 0."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for name, value in module.state_dict().items():
        if value.ndim > 1:
            state[name] = torch.randn(value.shape, generator=generator) * int(np.prod(value.shape[1:])) ** -0.5
        elif name.endswith("weight"):
            state[name] = torch.ones(value.shape)
        else:
            state[name] = torch.zeros(value.shape) if value.is_floating_point() else value
    return state


def tiny_unet(config: dict, seed: int = 11):
    """A ComfyUI MODEL (ModelPatcher) of the LDM UNet `config` (core.tiny.identity.TINY_UNET_CONFIG's keys)."""
    import comfy.ops
    import comfy.sd
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    levels = len(config["channel_mult"])
    network = UNetModel(
        image_size=32, in_channels=config["in_channels"], out_channels=config["out_channels"],
        model_channels=config["model_channels"], num_res_blocks=[config["num_res_blocks"]] * levels,
        channel_mult=config["channel_mult"], transformer_depth=[1] * levels,
        transformer_depth_output=[1] * (levels * (config["num_res_blocks"] + 1)), transformer_depth_middle=1,
        context_dim=config["context_dim"], num_heads=config["num_heads"], use_spatial_transformer=True,
        use_linear_in_transformer=config["use_linear_in_transformer"], legacy=False,
        operations=comfy.ops.disable_weight_init,
    )
    return comfy.sd.load_diffusion_model_state_dict(randomised_state(network, seed))


def small_clip_vision(folder: Path, seed: int = 12):
    """ComfyUI's ClipVisionModel with ViT-H's widths (SMALL_VIT_H), its config written to `folder`."""
    import comfy.clip_vision

    path = Path(folder) / "small_vit_h.json"
    path.write_text(json.dumps(SMALL_VIT_H))
    encoder = comfy.clip_vision.ClipVisionModel(str(path))
    missing, unexpected = encoder.load_sd(randomised_state(encoder.model, seed))
    if missing or unexpected:
        raise RuntimeError(f"CLIP vision state mismatch: missing {missing}, unexpected {unexpected}")
    return encoder
