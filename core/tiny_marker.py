"""The mark every tiny stand-in carries, and what loaders do when they meet it.

Product code imports this small module, never the builders in `core/tiny` (which pull in the manifest, diffusers and
transformers).
"""

from __future__ import annotations

import logging
from pathlib import Path

logger = logging.getLogger("LongForm")

TINY_METADATA_KEY = "longform_tiny"
TINY_METADATA = {TINY_METADATA_KEY: "true", "description": "LongForm tiny test weights: outputs are not meaningful"}


def is_tiny(metadata: dict[str, str] | None) -> bool:
    """True when a file's metadata marks it as tiny test weights."""
    return bool(metadata) and metadata.get(TINY_METADATA_KEY) == "true"


def warn_if_tiny(metadata: dict[str, str] | None, path: Path | str) -> None:
    """Log a warning when a loaded file is a tiny stand-in (pictures made with it mean nothing)."""
    if is_tiny(metadata):
        logger.warning("%s is a LongForm tiny test model: its outputs are not meaningful.", Path(path).name)
