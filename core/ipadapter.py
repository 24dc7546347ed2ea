"""IP-Adapter for SD 1.5 as attention maths: the published files, their image projections and the decoupled
cross-attention that adds the reference's tokens to every cross-attention (attn2) layer of the UNet.

Three variants, told apart by the shapes of the weights (never by the file name):
- base ("ip-adapter_sd15"): CLIP image embedding -> 4 tokens (`image_proj.proj`, `image_proj.norm`);
- plus ("ip-adapter-plus_sd15"): a perceiver resampler over CLIP's penultimate hidden states (`image_proj.latents`);
- faceid ("ip-adapter-faceid_sd15.bin"): an MLP from the 512-d insightface (ArcFace) embedding -> 4 tokens
  (`image_proj.proj.0/2`, `image_proj.norm`), plus a LoRA on every attention layer (`ip_adapter.{k}.to_*_lora`).

In the published layout `ip_adapter.{k}.to_k_ip/to_v_ip` counts k over all of the UNet's attention processors from
0 in diffusers' order (down blocks, up blocks, then the middle block; attn1 before attn2), so cross-attention layers
get odd numbers. ComfyUI's UNet calls these blocks input, output and middle: `attn2_layout` walks them in that order.

Nothing here imports ComfyUI: the attention function and the sigma window are handed in (core/comfy_ipadapter.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

VARIANTS = ("base", "plus", "faceid")
SDXL_CROSS_ATTENTION_DIM = 2048
RESAMPLER_HEAD_DIM = 64  # the published resampler's head width: heads = to_q rows // 64
LORA_TARGETS = {"to_q": "to_q", "to_k": "to_k", "to_v": "to_v", "to_out": "to_out.0"}

# attention(q, k, v, heads, extra_options) -> [batch, tokens, heads * head_dim]; ComfyUI's optimized attention in the
# host, `scaled_attention` below elsewhere.
Attention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int, dict], torch.Tensor]


# ------------------------------------------------------------------------------------------------------ adapter files


@dataclass(frozen=True)
class AdapterFile:
    """An IP-Adapter file split as published: `image_proj` and the attention layers, its variant read from shapes."""

    name: str
    variant: str
    image_proj: dict[str, torch.Tensor]
    ip_layers: dict[str, torch.Tensor]  # "{k}.to_k_ip.weight" / "{k}.to_v_ip.weight"
    lora: dict[str, torch.Tensor]  # FaceID only: "{k}.to_q_lora.down.weight", ...
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def cross_attention_dim(self) -> int:
        """The width of the tokens the adapter's to_k_ip/to_v_ip read (the UNet's text width it was trained for)."""
        return int(next(v for k, v in self.ip_layers.items() if k.endswith(".to_k_ip.weight")).shape[1])

    @property
    def token_width(self) -> int:
        """The width of the tokens the image projection makes."""
        if self.variant == "plus":
            return int(self.image_proj["proj_out.weight"].shape[0])
        return int(self.image_proj["norm.weight"].shape[0])

    @property
    def input_width(self) -> int:
        """The width of the features the projection reads: CLIP image_embeds (base), CLIP penultimate hidden states
        (plus) or the face embedding (FaceID)."""
        key = {"base": "proj.weight", "plus": "proj_in.weight", "faceid": "proj.0.weight"}[self.variant]
        return int(self.image_proj[key].shape[1])

    @property
    def layer_numbers(self) -> list[int]:
        """The processor numbers k that carry to_k_ip / to_v_ip (odd: the cross-attention layers)."""
        return sorted(int(k.split(".")[0]) for k in self.ip_layers if k.endswith(".to_k_ip.weight"))


def detect_variant(image_proj: dict[str, torch.Tensor], name: str = "") -> str:
    """'base', 'plus' or 'faceid' from the keys and shapes of `image_proj`; ValueError for anything else."""
    if "latents" in image_proj and "proj_in.weight" in image_proj:
        return "plus"
    if "perceiver_resampler.proj_in.weight" in image_proj:
        raise ValueError(
            f"IP-Adapter file '{name}' is FaceID Plus (a resampler over face + CLIP features), which this pack does "
            "not support. Use ip-adapter-faceid_sd15.bin, ip-adapter_sd15 or ip-adapter-plus_sd15."
        )
    if {"proj.0.weight", "proj.2.weight", "norm.weight"} <= image_proj.keys():
        return "faceid"
    if "proj.weight" in image_proj and "norm.weight" in image_proj:
        return "base"
    raise ValueError(
        f"IP-Adapter file '{name}' has an image projection this pack does not know "
        f"(keys: {', '.join(sorted(image_proj)[:6])}...). Supported: ip-adapter_sd15, ip-adapter-plus_sd15, "
        "ip-adapter-faceid_sd15."
    )


def _read_state(path: Path) -> tuple[dict, dict, dict[str, str]]:
    """(image_proj, ip_adapter, metadata) of a .safetensors (flat `image_proj.*` keys) or .bin (nested dicts), read
    through the pack's checked model-file readers."""
    from .model_files import load_pickle, load_safetensors

    if path.suffix == ".safetensors":
        state, metadata = load_safetensors(path, "ipadapter")
        image_proj = {k.removeprefix("image_proj."): v for k, v in state.items() if k.startswith("image_proj.")}
        layers = {k.removeprefix("ip_adapter."): v for k, v in state.items() if k.startswith("ip_adapter.")}
        return image_proj, layers, metadata
    if path.suffix in (".bin", ".pt", ".pth"):
        data = load_pickle(path, "ipadapter")
        if not isinstance(data, dict):
            return {}, {}, {}
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        return dict(data.get("image_proj", {})), dict(data.get("ip_adapter", {})), metadata
    raise ValueError(f"'ipadapter': '{path.name}' is neither .safetensors nor .bin. Choose an IP-Adapter weights file.")


