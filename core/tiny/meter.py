"""Tiny stand-ins for the meter's models, in the published files' key layouts and formats.

- DINO ViT-B/16 (`dino_vitbase16_pretrain.pth`'s keys, in safetensors as install.py converts it): 2 blocks of width
  128 (2 heads) instead of 12 of 768, with the real 16-pixel patches and 14x14 position grid; the loader reads width
  and depth from the keys.
- RAFT (torchvision's `raft_large` keys): the full architecture (5.3M parameters), random from a seed, with random
  batch-norm statistics so that loading them is what a test sees.
- AMT-S (the published `amt-s.pth`: a pickle holding `state_dict`): the full architecture (3.0M parameters).

RAFT and AMT-S have no manifest entries yet (no published sha256), so `build_all` does not make them: the tests call
`build_raft` and `build_amt` themselves.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..tiny_marker import TINY_METADATA
from .weights import seeded_state_dict

TINY_DINO = {"dim": 128, "depth": 2, "grid": 14, "hidden": 512}
DINO_SEED, RAFT_SEED, AMT_SEED = 1607, 2003, 2311


def build_dino(path: Path) -> None:
    """A 2-block DINO ViT with 16-pixel patches, keys as in dino_vitbase16_pretrain.pth, fp32."""
    from safetensors.torch import save_file

    from ..meter.features import DinoViT

    model = DinoViT(TINY_DINO["dim"], TINY_DINO["depth"], TINY_DINO["grid"], TINY_DINO["hidden"])
    save_file(seeded_state_dict(model, DINO_SEED, torch.float32), str(path), metadata=dict(TINY_METADATA))


def build_raft(path: Path) -> None:
    """torchvision's raft_large with seeded random weights and batch-norm statistics, fp32."""
    from safetensors.torch import save_file
    from torchvision.models.optical_flow import raft_large

    model = raft_large(weights=None, progress=False)
    state = seeded_state_dict(model, RAFT_SEED, torch.float32)
    generator = torch.Generator().manual_seed(RAFT_SEED + 1)
    for key in state:
        if key.endswith("running_mean"):
            state[key] = (torch.rand(state[key].shape, generator=generator) - 0.5) * 0.2
        elif key.endswith("running_var"):
            state[key] = torch.rand(state[key].shape, generator=generator) + 0.5
    save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata=dict(TINY_METADATA))


def build_amt(path: Path) -> None:
    """AMT-S with seeded random weights, saved as the published amt-s.pth is (a pickle holding `state_dict`), with the
    tiny mark beside it."""
    from ..meter.amt import AmtS

    torch.save({"state_dict": seeded_state_dict(AmtS(), AMT_SEED, torch.float32), **TINY_METADATA}, str(path))


BUILDERS = {"dino_vitb16": build_dino}
