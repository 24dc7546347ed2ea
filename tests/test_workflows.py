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
            "ddpm_train_and_sample", "video_report"}


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
        if node["class_type"] == "LF_VideoReport" and node["inputs"].get("video", "none") != "none":
            assert (REPO_ROOT / "example_inputs" / node["inputs"]["video"]).is_file(), node["inputs"]["video"]


# ------------------------------------------------------------------------------------------- the UI files, for a person

UI_WORKFLOWS = sorted((REPO_ROOT / "workflows").glob("*.json"))


def _screen_box(node: dict, ds: dict) -> tuple[float, float, float, float]:
    """Where LiteGraph draws a node (title bar included) at the saved view: screen = (canvas + offset) * scale."""
    from workflow_graph import TITLE_HEIGHT

    (dx, dy), scale = ds["offset"], ds["scale"]
    left, top = node["pos"][0], node["pos"][1] - TITLE_HEIGHT
    right, bottom = node["pos"][0] + node["size"][0], node["pos"][1] + node["size"][1]
    return ((left + dx) * scale, (top + dy) * scale, (right + dx) * scale, (bottom + dy) * scale)


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=lambda p: p.stem)
def test_every_output_opens_in_view_at_a_zoom_where_text_is_drawn(path, pack):
    from workflow_graph import MINIMAP_BOX, VIEW_SIZE, is_output_node

    workflow = json.loads(path.read_text())
    ds = workflow["extra"]["ds"]
    # Frontend 1.27 draws text while zoom >= MinFontSizeForLOD (8) / NODE_TEXT_SIZE (14) on a 1x display.
    assert ds["scale"] >= 8 / 14 + 0.02, f"{path.name}: saved zoom {ds['scale']} hides every node's text"
    outputs = [n for n in workflow["nodes"] if is_output_node(n["type"], pack.NODE_CLASS_MAPPINGS)]
    assert outputs, f"{path.name} has no output node"
    for node in outputs:
        left, top, right, bottom = _screen_box(node, ds)
        assert left >= 0 and top >= 0 and right <= VIEW_SIZE[0] and bottom <= VIEW_SIZE[1], (
            f"{path.name}: output node {node['id']} ({node['type']}) is drawn at {[left, top, right, bottom]}, "
            f"outside the saved view 0..{VIEW_SIZE}")
        hidden = left < MINIMAP_BOX[2] and MINIMAP_BOX[0] < right and top < MINIMAP_BOX[3] and MINIMAP_BOX[1] < bottom
        assert not hidden, f"{path.name}: output node {node['id']} ({node['type']}) lies under the minimap"


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=lambda p: p.stem)
def test_nodes_do_not_overlap(path):
    from workflow_graph import node_box

    nodes = json.loads(path.read_text())["nodes"]
    boxes = [(n["id"], n["type"], node_box(n["pos"], n["size"])) for n in nodes]
    for index, (id_a, type_a, a) in enumerate(boxes):
        for id_b, type_b, b in boxes[index + 1:]:
            apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
            assert apart, f"{path.name}: node {id_a} ({type_a}) overlaps node {id_b} ({type_b})"


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=lambda p: p.stem)
def test_model_loading_nodes_name_their_download(path):
    """Every node whose widgets name a manifest file carries that file's name, url and directory in
    properties.models (what the frontend's Missing Models dialog reads). Files install.py must unpack or convert
    (the insightface archive, the probe's PyTorch pickle) are left out: their download is not the file named."""
    manifest = {entry.filename: entry for entry in load_manifest()}
    for node in json.loads(path.read_text())["nodes"]:
        listed = {model["name"]: model for model in node["properties"].get("models", [])}
        for name, model in listed.items():
            entry = manifest.get(name)
            assert entry is not None, f"{path.name}: node {node['id']} lists {name}, not a manifest file"
            assert (model["url"], model["directory"]) == (entry.url, entry.folder), name
        for value in node["widgets_values"]:
            if isinstance(value, str) and value in manifest and manifest[value].unpack is None:
                assert value in listed, f"{path.name}: node {node['id']} ({node['type']}) loads {value} " \
                                        "without properties.models"


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=lambda p: p.stem)
def test_every_template_has_a_thumbnail(path):
    from PIL import Image

    thumbnail = path.with_suffix(".jpg")
    assert thumbnail.is_file(), f"{thumbnail.name} missing: run `make workflows`"
    with Image.open(thumbnail) as picture:
        assert picture.format == "JPEG" and picture.width >= 256 and picture.height >= 160


def test_tiny_profile_caps_sampler_steps_and_leaves_other_steps():
    from tiny_profile import TINY_SAMPLER_STEPS, tiny_profile

    prompt = tiny_profile(json.loads((REPO_ROOT / "workflows" / "api" / "sketch_to_video.json").read_text()))
    steps = {node["class_type"]: node["inputs"]["steps"] for node in prompt.values() if "steps" in node["inputs"]}
    assert steps["KSampler"] == steps["LF_Animate"] == TINY_SAMPLER_STEPS
    ddpm = tiny_profile(json.loads((REPO_ROOT / "workflows" / "api" / "ddpm_train_and_sample.json").read_text()))
    sampler = next(node for node in ddpm.values() if node["class_type"] == "LF_DDPMSample")
    assert sampler["inputs"]["steps"] == 50  # the DDPM's own sampler is cheap and shows its denoising steps
