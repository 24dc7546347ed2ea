"""`models_manifest.json`: the real models the node families use, where they come from, and their tiny stand-ins."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

MANIFEST_PATH = Path(__file__).resolve().parent.parent / "models_manifest.json"
INSTALL_HINT = "python install.py --models {group}"


@dataclass(frozen=True)
class ModelEntry:
    """One manifest entry: a real model file (or archive) and the name of its tiny stand-in.

    `tiny_filename` is None for a model that cannot be tiny (Wan's umt5-xxl text encoder: ComfyUI builds it at its
    full size whatever the file holds); tests replace the step that uses it instead.
    """

    id: str
    group: str
    folder: str
    filename: str
    url: str
    size_bytes: int | None
    sha256: str | None
    license: str
    tiny_filename: str | None
    description: str = ""
    unpack: str | None = None  # "zip": the download is an archive unpacked into a folder named `filename`

    @property
    def install_command(self) -> str:
        """The command that downloads this entry's group."""
        return INSTALL_HINT.format(group=self.group)


@lru_cache(maxsize=None)
def load_manifest(path: Path = MANIFEST_PATH) -> tuple[ModelEntry, ...]:
    """Every entry of the manifest at `path`."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return tuple(ModelEntry(**entry) for entry in data["models"])


def entry(model_id: str) -> ModelEntry:
    """The entry with id `model_id`; KeyError lists the known ids."""
    for item in load_manifest():
        if item.id == model_id:
            return item
    known = ", ".join(item.id for item in load_manifest())
    raise KeyError(f"No manifest entry '{model_id}'. Known ids: {known}.")


def entries_for_folder(folder: str) -> list[ModelEntry]:
    """Entries whose files live in the ComfyUI model folder `folder`."""
    return [item for item in load_manifest() if item.folder == folder]


def missing_model_message(folder: str, name: str, searched: list[str]) -> str:
    """The error text for a model file that is not there: where we looked and how to get it."""
    where = ", ".join(searched) or f"models/{folder}"
    for item in entries_for_folder(folder):
        if name in (item.filename, item.tiny_filename):
            return (
                f"Model file '{name}' not found in {where}. It is the manifest entry '{item.id}' "
                f"({item.description or item.filename}): download it with `{item.install_command}` from the "
                f"LongForm folder{', or `python install.py --tiny` for test stand-ins' if item.tiny_filename else ''}."
            )
    known = ", ".join(item.filename for item in entries_for_folder(folder))
    if not known:  # e.g. models/ddpm: files this pack's own nodes write, nothing to download
        return f"Model file '{name}' not found in {where}. Choose a file that is there, or put the file there."
    return (
        f"Model file '{name}' not found in {where}. Put the file there, or choose one of the manifest's "
        f"files for '{folder}' ({known}) and download it with `python install.py --models`."
    )
