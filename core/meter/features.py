"""The feature models of VBench's consistency metrics, with VBench's own preprocessing.

- `dino_vitb16`: DINO ViT-B/16 (Caron et al. 2021), the model of VBench's *subject consistency*. VBench loads it with
  `torch.hub.load("facebookresearch/dino", "dino_vitb16")` and feeds it `vbench.utils.dino_transform(224)`: the frame's
  short side resized to 224 (bilinear, no antialiasing, aspect kept, no crop), scaled to 0..1, ImageNet mean/std.
  The feature is the [CLS] token after the final LayerNorm (the hub model has no head). Non-square inputs use DINO's
  bicubic interpolation of the 14x14 position grid (`interpolate_pos_encoding` in dino's vision_transformer.py).
- `clip_vitb32`: CLIP ViT-B/32, the model of VBench's *background consistency*: the probe's CLIP file
  (`core/encoders.py`), not a second copy. VBench feeds it `vbench.utils.clip_transform(224)`: short side to 224
  (bicubic, no antialiasing), centre crop 224x224, 0..1, CLIP's mean/std; the feature is `encode_image`, the
  projected image embedding. The crop size is the model's input size (224 for the published file).

Frames enter as ComfyUI IMAGE batches (float 0..1). VBench reads 8-bit video frames, so `embed` first rounds each
frame to its 8-bit values, then applies VBench's transform to them as float tensors (what `vbench.utils.load_video`
hands the transform). Both models run under the host's memory management (`host.ManagedModel`: a ModelPatcher loaded
with `load_models_gpu` inside ComfyUI).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
import torch.nn.functional as F

from .. import host
from .. import images as image_utils
from ..manifest import entry
from ..model_files import load_safetensors
from ..tiny_marker import is_tiny, warn_if_tiny

Loaded = TypeVar("Loaded")

# The manifest entry each feature model's file comes from (the report's "not measured" names it).
MISSING = {"dino_vitb16": "dino_vitb16", "clip_vitb32": "clip_probe"}

VBENCH_INPUT = 224  # dino_transform(224) / clip_transform(224) in vbench.utils
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)
DINO_PATCH = 16
DINO_LAYER_NORM_EPS = 1e-6  # dino's vit_base: partial(nn.LayerNorm, eps=1e-6)


# ------------------------------------------------------------------------------------------------ VBench's transforms


def eight_bit(frames: torch.Tensor) -> torch.Tensor:
    """[n, h, w, 3] in 0..1 -> [n, 3, h, w] float holding the frames' 8-bit values 0..255 (as decoded video)."""
    return torch.from_numpy(image_utils.to_uint8(frames)).permute(0, 3, 1, 2).float()


def short_side_size(height: int, width: int, size: int) -> tuple[int, int]:
    """torchvision's `Resize(size)` output: the short side `size`, the long side `int(size * long / short)`."""
    if height <= width:
        return size, int(size * width / height)
    return int(size * height / width), size


def dino_transform(pixels: torch.Tensor, size: int = VBENCH_INPUT) -> torch.Tensor:
    """`vbench.utils.dino_transform(size)` on [n, 3, h, w] floats 0..255: bilinear short-side resize without
    antialiasing, /255, ImageNet normalisation."""
    out = F.interpolate(pixels, size=short_side_size(*pixels.shape[-2:], size), mode="bilinear", align_corners=False)
    return _normalise(out / 255.0, IMAGENET_MEAN, IMAGENET_STD)


def clip_transform(pixels: torch.Tensor, size: int = VBENCH_INPUT) -> torch.Tensor:
    """`vbench.utils.clip_transform(size)` on [n, 3, h, w] floats 0..255: bicubic short-side resize without
    antialiasing, centre crop (torchvision's rounding), /255, CLIP normalisation."""
    height, width = short_side_size(*pixels.shape[-2:], size)
    out = F.interpolate(pixels, size=(height, width), mode="bicubic", align_corners=False)
    top, left = round((height - size) / 2.0), round((width - size) / 2.0)
    out = out[:, :, top : top + size, left : left + size]
    return _normalise(out / 255.0, CLIP_MEAN, CLIP_STD)


