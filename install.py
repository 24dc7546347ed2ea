#!/usr/bin/env python3
"""ComfyUI-LongForm installer, in the ComfyUI-Manager convention.

    python install.py                      install requirements.txt, insightface and one onnxruntime build into this
                                           Python, copy the example inputs
    python install.py --models [GROUP...]  download the manifest's models (all groups when none is named)
    python install.py --tiny --models-dir DIR   build the tiny seeded test stand-ins

Downloads use the standard library only, so they run in any ComfyUI Python before the requirements are in; torch is
imported only to convert the one publisher file that exists solely as a PyTorch pickle (see UNPACK_TORCH).
"""

from __future__ import annotations

import argparse
import http.client
import importlib
import importlib.util
import json
import logging
import os
import pickle
import re
import shutil
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the real class is loaded from core/manifest.py at run time, without importing the pack
    from core.manifest import ModelEntry

# Not resolved: a pack linked into custom_nodes/ must still find the ComfyUI it is linked into.
PACK_ROOT = Path(os.path.abspath(__file__)).parent
DEFAULT_MANIFEST = PACK_ROOT / "models_manifest.json"
EXAMPLES_DIR = PACK_ROOT / "example_inputs"

logger = logging.getLogger("LongForm")

EXIT_OK = 0
EXIT_USAGE = 2  # bad arguments, a missing folder, not inside ComfyUI without --models-dir/--input-dir
EXIT_DOWNLOAD = 3  # HTTP error (404...) or the network still failing after every retry
EXIT_VERIFY = 4  # sha256 or size mismatch (the bad file is deleted), or a damaged/unsafe archive or pickle
EXIT_MANIFEST = 5  # unreadable manifest, a path that would land outside the models dir, no sha256, not https
EXIT_PIP = 6  # pip could not install requirements.txt, or torch/safetensors missing for a conversion
EXIT_TINY = 7  # a tiny-model builder failed
EXIT_IO = 8  # a file could not be read or written (permissions, disk full)
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = f"""exit codes:
  {EXIT_OK}    success (or nothing to do)
  {EXIT_USAGE}    usage error: bad arguments, a missing folder, or ComfyUI not found (pass --models-dir/--input-dir)
  {EXIT_DOWNLOAD}    download failed: an HTTP error such as 404, or the network still failing after the retries
  {EXIT_VERIFY}    verification failed: sha256 or size mismatch (the bad file is deleted), or a damaged/unsafe zip or
       a pickle holding more than tensors
  {EXIT_MANIFEST}    manifest error: unreadable, a path that would land outside the models dir, an entry without a
       sha256 or a URL that is not https (nothing downloaded)
  {EXIT_PIP}    pip could not install requirements.txt (or a conversion lacks torch/safetensors)
  {EXIT_TINY}    a tiny-model builder failed
  {EXIT_IO}    a file could not be read or written (permissions, disk full)
  {EXIT_INTERRUPTED}  interrupted (Ctrl+C); partial downloads are kept as .part files and resume on the next run

environment:
  LONGFORM_INSTALL_BACKOFF  first retry delay in seconds (default 2, doubled on each retry)
  LONGFORM_PROGRESS=0       no progress bars
"""

BACKOFF_ENV = "LONGFORM_INSTALL_BACKOFF"
USER_AGENT = "ComfyUI-LongForm-install/1"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")  # plain http is allowed only from this machine (tests)
CHUNK = 1 << 20
# Statuses worth retrying: the server or a proxy is busy or failing for now, not refusing this file.
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
PART_SUFFIX = ".part"
UNPACK_MARKER = ".longform-install.json"
# How a download becomes the installed `filename` (the manifest's "unpack"): absent = as is; "zip" = an archive
# unpacked into the folder `filename`; "torch-to-safetensors" = a PyTorch pickle state dict (the only form some
# publishers offer) saved as the .safetensors file `filename`, loaded with weights_only so no pickled code runs.
UNPACK_ZIP = "zip"
UNPACK_TORCH = "torch-to-safetensors"
UNPACK_KINDS = (UNPACK_ZIP, UNPACK_TORCH)
# Bounds on an archive (a zip bomb): the manifest's one zip, insightface's buffalo_l, holds 5 ONNX files, under 1 GB.
# Python's zipfile stops each member at its declared size (a larger one fails its CRC), so the declared sizes bound
# what unpacking writes.
MAX_ZIP_ENTRIES = 1_000
MAX_UNPACKED_BYTES = 8 * 2**30


