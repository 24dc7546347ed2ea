"""The shipped Wan 2.2 TI2V 5B template (workflows/templates/wan22_ti2v.json), statically; its tiny profile; the
test-only text encoder. (tests/native/test_wan.py runs it through ComfyUI's node classes.)"""

import json
from pathlib import Path

import pytest
import torch
from comfy_test_nodes import LFTest_WanTextEncode
from test_workflows import model_values
from tiny_profile import TEST_TEXT_ENCODER, TINY_SIZE, TINY_VIDEO_FRAMES, tiny_profile, with_tiny_models

from longform_pack.core.film.templates import parse_template
from longform_pack.core.manifest import load_manifest

REPO_ROOT = Path(__file__).resolve().parent.parent
TEMPLATE_PATH = REPO_ROOT / "workflows" / "templates" / "wan22_ti2v.json"
TEMPLATE = json.loads(TEMPLATE_PATH.read_text())
# ComfyUI core nodes only, as in its own template video_wan2_2_5B_ti2v (SaveImage where it saves a video), and the
# ConditioningAverage across which the film blends a prompt change.
CORE_NODE_TYPES = {"UNETLoader", "ModelSamplingSD3", "CLIPLoader", "CLIPTextEncode", "VAELoader", "LoadImage",
                   "Wan22ImageToVideoLatent", "KSampler", "VAEDecode", "SaveImage", "ConditioningAverage"}


def slots(prompt: dict) -> dict[str, tuple[str, str]]:
    """{slot: (node id, input name)} as the film reads them (core/film/templates.py), each slot on one node here."""
    template = parse_template(prompt, "wan22_ti2v.json")
    assert all(len(targets) == 1 for targets in template.slots.values())
    return {slot: (targets[0].node, targets[0].input) for slot, targets in template.slots.items()}


def test_template_is_comfyuis_graph_on_core_nodes():
    assert {node["class_type"] for node in TEMPLATE.values()} == CORE_NODE_TYPES
    by_type = {node["class_type"]: node["inputs"] for node in TEMPLATE.values()}
    assert by_type["ModelSamplingSD3"]["shift"] == 8.0
    assert by_type["CLIPLoader"]["type"] == "wan"
    sampler = by_type["KSampler"]
    assert (sampler["steps"], sampler["cfg"], sampler["sampler_name"], sampler["scheduler"]) == (20, 5.0, "uni_pc",
                                                                                                  "simple")
    latent = by_type["Wan22ImageToVideoLatent"]
    assert (latent["width"], latent["height"], latent["length"], latent["batch_size"]) == (1280, 704, 121, 1)
    assert TEMPLATE[latent["start_image"][0]]["class_type"] == "LoadImage"


def test_every_slot_is_tagged_on_the_input_it_fills():
    found = slots(TEMPLATE)
    expected = {"prompt": "CLIPTextEncode", "negative": "CLIPTextEncode", "start_image": "LoadImage",
                "seed": "KSampler", "steps": "KSampler", "frames": "Wan22ImageToVideoLatent",
                "width": "Wan22ImageToVideoLatent", "height": "Wan22ImageToVideoLatent", "images": "SaveImage",
                "prompt_next": "CLIPTextEncode", "prompt_blend": "ConditioningAverage"}
    assert {slot: TEMPLATE[node_id]["class_type"] for slot, (node_id, _) in found.items()} == expected
    for slot, (node_id, input_name) in found.items():
        assert input_name in TEMPLATE[node_id]["inputs"], (slot, input_name)
    sampler = TEMPLATE[found["seed"][0]]["inputs"]
    blend = TEMPLATE[found["prompt_blend"][0]]["inputs"]
    assert sampler["positive"] == [found["prompt_blend"][0], 0] and sampler["negative"] == [found["negative"][0], 0]
    assert blend["conditioning_from"] == [found["prompt"][0], 0] and blend["conditioning_to"] == [found["prompt_next"][0], 0]


def test_models_are_the_manifests_wan_files_in_their_folders():
    by_filename = {entry.filename: entry for entry in load_manifest()}
    folder_of_input = {"unet_name": "diffusion_models", "vae_name": "vae", "clip_name": "text_encoders"}
    named = model_values(TEMPLATE)
    assert len(named) == 3
    for node_id, input_name, value in named:
        entry = by_filename[value]
        assert entry.folder == folder_of_input[input_name] and entry.group == "video", (node_id, value)
        assert entry.sha256 and entry.license == "apache-2.0"


def test_tiny_profile_swaps_only_the_text_encoding_and_the_model_names():
    tiny = tiny_profile(TEMPLATE)
    replaced = {node_id for node_id, node in TEMPLATE.items() if node["class_type"] == "CLIPTextEncode"}
    dropped = {node_id for node_id, node in TEMPLATE.items() if node["class_type"] == "CLIPLoader"}
    assert set(tiny) == set(TEMPLATE) - dropped
    for node_id, node in tiny.items():
        assert node["_meta"] == TEMPLATE[node_id]["_meta"]  # the slots stay where they were
        if node_id in replaced:
            assert node == {**TEMPLATE[node_id], "class_type": TEST_TEXT_ENCODER,
                            "inputs": {"text": TEMPLATE[node_id]["inputs"]["text"]}}
        else:
            assert node["class_type"] == TEMPLATE[node_id]["class_type"]
    tiny_names = {entry.tiny_filename for entry in load_manifest()}
    assert {value for _, _, value in model_values(tiny)} == {"longform-tiny-wan22-ti2v-5b.safetensors",
                                                             "longform-tiny-wan22-vae.safetensors"} <= tiny_names
    latent = next(node["inputs"] for node in tiny.values() if node["class_type"] == "Wan22ImageToVideoLatent")
    assert (latent["width"], latent["height"], latent["length"]) == (TINY_SIZE, TINY_SIZE, TINY_VIDEO_FRAMES)


def test_renaming_a_model_without_a_tiny_stand_in_is_refused():
    with pytest.raises(ValueError, match="umt5_xxl_fp8_e4m3fn_scaled.safetensors.*no tiny stand-in"):
        with_tiny_models(TEMPLATE)


def test_test_text_encoder_gives_wans_shape_the_same_for_the_same_text():
    encode = LFTest_WanTextEncode().encode
    (first,) = encode("sunny forest")
    (again,) = encode("sunny forest")
    (other,) = encode("stormy night")
    assert first[0][0].shape == (1, 512, 4096) and first[0][1] == {}
    assert torch.equal(first[0][0], again[0][0])
    assert not torch.allclose(first[0][0], other[0][0])
    assert first[0][0].abs().max() < 1.0  # small: it feeds the DiT's text embedding as umt5's states would
