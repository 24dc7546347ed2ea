"""Tiny stand-ins for the manifest's models: same on-disk formats as the real files, seeded, built in seconds.

Each module in this package maps manifest ids to builders in a `BUILDERS` dict; `build_all` writes every stand-in to
`<models_dir>/<folder>/<tiny_filename>`. Files carry `TINY_METADATA` so that loaders can warn when they run on them.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
from pathlib import Path
from typing import Callable

from ..manifest import load_manifest

logger = logging.getLogger("LongForm")

TINY_METADATA_KEY = "longform_tiny"
TINY_METADATA = {TINY_METADATA_KEY: "true", "description": "LongForm tiny test weights: outputs are not meaningful"}

Builder = Callable[[Path], None]


def builders() -> dict[str, Builder]:
    """Every registered builder, keyed by manifest id."""
    found: dict[str, Builder] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        found.update(getattr(module, "BUILDERS", {}))
    return found


def build_all(models_dir: Path, only: set[str] | None = None) -> list[Path]:
    """Write the tiny stand-in of every manifest entry that has a builder (or those in `only`); return their paths."""
    registry = builders()
    written = []
    for item in load_manifest():
        if item.id not in registry or (only is not None and item.id not in only):
            continue
        target = Path(models_dir) / item.folder / item.tiny_filename
        target.parent.mkdir(parents=True, exist_ok=True)
        registry[item.id](target)
        written.append(target)
    return written


def is_tiny(metadata: dict[str, str] | None) -> bool:
    """True when a file's metadata marks it as tiny test weights."""
    return bool(metadata) and metadata.get(TINY_METADATA_KEY) == "true"


def warn_if_tiny(metadata: dict[str, str] | None, path: Path | str) -> None:
    """Log a warning when a loaded file is a tiny stand-in (pictures made with it mean nothing)."""
    if is_tiny(metadata):
        logger.warning("%s is a LongForm tiny test model: its outputs are not meaningful.", Path(path).name)