class InstallError(Exception):
    """A failure the user can act on: logged as one line, then the process exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE):
        super().__init__(message)
        self.exit_code = exit_code


class _Transient(Exception):
    """A network failure worth retrying (dropped connection, timeout, 5xx)."""


@dataclass(frozen=True)
class DownloadOptions:
    """How downloads behave: retries, the first backoff delay (doubled each retry), socket timeout, progress bars."""

    retries: int = 5
    backoff: float = 2.0
    timeout: float = 60.0
    progress: bool = True


# ------------------------------------------------------------------------------------------------------------ manifest


def _core_module(stem: str):
    """core/<stem>.py loaded on its own (manifest.py and file_hash.py need only the standard library), without
    importing the whole pack."""
    name = f"longform_install_{stem}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, PACK_ROOT / "core" / f"{stem}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses looks its module up while building ModelEntry
        spec.loader.exec_module(module)
    return sys.modules[name]


file_hash = _core_module("file_hash")  # sha256 of a file, cached in a `<file>.sha256` sidecar


def load_entries(path: Path) -> list[ModelEntry]:
    """The manifest's entries (core.manifest.ModelEntry), or InstallError(EXIT_MANIFEST) saying what is wrong."""
    if not path.is_file():
        raise InstallError(f"--manifest: no file at {path}. Pass the path of a models_manifest.json.", EXIT_MANIFEST)
    load_manifest = _core_module("manifest").load_manifest
    load_manifest.cache_clear()  # read the file as it is now, even if this process read it before
    try:
        return list(load_manifest(path))
    except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError; TypeError: unknown/missing key
        raise InstallError(f"Manifest {path} is not valid: {exc}", EXIT_MANIFEST) from None


def _check_relative(value: str, field: str, item_id: str) -> None:
    """Refuse a manifest path that could leave the folder it is joined to (absolute, '..', drive, backslash)."""
    if "\x00" in value:
        raise InstallError(f"Manifest entry '{item_id}': {field} {value!r} holds a NUL character, which no file name "
                           "may hold; fix the manifest. Nothing was downloaded.", EXIT_MANIFEST)
    parts = PurePosixPath(value).parts
    if (
        not value
        or value.startswith(("/", "\\"))
        or "\\" in value
        or ":" in value
        or ".." in parts
        or all(part == "." for part in parts)
    ):
        raise InstallError(
            f"Manifest entry '{item_id}': {field} '{value}' would land outside the models dir; it must be a plain "
            f"relative path such as 'checkpoints' or 'models/buffalo_l'. Nothing was downloaded.",
            EXIT_MANIFEST,
        )


def target_path(models_dir: Path, item: ModelEntry) -> Path:
    """Where entry `item` lands: <models_dir>/<folder>/<filename>, after refusing paths that would escape it.

    The check is on the manifest's text, not on resolved paths, so users' symlinked model folders keep working.
    """
    _check_relative(item.folder, "folder", item.id)
    _check_relative(item.filename, "filename", item.id)
    target = Path(os.path.normpath(models_dir / item.folder / item.filename))
    root = Path(os.path.normpath(models_dir))
    if root not in target.parents:
        raise InstallError(f"Manifest entry '{item.id}' lands outside {root}; refusing it.", EXIT_MANIFEST)
    return target


def select_entries(entries: list[ModelEntry], groups: list[str]) -> list[ModelEntry]:
    """The entries of `groups` (all of them when empty); InstallError naming the known groups otherwise."""
    known = sorted({item.group for item in entries})
    unknown = [group for group in groups if group not in known]
    if unknown:
        raise InstallError(f"--models: unknown group(s) {', '.join(unknown)}. Known groups: {', '.join(known)}.")
    return [item for item in entries if not groups or item.group in groups]


# ------------------------------------------------------------------------------------------------------------ progress


def _human(size: int | None) -> str:
    """A byte count in binary units, e.g. '4.0 GiB'."""
    if size is None:
        return "size unknown"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


