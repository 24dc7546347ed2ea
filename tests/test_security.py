"""Issue 13: the path rule, finite numbers, the model-file reader, and each hostile case from the issue, on the core
and on the node classes called directly (the same cases through a real ComfyUI are in tests/host/test_security.py)."""

import json
import math
import os
import struct

import pytest
import torch
from safetensors.torch import save_file

from longform_pack.core import checks, host, model_files, paths

# ------------------------------------------------------------------------------------------------------- the path rule


@pytest.mark.parametrize("name, message", [
    ("", "empty"),
    ("   ", "empty"),
    ("a\x00b", "NUL"),
    ("/etc/passwd", "absolute"),
    ("C:/Windows", "absolute"),
    ("../x", "'..'"),
    ("a/../../x", "'..'"),
    ("a//b", "empty"),
    ("a\\..\\x", "'..'"),
    ("x" * 300, "characters long"),
    ("x" * 121, "part of 121"),
    ("a<b", "refused"),
    ("a\nb", "refused"),
    ("name.", "end with"),
])
def test_safe_name_refuses_with_what_is_allowed(name, message):
    with pytest.raises(ValueError, match=message) as caught:
        paths.safe_name(name, "run_name")
    assert "'run_name'" in str(caught.value)


def test_safe_name_accepts_ordinary_names():
    assert paths.safe_name(" LongForm/clip ", "filename_prefix") == "LongForm/clip"
    assert paths.safe_name("Realistic Vision V5.1 (noVAE).safetensors", "ckpt") == "Realistic Vision V5.1 (noVAE).safetensors"
    assert paths.safe_name("dossier/été_1", "dataset") == "dossier/été_1"
    with pytest.raises(ValueError, match="without '/'"):
        paths.safe_name("sub/name", "name", subfolders=False)


def test_inside_resolves_symlinks(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir(), outside.mkdir()
    (root / "link").symlink_to(outside, target_is_directory=True)
    assert paths.inside(root / "a" / "b.txt", [root])
    assert not paths.inside(root / "link" / "b.txt", [root])
    assert not paths.inside(root / ".." / "outside", [root])


@pytest.fixture
def folders(tmp_path, monkeypatch):
    """Input, output and models folders of the host's fallback, and a folder outside them all."""
    for name in ("input", "output", "models", "outside"):
        (tmp_path / name).mkdir()
    monkeypatch.setenv(host.INPUT_DIR_ENV, str(tmp_path / "input"))
    monkeypatch.setenv(host.OUTPUT_DIR_ENV, str(tmp_path / "output"))
    previous = host.set_models_dir(tmp_path / "models")
    yield tmp_path
    host.set_models_dir(previous)


def test_writable_path_stays_in_its_folder(folders):
    target = paths.writable_path("output", "sub/clip.mp4", "filename_prefix")
    assert target == (folders / "output" / "sub" / "clip.mp4")
    (folders / "output" / "escape").symlink_to(folders / "outside", target_is_directory=True)
    with pytest.raises(ValueError, match="symlink"):
        paths.writable_path("output", "escape/clip.mp4", "filename_prefix")
    with pytest.raises(ValueError, match="never writes"):
        paths.writable_path("input", "x.png", "name")
    assert list((folders / "outside").iterdir()) == []


def test_readable_path_refuses_symlinks_out_and_missing_files(folders):
    (folders / "outside" / "secret.safetensors").write_bytes(b"x")
    (folders / "models" / "ddpm").mkdir()
    (folders / "models" / "ddpm" / "link.safetensors").symlink_to(folders / "outside" / "secret.safetensors")
    with pytest.raises(ValueError, match="outside ComfyUI's"):
        paths.readable_path("ddpm", "link.safetensors", "model_file")
    with pytest.raises(FileNotFoundError, match="not found"):
        paths.readable_path("ddpm", "none.safetensors", "model_file")
    with pytest.raises(ValueError, match="'..'"):
        host.model_path("ddpm", "../outside/secret.safetensors", "model_file")


def test_dataset_folder_comes_from_the_input_folder_only(folders):
    (folders / "input" / "faces" / "a").mkdir(parents=True)
    assert paths.dataset_folder("faces") == (folders / "input" / "faces").resolve()
    for hostile in (str(folders / "outside"), "../outside", "/etc"):
        with pytest.raises(ValueError, match="'dataset'"):
            paths.dataset_folder(hostile)


# ------------------------------------------------------------------------------------------------------ finite numbers


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -math.inf, "nan"])
def test_check_finite_refuses_nan_and_infinity(value):
    with pytest.raises(ValueError, match="'guidance'.*NaN and infinity"):
        checks.check_finite(value, "guidance")


