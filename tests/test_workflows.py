"""The shipped workflows, statically: every model they name is a manifest file, every image they load ships with the
pack, every node they use is ComfyUI core or this pack's. (Running them is the host tests' job.)"""

import json
from pathlib import Path

import pytest
from workflow_graph import CORE_NODES

from longform_pack.core.manifest import load_manifest

REPO_ROOT = Path(__file__).resolve().parent.parent
API_WORKFLOWS = sorted((REPO_ROOT / "workflows" / "api").glob("*.json"))
MODEL_SUFFIXES = (".safetensors", ".bin", ".onnx", ".ckpt", ".pt", ".pth")
EXPECTED = {"clip_probe", "sketch_to_image", "identity_lock", "sketch_to_video", "schedule_to_ksampler",
            "ddpm_train_and_sample"}


def model_values(prompt: dict) -> list[tuple[str, str, str]]:
    """(node id, input, value) for every input value that names a model file or folder."""
    found = []
    for node_id, node in prompt.items():
        for name, value in node["inputs"].items():
            if isinstance(value, str) and (value.endswith(MODEL_SUFFIXES) or value.startswith("models/")):
                found.append((node_id, name, value))
    return found


def test_every_workflow_of_the_issue_ships_in_both_formats():
    assert {path.stem for path in API_WORKFLOWS} == EXPECTED
    assert {path.stem for path in (REPO_ROOT / "workflows").glob("*.json")} == EXPECTED


@pytest.mark.parametrize("path", API_WORKFLOWS, ids=lambda p: p.stem)
def test_every_model_a_workflow_names_is_in_the_manifest(path):
    filenames = {entry.filename for entry in load_manifest()}
    prompt = json.loads(path.read_text())
    named = model_values(prompt)
    unknown = [
        f"node {node_id} {name}={value!r}"
        for node_id, name, value in named
        # "<folder>/<file>" values (an encoder chosen across folders) name the file after the folder
        if value not in filenames and value.partition("/")[2] not in filenames
    ]
    assert not unknown, f"{path.name} names models the manifest does not provide: {unknown}"


@pytest.mark.parametrize("path", API_WORKFLOWS, ids=lambda p: p.stem)
def test_loaded_images_ship_with_the_pack_and_nodes_are_core_or_ours(path, pack):
    prompt = json.loads(path.read_text())
    for node_id, node in prompt.items():
        assert node["class_type"] in CORE_NODES or node["class_type"] in pack.NODE_CLASS_MAPPINGS, node_id
        if node["class_type"] == "LoadImage":
            assert (REPO_ROOT / "example_inputs" / node["inputs"]["image"]).is_file(), node["inputs"]["image"]