class _PlainBar:
    """A one-line progress bar on stderr for Pythons without tqdm; redraws at most twice a second."""

    def __init__(self, total: int | None, initial: int, desc: str):
        self.total, self.done, self.desc = total, initial, desc
        self._last = 0.0
        self._started = time.monotonic()
        self._start_bytes = initial

    def update(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._last >= 0.5:
            self._last = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = (self.done - self._start_bytes) / max(now - self._started, 1e-6)
        share = f"{100 * self.done / self.total:5.1f}% " if self.total else ""
        sys.stderr.write(
            f"\r{self.desc}: {share}{_human(self.done)} / {_human(self.total)}  {_human(int(rate))}/s   "
        )
        sys.stderr.flush()

    def close(self) -> None:
        self._draw(time.monotonic())
        sys.stderr.write("\n")
        sys.stderr.flush()


class _NoBar:
    """No progress output (--no-progress or LONGFORM_PROGRESS=0)."""

    def update(self, count: int) -> None:
        """Ignore progress."""

    def close(self) -> None:
        """Nothing to close."""


def _progress_bar(enabled: bool, total: int | None, initial: int, desc: str):
    """tqdm when it can be imported, else a plain bar; a silent one when progress is off."""
    if not enabled:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:
        return _PlainBar(total, initial, desc)
    return tqdm(
        total=total, initial=initial, desc=desc, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr
    )


# ------------------------------------------------------------------------------------------------------ verification


def _verify_download(item: ModelEntry, part: Path, url: str) -> str:
    """Check a finished download's size and sha256 against the manifest; delete it and raise on a mismatch."""
    size = part.stat().st_size
    if item.size_bytes is not None and size != item.size_bytes:
        part.unlink()
        raise InstallError(
            f"'{item.id}': the download from {url} is {size} bytes, the manifest says {item.size_bytes}. The file "
            f"was deleted; run the command again, and if it fails again report the changed file.",
            EXIT_VERIFY,
        )
    digest = file_hash.sha256_file(part)
    if digest != item.sha256.lower():
        part.unlink()
        raise InstallError(
            f"'{item.id}': sha256 mismatch for the download from {url}: expected {item.sha256}, got {digest}. The "
            f"file was deleted; run the command again, and if it fails again the file at the URL has changed.",
            EXIT_VERIFY,
        )
    return digest


def _file_installed(item: ModelEntry, target: Path) -> bool:
    """True when `target` is there and matches the manifest (the hash is cached next to it)."""
    if not target.is_file():
        return False
    size = target.stat().st_size
    if item.size_bytes is not None and size != item.size_bytes:
        logger.warning("'%s': %s is %d bytes, not %d; downloading it again.", item.id, target, size, item.size_bytes)
        return False
    digest = file_hash.cached_sha256(target)
    if digest != item.sha256.lower():
        logger.warning("'%s': %s has sha256 %s, not the manifest's; downloading it again.", item.id, target, digest)
        return False
    return True


def _folder_installed(item: ModelEntry, target: Path) -> bool:
    """True when an unpacked archive's marker is there, names this archive's hash, and all its files are intact."""
    try:
        marker = json.loads((target / UNPACK_MARKER).read_text(encoding="utf-8"))
        files = marker["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if marker.get("sha256") != item.sha256.lower():
        return False
    return all((target / rel).is_file() and (target / rel).stat().st_size == size for rel, size in files.items())


def _converted_installed(item: ModelEntry, target: Path) -> bool:
    """True when a converted file is there, unchanged since conversion, and made from the manifest's download."""
    if not target.is_file():
        return False
    record = file_hash.current_sidecar(target)
    if record is None or record.get("source_sha256") != item.sha256.lower():
        logger.warning("'%s': %s cannot be traced to the manifest's download; converting it again.", item.id, target)
        return False
    return True


def is_installed(item: ModelEntry, target: Path) -> bool:
    """True when the entry is already in place and verified, so nothing needs downloading."""
    if item.unpack == UNPACK_ZIP:
        return _folder_installed(item, target)
    if item.unpack == UNPACK_TORCH:
        return _converted_installed(item, target)
    return _file_installed(item, target)


# ------------------------------------------------------------------------------------------------------------ download


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to a URL that `check_url` accepts, before connecting to it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # urllib's signature
        check_url(newurl, f"{req.full_url} redirected")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_CheckedRedirects)


def _open(url: str, offset: int, timeout: float, desc: str):
    """Open `url` from byte `offset` (a Range request when > 0); a 416 answer comes back as None."""
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        return _OPENER.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset:
            return None  # nothing after `offset`: the .part already holds the whole file; verification decides
        if exc.code in RETRY_STATUSES:
            raise _Transient(f"HTTP {exc.code} {exc.reason}") from None
        raise InstallError(
            f"'{desc}': HTTP {exc.code} {exc.reason} for {url}. Check the URL in the manifest, or download the file "
            f"by hand into the folder shown above.",
            EXIT_DOWNLOAD,
        ) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        raise _Transient(f"{getattr(exc, 'reason', exc)}") from None


def _fetch_once(url: str, part: Path, expected: int | None, options: DownloadOptions, desc: str) -> None:
    """One attempt: append the rest of `url` to `part` (HTTP Range), or start over if the server ignores ranges."""
    have = part.stat().st_size if part.exists() else 0
    if expected is not None and have >= expected:
        if have == expected:
            return
        have = 0  # longer than the file: a stale .part, start over
    response = _open(url, have, options.timeout, desc)
    if response is None:
        return
    with response:
        start = 0
        if have and response.status == 206:
            range_start = response.headers.get("Content-Range", "").removeprefix("bytes ").split("-")[0]
            if range_start != str(have):
                raise _Transient(f"the server answered Range bytes={have}- with Content-Range {range_start!r}")
            start = have
            logger.info("%s: resuming at %s", desc, _human(have))
        elif have:
            logger.info("%s: the server ignored the resume request; starting over", desc)
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else expected
        received = 0
        bar = _progress_bar(options.progress, total, start, desc)
        try:
            with open(part, "ab" if start else "wb") as handle:
                while True:
                    try:
                        block = response.read(CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        raise _Transient(f"connection lost after {_human(start + received)}: {exc}") from None
                    if not block:
                        break
                    handle.write(block)
                    received += len(block)
                    bar.update(len(block))
        finally:
            bar.close()
    if total is not None and start + received < total:
        raise _Transient(f"connection dropped after {start + received} of {total} bytes")


def fetch(url: str, part: Path, expected: int | None, options: DownloadOptions, desc: str) -> None:
    """Download `url` into `part`, resuming what is there, retrying transient failures with exponential backoff."""
    part.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(options.retries + 1):
        try:
            _fetch_once(url, part, expected, options, desc)
            return
        except _Transient as exc:
            if attempt == options.retries:
                raise InstallError(
                    f"'{desc}': download from {url} failed after {attempt + 1} attempts ({exc}). The partial file "
                    f"{part.name} is kept: run the command again to resume.",
                    EXIT_DOWNLOAD,
                ) from None
            delay = options.backoff * 2**attempt
            logger.warning("%s: %s; retrying in %.1f s (retry %d of %d)", desc, exc, delay, attempt + 1,
                           options.retries)
            time.sleep(delay)


# ------------------------------------------------------------------------------------------------------------- unpack


def _member_path(info: zipfile.ZipInfo, archive: Path) -> PurePosixPath:
    """A zip member's relative path, refusing absolute paths, '..', drives and symlinks (zip-slip)."""
    name = info.filename
    path = PurePosixPath(name)
    is_link = stat.S_ISLNK(info.external_attr >> 16)
    if is_link or name.startswith(("/", "\\")) or "\\" in name or ":" in name or ".." in path.parts:
        raise InstallError(
            f"{archive.name} holds an unsafe entry '{name}' (absolute, '..', or a link); refusing to unpack it.",
            EXIT_VERIFY,
        )
    return path


def _check_archive_size(members: list[zipfile.ZipInfo], archive: Path) -> None:
    """InstallError(EXIT_VERIFY) for an archive with more than MAX_ZIP_ENTRIES entries or MAX_UNPACKED_BYTES in all."""
    unpacked = sum(info.file_size for info in members)
    if len(members) > MAX_ZIP_ENTRIES or unpacked > MAX_UNPACKED_BYTES:
        raise InstallError(
            f"{archive.name} holds {len(members)} entries, {_human(unpacked)} unpacked; an archive may hold at most "
            f"{MAX_ZIP_ENTRIES} entries and {_human(MAX_UNPACKED_BYTES)}. Refusing to unpack it (a damaged or "
            "hostile download).",
            EXIT_VERIFY,
        )


def unpack_zip(archive: Path, target: Path, digest: str) -> int:
    """Unpack `archive` into the folder `target` and write a marker listing its files; return the file count.

    Files go to a staging folder first and are then moved into place, so a failure leaves no half-written file.
    A single top-level folder named like `target` (e.g. buffalo_l/) is stripped.
    """
    staging = target.with_name(target.name + ".unpacking")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with zipfile.ZipFile(archive) as bundle:
            _check_archive_size(bundle.infolist(), archive)
            members = [(info, _member_path(info, archive)) for info in bundle.infolist() if not info.is_dir()]
            tops = {path.parts[0] for _, path in members}
            strip = tops == {target.name} and all(len(path.parts) > 1 for _, path in members)
            files: dict[str, int] = {}
            for info, path in members:
                rel = PurePosixPath(*path.parts[1:]) if strip else path
                dest = staging / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with bundle.open(info) as source, open(dest, "wb") as sink:
                    shutil.copyfileobj(source, sink, CHUNK)
                files[rel.as_posix()] = info.file_size
    except zipfile.BadZipFile as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise InstallError(f"{archive.name} is not a valid zip ({exc}); it was deleted.", EXIT_VERIFY) from None
    except InstallError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    for rel in files:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, dest)
    shutil.rmtree(staging, ignore_errors=True)
    marker = {"sha256": digest, "files": files}
    (target / UNPACK_MARKER).write_text(json.dumps(marker, indent=1) + "\n", encoding="utf-8")
    return len(files)


def convert_to_safetensors(source: Path, target: Path, source_digest: str) -> None:
    """Save the PyTorch state dict in `source` as the .safetensors file `target` (via a .part file, then renamed).

    torch and safetensors are imported here only: ComfyUI's Python has both, and no other entry needs them.
    """
    try:
        import torch
        from safetensors.torch import save_file
    except ImportError as exc:
        raise InstallError(
            f"Converting {source.name} to safetensors needs torch and safetensors ({exc}): run "
            f"`python install.py` first, or use ComfyUI's Python.",
            EXIT_PIP,
        ) from None
    try:
        state = torch.load(source, map_location="cpu", weights_only=True)  # weights_only: no pickled code runs
    except (RuntimeError, pickle.UnpicklingError, EOFError, OSError, ValueError) as exc:
        raise InstallError(f"{source.name} is not a readable PyTorch weights file ({exc}).", EXIT_VERIFY) from None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InstallError(f"{source.name} is not a flat state dict of tensors; cannot convert it.", EXIT_VERIFY)
    # clone: safetensors refuses tensors that share storage (tied weights), and a copy makes each one stand alone
    tensors = {key: value.detach().clone().contiguous() for key, value in state.items()}
    staging = target.with_name(target.name + PART_SUFFIX)
    save_file(tensors, str(staging), metadata={"format": "pt", "converted_from_sha256": source_digest})
    os.replace(staging, target)
    file_hash.write_sidecar(target, file_hash.sha256_file(target), source_sha256=source_digest)


# ----------------------------------------------------------------------------------------------------------- commands


def _download_path(item: ModelEntry, target: Path) -> Path:
    """Where `item`'s download is written (and resumed from) before it becomes `target`."""
    middle = {UNPACK_ZIP: ".zip", UNPACK_TORCH: ".download"}.get(item.unpack, "")
    return target.with_name(target.name + middle + PART_SUFFIX)


def check_url(url: str, what: str) -> str:
    """`url` when it is https, or http to this machine (the tests' loopback server); InstallError otherwise.

    file://, ftp:// and plain http to other hosts are refused: a download is trusted only through its sha256, and a
    local path in a manifest could read any file on the machine.
    """
    parsed = urllib.parse.urlsplit(url)
    loopback = parsed.scheme == "http" and parsed.hostname in LOOPBACK_HOSTS
    if parsed.scheme != "https" and not loopback:
        raise InstallError(
            f"{what}: the URL {url!r} is not https; the installer downloads only https URLs (and http from this "
            "machine, for tests). Nothing was downloaded.",
            EXIT_MANIFEST,
        )
    return url


def _check_entry(models_dir: Path, item: ModelEntry) -> Path:
    """The entry's target path, after refusing escaping paths, unknown unpack kinds, URLs that are not https and
    entries without a sha256 (before any download)."""
    if item.unpack is not None and item.unpack not in UNPACK_KINDS:
        raise InstallError(
            f"Manifest entry '{item.id}': unknown unpack '{item.unpack}'; known: {', '.join(UNPACK_KINDS)}.",
            EXIT_MANIFEST,
        )
    if not item.sha256 or not re.fullmatch(r"[0-9a-fA-F]{64}", item.sha256):
        raise InstallError(
            f"Manifest entry '{item.id}' has no sha256 (got {item.sha256!r}): every download is verified against "
            "the manifest's sha256, so an entry without one is refused. Add the file's published sha256.",
            EXIT_MANIFEST,
        )
    check_url(item.url, f"Manifest entry '{item.id}'")
    return target_path(models_dir, item)



def install_entry(item: ModelEntry, models_dir: Path, options: DownloadOptions) -> bool:
    """Download, verify and place one entry; False when it was already there and verified."""
    target = _check_entry(models_dir, item)
    if is_installed(item, target):
        logger.info("'%s': %s is already there and verified.", item.id, target)
        return False
    if not item.url:
        raise InstallError(f"'{item.id}': the manifest gives no URL; put {target.name} in {target.parent} yourself.",
                           EXIT_MANIFEST)
    part = _download_path(item, target)
    logger.info("'%s': downloading %s (%s) to %s", item.id, item.url, _human(item.size_bytes), target)
    fetch(item.url, part, item.size_bytes, options, item.id)
    digest = _verify_download(item, part, item.url)
    if item.unpack is None:
        os.replace(part, target)
        file_hash.write_sidecar(target, digest)
        logger.info("'%s': saved %s", item.id, target)
        return True
    try:
        if item.unpack == UNPACK_ZIP:
            count = unpack_zip(part, target, digest)
            logger.info("'%s': unpacked %d files into %s", item.id, count, target)
        else:
            convert_to_safetensors(part, target, digest)
            logger.info("'%s': converted the download to safetensors: %s", item.id, target)
    except InstallError as exc:
        raise InstallError(f"'{item.id}': {exc} (from {item.url})", exc.exit_code) from None
    finally:
        part.unlink(missing_ok=True)  # a verified download that failed to unpack is damaged: fetch it afresh
    return True


def install_models(entries: list[ModelEntry], models_dir: Path, options: DownloadOptions) -> int:
    """Install every entry, carrying on past failures; return the exit code of the first failure (0 when none)."""
    for item in entries:  # refuse a bad manifest before downloading anything
        _check_entry(models_dir, item)
    first_failure, fetched = EXIT_OK, 0
    for item in entries:
        try:
            fetched += install_entry(item, models_dir, options)
        except InstallError as exc:
            logger.error("%s", exc)
            first_failure = first_failure or exc.exit_code
    failed = "with errors above" if first_failure else "done"
    logger.info("Models %s: %d downloaded, %d entries in %s.", failed, fetched, len(entries), models_dir)
    return first_failure


def dry_run(entries: list[ModelEntry], models_dir: Path) -> None:
    """List what --models would download: each entry's path, size and state, then the total."""
    missing_bytes, unknown = 0, 0
    for item in entries:
        target = _check_entry(models_dir, item)
        part = _download_path(item, target)
        if is_installed(item, target):
            state = "present, verified"
        else:
            state = f"to download ({_human(part.stat().st_size)} already in {part.name})" if part.exists() else \
                "to download"
            if item.size_bytes is None:
                unknown += 1
            else:
                missing_bytes += item.size_bytes
        rel = target.relative_to(models_dir).as_posix() + ("/" if item.unpack == UNPACK_ZIP else "")
        logger.info("  %-24s %-9s %-58s %12s  %s", item.id, item.group, rel, _human(item.size_bytes), state)
    note = f" (+ {unknown} of unknown size)" if unknown else ""
    logger.info("Dry run: %s to download into %s%s; nothing was written.", _human(missing_bytes), models_dir, note)


def build_tiny(models_dir: Path) -> int:
    """Build every registered tiny stand-in into `models_dir` (core.tiny.build_all); return an exit code."""
    scripts = str(PACK_ROOT / "scripts")
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    try:
        from _pack import load_pack

        tiny = importlib.import_module(f"{load_pack().__name__}.core.tiny")
    except ImportError as exc:
        raise InstallError(
            f"--tiny needs the pack's requirements ({exc}). Install them first: python install.py "
            f"(or pip install -r requirements-dev.txt).",
            EXIT_TINY,
        ) from None
    start = time.perf_counter()
    try:
        written = tiny.build_all(models_dir)
    except ImportError as exc:
        raise InstallError(f"A tiny-model builder needs a missing package ({exc}): pip install -r "
                           f"requirements-dev.txt.", EXIT_TINY) from None
    elapsed = time.perf_counter() - start
    if not written:
        logger.info("No tiny-model builders are registered yet: nothing was written to %s.", models_dir)
        return EXIT_OK
    for path in written:
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
        logger.info("  %s (%s)", path.relative_to(models_dir).as_posix(), _human(size))
    logger.info("Built %d tiny models in %s in %.1f s.", len(written), models_dir, elapsed)
    return EXIT_OK


# FaceID's face analysis. insightface requires the CPU build `onnxruntime`: installed with its requirements, pip would
# put it beside a GPU build, the two share the `onnxruntime` module folder, and the CPU one wins. So insightface goes in
# without its requirements (its other requirements are in requirements.txt) and one onnxruntime build is chosen here.
INSIGHTFACE = "insightface>=0.7.3"
ONNXRUNTIME_CPU = "onnxruntime>=1.18"
ONNXRUNTIME_GPU = "onnxruntime-gpu>=1.18"  # built for CUDA 12 on PyPI
# The distributions that provide the `onnxruntime` module (a user's own build counts as theirs to keep).
ONNXRUNTIME_BUILDS = ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino",
                      "onnxruntime-silicon", "onnxruntime-qnn", "onnxruntime-rocm", "onnxruntime-cann",
                      "onnxruntime-migraphx", "onnxruntime-coreml")


