"""The one rule for paths (see SECURITY.md): every file the pack reads from a name it was given lies inside ComfyUI's
input, output, temp or models folders, and every file it writes lies inside output, temp or models, after resolving
symlinks.

A ComfyUI server may be shared, so names that come from node inputs (model files, dataset folders, file name
prefixes, run names) are untrusted text. `safe_name` checks such a name (nodes call it from `VALIDATE_INPUTS`, before
any work), `readable_path` and `dataset_folder` join it to a folder and check where it lands (written files take
`core/video.py`'s `output_subdir`, which checks the same way). Paths are never taken from a file's contents (model
metadata, a run's state): derive them from a checked folder and an index instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from . import host

# Folder kinds by what the pack may do there. Any other kind is a model folder ("checkpoints", "ddpm", ...).
READABLE_KINDS = ("input", "output", "temp")

MAX_PART = 120  # characters per file or folder name: file systems take 255 bytes, and the pack appends suffixes
MAX_NAME = 240  # characters in all, subfolders included
PUNCTUATION = " _-.,()[]+=@&'!#%~"
ALLOWED_TEXT = (f"letters, digits, spaces and {PUNCTUATION.strip()}, at most {MAX_PART} characters per part")


def safe_name(value: object, field: str, subfolders: bool = True) -> str:
    """`value` as a relative name for a file or folder, or ValueError naming `field` and what is allowed.

    Refused: an empty name, a NUL or other control character, an absolute path or drive, `..` or `.` parts, empty
    parts (`a//b`), characters other than letters, digits, spaces and PUNCTUATION, over-long names. With
    `subfolders`, '/' (or '\\') separates folders; without, the name must be a single part. Surrounding spaces are
    dropped; backslashes come back as '/'.
    """
    if not isinstance(value, str):
        raise ValueError(f"'{field}' must be text; got {type(value).__name__}.")
    name = value.strip().replace("\\", "/")
    where = "a name such as 'my_run'" + (" or 'folder/my_run'" if subfolders else " (no folders)")
    if not name:
        raise ValueError(f"'{field}' is empty: give {where}.")
    if "\x00" in name:
        raise ValueError(f"'{field}' contains a NUL byte: give {where} ({ALLOWED_TEXT}).")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ValueError(f"'{field}' is {_shown(value)}: absolute paths are refused; give {where} inside ComfyUI's "
                         "folders.")
    if len(name) > MAX_NAME:
        raise ValueError(f"'{field}' is {len(name)} characters long; give at most {MAX_NAME} ({ALLOWED_TEXT}).")
    parts = name.split("/")
    if len(parts) > 1 and not subfolders:
        raise ValueError(f"'{field}' is {_shown(value)}: give a single name without '/' ({ALLOWED_TEXT}).")
    for part in parts:
        if part in ("", ".", ".."):
            raise ValueError(f"'{field}' is {_shown(value)}: empty, '.' and '..' parts are refused; give {where}.")
        if len(part) > MAX_PART:
            raise ValueError(f"'{field}' has a part of {len(part)} characters; give {ALLOWED_TEXT}.")
        bad = sorted({c for c in part if not (c.isalnum() or c in PUNCTUATION)})
        if bad:
            raise ValueError(f"'{field}' is {_shown(value)}: the characters {''.join(map(repr, bad))} are refused; "
                             f"use {ALLOWED_TEXT}.")
        if part != part.strip() or part.endswith("."):
            raise ValueError(f"'{field}' is {_shown(value)}: a part may not start or end with a space, or end with "
                             "'.'.")
    return name


def optional_name(value: object, field: str) -> str:
    """'' for an empty value (an optional name left blank), else `safe_name(value, field)`."""
    return "" if isinstance(value, str) and not value.strip() else safe_name(value, field)


def _shown(value: object, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def inside(path: str | os.PathLike, roots: Iterable[str | os.PathLike]) -> bool:
    """True when `path`, with every symlink resolved, is one of `roots` (resolved) or lies under one."""
    resolved = Path(path).resolve()
    return any(resolved.is_relative_to(Path(root).resolve()) for root in roots)


def roots(kind: str) -> list[Path]:
    """The folders of `kind`: 'input', 'output', 'temp', or a model folder name (every path ComfyUI configures)."""
    if kind == "input":
        return [host.input_dir()]
    if kind == "output":
        return [host.output_dir()]
    if kind == "temp":
        return [host.temp_dir()]
    return host.model_folder_paths(kind)


def readable_roots() -> list[Path]:
    """Every folder the pack may read from: input, output, temp and the whole models tree (with extra model paths)."""
    return [host.input_dir(), host.output_dir(), host.temp_dir(), host.models_dir(), *host.all_model_folder_paths()]


def readable_path(kind: str, name: str, field: str, subfolders: bool = True) -> Path:
    """The existing file or folder `name` in the folders of `kind`, checked by the path rule.

    ValueError for a name `safe_name` refuses or one that resolves (through symlinks) outside ComfyUI's folders;
    FileNotFoundError, saying where it looked and how to get the file, when it is not there.
    """
    name = safe_name(name, field, subfolders)
    searched = roots(kind)
    for base in searched:
        candidate = base / name
        if candidate.exists():
            if not inside(candidate, readable_roots()):
                raise ValueError(f"'{field}' {name!r} leads outside ComfyUI's input, output, temp and models folders "
                                 "(a symlink); the pack reads only inside them. Put the file itself there.")
            return candidate.resolve()
    if kind in READABLE_KINDS:
        raise FileNotFoundError(f"'{field}' {name!r} was not found in ComfyUI's {kind} folder ({searched[0]}).")
    from .manifest import missing_model_message

    raise FileNotFoundError(missing_model_message(kind, name, [str(p) for p in searched]))


def dataset_folder(name: str, field: str = "dataset") -> Path:
    """A dataset folder given by name, from ComfyUI's input folder only (subfolders allowed)."""
    path = readable_path("input", name, field)
    if not path.is_dir():
        raise ValueError(f"'{field}' {name!r} is a file in the input folder, not a folder of label subfolders.")
    return path
