"""The one reader of model files: safetensors, PyTorch pickles (weights only), JSON sidecars and ONNX files.

Model files come from the internet, or from whoever can write into the models folders, so every reader here checks
the file before a library parses it and turns every failure into a `ValueError` that names the input, the file and
the fix: zero-byte, truncated, wrong format, pickled objects, hostile JSON (too big, too deep). A loader that finds
the wrong architecture says so with `model_file_error` too. Pickles are always loaded with `weights_only=True`.
Nothing read here is ever used as a path (see core/paths.py).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

import torch

MAX_SAFETENSORS_HEADER = 100_000_000  # bytes; the real SD 1.5 checkpoint's header is under 200 kB
MAX_JSON_BYTES = 1_000_000  # a sidecar or a metadata config: the largest the pack writes is a few kB
MAX_JSON_DEPTH = 32


def fix_for(path: Path) -> str:
    """How to get a good copy of `path`: the manifest's install command when it knows the file, else a general hint."""
    from .manifest import load_manifest

    names = {path.name, path.parent.name}
    for entry in load_manifest():
        if names & {Path(name).name for name in (entry.filename, entry.tiny_filename) if name}:
            return (f"download it again with `{entry.install_command}` (it verifies the sha256), or "
                    "`python install.py --tiny` for the test stand-ins")
    return ("replace it with a good copy (`python install.py --models` downloads the manifest's files and verifies "
            "their sha256)")


def model_file_error(field: str, path: str | os.PathLike, problem: str, fix: str | None = None) -> ValueError:
    """The pack's error for a bad model file: which input, which file, what is wrong, how to fix it."""
    path = Path(path)
    return ValueError(f"'{field}': the file {path.name} ({path}) {problem}. Fix: {fix or fix_for(path)}.")


def check_file(path: str | os.PathLike, field: str, fix: str | None = None) -> Path:
    """`path` when it is a non-empty regular file, else the pack's error."""
    path = Path(path)
    if not path.is_file():
        raise model_file_error(field, path, "is not a file", fix)
    if path.stat().st_size == 0:
        raise model_file_error(field, path, "is empty (0 bytes; an interrupted download?)", fix)
    return path


# --------------------------------------------------------------------------------------------------------- safetensors


def safetensors_header(path: str | os.PathLike, field: str, fix: str | None = None
                       ) -> tuple[dict[str, tuple[int, ...]], dict[str, str]]:
    """Tensor shapes and string metadata of a .safetensors file, from its header, after checking the whole layout.

    Catches, before any library reads the file: empty, shorter than its header says, data cut off (truncated), a
    header that is not the safetensors JSON (wrong format, e.g. a pickle renamed .safetensors).
    """
    path = check_file(path, field, fix)
    size = path.stat().st_size
    with path.open("rb") as handle:
        start = handle.read(8)
        if len(start) < 8:
            raise model_file_error(field, path, f"is {size} bytes, too short for a .safetensors file (truncated?)", fix)
        (length,) = struct.unpack("<Q", start)
        if length > min(size - 8, MAX_SAFETENSORS_HEADER):
            raise model_file_error(field, path, "is not a .safetensors file, or is truncated (its header length "
                                   f"{length} does not fit a file of {size} bytes)", fix)
        raw = handle.read(length)
    header = parse_json(raw, field, path, max_bytes=MAX_SAFETENSORS_HEADER, fix=fix, what="header")
    if not isinstance(header, dict):
        raise model_file_error(field, path, "is not a .safetensors file (its header is not a JSON object)", fix)
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise model_file_error(field, path, "has a malformed metadata block (not text values)", fix)
    shapes: dict[str, tuple[int, ...]] = {}
    end = 0
    for key, info in header.items():
        try:
            shapes[key] = tuple(int(n) for n in info["shape"])
            end = max(end, int(info["data_offsets"][1]))
        except (TypeError, KeyError, IndexError, ValueError):
            raise model_file_error(field, path, f"has a malformed header entry for tensor '{key}'", fix) from None
    if end != size - 8 - length:
        problem = "is truncated" if end > size - 8 - length else "has data after its last tensor"
        raise model_file_error(field, path, f"{problem} (its tensors end at byte {8 + length + end}; the file has "
                               f"{size})", fix)
    return shapes, metadata