def _pip(*args: str) -> None:
    """Run pip in the Python running this script (ComfyUI's own); InstallError when it fails."""
    command = [sys.executable, "-m", "pip", "install", *args]
    if subprocess.run(command, check=False).returncode != 0:
        raise InstallError(f"pip could not install {' '.join(args)}; see its output above.", EXIT_PIP)


def installed_onnxruntime_builds() -> list[str]:
    """The onnxruntime builds installed in this Python, by distribution name (normally none or one)."""
    import importlib.metadata

    names = {re.sub(r"[-_.]+", "-", dist.metadata["Name"] or "").lower() for dist in importlib.metadata.distributions()}
    return sorted(names.intersection(ONNXRUNTIME_BUILDS))


def torch_cuda_version() -> str | None:
    """The CUDA version of this Python's torch when it sees a CUDA GPU; None without torch, on the CPU, ROCm or MPS."""
    try:
        import torch
    except ImportError:
        return None
    cuda = getattr(torch.version, "cuda", None)
    return cuda if cuda and torch.cuda.is_available() else None


@dataclass(frozen=True)
class OnnxruntimeChoice:
    """Which onnxruntime build install.py leaves: `install` is the requirement to pip-install (None: keep what is
    there), `build` its distribution name, `why` one line for the install report."""

    install: str | None
    build: str
    why: str

    def switch_hint(self) -> str:
        """How to swap this build for the other standard one, with this Python."""
        other = "onnxruntime" if self.build != "onnxruntime" else "onnxruntime-gpu"
        return (f"To switch to {other}: {sys.executable} -m pip uninstall -y {self.build} && "
                f"{sys.executable} -m pip install {other}")