def read_adapter(path: Path) -> AdapterFile:
    """Read the IP-Adapter file at `path` and tell its variant from the shapes."""
    image_proj, layers, metadata = _read_state(path)
    if not image_proj or not any(k.endswith(".to_k_ip.weight") for k in layers):
        raise ValueError(
            f"'ipadapter': '{path.name}' is not an IP-Adapter file (no image_proj.* and ip_adapter.*.to_k_ip "
            "weights). Choose ip-adapter_sd15, ip-adapter-plus_sd15 or ip-adapter-faceid_sd15."
        )
    return AdapterFile(
        name=path.name,
        variant=detect_variant(image_proj, path.name),
        image_proj=image_proj,
        ip_layers={k: v for k, v in layers.items() if "_ip." in k},
        lora={k: v for k, v in layers.items() if "_lora." in k},
        metadata=dict(metadata),
    )


# ---------------------------------------------------------------------------------------------------- the UNet's layers


@dataclass(frozen=True)
class Attn2Layer:
    """One transformer block of an SD UNet, as ComfyUI names it and as the IP-Adapter files number it."""

    block: str  # "input", "middle" or "output" (ComfyUI's transformer_options["block"][0])
    index: int  # the block's index (transformer_options["block"][1])
    transformer_index: int  # the transformer block inside it
    path: str  # module path under the diffusion model, e.g. "input_blocks.1.1.transformer_blocks.0"
    hidden: int  # attention width
    cross: int  # the context's width (the text encoder's)
    number: int  # n-th transformer block in the published order: attn1 is processor 2n, attn2 processor 2n + 1

    @property
    def ip_key(self) -> int:
        """k of `ip_adapter.{k}.to_k_ip` for this layer's cross-attention."""
        return 2 * self.number + 1


def attn2_layout(diffusion_model: nn.Module) -> list[Attn2Layer]:
    """Every transformer block with a cross-attention of an LDM-layout UNet (ComfyUI's `UNetModel`), numbered as the
    published IP-Adapter files count them: input blocks, then output blocks, then the middle block."""
    found: list[tuple[str, int, int, str, nn.Module]] = []
    for block, container in (("input", "input_blocks"), ("output", "output_blocks"), ("middle", "middle_block")):
        blocks = getattr(diffusion_model, container)
        for index, child in ([(0, blocks)] if block == "middle" else enumerate(blocks)):
            prefix = container if block == "middle" else f"{container}.{index}"
            transformer = 0
            for name, module in child.named_modules():
                if getattr(module, "attn2", None) is not None and hasattr(module, "attn1"):
                    found.append((block, index, transformer, f"{prefix}.{name}", module))
                    transformer += 1
    return [
        Attn2Layer(block, index, t, path, int(module.attn2.to_k.out_features), int(module.attn2.to_k.in_features), n)
        for n, (block, index, t, path, module) in enumerate(found)
    ]


