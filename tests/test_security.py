"""Issue 13: the path rule, finite numbers, the model-file reader, and each hostile case from the issue, on the core
and on the node classes called directly (the same cases through a real ComfyUI are in tests/host/test_security.py)."""

import json
import math
import os
import struct

import numpy as np
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


# ------------------------------------------------------------------------------------- the findings of issue 13, one by one


def files_under(root):
    """Every file and symlink below `root`, as a set of paths."""
    return {path for path in root.rglob("*") if path.is_file() or path.is_symlink()}


# 1. No file is ever written to a place that a model file's metadata names (the diffusers checkpoint loader that read
#    configs from metadata is gone: ComfyUI's loaders read none).


def test_no_core_module_builds_a_path_from_file_contents():
    """Static guard: metadata and JSON read from model files never reach Path() or open() in core/."""
    import re
    from pathlib import Path

    core = Path(paths.__file__).parent
    pattern = re.compile(r"Path\([^)]*(metadata|state\.get|\.loads\()")
    offenders = [f"{p.name}:{n}" for p in core.rglob("*.py") for n, line in enumerate(p.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert not offenders, offenders


# 2. A stream run's state.json is data: never a path, checked against the run, refused without touching the folder.


def _stream_run(directory, count=6, chunk=2, key="k"):
    from longform_pack.core import video

    clip = video.StreamingClip(directory, count, 8, chunk_frames=chunk, preview_frames=2, key=key)
    clip.open(resume=True)
    try:
        rng = np.random.default_rng(0)
        for _ in range(count):
            clip.append(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    finally:
        clip.close()
    return clip


def _snapshot(root):
    return {path: path.read_bytes() for path in files_under(root)}


@pytest.mark.parametrize("tamper", [
    {"chunks": ["chunk_00000.mp4", "../../secret.mp4"]},
    {"chunks": ["/etc/passwd"]},
    {"chunks": 99},
    {"written": 10**9},
    {"written": "3"},
    {"key": None},
])
def test_a_tampered_stream_state_is_refused_and_the_folder_left_alone(tmp_path, tamper):
    from longform_pack.core import video

    (tmp_path / "secret.mp4").write_bytes(b"not for the client")
    clip = _stream_run(tmp_path / "output" / "run")
    state_path = clip.directory / video.STATE_FILE
    state = json.loads(state_path.read_text())
    state_path.write_text(json.dumps({**state, **tamper}))
    before = _snapshot(tmp_path)
    again = video.StreamingClip(clip.directory, 6, 8, chunk_frames=2, preview_frames=2, key="k")
    with pytest.raises(ValueError, match="does not fit this run.*left as it was"):
        again.open(resume=True)
    assert _snapshot(tmp_path) == before


def test_a_stream_state_with_an_interrupted_run_still_resumes(tmp_path):
    """The stricter state check keeps real resumes working: frames written, chunks counted from disk."""
    from longform_pack.core import video

    clip = _stream_run(tmp_path / "run", count=6, chunk=2)
    again = video.StreamingClip(clip.directory, 6, 8, chunk_frames=2, preview_frames=2, key="k")
    assert again.open(resume=True) == 6
    again.close()


# 3 + 4. DDPM dataset and name: checked at validation time, before any training.


@pytest.mark.parametrize("dataset", ["/etc", "../", "../../etc", "a/../../x", "/tmp"])
def test_ddpm_dataset_outside_the_input_folder_is_refused_at_validation(folders, dataset):
    from longform_pack.nodes.ddpm import LF_DDPMTrain

    answer = LF_DDPMTrain.VALIDATE_INPUTS(dataset=dataset, name="ok", learning_rate=1e-3)
    assert isinstance(answer, str) and "'dataset'" in answer


def test_ddpm_dataset_error_does_not_reveal_folders_outside(folders):
    from longform_pack.nodes.ddpm import LF_DDPMTrain

    existing = LF_DDPMTrain.VALIDATE_INPUTS(dataset=str(folders / "outside"), name="ok", learning_rate=1e-3)
    missing = LF_DDPMTrain.VALIDATE_INPUTS(dataset=str(folders / "nowhere"), name="ok", learning_rate=1e-3)
    assert existing.replace("outside", "X") == missing.replace("nowhere", "X")


@pytest.mark.parametrize("name, problem", [("a\x00b", "NUL"), ("x" * 300, "characters"), ("", "empty"),
                                           ("sub/name", "single name"), ("..", "'..'")])
def test_ddpm_name_is_refused_at_validation(folders, name, problem):
    from longform_pack.nodes.ddpm import LF_DDPMTrain

    answer = LF_DDPMTrain.VALIDATE_INPUTS(dataset="digits", name=name, learning_rate=1e-3)
    assert isinstance(answer, str) and "'name'" in answer and problem in answer


def test_ddpm_core_refuses_the_same_before_training(folders):
    from longform_pack.core import ddpm

    config = ddpm.TrainConfig(dataset=str(folders / "outside"), steps=1)
    with pytest.raises(ValueError, match="'dataset'"):
        ddpm.train(config, name="x", device="cpu")
    with pytest.raises(ValueError, match="NUL"):
        ddpm.train(ddpm.TrainConfig(steps=1), name="a\x00b", device="cpu")
    assert list((folders / "models").rglob("*")) == []


# 5. Bounded work: every schedule answers within seconds, as a result or an error.


class _SmallClip:
    """A stand-in CLIP with tiny encodings: these tests time parsing and drawing, not the text encoder."""

    def tokenize(self, text):
        return text

    def encode_from_tokens(self, tokens, return_pooled=False):
        return torch.ones(1, 4, 8) * len(tokens), torch.ones(1, 8)


class _UnusableClip:
    def tokenize(self, text):
        raise AssertionError("the schedule should have been refused before any encoding")


def test_long_schedules_answer_within_seconds():
    import time

    from longform_pack.core import schedule
    from longform_pack.nodes.animate import LF_PromptSchedule

    node = LF_PromptSchedule()
    started = time.perf_counter()
    parsed = schedule.parse_schedule("0: a forest\n300s: a city", 36_000, fps=60.0)
    assert schedule.timeline_image(parsed).size[0] > 0
    with pytest.raises(ValueError, match="per-frame conditioning takes at most 2400"):
        node.build(_UnusableClip(), "0: a forest\n300s: a city", 600.0, 60.0, "linear", "")
    many = "\n".join(f"{i}: prompt number {i}" for i in range(5_000))
    with pytest.raises(ValueError, match="at most"):
        node.build(_UnusableClip(), many, 600.0, 60.0, "linear", "")
    short = "\n".join(f"{i}: p{i}" for i in range(5_000))
    with pytest.raises(ValueError, match="5000 keyframes; give at most 1000"):
        node.build(_UnusableClip(), short, 600.0, 60.0, "linear", "")
    hundred = "\n".join(f"{i}s: prompt {i}" for i in range(100))
    positive, _, _, _, frames = node.build(_SmallClip(), hundred, 100.0, 12.0, "eased", "")
    assert frames == 1200 and positive[0][0].shape[0] == 1200
    assert time.perf_counter() - started < 15


def test_vectorised_weights_match_the_per_frame_definition():
    from longform_pack.core import schedule

    for interpolation in schedule.INTERPOLATIONS:
        parsed = schedule.parse_schedule("3: a\n10: b\n11: c\n30: a", 40, interpolation=interpolation)
        expected = torch.zeros(40, 4, dtype=torch.float64)
        for frame in range(40):
            left, right, t = parsed.segment(frame)
            expected[frame, left] += 1 - t
            expected[frame, right] += t
        assert torch.allclose(parsed.weights(), expected.float())


def test_ddpm_labels_are_bounded_before_memory_is_used():
    from longform_pack.core import ddpm

    with pytest.raises(ValueError, match="'labels' asks for more than"):
        ddpm.parse_conditions("0 x 1000000000000")


# 6. NaN and infinity are refused for every FLOAT input of every node, naming the input.


def _float_inputs(node_class):
    for section in ("required", "optional"):
        for name, spec in node_class.INPUT_TYPES().get(section, {}).items():
            if spec[0] == "FLOAT":
                yield name, spec[1]


def _every_node():
    from longform_pack import nodes

    return sorted(nodes.NODE_CLASS_MAPPINGS.items())


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_every_float_input_refuses_nan_and_infinity_at_validation(bad):
    import inspect

    checked = 0
    for node_id, node_class in _every_node():
        floats = dict(_float_inputs(node_class))
        if not floats:
            continue
        validate = getattr(node_class, "VALIDATE_INPUTS", None)
        assert validate is not None, f"{node_id} has FLOAT inputs but no VALIDATE_INPUTS"
        named = inspect.getfullargspec(validate).args
        assert set(floats) <= set(named), f"{node_id}: VALIDATE_INPUTS does not name {set(floats) - set(named)}"
        for name in floats:
            values = {arg: None for arg in named if arg != "cls"}
            values[name] = bad
            answer = validate(**values)
            assert isinstance(answer, str) and f"'{name}'" in answer, (node_id, name, answer)
            checked += 1
    assert checked >= 10


NAME_INPUTS = {"filename_prefix", "run_name", "name", "dataset", "insightface"}


def test_every_name_input_is_checked_at_validation():
    import inspect

    for node_id, node_class in _every_node():
        names = {name for section in ("required", "optional")
                 for name, spec in node_class.INPUT_TYPES().get(section, {}).items()
                 if name in NAME_INPUTS and spec[0] == "STRING"}
        for name in names:
            validate = node_class.VALIDATE_INPUTS
            values = {arg: None for arg in inspect.getfullargspec(validate).args if arg != "cls"}
            assert name in values, f"{node_id}: VALIDATE_INPUTS does not name '{name}'"
            answer = validate(**{**values, name: "../" * 3 + "x"})
            assert isinstance(answer, str) and f"'{name}'" in answer, (node_id, name, answer)


def test_save_video_refuses_a_255_character_prefix_and_reports_only_written_files(folders, monkeypatch):
    from longform_pack.core import video
    from longform_pack.nodes.animate import LF_SaveVideo

    answer = LF_SaveVideo.VALIDATE_INPUTS(fps=12.0, filename_prefix="x" * 255)
    assert isinstance(answer, str) and "'filename_prefix'" in answer
    monkeypatch.setattr(video, "_save_animation", lambda *args: None)  # a writer that fails silently
    with pytest.raises(RuntimeError, match="left no file"):
        LF_SaveVideo().save(torch.rand(2, 8, 8, 3), "clip", "gif", 8.0, True)
    assert list((folders / "output").rglob("*.gif")) == []


def test_core_entry_points_refuse_nan_from_linked_inputs():
    from longform_pack.core import animate, ddpm, schedule, video

    with pytest.raises(ValueError, match="'cfg'"):
        animate.AnimateSettings(cfg=float("nan")).check()
    with pytest.raises(ValueError, match="'controlnet_strength'"):
        animate.AnimateSettings(controlnet_strength=float("nan")).check()
    with pytest.raises(ValueError, match="'fps'"):
        schedule.frame_count_for(4.0, float("nan"))
    with pytest.raises(ValueError, match="'fps'"):
        video.check_fps(float("inf"))
    with pytest.raises(ValueError, match="learning_rate"):
        ddpm.TrainConfig(learning_rate=float("inf"))


def test_ddpm_guidance_nan_is_refused(tiny_ddpm):
    from longform_pack.core import ddpm

    with pytest.raises(ValueError, match="'guidance'"):
        ddpm.sample(tiny_ddpm, ["0"], guidance=float("nan"), steps=2, device="cpu")


@pytest.fixture(scope="module")
def tiny_ddpm():
    from longform_pack.core import ddpm

    return ddpm.train(ddpm.TrainConfig(steps=2, batch_size=4, base_channels=8, channel_mults=(1, 2)),
                      device="cpu").model


# 7. Every model file error names the input, the file and the fix.


def _damage(path, how):
    data = path.read_bytes()
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "wrong format":
        path.write_bytes(b"PK\x03\x04 this is a zip, not weights" * 4)


@pytest.mark.parametrize("how", ["empty", "truncated", "wrong format"])
def test_ddpm_loader_errors_name_input_file_and_fix(tiny_ddpm, folders, how):
    from longform_pack.core import ddpm
    from longform_pack.nodes.ddpm import LF_DDPMLoader

    path = ddpm.save_model(tiny_ddpm, folders / "models" / "ddpm" / "m.safetensors")
    _damage(path, how)
    with pytest.raises(ValueError) as caught:
        LF_DDPMLoader().load("m.safetensors")
    text = str(caught.value)
    assert "'model_file'" in text and "m.safetensors" in text and "Fix:" in text


@pytest.mark.parametrize("sidecar, problem", [("[" * 100_000 + "]" * 100_000, "at most|nested"),
                                              ("{" * 40, "not valid JSON"), ("[" * 50 + "]" * 50, "nested")])
def test_ddpm_hostile_sidecar_is_a_clear_error(tiny_ddpm, folders, sidecar, problem):
    from longform_pack.core import ddpm

    path = ddpm.save_model(tiny_ddpm, folders / "models" / "ddpm" / "m.safetensors")
    path.with_suffix(".json").write_text(sidecar)
    with pytest.raises(ValueError, match=problem):
        ddpm.load_model(path)


def _read_adapter(name):
    from longform_pack.core import ipadapter

    return ipadapter.read_adapter(host.model_path("ipadapter", name))


@pytest.mark.parametrize("folder, name, load", [
    ("encoders", "longform-tiny-clip.safetensors", lambda n: __import__("longform_pack.core.encoders",
                                                                      fromlist=["x"]).load_encoder("clip", n)),
    # CLIP vision files are loaded by core Load CLIP Vision now: the pack reads no CLIP_VISION file itself.
    ("ipadapter", "longform-tiny-ip-adapter_sd15.safetensors", lambda n: _read_adapter(n)),
    ("ipadapter", "longform-tiny-ip-adapter-faceid_sd15.bin", lambda n: _read_adapter(n)),
])
@pytest.mark.parametrize("how", ["empty", "truncated", "wrong format"])
def test_model_loaders_errors_name_input_file_and_fix(tiny_models_dir, tmp_path, folder, name, load, how):
    import shutil

    models = tmp_path / "models"
    (models / folder).mkdir(parents=True)
    shutil.copy(tiny_models_dir / folder / name, models / folder / name)
    _damage(models / folder / name, how)
    previous = host.set_models_dir(models)
    try:
        with pytest.raises(ValueError) as caught:
            load(name)
    finally:
        host.set_models_dir(previous)
    text = str(caught.value)
    assert name in text and "install.py" in text and "sha256" in text, text


def test_a_malicious_pickle_is_refused_in_the_packs_words(tiny_models_dir, tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.getcwd, ())

    models = tmp_path / "models"
    (models / "ipadapter").mkdir(parents=True)
    torch.save({"image_proj": {"w": torch.ones(1)}, "ip_adapter": {"x": Payload()}},
               models / "ipadapter" / "evil.bin")
    previous = host.set_models_dir(models)
    try:
        with pytest.raises(ValueError, match="'ipadapter'.*evil.bin.*only plain weights") as caught:
            _read_adapter("evil.bin")
    finally:
        host.set_models_dir(previous)
    assert "weights_only" not in str(caught.value)


@pytest.mark.parametrize("how", ["empty", "truncated", "wrong format"])
def test_insightface_pack_errors_name_input_file_and_fix(tiny_models_dir, tmp_path, how):
    import shutil

    from longform_pack.core import faces

    pack = tmp_path / "models" / "insightface" / "models" / "bad"
    shutil.copytree(tiny_models_dir / "insightface" / "models" / "longform_tiny", pack)
    _damage(sorted(pack.glob("*.onnx"))[0], how)
    previous = host.set_models_dir(tmp_path / "models")
    try:
        with pytest.raises(ValueError, match="'insightface'.*onnx.*Fix:"):
            faces.load_analyzer("models/bad")
    finally:
        host.set_models_dir(previous)


# 8. The clip report reads a streamed run's frames from disk.


def test_clip_report_reads_a_streamed_run_from_disk(tiny_models_dir, output_dir):
    from longform_pack.core import schedule
    from longform_pack.nodes.animate import LF_ClipReport

    clip = _stream_run(output_dir / "LongForm" / "run", count=6, chunk=4)
    plan = schedule.parse_schedule("0: a sunny forest\n5: a stormy night", 6)
    previews = torch.from_numpy(np.stack(clip.preview())).float() / 255
    plot, summary = LF_ClipReport().report(previews, plan, "longform-tiny-clip.safetensors",
                                           video_path=str(clip.video_path))
    assert json.loads(summary)["frames"] == 6 and plot.shape[0] == 1
    with pytest.raises(ValueError, match="'video_path'"):
        LF_ClipReport().report(previews, plan, "longform-tiny-clip.safetensors", video_path="/etc/passwd")


# ------------------------------------------------------------------------------------ issue 20: what still got through
# The red team's classes of 2026-12 (issue 20, item 6), each refused with a clear error.

# 1. Unbounded work: image sides and prompt lengths are capped, the limit named in the error.


def test_stylize_sides_are_capped_with_the_limit_named():
    from longform_pack.core import stylize
    from longform_pack.nodes.stylize import LF_Stylize

    declared = LF_Stylize.INPUT_TYPES()["required"]
    assert declared["width"][1]["max"] == declared["height"][1]["max"] == stylize.MAX_SIDE == 2048
    with pytest.raises(ValueError, match="'width' is 8192.*from 64 to 2048"):
        checks.check_widgets(LF_Stylize.INPUT_TYPES(), {"width": 8192})
    for field, size in (("width", dict(width=8192, height=512)), ("height", dict(width=512, height=2056))):
        with pytest.raises(ValueError, match=f"'{field}' is .*from 64 to 2048 pixels"):
            stylize.render(None, None, None, torch.zeros(1, 64, 64, 3), [], [], **size)  # refused before any work


@pytest.mark.parametrize("field", ["prompt", "negative_prompt"])
def test_stylize_prompts_over_the_cap_are_refused_before_encoding(fake_clip, field):
    from longform_pack.core.text import MAX_PROMPT_CHARS, check_prompt
    from longform_pack.nodes import stylize as stylize_nodes

    with pytest.raises(ValueError, match=f"'{field}' is 100000 characters long; a prompt takes at most "
                                         f"{MAX_PROMPT_CHARS}"):
        stylize_nodes._conditioning(None, fake_clip, "x" * 100_000, "positive", field)
    assert fake_clip.encoded == []
    assert check_prompt("y" * MAX_PROMPT_CHARS, field)  # the limit itself is a prompt


def test_schedule_prompts_and_negative_over_the_cap_are_refused_with_their_line():
    from longform_pack.core import schedule
    from longform_pack.core.text import MAX_PROMPT_CHARS

    long = "x" * (MAX_PROMPT_CHARS + 1)
    with pytest.raises(schedule.ScheduleError) as caught:
        schedule.parse_schedule(f"0: a fox\n4: {long}\n8: a cat --neg {long}", 12)
    text = str(caught.value)
    assert "line 2, column 1: the prompt is 4001 characters long" in text
    assert "line 3, column 1: the negative is 4001 characters long" in text and f"at most {MAX_PROMPT_CHARS}" in text
    with pytest.raises(ValueError, match=f"'negative' is 100000 characters long; a prompt takes at most "
                                         f"{MAX_PROMPT_CHARS}"):
        schedule.parse_schedule("0: a fox", 12, default_negative="x" * 100_000)


# 2. Every VALIDATE_INPUTS takes any subset of the inputs (ComfyUI passes only those a graph holds), and every optional
# input has a default in the node's function.


def _valid_value(entry: tuple):
    """A value an API graph may give an input: its default, else the first choice, else None (a linked input)."""
    kind, options = entry[0], (entry[1] if len(entry) > 1 else {})
    if "default" in options:
        return options["default"]
    return kind[0] if isinstance(kind, (list, tuple)) and kind else None


def _node_classes(pack):
    return sorted(pack.NODE_CLASS_MAPPINGS.items())


def test_every_validate_inputs_takes_any_subset_of_optional_inputs(pack):
    import inspect

    checked = 0
    for name, node_class in _node_classes(pack):
        if not hasattr(node_class, "VALIDATE_INPUTS"):
            continue
        declared = node_class.INPUT_TYPES()
        named = set(inspect.signature(node_class.VALIDATE_INPUTS).parameters)
        required = {key: _valid_value(entry) for key, entry in declared.get("required", {}).items() if key in named}
        optional = {key: _valid_value(entry) for key, entry in declared.get("optional", {}).items() if key in named}
        assert node_class.VALIDATE_INPUTS(**required) is True, name
        assert node_class.VALIDATE_INPUTS(**required, **optional) is True, name
        for key in optional:  # each optional input alone, as a graph that sets only that one gives it
            assert node_class.VALIDATE_INPUTS(**required, **{key: optional[key]}) is True, (name, key)
        assert node_class.VALIDATE_INPUTS() is True, name  # every input linked or omitted: nothing to check yet
        checked += 1
    assert checked >= 10


def test_every_optional_input_has_a_default_in_the_node_function(pack):
    import inspect

    for name, node_class in _node_classes(pack):
        parameters = inspect.signature(getattr(node_class, node_class.FUNCTION)).parameters
        for key, entry in node_class.INPUT_TYPES().get("optional", {}).items():
            assert key in parameters, (name, key)
            default = parameters[key].default
            assert default is not inspect.Parameter.empty, f"{name}.{node_class.FUNCTION}: optional '{key}' has no default"
            declared = entry[1].get("default") if len(entry) > 1 else None
            assert declared is None or default == declared, f"{name}: '{key}' defaults to {default!r}, declared {declared!r}"


# 3. A LoRA full of NaN or infinity is refused, naming the file and a key (it rendered black, "applied 104 of 104").


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_lora_with_nan_or_infinity_is_refused_naming_file_and_key(tmp_path, bad):
    from longform_pack.core import lora

    module = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    good = {f"{module}.lora_up.weight": torch.ones(32, 4), f"{module}.lora_down.weight": torch.ones(4, 768),
            "lora_unet_mid_block_attentions_0_proj_in.lora_up.weight": torch.ones(32, 4),
            "lora_unet_mid_block_attentions_0_proj_in.lora_down.weight": torch.ones(4, 32)}
    save_file(good, str(tmp_path / "fine.safetensors"))
    assert len(lora.load(tmp_path / "fine.safetensors").sources) == 2
    broken = dict(good)
    broken[f"{module}.lora_down.weight"] = torch.ones(4, 768)
    broken[f"{module}.lora_down.weight"][1, 7] = bad
    save_file(broken, str(tmp_path / "diverged.safetensors"))
    with pytest.raises(ValueError, match=f"'lora_name': the LoRA 'diverged.safetensors' holds NaN or infinite values "
                                         f"in 1 of its tensors \\(first: '{module}'\\)"):
        lora.load(tmp_path / "diverged.safetensors")


# 4. A file uploaded into a stream run's folder (POST /upload/image, type=output) cannot block that run name: with
# 'resume' off the state is not read, the pack's own files are set aside in a dated subfolder and the run starts clean.


@pytest.mark.parametrize("uploaded", [b"{not json", b"[]", json.dumps({"key": "theirs"}).encode(), b"\xff\xfe" * 40_000])
def test_a_broken_uploaded_state_blocks_nothing_with_resume_off(tmp_path, uploaded):
    from longform_pack.core import video

    clip = _stream_run(tmp_path / "run", count=6, chunk=2)
    (clip.directory / video.STATE_FILE).write_bytes(uploaded)
    (clip.directory / "notes.txt").write_text("the user's own file")
    again = video.StreamingClip(clip.directory, 6, 8, chunk_frames=2, preview_frames=2, key="k")
    with pytest.raises(ValueError, match="Turn 'resume' off to start that folder over \\(its files are moved into"):
        again.open(resume=True)
    assert again.open(resume=False) == 0  # the advice is right: the run starts clean
    aside = [path for path in clip.directory.iterdir() if path.name.startswith(video.SET_ASIDE_PREFIX)]
    assert len(aside) == 1 and (aside[0] / video.STATE_FILE).read_bytes() == uploaded
    assert len(list((aside[0] / "frames").glob("*.png"))) == 6 and (aside[0] / "run.mp4").is_file()
    assert (clip.directory / "notes.txt").read_text() == "the user's own file"  # only the pack's files move
    assert list((clip.directory / "frames").iterdir()) == []
    rng = np.random.default_rng(1)
    for _ in range(3):
        again.append(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8))
    again.close()
    resumed = video.StreamingClip(clip.directory, 6, 8, chunk_frames=2, preview_frames=2, key="k")
    assert resumed.open(resume=True) == 3  # the clean run's own state resumes
    resumed.close()


def test_another_runs_folder_is_set_aside_not_deleted_with_resume_off(tmp_path):
    from longform_pack.core import video

    clip = _stream_run(tmp_path / "run", count=4, chunk=2, key="first")
    frames = {path.name: path.read_bytes() for path in clip.frames_dir.iterdir()}
    second = video.StreamingClip(clip.directory, 4, 8, chunk_frames=2, preview_frames=2, key="second")
    with pytest.raises(ValueError, match="holds a run with other settings"):
        second.open(resume=True)
    assert second.open(resume=False) == 0
    second.close()
    third = video.StreamingClip(clip.directory, 4, 8, chunk_frames=2, preview_frames=2, key="third")
    assert third.open(resume=False) == 0  # a second start over: its own subfolder, even within the same second
    third.close()
    aside = sorted(path for path in clip.directory.iterdir() if path.name.startswith(video.SET_ASIDE_PREFIX))
    assert len(aside) == 2
    kept = [folder for folder in aside if (folder / "frames").is_dir() and any((folder / "frames").iterdir())]
    assert {path.name: path.read_bytes() for path in (kept[0] / "frames").iterdir()} == frames


# 5. A DDPM dataset's entries are checked after resolving symlinks: a label folder or picture linking outside the
# dataset folder is refused (SECURITY.md's promise), one linking inside it is read.


def _picture(path, value):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8), value, dtype=np.uint8)).save(path)


