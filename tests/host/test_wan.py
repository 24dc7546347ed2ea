"""The Wan 2.2 TI2V 5B template, tiny profile, queued on a real headless ComfyUI: every node is the core node but the
test-only text encoder (umt5-xxl cannot be tiny), which the host tests link in from tests/comfy_test_nodes."""

import json
from pathlib import Path

from tiny_profile import TEST_TEXT_ENCODER, TINY_VIDEO_FRAMES, tiny_profile

TEMPLATE = Path(__file__).resolve().parents[2] / "workflows" / "templates" / "wan22_ti2v.json"


def test_the_test_text_encoder_is_listed_as_test_only(object_info):
    assert object_info[TEST_TEXT_ENCODER]["output"] == ["CONDITIONING"]
    assert "Test only" in object_info[TEST_TEXT_ENCODER]["description"]


def test_the_wan_template_renders_its_frames_on_the_tiny_wan(comfyui, object_info):
    prompt = tiny_profile(json.loads(TEMPLATE.read_text()))
    assert {node["class_type"] for node in prompt.values()} <= set(object_info)
    comfyui.client.free()
    entry = comfyui.client.wait(comfyui.client.queue(prompt), timeout=900, show_progress=False)
    assert entry["status"]["status_str"] == "success"
    save = next(node_id for node_id, node in prompt.items() if node["class_type"] == "SaveImage")
    images = entry["outputs"][save]["images"]
    assert len(images) == TINY_VIDEO_FRAMES
    assert all((comfyui.base / "output" / image["subfolder"] / image["filename"]).stat().st_size > 0
               for image in images)
