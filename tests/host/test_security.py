"""Issue 13 through a real headless ComfyUI: hostile API requests and files, then a look for files created outside
ComfyUI's folders (none), and a normal workflow that still runs. See SECURITY.md for what the pack promises."""

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from test_comfyui import REPO_ROOT, tiny_profile

# What ComfyUI's server may change under its base directory; anything else appearing or changing there, beside it (where
# its home and temp folders are: tests/host/conftest.py) or in the pack's own folder is an escape.
ALLOWED = ("input", "output", "temp", "models", "user", "custom_nodes")
SERVER_LOG = "comfyui.log"
# Never the server's doing in the pack's folder: git, the venv and build outputs, pytest's cache, and bytecode, which
# any Python importing the pack writes (this test process too).
PACK_IGNORED = {".git", ".venv", "build", "outputs", ".pytest_cache", "__pycache__"}
# Written by a library the pack uses, as for any program that uses it (SECURITY.md says so): each with why.
LIBRARY_CACHES = {
    Path("server-home/.cache/matplotlib"): "matplotlib's font list, built on the first plot of a matplotlib version",
}


def _files(root: Path, skip) -> dict[Path, tuple[int, int]]:
    """(mtime in ns, size) of every file or link under `root`, folders for which `skip(path)` is true left out."""
    found = {}
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [name for name in subfolders if not skip(Path(folder) / name)]
        for name in names:
            path = Path(folder) / name
            if not skip(path):
                info = path.lstat()
                found[path] = (info.st_mtime_ns, info.st_size)
    return found


def watched_files(base: Path) -> dict[Path, tuple[int, int]]:
    """Every file the server must leave alone: under the folder holding its base directory (its home and temp
    folders included) but outside the base's allowed folders and its log, and in the pack's own folder."""
    def outside_base(path: Path) -> bool:
        return (path.parent == base and (path.name in ALLOWED or path.name == SERVER_LOG)) or \
            path.relative_to(base.parent) in LIBRARY_CACHES

    return {**_files(base.parent, outside_base), **_files(REPO_ROOT, lambda path: path.name in PACK_IGNORED)}


def escapes(before: dict[Path, tuple[int, int]], after: dict[Path, tuple[int, int]]) -> list[str]:
    """The files that appeared or changed between two `watched_files` snapshots."""
    return sorted(str(path) for path, stamp in after.items() if before.get(path) != stamp)


def post_prompt(url: str, prompt: dict) -> tuple[int, dict]:
    """POST /prompt as a raw client would (NaN allowed in the JSON); the HTTP status and the answer."""
    body = json.dumps({"prompt": prompt, "client_id": uuid.uuid4().hex}).encode()
    request = urllib.request.Request(url + "/prompt", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for(comfyui, prompt_id: str, timeout: float = 600) -> dict:
    """The finished history entry of a prompt, success or error."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = comfyui.client.history(prompt_id)
        if entry and entry.get("status", {}).get("completed") is not None:
            return entry
        time.sleep(0.3)
    pytest.fail(f"prompt {prompt_id} did not finish within {timeout} s")


def error_message(entry: dict) -> str:
    for kind, data in entry["status"].get("messages", []):
        if kind == "execution_error":
            return data.get("exception_message", "")
    return ""


def upload(url: str, name: str, data: bytes, subfolder: str, kind: str = "output") -> dict:
    """ComfyUI's own /upload/image (any bytes, any name), as any API client may call it."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n".encode() + data + b"\r\n",
    ]
    for field, value in (("type", kind), ("subfolder", subfolder), ("overwrite", "true")):
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"\r\n\r\n{value}\r\n'.encode())
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "/upload/image", data=body,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture
def no_escape(comfyui):
    """Fails the test if a file appeared or changed outside ComfyUI's allowed folders while it ran."""
    before = watched_files(comfyui.base)
    assert (comfyui.base.parent / "server-home").is_dir(), "the server's home is not watched"
    yield
    assert escapes(before, watched_files(comfyui.base)) == []