def choose_onnxruntime(installed: list[str], cuda: str | None) -> OnnxruntimeChoice:
    """The build to leave: a build already installed (the user's choice), else onnxruntime-gpu where torch runs on
    CUDA 12 or newer, else the CPU build. Several builds already installed are kept and reported (see the warning)."""
    if installed:
        return OnnxruntimeChoice(None, installed[-1] if len(installed) == 1 else ", ".join(installed),
                                 "already installed (yours: kept as it is)")
    if cuda and int(cuda.split(".")[0]) >= 12:
        return OnnxruntimeChoice(ONNXRUNTIME_GPU, "onnxruntime-gpu", f"torch runs on CUDA {cuda}")
    reason = (f"torch runs on CUDA {cuda}, older than the CUDA 12 that PyPI's onnxruntime-gpu is built for" if cuda
              else "torch sees no CUDA GPU")
    return OnnxruntimeChoice(ONNXRUNTIME_CPU, "onnxruntime", reason)


def install_requirements() -> OnnxruntimeChoice:
    """pip-install requirements.txt, insightface (without its onnxruntime requirement) and one onnxruntime build into
    the Python running this script (ComfyUI's own); log which build it left and how to switch. Returns that choice."""
    requirements = PACK_ROOT / "requirements.txt"
    logger.info("Installing %s into %s", requirements.name, sys.executable)
    _pip("-r", str(requirements))
    _pip("--no-deps", INSIGHTFACE)
    choice = choose_onnxruntime(installed_onnxruntime_builds(), torch_cuda_version())
    if choice.install:
        _pip(choice.install)
    builds = installed_onnxruntime_builds()
    if len(builds) > 1:
        keep = "onnxruntime-gpu" if "onnxruntime-gpu" in builds else builds[0]
        logger.warning("Several onnxruntime builds are installed (%s): they share one module folder and the last one "
                       "installed wins, so FaceID may run on the CPU on a GPU machine. Keep one: %s -m pip uninstall "
                       "-y %s && %s -m pip install --no-deps %s", ", ".join(builds), sys.executable, " ".join(builds),
                       sys.executable, keep)
        return choice
    logger.info("onnxruntime: %s (%s). %s", choice.build, choice.why, choice.switch_hint())
    if choice.build != "onnxruntime":
        logger.info("insightface went in without its onnxruntime requirement: `pip check` lists that requirement as "
                    "missing, while %s provides the same module.", choice.build)
    return choice