@pytest.mark.parametrize("link", ["label folder", "picture"])
def test_a_dataset_entry_linking_outside_the_dataset_is_refused(folders, link):
    from longform_pack.core.ddpm import data

    dataset = folders / "input" / "pets"
    _picture(dataset / "cat" / "one.png", 10)
    _picture(folders / "outside" / "dog" / "secret.png", 200)
    if link == "label folder":
        (dataset / "dog").symlink_to(folders / "outside" / "dog", target_is_directory=True)
        entry = "dog"
    else:
        (dataset / "cat" / "two.png").symlink_to(folders / "outside" / "dog" / "secret.png")
        entry = "cat/two.png"
    with pytest.raises(ValueError, match=f"dataset folder 'pets': '{entry}' is a symlink leading outside the "
                                         "dataset folder"):
        data.load_folder_dataset("pets", 8)


def test_a_dataset_entry_linking_inside_the_dataset_is_read(folders):
    from longform_pack.core.ddpm import data

    dataset = folders / "input" / "pets"
    _picture(dataset / "cat" / "one.png", 10)
    _picture(dataset / "dog" / "one.png", 200)
    (dataset / "dog" / "two.png").symlink_to(dataset / "dog" / "one.png")
    loaded = data.load_folder_dataset("pets", 8)
    assert len(loaded) == 3 and loaded.class_names == ["cat", "dog"]