class _Node:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"guidance": ("FLOAT", {"min": 0.0, "max": 20.0}), "steps": ("INT", {"min": 1}),
                             "mode": (["a", "b"],), "prefix": ("STRING", {})}}


def test_validate_inputs_rechecks_what_comfyui_skips():
    ok = {"guidance": 3.0, "steps": 2, "mode": "a", "prefix": "x/y"}
    assert checks.validate_inputs(_Node, ok, names={"prefix": paths.safe_name}) is True
    assert "'guidance'" in checks.validate_inputs(_Node, {**ok, "guidance": float("nan")})
    assert "from 0.0 to 20.0" in checks.validate_inputs(_Node, {**ok, "guidance": 21.0})
    assert "'steps'" in checks.validate_inputs(_Node, {**ok, "steps": 0})
    assert "choose one of" in checks.validate_inputs(_Node, {**ok, "mode": "c"})
    assert "NUL" in checks.validate_inputs(_Node, {**ok, "prefix": "a\x00"}, names={"prefix": paths.safe_name})
    assert checks.validate_inputs(_Node, {**ok, "guidance": None}) is True  # linked: checked when it runs


# -------------------------------------------------------------------------------------------------- model-file reader


def _safetensors(path, metadata=None):
    save_file({"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, str(path), metadata=metadata)
    return path


def test_safetensors_reader_names_input_file_and_fix(tmp_path):
    good = _safetensors(tmp_path / "good.safetensors", {"k": "v"})
    shapes, metadata = model_files.safetensors_header(good, "ckpt")
    assert shapes == {"w": (2, 3)} and metadata == {"k": "v"}
    state, _ = model_files.load_safetensors(good, "ckpt")
    assert torch.equal(state["w"], torch.arange(6.0).reshape(2, 3))

    cases = {
        "empty.safetensors": (b"", "empty"),
        "short.safetensors": (b"abc", "too short"),
        "cut.safetensors": (good.read_bytes()[:-5], "truncated"),
        "pickle.safetensors": (b"\x80\x04" + b"x" * 100, "not a .safetensors"),
        "notjson.safetensors": (struct.pack("<Q", 4) + b"abcd", "not valid JSON"),
    }
    for name, (data, problem) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match=problem) as caught:
            model_files.load_safetensors(tmp_path / name, "ckpt")
        text = str(caught.value)
        assert "'ckpt'" in text and name in text and "install.py" in text


def test_pickle_reader_refuses_objects_in_its_own_words(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.getcwd, ())

    hostile = tmp_path / "hostile.bin"
    torch.save({"x": Payload()}, hostile)
    with pytest.raises(ValueError, match="LongForm loads only plain weights") as caught:
        model_files.load_pickle(hostile, "ipadapter")
    assert "weights_only=False" not in str(caught.value)
    good = tmp_path / "good.bin"
    torch.save({"image_proj": {"w": torch.ones(2)}}, good)
    assert torch.equal(model_files.load_pickle(good, "ipadapter")["image_proj"]["w"], torch.ones(2))
    good_bytes = good.read_bytes()
    (tmp_path / "cut.bin").write_bytes(good_bytes[: len(good_bytes) // 2])
    with pytest.raises(ValueError, match="truncated or not a PyTorch"):
        model_files.load_pickle(tmp_path / "cut.bin", "ipadapter")
    (tmp_path / "empty.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        model_files.load_pickle(tmp_path / "empty.bin", "ipadapter")


def test_json_reader_bounds_size_and_depth(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply|at most"):
        model_files.read_json(deep, "model_file")
    nested = tmp_path / "nested.json"
    nested.write_text("[" * 40 + "]" * 40)
    with pytest.raises(ValueError, match="nested too deeply"):
        model_files.read_json(nested, "model_file")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ValueError, match="not valid JSON"):
        model_files.read_json(broken, "model_file")
    assert model_files.read_json(_write(tmp_path / "ok.json", {"a": [1, {"b": 2}]}), "m") == {"a": [1, {"b": 2}]}


def _write(path, value):
    path.write_text(json.dumps(value))
    return path


def test_onnx_reader(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(ValueError, match="'insightface'.*bad.onnx.*ONNX"):
        model_files.check_onnx(tmp_path / "bad.onnx", "insightface")
    (tmp_path / "empty.onnx").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        model_files.check_onnx(tmp_path / "empty.onnx", "insightface")
