"""The content of the model files a film unit's workflow names, for the unit's key: a model replaced under the same
name makes the unit (and the units after it) render again instead of counting as done.

Each file's sha256 is cached in a `<file>.sha256` sidecar while its size and mtime hold (core/file_hash.py, the one
install.py writes), so a plan hashes a 2 GB checkpoint once, not on every run. Files are found as the servers find
them: ComfyUI's model folders inside ComfyUI, else the models dir (`host.set_models_dir`, scripts/film.py's
--models-dir). A file not there is keyed by its name only, with a warning: this machine cannot see its content.
"""

from __future__ import annotations

import logging
from typing import Any

from .. import host
from ..file_hash import SIDECAR_SUFFIX, cached_sha256

logger = logging.getLogger("LongForm")

# (node class, input) -> model folder, for every loader a unit workflow may hold. "insightface" names a folder.
MODEL_INPUTS = {
    ("CheckpointLoaderSimple", "ckpt_name"): "checkpoints",
    ("UNETLoader", "unet_name"): "diffusion_models",
    ("VAELoader", "vae_name"): "vae",
    ("LoraLoader", "lora_name"): "loras",
    ("LoraLoaderModelOnly", "lora_name"): "loras",
    ("LF_LoraLoader", "lora_name"): "loras",
    ("ControlNetLoader", "control_net_name"): "controlnet",
    ("CLIPVisionLoader", "clip_name"): "clip_vision",
    ("LF_IdentityLock", "ipadapter"): "ipadapter",
    ("LF_IdentityLock", "insightface"): "insightface",
}
NO_MODEL = "none"  # LF_IdentityLock's insightface when FaceID is not used

_unseen: set[tuple[str, str]] = set()  # warned once per process


def model_digests(workflow: dict[str, Any] | None) -> dict[str, str]:
    """`folder/name` -> sha256 of every model file (or every file of a model folder) the API-format `workflow`
    loads; a file this machine cannot find maps to "not found here"."""
    digests: dict[str, str] = {}
    for node in (workflow or {}).values():
        for name, value in node.get("inputs", {}).items():
            folder = MODEL_INPUTS.get((node.get("class_type"), name))
            if folder is None or not isinstance(value, str) or value == NO_MODEL:
                continue
            digests[f"{folder}/{value}"] = _digest(folder, value)
    return dict(sorted(digests.items()))


def _digest(folder: str, name: str) -> str:
    try:
        path = host.model_path(folder, name, f"{folder} model")
    except FileNotFoundError:
        if (folder, name) not in _unseen:
            _unseen.add((folder, name))
            logger.warning("The film's unit keys cannot see %s/%s (not found on this machine): a file replaced "
                           "under that name will not make its units render again. Run the plan where the models "
                           "are (--models-dir).", folder, name)
        return "not found here"
    if path.is_dir():
        return ",".join(f"{file.relative_to(path).as_posix()}:{cached_sha256(file)}"
                        for file in sorted(path.rglob("*")) if file.is_file() and not file.name.endswith(SIDECAR_SUFFIX))
    return cached_sha256(path)

