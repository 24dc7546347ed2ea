"""The path rule on ComfyUI's own folders (folder_paths, imported in this process) and the pack's VALIDATE_INPUTS
answers through ComfyUI's own validation (execution.validate_inputs), which skips its min/max checks for the inputs
a hook names."""

import asyncio

import pytest

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