# 6 + 7. A storyboard is bounded (scenes, total frames) and its unreadable forms are storyboard errors with a line.


def _storyboard_errors(text: str, limit_patches: dict, monkeypatch) -> list:
    from longform_pack.core.film import storyboard

    for name, value in limit_patches.items():
        monkeypatch.setattr(storyboard, name, value)
    with pytest.raises(storyboard.StoryboardError) as caught:
        storyboard.parse_storyboard(text, ".", "board.yaml")
    assert "board.yaml has" in str(caught.value)
    return [(issue.line, issue.where, issue.message) for issue in caught.value.issues]


def _board(scenes: int, duration: float = 1) -> str:
    listed = "".join(f"  - {{name: s{index}, duration: {duration}, schedule: '0: a fox'}}\n" for index in range(scenes))
    return f"title: long\nfps: 12\nwidth: 64\nheight: 64\nscenes:\n{listed}"


def test_a_storyboard_with_too_many_scenes_is_refused_at_the_first_one_over(monkeypatch):
    from longform_pack.core.film import storyboard

    assert storyboard.MAX_SCENES == 500
    issues = _storyboard_errors(_board(6), {"MAX_SCENES": 4}, monkeypatch)
    assert issues == [(10, "scenes[4]", "the film has 6 scenes; a storyboard holds at most 4: split the film into "
                                        "several storyboards")]


