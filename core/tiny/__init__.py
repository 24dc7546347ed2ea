"""Tiny stand-ins for the manifest's models: same on-disk formats as the real files, seeded, never shipped.

Each module in this package maps manifest ids to builders in a `BUILDERS` dict; `build_all` writes every stand-in to
`<models_dir>/<folder>/<tiny_filename>`. Files carry `TINY_METADATA` (see `core/tiny_marker.py`, the module product
code imports) so that loaders can warn when they run on them.

Some stand-ins are as large as ComfyUI's loaders require (the SD 1.5 checkpoint, the ViT-H CLIP vision), so
`build_all` builds each entry once into a cache folder keyed by a hash of its builder's source, and hard-links (or,
across file systems, copies) the files from there. Never write into a built file in place: it may share its bytes with
the cache.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import logging
import os
import pkgutil
import re
import shutil
import time
from pathlib import Path
from typing import Callable

from ..manifest import ModelEntry, load_manifest

__all__ = ["builders", "build_all", "default_cache_dir"]

logger = logging.getLogger("LongForm")

Builder = Callable[[Path], None]
CACHE_ENV = "LONGFORM_TINY_CACHE"
_PACKAGE_DIR = Path(__file__).resolve().parent
_COMPLETE = ".complete"


def builders() -> dict[str, Builder]:
    """Every registered builder, keyed by manifest id."""
    found: dict[str, Builder] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        found.update(getattr(module, "BUILDERS", {}))
    return found


def default_cache_dir() -> Path:
    """$LONGFORM_TINY_CACHE, else build/tiny-models/.cache in the pack's folder."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else _PACKAGE_DIR.parents[1] / "build" / "tiny-models" / ".cache"


_RELATIVE_IMPORT = re.compile(r"^\s*from\s+(\.+)([\w.]*)\s+import\s+(\([^)]*\)|[^\n]+)", re.MULTILINE)


def _sources(path: Path, seen: set[Path]) -> set[Path]:
    """`path` and every pack module it imports relatively, at any depth (what can change a builder's output)."""
    if path in seen or not path.is_file():
        return seen
    seen.add(path)
    for dots, module, names in _RELATIVE_IMPORT.findall(path.read_text(encoding="utf-8")):
        base = path.parent
        for _ in range(len(dots) - 1):
            base = base.parent
        target = base.joinpath(*module.split(".")) if module else base
        candidates = [target.with_suffix(".py"), target / "__init__.py"]
        for name in names.strip("()").split(","):
            if name.split():
                candidates.append(target / f"{name.split()[0]}.py")
        for candidate in candidates:
            _sources(candidate, seen)
    return seen


def _builder_key(item: ModelEntry, builder: Builder) -> str:
    """A hash of what decides the entry's bytes: its file name and the source of its builder and all it imports."""
    digest = hashlib.sha256(f"{item.id}:{item.folder}/{item.tiny_filename}".encode())
    for source in sorted(_sources(Path(inspect.getfile(builder)).resolve(), set())):
        digest.update(source.read_bytes())
    return digest.hexdigest()[:16]


def _cached_entry(item: ModelEntry, builder: Builder, cache_dir: Path) -> Path:
    """The folder holding the entry's built files (laid out like a models dir), building it first if needed."""
    entry_dir = cache_dir / f"{item.id}-{_builder_key(item, builder)}"
    if (entry_dir / _COMPLETE).exists():
        return entry_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = cache_dir / f".building-{entry_dir.name}-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    target = staging / item.folder / item.tiny_filename
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    builder(target)
    (staging / _COMPLETE).write_text(f"built in {time.perf_counter() - started:.1f} s\n", encoding="utf-8")
    try:
        staging.rename(entry_dir)
    except OSError:  # another process finished the same entry first: keep its files
        shutil.rmtree(staging, ignore_errors=True)
    for stale in cache_dir.glob(f"{item.id}-*"):  # earlier versions of this entry's builder
        if stale != entry_dir and stale.name.removeprefix(f"{item.id}-").isalnum():
            shutil.rmtree(stale, ignore_errors=True)
    logger.info("Built tiny %s in %.1f s.", item.id, time.perf_counter() - started)
    return entry_dir


def _link_tree(source: Path, destination: Path) -> None:
    """Hard-link every file under `source` into the same place under `destination` (copy across file systems)."""
    for path in source.rglob("*"):
        if not path.is_file() or path.name == _COMPLETE:
            continue
        target = destination / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            os.link(path, target)
        except OSError:
            shutil.copy2(path, target)


def build_all(models_dir: Path, only: set[str] | None = None, cache_dir: Path | None = None) -> list[Path]:
    """Put the tiny stand-in of every manifest entry that has a builder (or those in `only`) into `models_dir`.

    Each is built once into `cache_dir` (default: `default_cache_dir()`) and linked from there. Returns the paths of
    the manifest's tiny files in `models_dir`.
    """
    registry = builders()
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    written = []
    for item in load_manifest():
        if item.id not in registry or (only is not None and item.id not in only):
            continue
        _link_tree(_cached_entry(item, registry[item.id], cache_dir), Path(models_dir))
        written.append(Path(models_dir) / item.folder / item.tiny_filename)
    return written
