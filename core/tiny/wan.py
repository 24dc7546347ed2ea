"""Wan 2.2 TI2V 5B stand-ins in ComfyUI's own file layouts: a tiny DiT and the Wan 2.2 VAE at its fixed size.

The keys and shapes are written out here from ComfyUI 0.3.64's `comfy/ldm/wan/model.py` (WanModel) and
`comfy/ldm/wan/vae2_2.py` (WanVAE): the pack's core never imports ComfyUI, and tests/native/test_wan.py proves that
UNETLoader and VAELoader place every key.

- The DiT keeps what ComfyUI's detection reads (48 latent channels in and out: Wan 2.2 5B, `WAN22_T2V`; `dim` a
  multiple of 128, since it sets `num_heads = dim // 128`; text_dim 4096 for umt5-xxl's CONDITIONING) and shrinks the
  rest to one block of width 128: 0.94 M parameters.
- VAELoader builds the Wan 2.2 VAE from a fixed config whatever the file holds, so its stand-in is the full 704.7 M
  parameters (1.4 GB in fp16), built once into the tiny-model cache.

umt5-xxl, Wan's text encoder, has no stand-in: CLIPLoader of type `wan` always builds it at 5.7 B parameters.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..tiny_marker import TINY_METADATA
from .weights import uniform_fan_in

# The tiny DiT (comfy.ldm.wan.model.WanModel arguments; patch (1, 2, 2) as in Wan 2.2 5B).
WAN22_TINY_DIT = {"dim": 128, "ffn_dim": 256, "num_layers": 1, "in_dim": 48, "out_dim": 48, "text_dim": 4096,
                  "freq_dim": 256, "patch_size": (1, 2, 2)}
# The Wan 2.2 VAE as ComfyUI's VAELoader builds it (comfy/sd.py; dec_dim is WanVAE's default).
WAN22_VAE = {"dim": 160, "dec_dim": 256, "z_dim": 48, "dim_mult": (1, 2, 4, 4), "num_res_blocks": 2,
             "temporal_downsample": (False, True, True)}
VAE_PATCH_CHANNELS = 3 * 2 * 2  # the VAE folds 2x2 pixel patches into channels before its first conv
WAN22_DIT_SEED = 2201
WAN22_VAE_SEED = 2202


class _Weights:
    """A state dict drawn layer by layer from one generator, the way torch initialises each layer kind."""

    def __init__(self, seed: int, dtype: torch.dtype) -> None:
        self.generator = torch.Generator().manual_seed(seed)
        self.dtype = dtype
        self.state: dict[str, torch.Tensor] = {}

    def layer(self, name: str, *weight_shape: int) -> None:
        """A Linear or Conv: `name.weight` of `weight_shape` and `name.bias`, uniform in +-1/sqrt(fan_in)."""
        for leaf, shape in (("weight", weight_shape), ("bias", weight_shape[:1])):
            self.state[f"{name}.{leaf}"] = uniform_fan_in(shape, weight_shape, self.generator).to(self.dtype)

    def scale(self, name: str, *shape: int) -> None:
        """A norm's scale: ones."""
        self.state[name] = torch.ones(shape, dtype=self.dtype)

    def shift(self, name: str, *shape: int) -> None:
        """A norm's shift: zeros."""
        self.state[name] = torch.zeros(shape, dtype=self.dtype)

    def normal(self, name: str, *shape: int) -> None:
        """A free parameter (the adaLN modulation tables): normal with std 0.02."""
        self.state[name] = (torch.randn(shape, generator=self.generator) * 0.02).to(self.dtype)