def layout_from_config(config: dict) -> list[tuple[int, int, int]]:
    """(k, hidden, cross) of every cross-attention of an SD 1.5-style LDM UNet config (`model_channels`,
    `channel_mult`, `num_res_blocks`, `context_dim`, attention at the levels whose downsampling factor is in
    `attention_resolutions`, every level when absent, and in the middle block), in the published numbering."""
    mults = list(config["channel_mult"])
    res_blocks = config["num_res_blocks"]
    res_blocks = [res_blocks] * len(mults) if isinstance(res_blocks, int) else list(res_blocks)
    attention = set(config.get("attention_resolutions", [2**level for level in range(len(mults))]))
    width, cross = int(config["model_channels"]), int(config["context_dim"])
    hidden = []
    for level, mult in enumerate(mults):
        hidden += [width * mult] * res_blocks[level] * (2**level in attention)
    for level, mult in reversed(list(enumerate(mults))):
        hidden += [width * mult] * (res_blocks[level] + 1) * (2**level in attention)
    hidden.append(width * mults[-1])
    return [(2 * n + 1, size, cross) for n, size in enumerate(hidden)]


def check_adapter_fits(adapter: AdapterFile, layout: list[Attn2Layer]) -> None:
    """Raise ValueError when the adapter was made for another UNet (SDXL, or another layer layout)."""
    unet_cross = layout[0].cross
    widths = {adapter.cross_attention_dim, adapter.token_width}
    if SDXL_CROSS_ATTENTION_DIM in widths and unet_cross != SDXL_CROSS_ATTENTION_DIM:
        raise ValueError(
            f"'ipadapter': '{adapter.name}' is an SDXL IP-Adapter (cross-attention width {SDXL_CROSS_ATTENTION_DIM}) "
            f"but the model is SD 1.5 (width {unet_cross}). Use an SD 1.5 IP-Adapter: ip-adapter_sd15.safetensors, "
            "ip-adapter-plus_sd15.safetensors or ip-adapter-faceid_sd15.bin."
        )
    if widths != {unet_cross}:
        raise ValueError(
            f"'ipadapter': '{adapter.name}' makes tokens {sorted(widths)} wide but the model's cross-attention is "
            f"{unet_cross} wide: the adapter was made for another base model."
        )
    if adapter.layer_numbers != [layer.ip_key for layer in layout]:
        raise ValueError(
            f"'ipadapter': '{adapter.name}' has IP layers {adapter.layer_numbers} but the model's cross-attention "
            f"layers are {[layer.ip_key for layer in layout]}: use an IP-Adapter made for this base model."
        )
    for layer in layout:
        weight = adapter.ip_layers[f"{layer.ip_key}.to_k_ip.weight"]
        if tuple(weight.shape) != (layer.hidden, layer.cross):
            raise ValueError(
                f"'ipadapter': '{adapter.name}' does not fit the model: attention layer {layer.ip_key} needs to_k_ip "
                f"of shape {(layer.hidden, layer.cross)}, the file has {tuple(weight.shape)}. Use an IP-Adapter made "
                "for this base model."
            )


def lora_deltas(adapter: AdapterFile, layout: list[Attn2Layer]) -> dict[str, torch.Tensor]:
    """FaceID's LoRA as weight deltas `up @ down` keyed by the UNet's LDM weight names (`diffusion_model.` prefix).

    Processor 2n is layer n's attn1 (self-attention), 2n + 1 its attn2."""
    deltas = {}
    for layer in layout:
        for attention, k in (("attn1", 2 * layer.number), ("attn2", layer.ip_key)):
            for name, target in LORA_TARGETS.items():
                down = adapter.lora.get(f"{k}.{name}_lora.down.weight")
                up = adapter.lora.get(f"{k}.{name}_lora.up.weight")
                if down is not None and up is not None:
                    key = f"diffusion_model.{layer.path}.{attention}.{target}.weight"
                    deltas[key] = up.float() @ down.float()
    return deltas


# --------------------------------------------------------------------------------------------------- image projections


class ImageProjection(nn.Module):
    """Base IP-Adapter and FaceID: features -> `tokens` tokens (one Linear for base, an MLP for FaceID) + LayerNorm."""

    def __init__(self, in_width: int, tokens: int, width: int, hidden: int | None = None):
        super().__init__()
        if hidden is None:
            self.proj = nn.Linear(in_width, tokens * width)
        else:  # FaceID's MLP: Linear, GELU, Linear
            self.proj = nn.Sequential(nn.Linear(in_width, hidden), nn.GELU(), nn.Linear(hidden, tokens * width))
        self.norm = nn.LayerNorm(width)
        self.tokens, self.width = tokens, width

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(features).reshape(-1, self.tokens, self.width))


