"""Tiny stand-ins for the stylizer that ComfyUI's own loaders accept as SD 1.5: a checkpoint, a scribble ControlNet and a
LoRA in two formats, all drawn from fixed seeds.

ComfyUI recognises an SD 1.5 checkpoint by its UNet's `model_channels` 320 and `context_dim` 768 and builds the
text encoder and VAE from fixed configs, so those two are full size (CLIP-L, the SD VAE) and the UNet is SD 1.5 cut to
two levels with one res block each (`TINY_UNET_CONFIG`, 80M parameters). Every file is written in the on-disk layout
users have for the real model, so that the loaders' real code paths run:

- `sd15`: one original-layout (LDM) `.safetensors`, fp16 like the pruned releases: `model.diffusion_model.*` (UNet),
  `first_stage_model.*` (VAE), `cond_stage_model.transformer.text_model.*` (CLIP-L text encoder, real vocabulary).
- `controlnet_scribble`: a ControlNet 1.1 single file (bare LDM keys: `input_blocks.*`, `zero_convs.*`,
  `input_hint_block.*`, `middle_block_out.*`) made for that UNet. Its zero-convs are random: zero ones would make every
  ControlNet test pass trivially.
- `lora_pokemon`: a diffusers/PEFT-format LoRA (`unet.<diffusers module>.lora_A.weight`, ...), the real file's
  format; next to it the builder writes `KOHYA_LORA_FILENAME`, the same low-rank update in kohya format (`lora_unet_*`,
  `lora_te_*`, `.alpha`), alpha folded into the PEFT up matrices so that both files change the same layers equally.

The files carry `TINY_METADATA`. 64x64 images give 8x8 latents.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from ..tiny_marker import TINY_METADATA
from .weights import on_meta, seeded_state_dict

KOHYA_LORA_FILENAME = "longform-tiny-lora-kohya.safetensors"
LORA_RANK = 4
LORA_ALPHA = 2.0
STORAGE_DTYPE = torch.float16

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX = "cond_stage_model.transformer."

# The UNet in ComfyUI's (LDM) terms. Cross-attention (attn2) sits in input_blocks 1 (320 ch) and 3 (640 ch), the
# middle block, and output_blocks 0, 1 (640 ch) and 2, 3 (320 ch): `TINY_UNET_ATTN2`.
TINY_UNET_CONFIG = {
    "in_channels": 4,
    "out_channels": 4,
    "model_channels": 320,
    "channel_mult": [1, 2],
    "num_res_blocks": 1,
    "transformer_depth": 1,
    "context_dim": 768,
    "num_heads": 8,
    "use_linear_in_transformer": False,
}
# (block, index) as ComfyUI's attention patches name them (`set_model_attn2_replace(patch, block, index)`), with the
# block's width.
TINY_UNET_ATTN2 = (
    ("input", 1, 320), ("input", 3, 640), ("middle", 0, 640),
    ("output", 0, 640), ("output", 1, 640), ("output", 2, 320), ("output", 3, 320),
)
# The same UNet as diffusers builds it (block_out_channels = model_channels x channel_mult).
TINY_UNET_DIFFUSERS_CONFIG = {
    "sample_size": 8,
    "in_channels": TINY_UNET_CONFIG["in_channels"],
    "out_channels": TINY_UNET_CONFIG["out_channels"],
    "block_out_channels": [TINY_UNET_CONFIG["model_channels"] * m for m in TINY_UNET_CONFIG["channel_mult"]],
    "layers_per_block": TINY_UNET_CONFIG["num_res_blocks"],
    "down_block_types": ["CrossAttnDownBlock2D"] * len(TINY_UNET_CONFIG["channel_mult"]),
    "up_block_types": ["CrossAttnUpBlock2D"] * len(TINY_UNET_CONFIG["channel_mult"]),
    "cross_attention_dim": TINY_UNET_CONFIG["context_dim"],
    "attention_head_dim": TINY_UNET_CONFIG["num_heads"],  # diffusers' SD 1.5 name for the head count
    "norm_num_groups": 32,
}
# The SD 1.5 VAE and CLIP-L text encoder, full size: ComfyUI builds both from fixed configs.
TINY_VAE_CONFIG = {
    "sample_size": 512,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
}
TINY_TEXT_CONFIG = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "projection_dim": 768,
    "hidden_act": "quick_gelu",
    "bos_token_id": 49406,
    "eos_token_id": 49407,
    "pad_token_id": 49407,
}
# ControlNet 1.1's hint encoder (1/8 of the image, like the latent).
TINY_HINT_CHANNELS = (16, 32, 96, 256)


# ----------------------------------------------------------------------------------------- diffusers -> original keys

_RESNET_TO_LDM = {
    "norm1": "in_layers.0",
    "conv1": "in_layers.2",
    "time_emb_proj": "emb_layers.1",
    "norm2": "out_layers.0",
    "conv2": "out_layers.3",
    "conv_shortcut": "skip_connection",
}
_UNET_FIXED_TO_LDM = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
    "controlnet_mid_block": "middle_block_out.0",
    "controlnet_cond_embedding.conv_in": "input_hint_block.0",
    "controlnet_cond_embedding.conv_out": "input_hint_block.14",
}


def _resnet_to_ldm(rest: str) -> str:
    layer, _, param = rest.partition(".")
    return f"{_RESNET_TO_LDM[layer]}.{param}"


def unet_key_to_ldm(key: str, layers_per_block: int, up_has_attention: list[bool]) -> str:
    """A diffusers UNet / ControlNet state-dict key under its original (LDM) name."""
    module, _, param = key.rpartition(".")
    if module in _UNET_FIXED_TO_LDM:
        return f"{_UNET_FIXED_TO_LDM[module]}.{param}"
    if match := re.fullmatch(r"controlnet_down_blocks\.(\d+)\.(\w+)", key):
        return f"zero_convs.{match[1]}.0.{match[2]}"
    if match := re.fullmatch(r"controlnet_cond_embedding\.blocks\.(\d+)\.(\w+)", key):
        return f"input_hint_block.{2 * int(match[1]) + 2}.{match[2]}"
    if match := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions|downsamplers)\.(\d+)\.(.+)", key):
        block, kind, layer, rest = int(match[1]), match[2], int(match[3]), match[4]
        first = 1 + block * (layers_per_block + 1)
        if kind == "downsamplers":
            return f"input_blocks.{first + layers_per_block}.0.op.{rest.removeprefix('conv.')}"
        if kind == "resnets":
            return f"input_blocks.{first + layer}.0.{_resnet_to_ldm(rest)}"
        return f"input_blocks.{first + layer}.1.{rest}"
    if match := re.fullmatch(r"mid_block\.(resnets|attentions)\.(\d+)\.(.+)", key):
        kind, layer, rest = match[1], int(match[2]), match[3]
        if kind == "resnets":
            return f"middle_block.{2 * layer}.{_resnet_to_ldm(rest)}"
        return f"middle_block.1.{rest}"
    if match := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions|upsamplers)\.(\d+)\.(.+)", key):
        block, kind, layer, rest = int(match[1]), match[2], int(match[3]), match[4]
        first = block * (layers_per_block + 1)
        if kind == "upsamplers":
            return f"output_blocks.{first + layers_per_block}.{2 if up_has_attention[block] else 1}.{rest}"
        if kind == "resnets":
            return f"output_blocks.{first + layer}.0.{_resnet_to_ldm(rest)}"
        return f"output_blocks.{first + layer}.1.{rest}"
    raise KeyError(f"No original-layout name for UNet key '{key}'.")


_VAE_ATTENTION_TO_LDM = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_key_to_ldm(key: str, num_blocks: int) -> str:
    """A diffusers AutoencoderKL key under its original (LDM) name."""
    key = key.replace("conv_norm_out", "norm_out").replace("conv_shortcut", "nin_shortcut")
    if match := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.(resnets|downsamplers)\.(\d+)\.(.+)", key):
        name = "block" if match[2] == "resnets" else "downsample"
        index = f".{match[3]}" if name == "block" else ""
        return f"encoder.down.{match[1]}.{name}{index}.{match[4]}"
    if match := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.(.+)", key):
        level = num_blocks - 1 - int(match[1])  # the original decoder counts its levels from the bottom
        name = "block" if match[2] == "resnets" else "upsample"
        index = f".{match[3]}" if name == "block" else ""
        return f"decoder.up.{level}.{name}{index}.{match[4]}"
    if match := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"{match[1]}.mid.block_{int(match[2]) + 1}.{match[3]}"
    if match := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)\.(weight|bias)", key):
        return f"{match[1]}.mid.attn_1.{_VAE_ATTENTION_TO_LDM[match[2]]}.{match[3]}"
    return key


def _to_ldm_unet(state: dict[str, torch.Tensor], layers_per_block: int, prefix: str) -> dict[str, torch.Tensor]:
    up_has_attention = [
        any(k.startswith(f"up_blocks.{b}.attentions.") for k in state)
        for b in range(1 + max((int(k.split(".")[1]) for k in state if k.startswith("up_blocks.")), default=-1))
    ]
    return {prefix + unet_key_to_ldm(k, layers_per_block, up_has_attention): v for k, v in state.items()}


def _to_ldm_vae(state: dict[str, torch.Tensor], num_blocks: int) -> dict[str, torch.Tensor]:
    converted = {}
    for key, value in state.items():
        new_key = vae_key_to_ldm(key, num_blocks)
        if ".mid.attn_1." in new_key and new_key.endswith(".weight") and value.ndim == 2:
            value = value[:, :, None, None]  # the original attention projections are 1x1 convolutions
        converted[VAE_PREFIX + new_key] = value
    return converted


def _to_ldm_text(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    # transformers >= 5.6 drops the `text_model.` prefix from CLIPTextModel's state dict; the file always has it.
    return {
        TEXT_PREFIX + (k if k.startswith("text_model.") else f"text_model.{k}"): v
        for k, v in state.items()
        if not k.endswith("position_ids")
    }


# ------------------------------------------------------------------------------------------------------- the models

SD15_SEED = 1500
CONTROLNET_SEED = 1101
LORA_SEED = 4242


def _empty_sd15_components() -> dict:
    """The UNet, VAE and text encoder (diffusers / transformers objects) with their parameters on the meta device."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    return on_meta(lambda: {
        "unet": UNet2DConditionModel(**TINY_UNET_DIFFUSERS_CONFIG),
        "vae": AutoencoderKL(**TINY_VAE_CONFIG),
        "text_encoder": CLIPTextModel(CLIPTextConfig(**TINY_TEXT_CONFIG)),
    })