def load_safetensors(path: str | os.PathLike, field: str, device: str = "cpu", fix: str | None = None
                     ) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Every tensor and the metadata of a checked .safetensors file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    _, metadata = safetensors_header(path, field, fix)
    try:
        return load_file(str(path), device=device), metadata
    except (SafetensorError, OSError, RuntimeError) as error:
        raise model_file_error(field, path, f"could not be read as .safetensors ({error})", fix) from None


# ------------------------------------------------------------------------------------------------------------ pickles


def load_pickle(path: str | os.PathLike, field: str, fix: str | None = None) -> Any:
    """A PyTorch file (.bin, .pt, .pth) loaded with `weights_only=True`: tensors and plain containers only.

    A file that holds other Python objects is refused in the pack's words (a pickle can run code when it is loaded).
    """
    import pickle
    import zipfile

    path = check_file(path, field, fix)
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise model_file_error(
            field, path, "holds Python objects besides tensors; LongForm loads only plain weights, because loading "
            "such a pickle can run any code", "use the .safetensors version of the model, or the manifest's file "
            f"({fix or fix_for(path)})") from None
    except (EOFError, RuntimeError, ValueError, OSError, zipfile.BadZipFile, struct.error) as error:
        detail = f" ({error})" if str(error) else ""
        raise model_file_error(field, path, f"is truncated or not a PyTorch weights file{detail}", fix) from None


# --------------------------------------------------------------------------------------------------------------- JSON


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json(text: str | bytes, field: str, path: str | os.PathLike, max_bytes: int = MAX_JSON_BYTES,
               max_depth: int = MAX_JSON_DEPTH, fix: str | None = None, what: str = "JSON") -> Any:
    """JSON text from a model file (a sidecar, a metadata entry), bounded in size and depth; the pack's error else."""
    if len(text) > max_bytes:
        raise model_file_error(field, path, f"has a {what} of {len(text)} bytes (at most {max_bytes})", fix)
    try:
        value = json.loads(text)
    except RecursionError:
        raise model_file_error(field, path, f"has a {what} nested too deeply (at most {max_depth} levels)",
                               fix) from None
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError is a ValueError
        raise model_file_error(field, path, f"has a {what} that is not valid JSON ({error})", fix) from None
    if _depth(value) > max_depth:
        raise model_file_error(field, path, f"has a {what} nested too deeply (at most {max_depth} levels)", fix)
    return value


def read_json(path: str | os.PathLike, field: str, max_bytes: int = MAX_JSON_BYTES, fix: str | None = None) -> Any:
    """A JSON file beside a model (a sidecar), checked like `parse_json`; its size is checked before it is read."""
    path = check_file(path, field, fix)
    if path.stat().st_size > max_bytes:
        raise model_file_error(field, path, f"is {path.stat().st_size} bytes; a sidecar has at most {max_bytes}", fix)
    return parse_json(path.read_bytes(), field, path, max_bytes, fix=fix)


# --------------------------------------------------------------------------------------------------------------- ONNX


def check_onnx(path: str | os.PathLike, field: str, fix: str | None = None) -> Any:
    """The parsed ONNX model at `path` (weights kept external), or the pack's error for an empty or broken file."""
    import onnx
    from google.protobuf.message import DecodeError

    path = check_file(path, field, fix)
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except (DecodeError, ValueError, OSError, RuntimeError) as error:
        raise model_file_error(field, path, f"is not a valid ONNX model (truncated or another format: {error})",
                               fix) from None
    if not model.graph.node:
        raise model_file_error(field, path, "is an ONNX file without a graph (truncated or another format)", fix)
    return model