def test_the_probe_sees_new_and_changed_files_in_home_temp_and_the_pack(comfyui):
    before = watched_files(comfyui.base)
    planted = [comfyui.base.parent / "server-home" / ".probe", comfyui.base.parent / "server-tmp" / "probe.txt"]
    readme = REPO_ROOT / "README.md"
    stamp = readme.stat()
    try:
        for path in planted:
            path.write_text("written outside")
        os.utime(readme, ns=(stamp.st_atime_ns, stamp.st_mtime_ns + 1_000_000_000))  # modified, same size
        assert escapes(before, watched_files(comfyui.base)) == sorted(str(p) for p in [*planted, readme])
    finally:
        os.utime(readme, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
        for path in planted:
            path.unlink(missing_ok=True)


def _train_graph(**inputs) -> dict:
    train = {"dataset": "digits", "image_size": 8, "steps": 2, "batch_size": 8, "learning_rate": 0.002, "seed": 0,
             "schedule": "cosine", "name": "security_ok", "resume": False, **inputs}
    return {"1": {"class_type": "LF_DDPMTrain", "inputs": train},
            "2": {"class_type": "PreviewImage", "inputs": {"images": ["1", 1]}}}


def _node_error_text(answer: dict) -> str:
    return json.dumps(answer.get("node_errors", {}))


@pytest.mark.parametrize("inputs, field", [
    ({"dataset": "/etc"}, "dataset"),
    ({"dataset": "../../../"}, "dataset"),
    ({"dataset": "a/../../.."}, "dataset"),
    ({"name": "a\u0000b"}, "name"),
    ({"name": "x" * 300}, "name"),
    ({"name": ""}, "name"),
    ({"name": "../escape"}, "name"),
    ({"learning_rate": float("nan")}, "learning_rate"),
])
def test_ddpm_train_hostile_inputs_are_refused_before_any_work(comfyui, no_escape, inputs, field):
    before = set((comfyui.base / "models" / "ddpm").glob("*"))
    status, answer = post_prompt(comfyui.url, _train_graph(**inputs))
    assert status == 400 and f"'{field}'" in _node_error_text(answer), answer
    assert set((comfyui.base / "models" / "ddpm").glob("*")) == before


def _save_video_graph(**inputs) -> dict:
    save = {"images": ["1", 0], "filename_prefix": "security/clip", "format": "gif", "fps": 8.0, "loop": True, **inputs}
    return {"1": {"class_type": "EmptyImage", "inputs": {"width": 16, "height": 16, "batch_size": 2, "color": 0}},
            "2": {"class_type": "LF_SaveVideo", "inputs": save}}


@pytest.mark.parametrize("inputs, field", [
    ({"filename_prefix": "../../escape"}, "filename_prefix"),
    ({"filename_prefix": "/tmp/escape"}, "filename_prefix"),
    ({"filename_prefix": "x" * 255}, "filename_prefix"),
    ({"filename_prefix": "a\u0000b"}, "filename_prefix"),
    ({"fps": float("nan")}, "fps"),
    ({"fps": float("inf")}, "fps"),
])
def test_save_video_hostile_inputs_are_refused(comfyui, no_escape, inputs, field):
    status, answer = post_prompt(comfyui.url, _save_video_graph(**inputs))
    assert status == 400 and f"'{field}'" in _node_error_text(answer), answer


def test_nan_guidance_is_refused(comfyui, no_escape):
    graph = _train_graph()
    del graph["2"]  # the sampler is the only output: with a valid output beside it ComfyUI runs that part (200)
    graph["3"] = {"class_type": "LF_DDPMSample", "inputs": {
        "model": ["1", 0], "labels": "3", "guidance": float("nan"), "sampler": "ddim", "steps": 2, "eta": 0.0,
        "seed": 0, "strip_columns": 2, "strip_rows": 1, "filename_prefix": "security/ddpm"}}
    status, answer = post_prompt(comfyui.url, graph)
    assert status == 400 and "'guidance'" in _node_error_text(answer), answer


def _schedule_graph(object_info: dict, text: str, seconds: float, fps: float) -> dict:
    """LF Prompt Schedule alone (with a text encoder when it takes one), its timeline previewed."""
    info = object_info["LF_PromptSchedule"]
    inputs = {"text": text, "seconds": seconds, "fps": fps, "interpolation": "linear", "negative": ""}
    graph = {}
    if "clip" in info["input"]["required"]:
        graph["0"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "longform-tiny-sd15.safetensors"}}
        inputs["clip"] = ["0", 1]
    graph["1"] = {"class_type": "LF_PromptSchedule", "inputs": inputs}
    graph["2"] = {"class_type": "PreviewImage", "inputs": {"images": ["1", info["output"].index("IMAGE")]}}
    return graph


def test_huge_schedules_answer_within_seconds(comfyui, object_info, no_escape):
    # (graph, the status it must end with: None = a result or an error, both within seconds). A 100-keyframe, 100 s
    # schedule is timed in tests/test_security.py without the text encoder, whose CPU time is ComfyUI's.
    cases = [
        (_schedule_graph(object_info, "0: a forest\n300s: a city", 600.0, 60.0), None),  # 36,000 frames
        (_schedule_graph(object_info, "\n".join(f"{i}: p{i}" for i in range(5_000)), 600.0, 60.0), "error"),
    ]
    for graph, expected in cases:
        started = time.monotonic()
        status, answer = post_prompt(comfyui.url, graph)
        assert status == 200, answer
        entry = wait_for(comfyui, answer["prompt_id"], timeout=120)
        assert time.monotonic() - started < 30
        allowed = {expected} if expected else {"success", "error"}  # None: a result or a clear error, both in time
        assert entry["status"]["status_str"] in allowed, error_message(entry)
        if entry["status"]["status_str"] == "error":
            assert "at most" in error_message(entry), error_message(entry)