def _empty_controlnet():
    from diffusers import ControlNetModel

    unet_args = ("in_channels", "block_out_channels", "layers_per_block", "cross_attention_dim", "attention_head_dim",
                 "norm_num_groups")
    return on_meta(lambda: ControlNetModel(
        down_block_types=["CrossAttnDownBlock2D"] * len(TINY_UNET_CONFIG["channel_mult"]),
        conditioning_embedding_out_channels=TINY_HINT_CHANNELS,
        **{name: TINY_UNET_DIFFUSERS_CONFIG[name] for name in unet_args},
    ))


def _sd15_states(seed: int = SD15_SEED) -> tuple[dict, dict[str, dict[str, torch.Tensor]]]:
    parts = _empty_sd15_components()
    return parts, {name: seeded_state_dict(model, seed + i, STORAGE_DTYPE) for i, (name, model) in enumerate(parts.items())}


def _save(tensors: dict[str, torch.Tensor], path: Path) -> None:
    from safetensors.torch import save_file

    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(path), metadata=dict(TINY_METADATA))


def build_sd15(path: Path) -> None:
    """The SD 1.5 stand-in checkpoint in the original single-file layout, fp16."""
    _, states = _sd15_states()
    tensors = {
        **_to_ldm_unet(states["unet"], TINY_UNET_CONFIG["num_res_blocks"], UNET_PREFIX),
        **_to_ldm_vae(states["vae"], len(TINY_VAE_CONFIG["block_out_channels"])),
        **_to_ldm_text(states["text_encoder"]),
    }
    _save(tensors, path)


