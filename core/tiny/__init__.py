"""Tiny stand-ins for the manifest's models: same on-disk formats as the real files, seeded, built in seconds.

Each module in this package maps manifest ids to builders in a `BUILDERS` dict; `build_all` writes every stand-in to
`<models_dir>/<folder>/<tiny_filename>`. Files carry `TINY_METADATA` so that loaders can warn when they run on them.

The stand-ins of the diffusion models weigh gigabytes, so with a cache folder (`$LONGFORM_TINY_CACHE`; the tests and
the demo use `build/tiny-cache`) `build_all` builds them once per version of the builder code and hard-links them into
each models dir.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import pkgutil
import re
import shutil
from pathlib import Path
from typing import Callable

from ..manifest import MANIFEST_PATH, load_manifest

logger = logging.getLogger("LongForm")

TINY_METADATA_KEY = "longform_tiny"
TINY_METADATA = {TINY_METADATA_KEY: "true", "description": "LongForm tiny test weights: outputs are not meaningful"}

CACHE_ENV = "LONGFORM_TINY_CACHE"

Builder = Callable[[Path], None]


def builders() -> dict[str, Builder]:
    """Every registered builder, keyed by manifest id."""
    found: dict[str, Builder] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        found.update(getattr(module, "BUILDERS", {}))
    return found


def build_all(models_dir: Path, only: set[str] | None = None, cache_dir: Path | None = None) -> list[Path]:
    """Write the tiny stand-in of every manifest entry that has a builder (or those in `only`); return their paths.

    With a cache folder (`cache_dir`, else $LONGFORM_TINY_CACHE) a full build is made once per `builder_version()`
    there and linked into `models_dir`; `only` always builds directly.
    """
    cache_dir = cache_dir or os.environ.get(CACHE_ENV)
    if only is not None or not cache_dir:
        return _build_into(Path(models_dir), only)
    built = _cached_build(Path(cache_dir))
    _link_tree(built, Path(models_dir))
    return [Path(models_dir) / path.relative_to(built) for _, path in _build_targets(built)]


def builder_version() -> str:
    """A hash of the builders' source, the manifest and torch's version: what the stand-ins' bytes depend on."""
    import torch

    digest = hashlib.sha256(torch.__version__.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")) + [MANIFEST_PATH]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _build_targets(models_dir: Path, only: set[str] | None = None) -> list[tuple[Builder, Path]]:
    registry = builders()
    return [
        (registry[item.id], models_dir / item.folder / item.tiny_filename)
        for item in load_manifest()
        if item.id in registry and (only is None or item.id in only)
    ]


def _build_into(models_dir: Path, only: set[str] | None) -> list[Path]:
    written = []
    for build, target in _build_targets(models_dir, only):
        target.parent.mkdir(parents=True, exist_ok=True)
        build(target)
        written.append(target)
    return written


def _cached_build(cache_dir: Path) -> Path:
    """`cache_dir/<builder_version>`, built now unless a finished build is there; older versions are removed."""
    version = builder_version()
    built = cache_dir / version
    if built.is_dir():
        return built
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = cache_dir / f"{version}.building-{os.getpid()}"
    logger.info("Building the tiny models into %s (once per version of core/tiny).", built)
    try:
        _build_into(staging, None)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        staging.rename(built)  # atomic: a folder named after a version always holds a finished build
    except OSError:
        if not built.is_dir():
            raise
        shutil.rmtree(staging)  # another process finished the same version first
    for stale in cache_dir.iterdir():
        if stale.name != version and re.fullmatch("[0-9a-f]{16}", stale.name):
            shutil.rmtree(stale, ignore_errors=True)
    return built


def _link_tree(source: Path, target: Path) -> None:
    """Mirror `source` into `target`: real folders, files hard-linked (copied across file systems)."""
    for folder, _, files in os.walk(source):
        destination = target / Path(folder).relative_to(source)
        destination.mkdir(parents=True, exist_ok=True)
        for name in files:
            linked = destination / name
            if linked.exists():
                linked.unlink()
            try:
                os.link(Path(folder) / name, linked)
            except OSError:
                shutil.copy2(Path(folder) / name, linked)


def is_tiny(metadata: dict[str, str] | None) -> bool:
    """True when a file's metadata marks it as tiny test weights."""
    return bool(metadata) and metadata.get(TINY_METADATA_KEY) == "true"


def warn_if_tiny(metadata: dict[str, str] | None, path: Path | str) -> None:
    """Log a warning when a loaded file is a tiny stand-in (pictures made with it mean nothing)."""
    if is_tiny(metadata):
        logger.warning("%s is a LongForm tiny test model: its outputs are not meaningful.", Path(path).name)
