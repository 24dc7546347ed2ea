"""Shared fixtures: the pack imported as ComfyUI would import it, and the tiny models built once per session."""

import os
import sys
from pathlib import Path

import pytest

# Tests never reach a model hub: a failing lookup would otherwise retry for about 23 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("LONGFORM_PROGRESS", "0")

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "scripts"))

from _pack import load_pack  # noqa: E402

PACK = load_pack()


@pytest.fixture(scope="session")
def pack():
    """The pack's root package (`longform_pack`)."""
    return PACK


@pytest.fixture(scope="session")
def tiny_models_dir(tmp_path_factory) -> Path:
    """A models dir holding every tiny stand-in, built once; the pack's host points at it."""
    from longform_pack.core import host, tiny

    models_dir = tmp_path_factory.mktemp("models")
    tiny.build_all(models_dir)
    host.set_models_dir(models_dir)
    yield models_dir
    host.set_models_dir(None)


@pytest.fixture
def output_dir(tmp_path, monkeypatch) -> Path:
    """A fresh output folder for the host's fallback output_dir()."""
    monkeypatch.setenv("LONGFORM_OUTPUT_DIR", str(tmp_path / "output"))
    return tmp_path / "output"


class FakeClip:
    """A stand-in for ComfyUI's CLIP (`tokenize`, `encode_from_tokens`) outside ComfyUI: each text encodes to seeded
    random cond [1, 77 x chunks, 8] and pooled [1, 8] (a `|` in the text adds a 77-token chunk); counts encodings."""

    def __init__(self):
        self.encoded: list[str] = []

    def tokenize(self, text: str) -> dict:
        return {"l": text}

    def encode_from_tokens(self, tokens: dict, return_pooled: bool = False):
        import zlib

        import torch

        text = tokens["l"]
        self.encoded.append(text)
        generator = torch.Generator().manual_seed(zlib.crc32(text.encode()))
        cond = torch.randn(1, 77 * (1 + text.count("|")), 8, generator=generator)
        pooled = torch.randn(1, 8, generator=generator)
        return (cond, pooled) if return_pooled else cond


@pytest.fixture
def fake_clip() -> FakeClip:
    """A fresh `FakeClip`."""
    return FakeClip()


@pytest.fixture
def no_vbench_models(pack, monkeypatch):
    """The meter without VBench's models, whatever the models folder holds: a test's CLIP encoder is its own fake."""
    from longform_pack.core.meter import report
    from longform_pack.core.meter.measure import MeterModels

    def clip_only(clip=None, prompts=(), references=None) -> MeterModels:
        return MeterModels(clip=clip, prompts=prompts, references=references)

    monkeypatch.setattr(report, "meter_models", clip_only)
