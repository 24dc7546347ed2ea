"""The path rule on ComfyUI's own folders (folder_paths, imported in this process) and the pack's VALIDATE_INPUTS
answers through ComfyUI's own validation (execution.validate_inputs), which skips its min/max checks for the inputs
a hook names."""

import asyncio

import pytest
import torch

from longform_pack.core import host, paths


def test_roots_are_comfyuis_folders(comfy):
    base = comfy.base.resolve()
    assert paths.roots("input") == [base / "input"] and paths.roots("output") == [base / "output"]
    readable = {path.resolve() for path in paths.readable_roots()}
    assert (base / "models" / "checkpoints").resolve() in readable
    assert not any(path.name == "custom_nodes" for path in readable)


def test_names_leading_out_of_comfyuis_folders_are_refused(comfy):
    (comfy.base / "outside.txt").write_text("x")
    with pytest.raises(ValueError, match="'..' parts are refused"):
        host.model_path("checkpoints", "../../outside.txt", "ckpt")
    with pytest.raises(ValueError, match="absolute"):
        paths.readable_path("input", str(comfy.base / "outside.txt"), "dataset")


def _validate(prompt):
    import execution

    return asyncio.run(execution.validate_inputs("security", prompt, "2", {}))


def test_comfyui_runs_the_packs_checks_for_the_inputs_it_stops_checking(comfy, monkeypatch):
    from longform_pack.nodes.animate import LF_SaveVideo

    monkeypatch.setitem(comfy.nodes.NODE_CLASS_MAPPINGS, "LF_SaveVideo", LF_SaveVideo)
    image = {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 2, "color": 0}}

    def save(**inputs):
        values = {"images": ["1", 0], "filename_prefix": "ok/clip", "format": "gif", "fps": 8.0, "loop": True, **inputs}
        return {"1": image, "2": {"class_type": "LF_SaveVideo", "inputs": values}}

    assert _validate(save())[0] is True
    for inputs, field in (({"fps": float("nan")}, "fps"), ({"fps": 1000.0}, "fps"),
                          ({"filename_prefix": "../x"}, "filename_prefix")):
        valid, errors, _ = _validate(save(**inputs))
        assert valid is False and any(f"'{field}'" in error["details"] for error in errors), errors


# Issue 20, item 6: an API graph that omits LF Animate's optional inputs passes ComfyUI's own validation (it passes
# a VALIDATE_INPUTS hook only the inputs the graph holds).


def test_lf_animate_without_its_optional_inputs_passes_comfyuis_validation(comfy, pack, monkeypatch):
    from longform_pack.core import manifest
    from longform_pack.nodes.animate import LF_Animate

    monkeypatch.setitem(comfy.nodes.NODE_CLASS_MAPPINGS, "LF_Animate", LF_Animate)
    required = {key: entry[1]["default"] for key, entry in LF_Animate.INPUT_TYPES()["required"].items()
                if len(entry) > 1 and "default" in entry[1]}
    prompt = {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": manifest.entry("sd15").tiny_filename}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "a fox"}},
        "4": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 0}},
        "2": {"class_type": "LF_Animate", "inputs": {
            **required, "model": ["1", 0], "vae": ["1", 2], "positive": ["3", 0], "negative": ["3", 0],
            "first_frame": ["4", 0], "sampler_name": "euler", "scheduler": "normal"}},
    }
    valid, errors, _ = _validate(prompt)
    assert valid is True, errors
    prompt["2"]["inputs"]["run_name"] = "../escape"  # an optional input that is there is still checked
    valid, errors, _ = _validate(prompt)
    assert valid is False and any("'run_name'" in error["details"] for error in errors), errors


# Issue 20, item 6: a LoRA whose shapes do not fit the model is reported as not applied (ComfyUI would log and skip
# each patch while sampling, and the loader used to report every module applied).


def test_a_lora_of_the_wrong_shapes_is_reported_not_applied(comfy, pack):
    from safetensors.torch import load_file, save_file

    from longform_pack.core import manifest
    from longform_pack.core.tiny.stylize import KOHYA_LORA_FILENAME
    from longform_pack.nodes.stylize import LF_LoraLoader

    model, clip, _ = comfy.nodes.CheckpointLoaderSimple().load_checkpoint(manifest.entry("sd15").tiny_filename)
    loras = comfy.base / "models" / "loras"
    state = load_file(str(loras / KOHYA_LORA_FILENAME))
    modules = sorted({key.split(".", 1)[0] for key in state})
    wrong = next(name for name in modules if name.startswith("lora_unet_"))
    up = state[f"{wrong}.lora_up.weight"]
    state[f"{wrong}.lora_up.weight"] = torch.ones(up.shape[0] + 8, up.shape[1])  # a LoRA for a wider layer
    save_file(state, str(loras / "lf-test-wrong-shape.safetensors"))
    try:
        patched, _, report = LF_LoraLoader().load_lora(model, clip, "lf-test-wrong-shape.safetensors", 1.0, 1.0)
    finally:
        (loras / "lf-test-wrong-shape.safetensors").unlink()
    lines = report.splitlines()
    assert lines[0] == f"applied {len(modules) - 1} of {len(modules)} LoRA modules"
    assert lines[1].startswith(f"1 of the wrong shape, not applied: {wrong} (up [{up.shape[0] + 8}, {up.shape[1]}]")
    placed = LF_LoraLoader().load_lora(model, clip, KOHYA_LORA_FILENAME, 1.0, 1.0)[0]
    assert len(patched.patches) == len(placed.patches) - 1  # the misfit is not among the model's patches