def test_a_film_longer_than_the_cap_is_refused_at_the_scene_that_passes_it(monkeypatch):
    from longform_pack.core.film import storyboard

    assert storyboard.MAX_FILM_FRAMES == 108_000
    issues = _storyboard_errors(_board(5, duration=10), {"MAX_FILM_FRAMES": 300}, monkeypatch)  # 120 frames a scene
    assert issues == [(8, "scenes[2]", "the film reaches 360 frames by this scene; a film holds at most 300 frames: "
                                       "split it into several storyboards")]


def test_real_caps_hold_a_board_of_many_long_scenes(monkeypatch):
    from longform_pack.core.film import storyboard

    issues = _storyboard_errors(_board(storyboard.MAX_SCENES + 1, duration=0.1), {}, monkeypatch)
    assert issues[0][1] == f"scenes[{storyboard.MAX_SCENES}]" and "at most 500" in issues[0][2]
    issues = _storyboard_errors(_board(20, duration=600), {}, monkeypatch)  # 7,200 frames a scene at 12 fps
    assert issues == [(21, "scenes[15]", "the film reaches 115200 frames by this scene; a film holds at most 108000 "
                                         "frames: split it into several storyboards")]


def test_a_deeply_nested_storyboard_is_a_storyboard_error(monkeypatch):
    issues = _storyboard_errors("title: " + "[" * 100_000 + "]" * 100_000, {}, monkeypatch)
    assert issues == [(1, "syntax", "the file nests lists or mappings too deeply to read; a storyboard needs only a "
                                    "few levels")]


def test_a_storyboard_that_is_not_utf8_is_a_storyboard_error_with_its_line(tmp_path):
    from longform_pack.core.film import storyboard

    (tmp_path / "board.yaml").write_bytes(b"title: film\nfps: 12\nwidth: 64\nheight: 64\n# caf\xe9\nscenes: []\n")
    with pytest.raises(storyboard.StoryboardError) as caught:
        storyboard.load_storyboard(tmp_path / "board.yaml", tmp_path)
    assert [(issue.line, issue.where) for issue in caught.value.issues] == [(5, "encoding")]
    assert "byte 0xe9 is not UTF-8 text; save the storyboard as UTF-8" in str(caught.value)