class PerceiverAttention(nn.Module):
    """The resampler's attention: its queries (the latents) attend to the image features and to themselves."""

    def __init__(self, width: int, heads: int, head_dim: int):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.to_q = nn.Linear(width, heads * head_dim, bias=False)
        self.to_kv = nn.Linear(width, 2 * heads * head_dim, bias=False)
        self.to_out = nn.Linear(heads * head_dim, width, bias=False)

    def forward(self, features: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        features, latents = self.norm1(features), self.norm2(latents)
        q = self.to_q(latents)
        k, v = self.to_kv(torch.cat((features, latents), dim=1)).chunk(2, dim=-1)
        out = scaled_attention(q, k, v, self.heads, {})
        return self.to_out(out)


class Resampler(nn.Module):
    """IP-Adapter Plus's perceiver resampler: learned queries refined by `depth` attention + feed-forward layers."""

    def __init__(self, in_width: int, width: int, queries: int, out_width: int, depth: int, heads: int, ff_mult: int):
        super().__init__()
        self.latents = nn.Parameter(torch.zeros(1, queries, width))
        self.proj_in = nn.Linear(in_width, width)
        self.proj_out = nn.Linear(width, out_width)
        self.norm_out = nn.LayerNorm(out_width)
        self.layers = nn.ModuleList(
            nn.ModuleList([
                PerceiverAttention(width, heads, RESAMPLER_HEAD_DIM),
                nn.Sequential(nn.LayerNorm(width), nn.Linear(width, ff_mult * width, bias=False), nn.GELU(),
                              nn.Linear(ff_mult * width, width, bias=False)),
            ])
            for _ in range(depth)
        )

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        latents = self.latents.repeat(features.shape[0], 1, 1)
        features = self.proj_in(features)
        for attention, feed_forward in self.layers:
            latents = attention(features, latents) + latents
            latents = feed_forward(latents) + latents
        return self.norm_out(self.proj_out(latents))


def build_projection(variant: str, state: dict[str, torch.Tensor]) -> nn.Module:
    """The image projection of `variant` sized from the file's shapes, its weights loaded (strict)."""
    if variant == "plus":
        width = int(state["proj_in.weight"].shape[0])
        depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("layers."))
        module = Resampler(
            in_width=int(state["proj_in.weight"].shape[1]), width=width, queries=int(state["latents"].shape[1]),
            out_width=int(state["proj_out.weight"].shape[0]), depth=depth,
            heads=int(state["layers.0.0.to_q.weight"].shape[0]) // RESAMPLER_HEAD_DIM,
            ff_mult=int(state["layers.0.1.1.weight"].shape[0]) // width,
        )
    else:
        width = int(state["norm.weight"].shape[0])
        last = state["proj.weight" if variant == "base" else "proj.2.weight"]
        hidden = None if variant == "base" else int(state["proj.0.weight"].shape[0])
        first = state["proj.weight" if variant == "base" else "proj.0.weight"]
        module = ImageProjection(int(first.shape[1]), int(last.shape[0]) // width, width, hidden)
    module.load_state_dict(state, strict=True)
    return module


class IPAdapterModel(nn.Module):
    """The adapter's own weights as one module (what ComfyUI's memory manager loads and offloads): the image
    projection and, per cross-attention layer k, `to_k_ip` / `to_v_ip`."""

    def __init__(self, adapter: AdapterFile):
        super().__init__()
        self.image_proj = build_projection(adapter.variant, adapter.image_proj)
        layers = {}
        for key, weight in adapter.ip_layers.items():
            k, name, _ = key.split(".")
            layer = nn.Linear(int(weight.shape[1]), int(weight.shape[0]), bias=False)
            layer.weight.data.copy_(weight)
            layers[f"{k}_{name}"] = layer
        self.ip_layers = nn.ModuleDict(layers)
        self.requires_grad_(False).eval()

    def tokens(self, features: torch.Tensor) -> torch.Tensor:
        """[1, references * tokens, width]: the tokens of every reference picture side by side."""
        out = self.image_proj(features)
        return out.reshape(1, -1, out.shape[-1])


# ------------------------------------------------------------------------------------------------------------ attention


def scaled_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, extra_options: dict) -> torch.Tensor:
    """Multi-head attention on [batch, tokens, heads * head_dim] tensors, as ComfyUI's optimized attention computes
    it (softmax(q k^T / sqrt(head_dim)) v per head)."""
    batch, head_dim = q.shape[0], q.shape[-1] // heads

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.reshape(batch, -1, heads, head_dim).transpose(1, 2)

    out = torch.nn.functional.scaled_dot_product_attention(split(q), split(k), split(v))
    return out.transpose(1, 2).reshape(batch, -1, heads * head_dim)


