"""LoRA files in the formats SD 1.5 LoRAs ship in, renamed to the kohya names ComfyUI's key maps know.

ComfyUI 0.3.64 maps kohya names (`lora_unet_<diffusers module with _>`, `lora_te_text_model_encoder_layers_*`) onto
the UNet and CLIP, but for diffusers/PEFT files (`unet.<diffusers module>.lora_A.weight`, the format of diffusers'
`train_text_to_image_lora.py`) it knows only the older `unet.<...>.processor.to_q` spelling and drops the UNet half
silently. `to_kohya` renames every low-rank pair to its kohya name, whatever the format, so ComfyUI's own loader
(`comfy.lora.load_lora`) applies all of it; what it still cannot place is reported, not dropped.

Formats read, per module `<m>`:
- kohya: `<m>.lora_up.weight`, `<m>.lora_down.weight`, optional `<m>.alpha`, `<m>.lora_mid.weight`, `<m>.dora_scale`;
- PEFT: `<m>.lora_B.weight`, `<m>.lora_A.weight` (scale 1 unless the file has `<m>.alpha`, as diffusers applies them);
- diffusers attention processors: `<m>_lora.up.weight` / `<m>_lora.down.weight`, `<m>.lora.up.weight` /
  `<m>.lora.down.weight`, `<m>.lora_linear_layer.up.weight` / `.down.weight`.
Module names `unet.<diffusers path>` (also `unet.base_model.model.` and `.processor.` spellings) become
`lora_unet_<path>`, and `text_encoder.[text_model.]<path>` becomes `lora_te_text_model_<path>`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .model_files import load_safetensors
from .tiny_marker import warn_if_tiny

# (suffix of the up matrix, suffix of the down matrix) in each format, kohya's first.
_PAIRS = (
    (".lora_up.weight", ".lora_down.weight"),
    (".lora_B.weight", ".lora_A.weight"),
    ("_lora.up.weight", "_lora.down.weight"),
    (".lora.up.weight", ".lora.down.weight"),
    (".lora_linear_layer.up.weight", ".lora_linear_layer.down.weight"),
)
LORA_EXTENSIONS = (".safetensors",)
# Per-module extras that travel with the pair under the same suffix in kohya format.
_EXTRAS = (".alpha", ".lora_mid.weight", ".dora_scale")


@dataclass
class KohyaLora:
    """A LoRA under kohya names: `tensors` for ComfyUI's loader, `sources` (kohya module -> the file's module name)
    for reports, `unrecognised` the file's keys that belong to no low-rank pair."""

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    unrecognised: list[str] = field(default_factory=list)


def load(path: Path, field: str = "lora_name") -> KohyaLora:
    """A LoRA .safetensors file under kohya names; ValueError (naming `field`) for a broken file or one that holds no
    low-rank pair at all."""
    state, metadata = load_safetensors(path, field)
    warn_if_tiny(metadata, path)
    converted = to_kohya(state)
    if not converted.sources:
        raise ValueError(
            f"{field}: '{Path(path).name}' holds no LoRA weights (no lora_up/lora_down or lora_A/lora_B pairs): "
            "choose a LoRA file in models/loras."
        )
    broken = [key for key, tensor in converted.tensors.items() if not bool(torch.isfinite(tensor).all())]
    if broken:
        module = broken[0].split(".", 1)[0]
        raise ValueError(
            f"'{field}': the LoRA '{Path(path).name}' holds NaN or infinite values in {len(broken)} of its tensors "
            f"(first: '{converted.sources.get(module, module)}'); applied, it would render black or noise. The file "
            "is damaged or its training diverged: choose another LoRA."
        )
    return converted


def shape_misfit(tensors: dict[str, torch.Tensor], name: str, weight_shape: tuple[int, ...]) -> str | None:
    """Why the kohya module `name` of `tensors` cannot patch a weight of `weight_shape` (None when it can): ComfyUI
    forms up . down (with lora_mid's kernel, when there is one) and reshapes it to the weight, logging and skipping
    a patch whose product does not fit."""
    up, down = tensors[f"{name}.lora_up.weight"], tensors[f"{name}.lora_down.weight"]
    mid = tensors.get(f"{name}.lora_mid.weight")
    if up.ndim >= 2 and down.ndim >= 2 and up.shape[1] == down.shape[0] and up.shape[0] == weight_shape[0]:
        kernel = mid.shape[2:] if mid is not None else down.shape[2:]
        if up.shape[0] * down.shape[1] * math.prod(kernel) == math.prod(weight_shape):
            return None
    return f"{name} (up {list(up.shape)}, down {list(down.shape)} for a weight of {list(weight_shape)})"


def without(tensors: dict[str, torch.Tensor], names: set[str]) -> dict[str, torch.Tensor]:
    """`tensors` less every tensor of the kohya modules `names`."""
    return {key: tensor for key, tensor in tensors.items() if key.split(".", 1)[0] not in names}


def kohya_module_name(module: str) -> str:
    """The kohya name of a LoRA module named the diffusers/PEFT way (kohya names come back unchanged)."""
    if module.startswith(("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")):
        return module
    if module.startswith("unet."):
        path = module.removeprefix("unet.").removeprefix("base_model.model.").replace(".processor.", ".")
        return "lora_unet_" + path.replace(".", "_")
    if module.startswith("text_encoder."):
        path = module.removeprefix("text_encoder.").removeprefix("base_model.model.")
        # transformers >= 5.6 drops `text_model.` from CLIPTextModel's module names; ComfyUI's names keep it.
        path = path if path.startswith("text_model.") else f"text_model.{path}"
        return "lora_te_" + path.replace(".", "_")
    return module


def to_kohya(state: dict[str, torch.Tensor]) -> KohyaLora:
    """Every low-rank pair of `state` under its kohya name (tensors unchanged); see the module docstring."""
    result = KohyaLora()
    claimed: set[str] = set()
    for key in state:
        for up_suffix, down_suffix in _PAIRS:
            if not key.endswith(up_suffix):
                continue
            module = key[: -len(up_suffix)]
            down_key = module + down_suffix
            if down_key not in state:
                continue
            name = kohya_module_name(module)
            if name in result.sources:
                raise ValueError(
                    f"LoRA modules '{result.sources[name]}' and '{module}' both adapt '{name}': the file mixes two "
                    "spellings of one layer. Save the LoRA again with one key format."
                )
            result.sources[name] = module
            result.tensors[f"{name}.lora_up.weight"] = state[key]
            result.tensors[f"{name}.lora_down.weight"] = state[down_key]
            claimed.update((key, down_key))
            for extra in _EXTRAS:
                if module + extra in state:
                    result.tensors[name + extra] = state[module + extra]
                    claimed.add(module + extra)
            break
    result.unrecognised = sorted(k for k in state if k not in claimed)
    return result


def report(applied: int, total: int, unmapped: list[str], unrecognised: list[str], misfits: list[str] = (),
           limit: int = 20) -> str:
    """The loader's STRING output: how many modules applied, and the names of those it could not place or that do
    not fit their weight's shape (not applied)."""
    lines = [f"applied {applied} of {total} LoRA modules"]
    for title, names in (("not in this model", unmapped), ("of the wrong shape, not applied", list(misfits)),
                         ("not LoRA weights", unrecognised)):
        if names:
            shown = ", ".join(names[:limit]) + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")
            lines.append(f"{len(names)} {title}: {shown}")
    return "\n".join(lines)