def copy_examples(source: Path, input_dir: Path) -> tuple[list[Path], list[Path]]:
    """Copy the example inputs under `source` into `input_dir`, never replacing a file there; (copied, kept)."""
    copied, kept = [], []
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        dest = input_dir / path.relative_to(source)
        if dest.exists():
            kept.append(dest)
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(path, "rb") as src, open(dest, "xb") as dst:  # "x": never replace a file that appeared meanwhile
                shutil.copyfileobj(src, dst)
        except FileExistsError:
            kept.append(dest)
            continue
        shutil.copystat(path, dest)
        copied.append(dest)
    return copied, kept


# ------------------------------------------------------------------------------------------------------------------ CLI


def comfyui_root() -> Path | None:
    """The ComfyUI folder this pack sits in (<ComfyUI>/custom_nodes/<pack>/), or None."""
    return PACK_ROOT.parent.parent if PACK_ROOT.parent.name == "custom_nodes" else None


def _resolve_dir(given: str | None, default_name: str, option: str, create: bool, must_exist: bool = True) -> Path:
    """--models-dir / --input-dir, else <ComfyUI>/<default_name>; InstallError when neither can be found.

    A missing folder is created when `create`, an error when `must_exist`, else left alone (--dry-run).
    """
    if given:
        path = Path(given).expanduser()
    else:
        root = comfyui_root()
        if root is None:
            raise InstallError(
                f"This pack is not inside <ComfyUI>/custom_nodes/ ({PACK_ROOT}), so the {default_name} folder is "
                f"unknown: pass {option} DIR."
            )
        path = root / default_name
    if not path.is_dir():
        if path.exists():
            raise InstallError(f"{option}: {path} exists and is not a folder.")
        if not create and must_exist:
            raise InstallError(f"{option}: no folder at {path}. Create it or pass the right {option}.")
        if create:
            logger.info("Creating %s", path)
            try:
                path.mkdir(parents=True)
            except OSError as exc:
                raise InstallError(f"{option}: cannot create {path} ({exc.strerror}).") from None
    return Path(os.path.abspath(path))


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(
        prog="install.py",
        description="Install ComfyUI-LongForm.\n"
        "  bare:      pip-install requirements.txt, insightface and one onnxruntime build (GPU on CUDA, else CPU, or\n"
        "             the one you have) into this Python, copy the example inputs into ComfyUI's input\n"
        "  --models:  download the real weights listed in models_manifest.json (resumable, sha256-checked)\n"
        "  --tiny:    build small seeded stand-ins of every model, for tests",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--models", nargs="*", metavar="GROUP",
                        help="download the manifest's models of these groups (all when none is named)")
    parser.add_argument("--tiny", action="store_true",
                        help="build every tiny test stand-in under its tiny_filename (needs --models-dir outside "
                        "ComfyUI)")
    parser.add_argument("--models-dir", help="models root (default: <ComfyUI>/models when the pack is in "
                        "custom_nodes/)")
    parser.add_argument("--input-dir", help="where example inputs go (default: <ComfyUI>/input)")
    parser.add_argument("--manifest", default=str(DEFAULT_MANIFEST), help="manifest file (default: %(default)s)")
    parser.add_argument("--dry-run", action="store_true", help="with --models: list files, sizes and states only")
    parser.add_argument("--retries", type=int, default=5, help="retries per file after a network failure "
                        "(default: %(default)s)")
    parser.add_argument("--backoff", type=float, default=None,
                        help=f"first retry delay in seconds, doubled each retry (default: ${BACKOFF_ENV} or 2)")
    parser.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds "
                        "(default: %(default)s)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-requirements", action="store_true",
                        help="bare run: skip pip and only copy the example inputs")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    return parser


