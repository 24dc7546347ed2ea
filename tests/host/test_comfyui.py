"""Host tests: the pack inside a real headless ComfyUI, every shipped workflow queued or validated."""

import copy
import json
import re
import urllib.request
from pathlib import Path

import pytest

from longform_pack.core.manifest import load_manifest
from node_reference import readme_section, render
from workflow_graph import SEED_NAMES, UI_ONLY_NODES

REPO_ROOT = Path(__file__).resolve().parents[2]
API_WORKFLOWS = sorted((REPO_ROOT / "workflows" / "api").glob("*.json"))
UI_WORKFLOWS = sorted((REPO_ROOT / "workflows").glob("*.json"))
TINY_NAMES = {entry.filename: entry.tiny_filename for entry in load_manifest()}
WIDGET_KINDS = {"INT", "FLOAT", "STRING", "BOOLEAN"}
# The tiny models are built for 64x64 pictures: at 512x512 their full-resolution attention makes a run take minutes.
TINY_SIZE = 64
# A DDPM workflow trains its model: a few steps show the graph runs; the full recipe is the benchmark's job.
TINY_TRAIN_STEPS = 40


def with_tiny_models(value):
    """Swap every manifest filename in a workflow (alone or as "<folder>/<filename>") for its tiny stand-in's."""
    if isinstance(value, dict):
        return {key: with_tiny_models(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_tiny_models(item) for item in value]
    if isinstance(value, str):
        for real, tiny in TINY_NAMES.items():
            if value == real or value.endswith("/" + real):
                return value[: len(value) - len(real)] + tiny
    return value


def tiny_profile(prompt):
    """An API workflow made to run on the tiny models: their filenames, their native picture size, short training."""
    prompt = with_tiny_models(prompt)
    for node in prompt.values():
        if node["class_type"] == "LF_DDPMTrain":
            node["inputs"]["steps"] = min(node["inputs"]["steps"], TINY_TRAIN_STEPS)
        for name in ("width", "height"):
            if isinstance(node["inputs"].get(name), int) and node["inputs"][name] > TINY_SIZE:
                node["inputs"][name] = TINY_SIZE
    return prompt


def test_every_pack_node_is_listed(object_info, pack):
    missing = sorted(set(pack.NODE_CLASS_MAPPINGS) - set(object_info))
    assert not missing, f"nodes missing from /object_info: {missing}"
    assert all(object_info[name]["category"].startswith("LongForm/") for name in pack.NODE_CLASS_MAPPINGS)


def test_pack_imports_cleanly_and_fast(comfyui, object_info):
    log = comfyui.log()
    assert "ComfyUI-LongForm" not in "".join(line for line in log.splitlines() if "IMPORT FAILED" in line)
    match = re.search(r"^\s*([\d.]+) seconds: .*ComfyUI-LongForm\s*$", log, re.MULTILINE)
    assert match, "ComfyUI did not log an import time for the pack"
    print(f"pack import time in ComfyUI: {match.group(1)} s")
    assert float(match.group(1)) < 1.0


@pytest.mark.parametrize("path", API_WORKFLOWS, ids=lambda p: p.stem)
def test_api_workflow_runs(comfyui, path):
    prompt = tiny_profile(json.loads(path.read_text()))
    before = set((comfyui.base / "output").rglob("*"))
    comfyui.client.free()
    prompt_id = comfyui.client.queue(prompt)
    entry = comfyui.client.wait(prompt_id, timeout=900, show_progress=False)
    written = [p for p in set((comfyui.base / "output").rglob("*")) - before if p.is_file()]
    assert written, f"{path.name} finished but wrote no output file"
    assert all(p.stat().st_size > 0 for p in written)
    assert entry["status"]["status_str"] == "success"


def _input_specs(node_info):
    for section in ("required", "optional"):
        yield from node_info["input"].get(section, {}).items()


def _check_widget(where, kind, options, value):
    if isinstance(kind, list) or kind == "COMBO":
        choices = kind if isinstance(kind, list) else options.get("options", [])
        assert value in choices, f"{where}: {value!r} is not one of {choices}"
    elif kind in ("INT", "FLOAT"):
        assert isinstance(value, (int, float)) and not isinstance(value, bool), f"{where}: {value!r} is not a number"
        assert options.get("min", value) <= value <= options.get("max", value), f"{where}: {value} out of range"
    elif kind == "BOOLEAN":
        assert isinstance(value, bool), f"{where}: {value!r} is not a boolean"
    elif kind == "STRING":
        assert isinstance(value, str), f"{where}: {value!r} is not a string"


@pytest.mark.parametrize("path", UI_WORKFLOWS, ids=lambda p: p.stem)
def test_ui_workflow_validates(object_info, path):
    workflow = with_tiny_models(json.loads(path.read_text()))
    nodes = {node["id"]: node for node in workflow["nodes"]}
    for node in nodes.values():
        if node["type"] in UI_ONLY_NODES:
            continue
        assert node["type"] in object_info, f"{path.name}: unknown node type {node['type']}"
        info = object_info[node["type"]]
        values = copy.copy(node["widgets_values"])
        for name, spec in _input_specs(info):
            kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
            is_widget = isinstance(kind, list) or kind in WIDGET_KINDS or kind == "COMBO"
            if not is_widget:
                continue  # a linked widget keeps its value in widgets_values, as the frontend saves it
            assert values, f"{path.name}: node {node['id']} ({node['type']}) has too few widget values"
            _check_widget(f"{path.name}: node {node['id']} {node['type']}.{name}", kind, options, values.pop(0))
            if name in SEED_NAMES or options.get("control_after_generate"):
                assert values.pop(0) in ("fixed", "increment", "decrement", "randomize")
            if options.get("image_upload"):
                values.pop(0)
        assert not values, f"{path.name}: node {node['id']} ({node['type']}) has extra widget values {values}"
    for link_id, origin, origin_slot, target, target_slot, link_type in workflow["links"]:
        origin_type = object_info[nodes[origin]["type"]]["output"][origin_slot]
        target_name = nodes[target]["inputs"][target_slot]["name"]
        target_spec = dict(_input_specs(object_info[nodes[target]["type"]]))[target_name]
        accepted = (origin_type, "*")
        assert origin_type == link_type and target_spec[0] in accepted, f"{path.name}: link {link_id} joins {origin_type} to {target_spec[0]}"


def test_workflows_are_listed_and_served_as_templates(comfyui):
    (pack_folder,) = [path.name for path in (comfyui.base / "custom_nodes").iterdir()]
    templates = json.loads(urllib.request.urlopen(comfyui.url + "/workflow_templates", timeout=10).read())
    assert sorted(templates.get(pack_folder, [])) == sorted(path.stem for path in UI_WORKFLOWS)
    served = urllib.request.urlopen(f"{comfyui.url}/api/workflow_templates/{pack_folder}/{UI_WORKFLOWS[0].name}")
    assert json.loads(served.read()) == json.loads(UI_WORKFLOWS[0].read_text())


def test_readme_node_reference_matches_object_info(object_info):
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_section(readme) == render(object_info)
