"""The sha256 of a model file, cached beside it in a `<file>.sha256` sidecar that is valid while size and mtime match.

Used by install.py (which loads this module on its own, before the pack's requirements are in: standard library only)
to spare re-hashing a 4 GB checkpoint on every run, and by the film's unit keys (core/film/model_digests.py) to see a
model file replaced under the same name. A sidecar that cannot be written (a read-only models folder) costs a re-hash
in the next process only: this process remembers the hash too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

logger = logging.getLogger("LongForm")

SIDECAR_SUFFIX = ".sha256"
CHUNK = 1 << 20

_hashed: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, for sidecars that could not be written


def sha256_file(path: str | os.PathLike) -> str:
    """The hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar_path(path: Path) -> Path:
    """Where the sha256 of `path` is cached."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


def current_sidecar(path: Path) -> dict | None:
    """The `.sha256` sidecar record of `path` when it still describes the file (same size and mtime), else None."""
    info = path.stat()
    try:
        record = json.loads(sidecar_path(path).read_text(encoding="utf-8"))
        if record["size"] == info.st_size and record["mtime_ns"] == info.st_mtime_ns and record["sha256"]:
            return record
    except (OSError, ValueError, KeyError, TypeError):
        pass  # no sidecar or an unreadable one
    return None


def write_sidecar(path: Path, digest: str, source_sha256: str | None = None) -> None:
    """Record `digest` as the sha256 of `path` as it is now (size and mtime); `source_sha256`: a converted file's
    download. OSError when the folder is read-only."""
    info = path.stat()
    record = {"sha256": digest, "size": info.st_size, "mtime_ns": info.st_mtime_ns}
    if source_sha256:
        record["source_sha256"] = source_sha256
    sidecar_path(path).write_text(json.dumps(record) + "\n", encoding="utf-8")


def cached_sha256(path: str | os.PathLike) -> str:
    """The sha256 of `path`: from its sidecar (or this process's memory) while size and mtime still match, else
    hashed once and cached. Any change to the file that moves its size or mtime invalidates the cache."""
    path = Path(path)
    record = current_sidecar(path)
    if record is not None:
        return record["sha256"]
    info = path.stat()
    remembered = (str(path.resolve()), info.st_size, info.st_mtime_ns)
    if remembered in _hashed:
        return _hashed[remembered]
    logger.info("Checking the sha256 of %s (%.1f MiB; once, then cached)...", path.name, info.st_size / 2**20)
    digest = sha256_file(path)
    _hashed[remembered] = digest
    try:
        write_sidecar(path, digest)
    except OSError as error:
        logger.warning("Could not cache the sha256 of %s beside it (%s): it is hashed again in the next process.",
                       path, error)
    return digest