@dataclass
class IdentityConditioning:
    """What every patched layer of one identity lock shares: the adapter's module, the reference's features and the
    unconditional features, the weight and the sigma window in which it acts."""

    model: IPAdapterModel
    cond: torch.Tensor  # the reference's features (CLIP image_embeds, penultimate states or face embeddings)
    uncond: torch.Tensor  # the same for the unconditional half of classifier-free guidance
    weight: float
    sigma_start: float  # acts while sigma_end <= sigma <= sigma_start
    sigma_end: float
    managed: tuple = ()  # the host's handles on `model` (ComfyUI ModelPatchers), so it loads and unloads with the UNet
    _tokens: dict = field(default_factory=dict, repr=False)

    def resume_key(self) -> dict:
        """What decides this lock's output, for a streamed run's resume key: the settings and the content (the host
        digests the module and tensors), never the projected tokens cached while sampling."""
        return {"weight": self.weight, "sigma_start": self.sigma_start, "sigma_end": self.sigma_end,
                "model": self.model, "cond": self.cond, "uncond": self.uncond}

    def acts_at(self, sigmas: torch.Tensor | None) -> bool:
        """True when the current step's sigma lies inside the window (always, when the host gives no sigma)."""
        if sigmas is None:
            return True
        sigma = float(sigmas.reshape(-1)[0])
        return self.sigma_end <= sigma <= self.sigma_start

    def tokens(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(cond, uncond) image tokens, projected once per device in the adapter's dtype."""
        if device not in self._tokens:
            self._tokens.clear()
            parameter = next(self.model.parameters())
            with torch.no_grad():
                projected = [
                    self.model.tokens(x.to(device=parameter.device, dtype=parameter.dtype)).to(device)
                    for x in (self.cond, self.uncond)
                ]
            self._tokens[device] = tuple(projected)
        return self._tokens[device]

    def batch_tokens(self, cond_or_uncond: list[int], batch: int, device: torch.device) -> torch.Tensor:
        """Tokens for a UNet batch made of len(cond_or_uncond) equal chunks, chunk i conditional when
        cond_or_uncond[i] is 0 (ComfyUI's convention) and unconditional when it is 1."""
        cond, uncond = self.tokens(device)
        per_chunk = batch // len(cond_or_uncond)
        return torch.cat([(uncond if kind == 1 else cond).expand(per_chunk, -1, -1) for kind in cond_or_uncond])


class IPAttention:
    """An attn2 replacement for one cross-attention layer: the layer's own attention over the text (or the patch that
    was there before, so several patches chain) plus `weight` x attention over the reference's tokens."""

    def __init__(self, lock: IdentityConditioning, ip_key: int, attention: Attention, previous=None):
        self.lock, self.ip_key, self.attention, self.previous = lock, ip_key, attention, previous

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, extra_options: dict) -> torch.Tensor:
        heads = extra_options["n_heads"]
        if self.previous is not None:
            out = self.previous(q, k, v, extra_options)
        else:
            out = self.attention(q, k, v, heads, extra_options)
        if not self.lock.acts_at(extra_options.get("sigmas")):
            return out
        layers = self.lock.model.ip_layers
        tokens = self.lock.batch_tokens(extra_options.get("cond_or_uncond", [0]), q.shape[0], q.device)
        k_ip = layers[f"{self.ip_key}_to_k_ip"](tokens).to(q.dtype)
        v_ip = layers[f"{self.ip_key}_to_v_ip"](tokens).to(q.dtype)
        return out + self.lock.weight * self.attention(q, k_ip, v_ip, heads, extra_options)

    def resume_key(self) -> list:
        """The layer, the lock's key and the chained patch before it (see IdentityConditioning.resume_key)."""
        return [self.ip_key, self.lock.resume_key(), self.previous]

    def models(self) -> list:
        """The host's handles on the adapter's module: ComfyUI loads them with the UNet (ModelPatcher.model_patches_models)."""
        models = list(self.lock.managed)
        if self.previous is not None and hasattr(self.previous, "models"):
            models += self.previous.models()
        return models

    def to(self, device) -> "IPAttention":
        """ComfyUI moves patches with the UNet; the tokens follow the query's device on their own."""
        return self

