"""Host tests: the pack inside a real headless ComfyUI, every shipped workflow queued or validated."""

import copy
import json
import re
import urllib.request
from pathlib import Path

import pytest

import client
from comfy_server import PACK_FOLDER_NAME, find_comfyui
from node_reference import readme_section, render
from tiny_profile import tiny_profile, with_tiny_models
from workflow_graph import SEED_NAMES, UI_ONLY_NODES

REPO_ROOT = Path(__file__).resolve().parents[2]
API_WORKFLOWS = sorted((REPO_ROOT / "workflows" / "api").glob("*.json"))
UI_WORKFLOWS = sorted((REPO_ROOT / "workflows").glob("*.json"))
WIDGET_KINDS = {"INT", "FLOAT", "STRING", "BOOLEAN"}


def test_every_pack_node_is_listed(object_info, pack):
    missing = sorted(set(pack.NODE_CLASS_MAPPINGS) - set(object_info))
    assert not missing, f"nodes missing from /object_info: {missing}"
    assert all(object_info[name]["category"].startswith("LongForm/") for name in pack.NODE_CLASS_MAPPINGS)


def test_pack_imports_cleanly_and_fast(comfyui, object_info):
    log = comfyui.log()
    assert "ComfyUI-LongForm" not in "".join(line for line in log.splitlines() if "IMPORT FAILED" in line)
    version = (find_comfyui(None) / "comfyui_version.py").read_text().split('"')[-2]
    assert f"ComfyUI {version}: every internal the pack uses is there." in log  # core/host.py check_comfyui
    match = re.search(r"^\s*([\d.]+) seconds: .*ComfyUI-LongForm\s*$", log, re.MULTILINE)
    assert match, "ComfyUI did not log an import time for the pack"
    print(f"pack import time in ComfyUI: {match.group(1)} s")
    assert float(match.group(1)) < 1.0


@pytest.mark.parametrize("path", API_WORKFLOWS, ids=lambda p: p.stem)
def test_api_workflow_runs(comfyui, object_info, path):
    prompt = tiny_profile(json.loads(path.read_text()))
    before = set((comfyui.base / "output").rglob("*"))
    comfyui.client.free()
    prompt_id = comfyui.client.queue(prompt)  # raises, naming the nodes, when ComfyUI drops any (node_errors)
    entry = comfyui.client.wait(prompt_id, timeout=900, show_progress=False)
    assert entry["status"]["status_str"] == "success"
    output_nodes = {node_id for node_id, node in prompt.items() if object_info[node["class_type"]]["output_node"]}
    assert output_nodes, f"{path.name} has no output node"
    missing = {node_id: prompt[node_id]["class_type"] for node_id in output_nodes - set(entry["outputs"])}
    assert not missing, f"{path.name}: output nodes absent from /history: {missing}"
    written = [p for p in set((comfyui.base / "output").rglob("*")) - before if p.is_file()]
    assert written, f"{path.name} finished but wrote no output file"
    assert all(p.stat().st_size > 0 for p in written)


def test_a_missing_input_picture_fails_the_client_and_names_the_node(comfyui, tmp_path, capsys):
    example = sorted((comfyui.base / "input").glob("*.png"))[0].name
    workflow = tmp_path / "missing_input.json"
    workflow.write_text(json.dumps({
        "1": {"class_type": "LoadImage", "inputs": {"image": example}, "_meta": {"title": "Present"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "present"}},
        "3": {"class_type": "LoadImage", "inputs": {"image": "no_such_sketch.png"}, "_meta": {"title": "Sketch"}},
        "4": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "absent"}},
    }))
    assert client.main([str(workflow), "--url", comfyui.url, "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert "node 3 (Sketch) input image: image - Invalid image file: no_such_sketch.png" in error
    assert "4 (SaveImage)" in error and "the prompt was cancelled" in error
    assert not (tmp_path / "out").exists(), "the client downloaded the outputs of a half-run workflow"


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
    pack_folder = PACK_FOLDER_NAME  # beside it in custom_nodes: the tests' own nodes (tests/comfy_test_nodes)
    templates = json.loads(urllib.request.urlopen(comfyui.url + "/workflow_templates", timeout=10).read())
    assert sorted(templates.get(pack_folder, [])) == sorted(path.stem for path in UI_WORKFLOWS)
    served = urllib.request.urlopen(f"{comfyui.url}/api/workflow_templates/{pack_folder}/{UI_WORKFLOWS[0].name}")
    assert json.loads(served.read()) == json.loads(UI_WORKFLOWS[0].read_text())


def test_readme_node_reference_matches_object_info(object_info):
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert readme_section(readme) == render(object_info)
