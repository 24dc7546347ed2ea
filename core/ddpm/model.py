"""A small conditional UNet for diffusion, written from scratch (torch + einops), and its EMA copy.

Layout (Ho et al. 2020, "Denoising Diffusion Probabilistic Models", appendix B, scaled down):
one stem conv, then per resolution level `num_res_blocks` residual blocks (GroupNorm, SiLU, 3x3 conv) and a
stride-2 downsample; a middle of residual block / multi-head self-attention / residual block at the lowest
resolution; a mirrored up path that concatenates the skip activations; a GroupNorm + conv head.

Conditioning is FiLM (Perez et al. 2018): the timestep's sinusoidal embedding and the condition's embedding are summed
into one vector that predicts a per-channel scale and shift for the second GroupNorm of every residual block (the
"scale-shift norm" of Nichol & Dhariwal 2021). We chose FiLM over cross-attention on purpose: a class label is one
token, and the probe's text encoders give one pooled vector per prompt (`Embeddings.vectors`, [N, D]). Cross-attention
over a single key is a softmax over one element, which is always 1, so it reduces to a learned linear map of that
vector; FiLM injects the same information into every block at a fraction of the cost, which matters on a CPU.

Classifier-free guidance (Ho & Salimans 2022) needs an unconditional model too: each condition encoder owns a learned
*null condition* (an extra label row, or a learned vector for text) that replaces the real condition where
`uncond_mask` is True; training drops the condition at random (`TrainConfig.cond_drop`).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

CONDITIONINGS = ("label", "text")


@dataclass
class ModelConfig:
    """Everything that fixes the network's shape; saved beside the weights so a checkpoint rebuilds itself.

    `class_names` are the dataset's labels in index order. For text conditioning, `text_dim` is the width of the
    frozen text embeddings and `text_encoder` records where they come from (`{"kind": ..., "filename": ...}`), so
    prompts at sampling time are embedded by the same encoder.
    """

    image_size: int = 8
    channels: int = 1
    base_channels: int = 32
    channel_mults: tuple[int, ...] = (1, 2, 2)
    num_res_blocks: int = 1
    attention_heads: int = 4
    conditioning: str = "label"
    class_names: list[str] = field(default_factory=lambda: [str(i) for i in range(10)])
    text_dim: int = 0
    text_encoder: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.channel_mults = tuple(int(m) for m in self.channel_mults)
        self.class_names = [str(name) for name in self.class_names]
        if self.conditioning not in CONDITIONINGS:
            raise ValueError(
                f"conditioning must be one of {CONDITIONINGS}; got '{self.conditioning}'. Pick 'label' or 'text'."
            )
        if self.conditioning == "text" and self.text_dim <= 0:
            raise ValueError("conditioning 'text' needs text_dim > 0: the width of the text encoder's embeddings.")
        factor = 2 ** (len(self.channel_mults) - 1)
        if self.image_size % factor != 0 or self.image_size // factor < 2:
            sizes = ", ".join(str(factor * k) for k in (2, 3, 4, 8))
            raise ValueError(
                f"image_size {self.image_size} is not supported by a UNet with {len(self.channel_mults)} levels: it "
                f"must be a multiple of {factor} and at least {2 * factor} (e.g. {sizes}). Change image_size or the "
                "number of levels."
            )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channel_mults"] = list(self.channel_mults)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ModelConfig":
        return cls(**data)


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps, as in Vaswani et al. 2017 section 3.5; [N] -> [N, dim]."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(angles), torch.sin(angles)], dim=1)


def group_norm(channels: int) -> nn.GroupNorm:
    """GroupNorm with up to 8 groups (fewer when the channel count is small)."""
    groups = math.gcd(8, channels)
    return nn.GroupNorm(groups, channels)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, FiLM from the embedding on the second norm, and a residual connection."""

    def __init__(self, in_channels: int, out_channels: int, emb_dim: int):
        super().__init__()
        self.norm1 = group_norm(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.film = nn.Linear(emb_dim, 2 * out_channels)
        self.norm2 = group_norm(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        # Start each block as the identity map: a common trick that steadies early training.
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = rearrange(self.film(emb), "n (two c) -> two n c 1 1", two=2)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(F.silu(h))
        return self.skip(x) + h


class SelfAttention(nn.Module):
    """Multi-head self-attention over the pixels of a feature map, with a residual connection."""

    def __init__(self, channels: int, heads: int):
        super().__init__()
        if channels % heads != 0:
            raise ValueError(f"attention_heads {heads} must divide the channel count {channels}.")
        self.heads = heads
        self.norm = group_norm(channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        q, k, v = rearrange(self.qkv(self.norm(x)), "n (three h d) y x -> three n h (y x) d", three=3, h=self.heads)
        attended = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(rearrange(attended, "n h (y x) d -> n (h d) y x", y=height, x=width))


class LabelCondition(nn.Module):
    """Class labels to embeddings; row `num_classes` is the learned null condition."""

    def __init__(self, num_classes: int, emb_dim: int):
        super().__init__()
        self.null_index = num_classes
        self.table = nn.Embedding(num_classes + 1, emb_dim)

    def forward(self, labels: torch.Tensor, uncond_mask: torch.Tensor) -> torch.Tensor:
        return self.table(torch.where(uncond_mask, torch.full_like(labels, self.null_index), labels))


class TextCondition(nn.Module):
    """Frozen text embeddings [N, D] through a small MLP; a learned vector stands in for the null condition."""

    def __init__(self, text_dim: int, emb_dim: int):
        super().__init__()
        self.project = nn.Sequential(nn.Linear(text_dim, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.null = nn.Parameter(torch.zeros(emb_dim))

    def forward(self, text: torch.Tensor, uncond_mask: torch.Tensor) -> torch.Tensor:
        return torch.where(uncond_mask[:, None], self.null.expand(len(text), -1), self.project(text.to(self.null.dtype)))


class UNet(nn.Module):
    """The noise-prediction network: `forward(x_t, t, cond, uncond_mask)` returns a tensor shaped like `x_t`.

    `cond` is a LongTensor of class indices ([N]) for label conditioning or a float tensor of text embeddings
    ([N, text_dim]); where `uncond_mask` ([N] bool) is True the learned null condition is used instead.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        base = config.base_channels
        emb_dim = 4 * base
        self.time_mlp = nn.Sequential(nn.Linear(base, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if config.conditioning == "label":
            self.condition: nn.Module = LabelCondition(config.num_classes, emb_dim)
        else:
            self.condition = TextCondition(config.text_dim, emb_dim)

        self.stem = nn.Conv2d(config.channels, base, 3, padding=1)
        widths = [base * m for m in config.channel_mults]
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skip_widths = [base]
        current = base
        for level, width in enumerate(widths):
            blocks = nn.ModuleList()
            for _ in range(config.num_res_blocks):
                blocks.append(ResBlock(current, width, emb_dim))
                current = width
                skip_widths.append(current)
            self.down.append(blocks)
            last = level == len(widths) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(current, current, 3, stride=2, padding=1))
            if not last:
                skip_widths.append(current)

        self.mid1 = ResBlock(current, current, emb_dim)
        self.mid_attention = SelfAttention(current, config.attention_heads)
        self.mid2 = ResBlock(current, current, emb_dim)

        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for level, width in reversed(list(enumerate(widths))):
            blocks = nn.ModuleList()
            for _ in range(config.num_res_blocks + 1):
                blocks.append(ResBlock(current + skip_widths.pop(), width, emb_dim))
                current = width
            self.up.append(blocks)
            self.upsample.append(nn.Conv2d(current, current, 3, padding=1) if level > 0 else nn.Identity())

        self.head = nn.Sequential(group_norm(current), nn.SiLU(), nn.Conv2d(current, config.channels, 3, padding=1))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, uncond_mask: torch.Tensor) -> torch.Tensor:
        # The embedding is computed in fp32 and then given the network's dtype (fp16/bf16 when the host chooses it).
        emb = self.time_mlp(timestep_embedding(t, self.config.base_channels).to(x.dtype)) + self.condition(cond, uncond_mask)
        h = self.stem(x)
        skips = [h]
        for blocks, downsample in zip(self.down, self.downsample):
            for block in blocks:
                h = block(h, emb)
                skips.append(h)
            if not isinstance(downsample, nn.Identity):
                h = downsample(h)
                skips.append(h)
        h = self.mid2(self.mid_attention(self.mid1(h, emb)), emb)
        for blocks, upsample in zip(self.up, self.upsample):
            for block in blocks:
                h = block(torch.cat([h, skips.pop()], dim=1), emb)
            if not isinstance(upsample, nn.Identity):
                h = upsample(F.interpolate(h, scale_factor=2.0, mode="nearest"))
        return self.head(h)


class EMA:
    """Exponential moving average of a model's weights (Polyak averaging), used for sampling.

    `decay` rises as (1 + n) / (10 + n) up to its maximum, so that early averages are not dominated by the random
    initial weights.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999):
        self.decay = decay
        self.updates = 0
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for average, current in zip(self.model.parameters(), model.parameters()):
            average.lerp_(current.detach(), 1 - decay)
        for average, current in zip(self.model.buffers(), model.buffers()):
            average.copy_(current)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "weights": self.model.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.decay, self.updates = state["decay"], state["updates"]
        self.model.load_state_dict(state["weights"])