def test_broken_model_files_are_clear_errors(comfyui, no_escape):
    ddpm = comfyui.base / "models" / "ddpm"
    ddpm.mkdir(parents=True, exist_ok=True)
    cases = {"security_empty.safetensors": b"", "security_wrong.safetensors": b"\x80\x04this is a pickle" * 8}
    for name, data in cases.items():
        (ddpm / name).write_bytes(data)
    try:
        for name in cases:
            graph = {"1": {"class_type": "LF_DDPMLoader", "inputs": {"model_file": name}},
                     "2": {"class_type": "LF_DDPMSample", "inputs": {
                         "model": ["1", 0], "labels": "3", "guidance": 3.0, "sampler": "ddim", "steps": 2,
                         "eta": 0.0, "seed": 0, "strip_columns": 2, "strip_rows": 1,
                         "filename_prefix": "security/ddpm"}}}
            comfyui.client.free()
            status, answer = post_prompt(comfyui.url, graph)
            # ComfyUI lists a model folder again when its modification time changes: the new file is a valid choice.
            assert status == 200, f"the server refused '{name}' before running it: {answer}"
            message = error_message(wait_for(comfyui, answer["prompt_id"]))
            assert "'model_file'" in message and name in message and "Fix:" in message, message
            assert "header too small" not in message and "deserializing" not in message
    finally:
        for name in cases:
            (ddpm / name).unlink(missing_ok=True)


STREAM_RUN = "LongForm/security_run"


def _streamed_sketch_to_video() -> dict:
    prompt = tiny_profile(json.loads((REPO_ROOT / "workflows" / "api" / "sketch_to_video.json").read_text()))
    for node in prompt.values():
        inputs = node["inputs"]
        if node["class_type"] == "LF_PromptSchedule":
            inputs.update(seconds=1.0, fps=4.0, text="0: a sunny forest\n3: a stormy night")
        if "steps" in inputs and isinstance(inputs["steps"], int):
            inputs["steps"] = min(inputs["steps"], 4)
        if node["class_type"] == "LF_Animate":
            inputs.update(mode="stream to disk", run_name=STREAM_RUN, resume=True, preview_frames=2)
    return prompt


def test_streamed_video_report_and_a_tampered_state(comfyui, no_escape):
    # 8. sketch_to_video in 'stream to disk' mode: the clip report reads the run's frames from disk.
    comfyui.client.free()
    prompt = _streamed_sketch_to_video()
    entry = wait_for(comfyui, comfyui.client.queue(prompt), timeout=1500)
    assert entry["status"]["status_str"] == "success", error_message(entry)
    run = comfyui.base / "output" / STREAM_RUN
    assert (run / "state.json").is_file() and len(list((run / "frames").glob("*.png"))) == 4

    # 2. Replace the run's state.json through ComfyUI's own upload route: chunks that point outside the output folder.
    secret = comfyui.base / "secret.mp4"
    secret.write_bytes(b"outside the output folder")
    state = json.loads((run / "state.json").read_text())
    state.update(chunks=["chunk_00000.mp4", "../../../../secret.mp4"], written=4)
    upload(comfyui.url, "state.json", json.dumps(state).encode(), STREAM_RUN)
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    comfyui.client.free()
    entry = wait_for(comfyui, comfyui.client.queue(prompt), timeout=1500)
    assert entry["status"]["status_str"] == "error"
    assert "does not fit this run" in error_message(entry)
    assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == before
    secret.unlink()

    # Issue 20: an uploaded state.json blocks nothing with 'resume' off (the advice of the error above): the run
    # starts clean and the earlier files, the uploaded state included, are set aside in a dated subfolder.
    upload(comfyui.url, "state.json", b"{not json", STREAM_RUN)
    for node in prompt.values():
        if node["class_type"] == "LF_Animate":
            node["inputs"]["resume"] = False
    comfyui.client.free()
    entry = wait_for(comfyui, comfyui.client.queue(prompt), timeout=1500)
    assert entry["status"]["status_str"] == "success", error_message(entry)
    assert len(list((run / "frames").glob("*.png"))) == 4 and json.loads((run / "state.json").read_text())["written"] == 4
    aside = [path for path in run.iterdir() if path.name.startswith("set-aside-")]
    assert len(aside) == 1 and (aside[0] / "state.json").read_bytes() == b"{not json"


def test_a_normal_workflow_still_runs_afterwards(comfyui, no_escape):
    prompt = tiny_profile(json.loads((REPO_ROOT / "workflows" / "api" / "ddpm_train_and_sample.json").read_text()))
    comfyui.client.free()
    entry = comfyui.client.wait(comfyui.client.queue(prompt), timeout=900, show_progress=False)
    assert entry["status"]["status_str"] == "success"
