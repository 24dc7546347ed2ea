"""models_manifest.json: the schema every entry must follow, checked on the shipped file."""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath

import pytest

from longform_pack.core import manifest

RAW = json.loads(manifest.MANIFEST_PATH.read_text(encoding="utf-8"))
ENTRIES = manifest.load_manifest()

REQUIRED = {
    "id": str, "group": str, "folder": str, "filename": str, "url": str, "size_bytes": (int, type(None)),
    "sha256": (str, type(None)), "license": str, "tiny_filename": (str, type(None)),
}
OPTIONAL = {"description": str, "unpack": str}
GROUPS = {"stylize", "identity", "probe", "animate", "ddpm", "video"}  # the node families and the film's video models
UNPACK_KINDS = {"zip", "torch-to-safetensors"}  # what install.py knows how to do
# The list: every family's real model has an entry.
EXPECTED_IDS = {
    "sd15", "controlnet_scribble", "lora_pokemon", "ipadapter_sd15", "ipadapter_plus_sd15", "ipadapter_faceid_sd15",
    "clip_vision_h", "insightface_buffalo_l", "clip_probe", "resnet50", "bert_base_uncased",
    "wan22_ti2v_5b", "wan22_vae", "umt5_xxl",
}
# Models that cannot be tiny: ComfyUI builds them at full size whatever the file holds (FACTS: umt5-xxl, 5.7 B).
NO_TINY_STAND_IN = {"umt5_xxl"}


def _ids(entries):
    return [entry["id"] for entry in entries]


def test_top_level_shape():
    assert RAW["schema_version"] == 1
    assert isinstance(RAW["models"], list) and RAW["models"]
    assert set(_ids(RAW["models"])) == EXPECTED_IDS


@pytest.mark.parametrize("entry", RAW["models"], ids=_ids(RAW["models"]))
def test_entry_fields_have_the_right_types(entry):
    missing = set(REQUIRED) - set(entry)
    unknown = set(entry) - set(REQUIRED) - set(OPTIONAL)
    assert not missing and not unknown, f"missing {missing}, unknown {unknown}"
    for field, kinds in {**REQUIRED, **OPTIONAL}.items():
        if field in entry:
            assert isinstance(entry[field], kinds) and not isinstance(entry[field], bool), field
    for field in ("id", "folder", "filename", "url", "license", "tiny_filename"):
        if field == "tiny_filename" and entry["id"] in NO_TINY_STAND_IN:
            assert entry[field] is None
            continue
        assert entry[field].strip() == entry[field] and entry[field], field
    assert re.fullmatch(r"[a-z0-9_]+", entry["id"])


@pytest.mark.parametrize("entry", RAW["models"], ids=_ids(RAW["models"]))
def test_entry_values_are_valid(entry):
    assert entry["group"] in GROUPS
    assert entry["url"].startswith("https://")
    assert entry["sha256"] is None or re.fullmatch(r"[0-9a-f]{64}", entry["sha256"])
    assert entry["size_bytes"] is None or entry["size_bytes"] > 0
    assert entry.get("unpack") is None or entry["unpack"] in UNPACK_KINDS
    assert entry["tiny_filename"] != entry["filename"]
    if entry.get("unpack") == "torch-to-safetensors":
        assert entry["filename"].endswith(".safetensors")


@pytest.mark.parametrize("entry", RAW["models"], ids=_ids(RAW["models"]))
def test_no_path_leaves_the_models_folder(entry):
    for field in ("folder", "filename", "tiny_filename"):
        value = entry[field]
        if value is None:  # no tiny stand-in
            continue
        parts = PurePosixPath(value).parts
        assert not value.startswith("/") and "\\" not in value and ":" not in value, (field, value)
        assert ".." not in parts and "." not in parts and parts, (field, value)


def test_ids_and_target_paths_are_unique():
    ids = _ids(RAW["models"])
    assert len(ids) == len(set(ids))
    targets = [(e["folder"], e["filename"]) for e in RAW["models"]]
    tiny = [(e["folder"], e["tiny_filename"]) for e in RAW["models"] if e["tiny_filename"]]
    assert len(set(targets)) == len(targets)
    assert len(set(tiny)) == len(tiny)
    assert not set(targets) & set(tiny)


def test_the_pack_reads_the_same_entries():
    assert [entry.id for entry in ENTRIES] == _ids(RAW["models"])
    assert manifest.entry("sd15").install_command == "python install.py --models stylize"


def test_files_in_the_packs_own_folders_have_an_extension_comfyui_lists():
    from longform_pack.core import host

    checked = 0
    for entry in RAW["models"]:
        extensions = host.PACK_MODEL_FOLDERS.get(entry["folder"])
        if extensions is None or entry.get("unpack") == "zip":  # ComfyUI's own folder, or an unpacked folder
            continue
        assert entry["filename"].endswith(extensions) and entry["tiny_filename"].endswith(extensions), entry["id"]
        checked += 1
    assert checked >= 5  # the IP-Adapters and the probe's encoders


def test_only_the_models_that_cannot_be_tiny_lack_a_tiny_filename():
    assert {entry["id"] for entry in RAW["models"] if entry["tiny_filename"] is None} == NO_TINY_STAND_IN