def _normalise(pixels: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    return (pixels - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


# ------------------------------------------------------------------------------------------------ DINO ViT


class _Block(torch.nn.Module):
    """One pre-norm transformer block, named as in dino's vision_transformer.Block."""

    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.heads = heads
        self.norm1 = torch.nn.LayerNorm(dim, eps=DINO_LAYER_NORM_EPS)
        self.attn = torch.nn.Module()
        self.attn.qkv = torch.nn.Linear(dim, dim * 3)
        self.attn.proj = torch.nn.Linear(dim, dim)
        self.norm2 = torch.nn.LayerNorm(dim, eps=DINO_LAYER_NORM_EPS)
        self.mlp = torch.nn.Module()
        self.mlp.fc1 = torch.nn.Linear(dim, hidden)
        self.mlp.fc2 = torch.nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, tokens, dim = x.shape
        qkv = self.attn.qkv(self.norm1(x)).reshape(batch, tokens, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2])
        x = x + self.attn.proj(attended.transpose(1, 2).reshape(batch, tokens, dim))
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.norm2(x))))


class DinoViT(torch.nn.Module):
    """DINO's VisionTransformer without a head, keys as in `dino_vitbase16_pretrain.pth`.

    Width, depth and heads come from the weights (depth from the `blocks.N.` keys; heads = width / 64, as in every
    DINO ViT), so the published ViT-B/16 and a shallower stand-in load through the same code.
    """

    def __init__(self, dim: int, depth: int, grid: int, hidden: int):
        super().__init__()
        self.patch_embed = torch.nn.Module()
        self.patch_embed.proj = torch.nn.Conv2d(3, dim, DINO_PATCH, stride=DINO_PATCH)
        self.cls_token = torch.nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = torch.nn.Parameter(torch.zeros(1, grid * grid + 1, dim))
        self.blocks = torch.nn.ModuleList(_Block(dim, dim // 64, hidden) for _ in range(depth))
        self.norm = torch.nn.LayerNorm(dim, eps=DINO_LAYER_NORM_EPS)

    @classmethod
    def from_state_dict(cls, state: dict[str, torch.Tensor]) -> DinoViT:
        """The model the weights describe, loaded strictly (a missing or extra key is an error)."""
        dim = state["cls_token"].shape[-1]
        depth = 1 + max(int(key.split(".")[1]) for key in state if key.startswith("blocks."))
        grid = math.isqrt(state["pos_embed"].shape[1] - 1)
        model = cls(dim, depth, grid, state["blocks.0.mlp.fc1.weight"].shape[0])
        model.load_state_dict(state, strict=True)
        return model.eval()

    def position_embedding(self, rows: int, cols: int) -> torch.Tensor:
        """dino's `interpolate_pos_encoding`: the square grid resized bicubically by the scale factors
        ((rows + 0.1) / grid, (cols + 0.1) / grid) (the 0.1 avoids rounding down; dino issue 8)."""
        grid = math.isqrt(self.pos_embed.shape[1] - 1)
        if rows == cols == grid:
            return self.pos_embed
        dim = self.pos_embed.shape[-1]
        patch = self.pos_embed[:, 1:].reshape(1, grid, grid, dim).permute(0, 3, 1, 2)
        patch = F.interpolate(patch, scale_factor=((rows + 0.1) / grid, (cols + 0.1) / grid), mode="bicubic")
        patch = patch.permute(0, 2, 3, 1).reshape(1, -1, dim)
        return torch.cat((self.pos_embed[:, :1], patch), dim=1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalised pixels [n, 3, H, W] -> the [CLS] features [n, dim] (after the final norm)."""
        rows, cols = pixels.shape[-2] // DINO_PATCH, pixels.shape[-1] // DINO_PATCH
        x = self.patch_embed.proj(pixels).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls_token.expand(len(x), -1, -1), x), dim=1) + self.position_embedding(rows, cols)
        for block in self.blocks:
            x = block(x)
        return self.norm(x)[:, 0]


# ------------------------------------------------------------------------------------------------ the models


class FeatureModel:
    """One of VBench's feature models, loaded and ready: `embed` applies VBench's preprocessing for its metric."""

    def __init__(self, name: str, manifest_id: str, path: Path, tiny: bool, batch_size: int = 16):
        self.name = name
        self.manifest_id = manifest_id
        self.path = path
        self.tiny = tiny
        self.batch_size = batch_size

    def embed(self, frames: torch.Tensor) -> torch.Tensor:
        """Frames [n, h, w, 3] float 0..1 -> [n, d] L2-normalised features, with VBench's preprocessing."""
        frames = image_utils.check_image_batch(frames, "frames")
        out = []
        for start in range(0, len(frames), self.batch_size):
            host.check_interrupt()
            out.append(F.normalize(self._features(eight_bit(frames[start : start + self.batch_size])).float(), dim=-1))
        return torch.cat(out)

    def _features(self, pixels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class DinoFeatures(FeatureModel):
    """DINO ViT-B/16 [CLS] features on `dino_transform(224)` (VBench's subject consistency)."""

    def __init__(self, model: DinoViT, path: Path, tiny: bool):
        super().__init__("dino_vitb16", MISSING["dino_vitb16"], path, tiny)
        self.model = model
        self.managed = host.ManagedModel(model, host.ENCODER)

    @torch.inference_mode()
    def _features(self, pixels: torch.Tensor) -> torch.Tensor:
        device = self.managed.load()
        return self.model(dino_transform(pixels).to(device=device, dtype=self.managed.dtype)).cpu()


class ClipFeatures(FeatureModel):
    """CLIP ViT-B/32 projected image embeddings on `clip_transform(input size)` (VBench's background consistency)."""

    def __init__(self, encoder, tiny: bool):
        super().__init__("clip_vitb32", MISSING["clip_vitb32"], encoder.path, tiny)
        self.encoder = encoder

    @torch.inference_mode()
    def _features(self, pixels: torch.Tensor) -> torch.Tensor:
        device = self.encoder.managed.load()
        pixels = clip_transform(pixels, self.encoder.image_size).to(device=device, dtype=self.encoder.managed.dtype)
        pooled = self.encoder.model.vision_model(pixel_values=pixels).pooler_output
        return self.encoder.model.visual_projection(pooled).cpu()


def installed_file(manifest_id: str) -> str | None:
    """The file name of a manifest entry that is installed: the real file, else its tiny stand-in (logged as such by
    the loader), else None."""
    item = entry(manifest_id)
    for name in (item.filename, item.tiny_filename):
        try:
            host.model_path(item.folder, name)
        except FileNotFoundError:
            continue
        return name
    return None


_DINO_CACHE: dict[tuple, DinoFeatures] = {}


def cached_by_file(cache: dict, path: Path, build: Callable[[], Loaded]) -> Loaded:
    """`build()`'s result for the file at `path`, kept in `cache` per path and modification time (a replaced file is
    loaded again)."""
    key = (str(path), path.stat().st_mtime_ns)
    if key not in cache:
        cache[key] = build()
    return cache[key]


def load_dino(filename: str) -> DinoFeatures:
    """DINO ViT-B/16 from models/encoders/`filename` (dino's state-dict keys, safetensors), cached per file."""
    path = host.model_path(entry(MISSING["dino_vitb16"]).folder, filename, "dino")

    def build() -> DinoFeatures:
        state, metadata = load_safetensors(path, "dino")
        if "cls_token" not in state or "pos_embed" not in state:
            raise ValueError(f"'dino': '{path.name}' holds no DINO ViT weights (no cls_token / pos_embed): pick "
                             "dino_vitbase16_pretrain.safetensors (`python install.py --models meter`).")
        warn_if_tiny(metadata, path)
        return DinoFeatures(DinoViT.from_state_dict({k: v.float() for k, v in state.items()}), path, is_tiny(metadata))

    return cached_by_file(_DINO_CACHE, path, build)


def clear_cache() -> None:
    """Forget the loaded DINO models (frees them; CLIP lives in core/encoders.py's cache)."""
    _DINO_CACHE.clear()


def load_feature_model(name: str) -> FeatureModel | None:
    """The feature model `name` ("dino_vitb16" or "clip_vitb32"), or None when its file is not installed."""
    if name not in MISSING:
        raise ValueError(f"'name' must be one of {', '.join(MISSING)}; got '{name}'.")
    filename = installed_file(MISSING[name])
    if filename is None:
        return None
    if name == "dino_vitb16":
        return load_dino(filename)
    from ..encoders import load_encoder

    encoder = load_encoder("clip", filename)
    return ClipFeatures(encoder, encoder.tiny)