def build_controlnet_scribble(path: Path) -> None:
    """The scribble ControlNet stand-in: a ControlNet 1.1 single file (bare keys), fp16, zero-convs random."""
    controlnet = _empty_controlnet()
    state = seeded_state_dict(controlnet, CONTROLNET_SEED, STORAGE_DTYPE)
    tensors = _to_ldm_unet(state, TINY_UNET_CONFIG["num_res_blocks"], prefix="")
    _save(tensors, path)


def _lora_targets() -> dict[str, tuple[int, int]]:
    """The layers the LoRA adapts, `unet.<module>` / `text_encoder.<module>` -> (in, out) features."""
    parts = _empty_sd15_components()
    targets = {}
    for prefix, suffixes in (
        ("unet", (".to_q", ".to_k", ".to_v", ".to_out.0")),
        ("text_encoder", (".q_proj", ".k_proj", ".v_proj", ".out_proj")),
    ):
        for name, module in parts[prefix].named_modules():
            if isinstance(module, torch.nn.Linear) and name.endswith(suffixes):
                name = name if prefix == "unet" or name.startswith("text_model.") else f"text_model.{name}"
                targets[f"{prefix}.{name}"] = (module.in_features, module.out_features)
    return targets


def build_lora_pokemon(path: Path) -> None:
    """A diffusers/PEFT-format LoRA at `path` (the real file's format) and the same update in kohya format beside."""
    generator = torch.Generator().manual_seed(LORA_SEED)
    kohya, peft = {}, {}
    for name, (in_features, out_features) in _lora_targets().items():
        down = torch.randn(LORA_RANK, in_features, generator=generator) * in_features**-0.5
        up = torch.randn(out_features, LORA_RANK, generator=generator) * LORA_RANK**-0.5
        tower, _, module = name.partition(".")
        kohya_name = ("lora_unet_" if tower == "unet" else "lora_te_") + module.replace(".", "_")
        kohya[f"{kohya_name}.lora_down.weight"] = down
        kohya[f"{kohya_name}.lora_up.weight"] = up
        kohya[f"{kohya_name}.alpha"] = torch.tensor(LORA_ALPHA)
        # PEFT files without alpha are applied at scale 1: fold kohya's alpha / rank into the up matrix.
        peft[f"{name}.lora_A.weight"] = down
        peft[f"{name}.lora_B.weight"] = up * (LORA_ALPHA / LORA_RANK)
    _save(peft, path)
    _save(kohya, path.parent / KOHYA_LORA_FILENAME)


BUILDERS = {
    "sd15": build_sd15,
    "controlnet_scribble": build_controlnet_scribble,
    "lora_pokemon": build_lora_pokemon,
}