def _configure_logging(quiet: bool) -> None:
    """One plain handler on the LongForm logger (added once, so repeated main() calls don't duplicate lines)."""
    if not any(getattr(handler, "_longform_install", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[LongForm] %(message)s"))
        handler._longform_install = True
        logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)


def _backoff(value: float | None) -> float:
    if value is not None:
        return value
    text = os.environ.get(BACKOFF_ENV, "2")
    try:
        return float(text)
    except ValueError:
        raise InstallError(f"${BACKOFF_ENV}: '{text}' is not a number of seconds, e.g. 2.") from None


def _run(args: argparse.Namespace) -> int:
    """Do what the arguments ask; InstallError for anything the user can fix."""
    if args.models is None and (args.dry_run or args.manifest != str(DEFAULT_MANIFEST)):
        raise InstallError("--dry-run and --manifest go with --models, e.g. python install.py --models --dry-run.")
    if args.dry_run and args.tiny:
        raise InstallError("--dry-run only lists downloads; run --tiny on its own.")
    code = EXIT_OK
    if args.models is not None:
        entries = select_entries(load_entries(Path(args.manifest)), args.models)
        models_dir = _resolve_dir(args.models_dir, "models", "--models-dir", create=not args.dry_run,
                                  must_exist=False)
        if args.dry_run:
            dry_run(entries, models_dir)
            return EXIT_OK
        options = DownloadOptions(
            retries=max(args.retries, 0),
            backoff=_backoff(args.backoff),
            timeout=args.timeout,
            progress=not args.no_progress and os.environ.get("LONGFORM_PROGRESS", "1") != "0",
        )
        code = install_models(entries, models_dir, options)
    if args.tiny:
        tiny_code = build_tiny(_resolve_dir(args.models_dir, "models", "--models-dir", create=True))
        code = code or tiny_code
    if args.models is None and not args.tiny:
        if not args.no_requirements:
            install_requirements()
        if EXAMPLES_DIR.is_dir() and args.input_dir is None and comfyui_root() is None:
            logger.warning("Not inside <ComfyUI>/custom_nodes/: the example inputs were not copied (pass --input-dir "
                           "DIR to copy them).")
        elif EXAMPLES_DIR.is_dir():
            copied, kept = copy_examples(EXAMPLES_DIR, _resolve_dir(args.input_dir, "input", "--input-dir", False))
            for path in kept:
                logger.info("Kept your %s (not overwritten).", path)
            logger.info("Copied %d example inputs (%d already there).", len(copied), len(kept))
    return code


def main(argv: Iterable[str] | None = None) -> int:
    """Run the installer with `argv` (default: the command line); return the exit code (see --help)."""
    args = build_parser().parse_args(None if argv is None else list(argv))
    _configure_logging(args.quiet)
    try:
        return _run(args)
    except InstallError as exc:
        logger.error("%s", exc)
        return exc.exit_code
    except OSError as exc:  # disk full, permissions: the system's message says it best
        logger.error("%s", exc)
        return EXIT_IO
    except KeyboardInterrupt:
        logger.error("Interrupted. Partial downloads are kept as .part files and resume on the next run.")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