def wan22_dit_state_dict(config: dict = WAN22_TINY_DIT, seed: int = WAN22_DIT_SEED,
                         dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """A Wan DiT's state dict (t2v layout: qk norm, cross-attention norm), keys as UNETLoader reads them."""
    dim, patch = config["dim"], config["patch_size"]
    w = _Weights(seed, dtype)
    w.layer("patch_embedding", dim, config["in_dim"], *patch)
    w.layer("text_embedding.0", dim, config["text_dim"])
    w.layer("text_embedding.2", dim, dim)
    w.layer("time_embedding.0", dim, config["freq_dim"])
    w.layer("time_embedding.2", dim, dim)
    w.layer("time_projection.1", 6 * dim, dim)
    for index in range(config["num_layers"]):
        block = f"blocks.{index}"
        w.normal(f"{block}.modulation", 1, 6, dim)
        for attention in ("self_attn", "cross_attn"):
            for projection in "qkvo":
                w.layer(f"{block}.{attention}.{projection}", dim, dim)
            w.scale(f"{block}.{attention}.norm_q.weight", dim)
            w.scale(f"{block}.{attention}.norm_k.weight", dim)
        w.scale(f"{block}.norm3.weight", dim)
        w.shift(f"{block}.norm3.bias", dim)
        w.layer(f"{block}.ffn.0", config["ffn_dim"], dim)
        w.layer(f"{block}.ffn.2", dim, config["ffn_dim"])
    w.normal("head.modulation", 1, 2, dim)
    w.layer("head.head", config["out_dim"] * patch[0] * patch[1] * patch[2], dim)
    return w.state


def _residual_block(w: _Weights, name: str, in_dim: int, out_dim: int) -> None:
    """vae2_2.ResidualBlock: RMS norm, 3x3x3 conv, RMS norm, 3x3x3 conv, and a 1x1x1 shortcut when widths differ."""
    w.scale(f"{name}.residual.0.gamma", in_dim, 1, 1, 1)
    w.layer(f"{name}.residual.2", out_dim, in_dim, 3, 3, 3)
    w.scale(f"{name}.residual.3.gamma", out_dim, 1, 1, 1)
    w.layer(f"{name}.residual.6", out_dim, out_dim, 3, 3, 3)
    if in_dim != out_dim:
        w.layer(f"{name}.shortcut", out_dim, in_dim, 1, 1, 1)


def _middle(w: _Weights, name: str, width: int) -> None:
    """Residual block, single-head spatial attention, residual block."""
    _residual_block(w, f"{name}.0", width, width)
    w.scale(f"{name}.1.norm.gamma", width, 1, 1)
    w.layer(f"{name}.1.to_qkv", 3 * width, width, 1, 1)
    w.layer(f"{name}.1.proj", width, width, 1, 1)
    _residual_block(w, f"{name}.2", width, width)


def wan22_vae_state_dict(config: dict = WAN22_VAE, seed: int = WAN22_VAE_SEED,
                         dtype: torch.dtype = torch.float16) -> dict[str, torch.Tensor]:
    """The Wan 2.2 VAE's state dict (encoder, the two 1x1x1 latent convs, decoder), keys as VAELoader reads them."""
    w = _Weights(seed, dtype)
    stages, blocks, z_dim = len(config["dim_mult"]), config["num_res_blocks"], config["z_dim"]

    widths = [config["dim"] * scale for scale in (1, *config["dim_mult"])]
    w.layer("encoder.conv1", widths[0], VAE_PATCH_CHANNELS, 3, 3, 3)
    for stage in range(stages):
        name, in_dim, out_dim = f"encoder.downsamples.{stage}.downsamples", widths[stage], widths[stage + 1]
        for index in range(blocks):
            _residual_block(w, f"{name}.{index}", in_dim if index == 0 else out_dim, out_dim)
        if stage < stages - 1:  # a 2x spatial down-sample, with a 2x temporal one where configured
            w.layer(f"{name}.{blocks}.resample.1", out_dim, out_dim, 3, 3)
            if config["temporal_downsample"][stage]:
                w.layer(f"{name}.{blocks}.time_conv", out_dim, out_dim, 3, 1, 1)
    _middle(w, "encoder.middle", widths[-1])
    w.scale("encoder.head.0.gamma", widths[-1], 1, 1, 1)
    w.layer("encoder.head.2", 2 * z_dim, widths[-1], 3, 3, 3)  # mean and log-variance
    w.layer("conv1", 2 * z_dim, 2 * z_dim, 1, 1, 1)
    w.layer("conv2", z_dim, z_dim, 1, 1, 1)

    scales = config["dim_mult"][::-1]
    widths = [config["dec_dim"] * scale for scale in (scales[0], *scales)]
    temporal_upsample = config["temporal_downsample"][::-1]
    w.layer("decoder.conv1", widths[0], z_dim, 3, 3, 3)
    _middle(w, "decoder.middle", widths[0])
    for stage in range(stages):
        name, in_dim, out_dim = f"decoder.upsamples.{stage}.upsamples", widths[stage], widths[stage + 1]
        for index in range(blocks + 1):
            _residual_block(w, f"{name}.{index}", in_dim if index == 0 else out_dim, out_dim)
        if stage < stages - 1:  # a 2x spatial up-sample; a temporal one doubles the channels, then splits them
            w.layer(f"{name}.{blocks + 1}.resample.1", out_dim, out_dim, 3, 3)
            if temporal_upsample[stage]:
                w.layer(f"{name}.{blocks + 1}.time_conv", 2 * out_dim, out_dim, 3, 1, 1)
    w.scale("decoder.head.0.gamma", widths[-1], 1, 1, 1)
    w.layer("decoder.head.2", VAE_PATCH_CHANNELS, widths[-1], 3, 3, 3)
    return w.state


def build_wan22_dit(path: Path) -> None:
    """The tiny Wan 2.2 5B DiT (diffusion_models), fp16."""
    from safetensors.torch import save_file

    save_file(wan22_dit_state_dict(), str(path), metadata=dict(TINY_METADATA))


def build_wan22_vae(path: Path) -> None:
    """The Wan 2.2 VAE at its fixed size (vae), random, fp16."""
    from safetensors.torch import save_file

    save_file(wan22_vae_state_dict(), str(path), metadata=dict(TINY_METADATA))


BUILDERS = {"wan22_ti2v_5b": build_wan22_dit, "wan22_vae": build_wan22_vae}
