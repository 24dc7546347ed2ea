"""install.py against a real HTTP server on 127.0.0.1: downloads, resume, retries, verification, unsafe paths, zips."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import logging
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def _load_install():
    spec = importlib.util.spec_from_file_location("longform_install", REPO_ROOT / "install.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses looks the module up while building DownloadOptions
    spec.loader.exec_module(module)
    return module


install = _load_install()

FAST = ["--no-progress", "--backoff", "0.01", "--retries", "2"]


class FileServer:
    """Serves `files` (url path -> bytes) with Range support; records every request; can misbehave on purpose."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.drop_once: set[str] = set()  # first GET sends half the body, then closes the connection
        self.ignore_range: set[str] = set()  # answer 200 with the whole file even to a Range request
        self.always_503: set[str] = set()
        self.redirects: dict[str, str] = {}  # url path -> Location of a 302 answer
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # http.server's naming
                record = {"path": self.path, "range": self.headers.get("Range"), "status": None, "sent": 0}
                server.requests.append(record)
                if self.path in server.redirects:
                    record["status"] = 302
                    self.send_response(302)
                    self.send_header("Location", server.redirects[self.path])
                    self.end_headers()
                    return
                if self.path in server.always_503:
                    record["status"] = 503
                    self.send_error(503)
                    return
                data = server.files.get(self.path)
                if data is None:
                    record["status"] = 404
                    self.send_error(404)
                    return
                start = 0
                if record["range"] and self.path not in server.ignore_range:
                    start = int(record["range"].removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        record["status"] = 416
                        self.send_error(416)
                        return
                body = data[start:]
                record["status"] = 206 if start else 200
                self.send_response(record["status"])
                self.send_header("Content-Length", str(len(body)))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if self.path in server.drop_once:
                    server.drop_once.discard(self.path)
                    body = body[: len(body) // 2]
                    self.close_connection = True
                record["sent"] = len(body)  # before writing: the client may finish reading before write() returns
                self.wfile.write(body)

            def log_message(self, *args):
                """Keep the test output quiet."""

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> FileServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    with FileServer() as running:
        yield running


def _payload(size: int, seed: int = 0) -> bytes:
    """Deterministic bytes that differ at every offset (a resume at the wrong place would show)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}-{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def _entry(server: FileServer, name: str, data: bytes, **overrides) -> dict:
    """A manifest entry for `data` served at /<name>, with the right size and hash unless overridden."""
    server.files[f"/{name}"] = data
    entry = {
        "id": name.replace(".", "_"), "group": "stylize", "folder": "checkpoints", "filename": name,
        "url": server.url(f"/{name}"), "size_bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
        "license": "test", "tiny_filename": f"tiny-{name}", "description": "test file",
    }
    entry.update(overrides)
    return entry


def _run(tmp_path: Path, entries: list[dict], *extra: str) -> int:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"schema_version": 1, "models": entries}), encoding="utf-8")
    return install.main(["--models", *extra, "--manifest", str(manifest), "--models-dir", str(tmp_path / "models"),
                         *FAST])


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


def test_good_file_is_downloaded_verified_and_cached(tmp_path, server):
    data = _payload(300_000)
    assert _run(tmp_path, [_entry(server, "good.safetensors", data)]) == 0
    target = tmp_path / "models" / "checkpoints" / "good.safetensors"
    assert target.read_bytes() == data
    assert not target.with_name("good.safetensors.part").exists()
    sidecar = json.loads(target.with_name("good.safetensors.sha256").read_text())
    assert sidecar["sha256"] == hashlib.sha256(data).hexdigest() and sidecar["size"] == len(data)
    assert [(r["range"], r["status"], r["sent"]) for r in server.requests] == [(None, 200, len(data))]


def test_partial_file_resumes_with_a_range_request(tmp_path, server):
    data = _payload(200_000, seed=1)
    entry = _entry(server, "resume.safetensors", data)
    folder = tmp_path / "models" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "resume.safetensors.part").write_bytes(data[:70_000])
    assert _run(tmp_path, [entry]) == 0
    assert (folder / "resume.safetensors").read_bytes() == data
    assert [(r["range"], r["status"], r["sent"]) for r in server.requests] == [("bytes=70000-", 206, 130_000)]


def test_server_ignoring_range_restarts_from_zero(tmp_path, server):
    data = _payload(50_000, seed=2)
    entry = _entry(server, "norange.bin", data)
    server.ignore_range.add("/norange.bin")
    folder = tmp_path / "models" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "norange.bin.part").write_bytes(data[:10_000])
    assert _run(tmp_path, [entry]) == 0
    assert (folder / "norange.bin").read_bytes() == data


def test_hash_mismatch_deletes_the_file_and_exits_non_zero(tmp_path, server, caplog):
    data = _payload(40_000, seed=3)
    entry = _entry(server, "corrupt.safetensors", data, sha256="0" * 64)
    assert _run(tmp_path, [entry]) == install.EXIT_VERIFY
    folder = tmp_path / "models" / "checkpoints"
    assert not list(folder.iterdir())  # neither the file nor its .part is left behind
    message = caplog.text
    assert "'corrupt_safetensors'" in message and "sha256 mismatch" in message and "0" * 64 in message
    assert hashlib.sha256(data).hexdigest() in message


def test_size_mismatch_is_refused(tmp_path, server, caplog):
    data = _payload(10_000, seed=4)
    entry = _entry(server, "short.bin", data, size_bytes=9_000)
    assert _run(tmp_path, [entry]) == install.EXIT_VERIFY
    assert not (tmp_path / "models" / "checkpoints" / "short.bin").exists()
    assert "the manifest says 9000" in caplog.text


def test_http_404_names_the_entry_and_url(tmp_path, server, caplog):
    entry = _entry(server, "missing.safetensors", b"x")
    del server.files["/missing.safetensors"]
    assert _run(tmp_path, [entry]) == install.EXIT_DOWNLOAD
    assert "'missing_safetensors'" in caplog.text and "404" in caplog.text and entry["url"] in caplog.text
    assert len(server.requests) == 1  # a 404 is not retried


def test_dropped_connection_is_retried_and_resumed(tmp_path, server):
    data = _payload(120_000, seed=5)
    entry = _entry(server, "flaky.safetensors", data)
    server.drop_once.add("/flaky.safetensors")
    assert _run(tmp_path, [entry]) == 0
    assert (tmp_path / "models" / "checkpoints" / "flaky.safetensors").read_bytes() == data
    first, second = server.requests
    assert first["range"] is None and first["sent"] == 60_000
    assert second["range"] == "bytes=60000-" and second["sent"] == 60_000


def test_persistent_server_errors_give_up_after_the_retries(tmp_path, server, caplog):
    entry = _entry(server, "busy.bin", b"abc")
    server.always_503.add("/busy.bin")
    assert _run(tmp_path, [entry]) == install.EXIT_DOWNLOAD
    assert len(server.requests) == 3  # the first try and --retries 2
    assert "failed after 3 attempts" in caplog.text


@pytest.mark.parametrize(
    "field, value",
    [("folder", "../outside"), ("filename", "../../escape.bin"), ("filename", "/etc/escape.bin"),
     ("folder", "checkpoints/../../up"), ("filename", "..\\win.bin"), ("folder", "C:/models")],
)
def test_path_escaping_entries_are_refused_before_any_download(tmp_path, server, caplog, field, value):
    good = _entry(server, "fine.bin", b"fine")
    bad = _entry(server, "evil.bin", b"evil", **{field: value})
    assert _run(tmp_path, [good, bad]) == install.EXIT_MANIFEST
    assert server.requests == []
    assert "would land outside the models dir" in caplog.text and value in caplog.text
    assert not (tmp_path / "outside").exists() and not (tmp_path / "escape.bin").exists()


def test_verified_file_is_not_downloaded_or_hashed_again(tmp_path, server, monkeypatch):
    entry = _entry(server, "cached.safetensors", _payload(20_000, seed=6))
    assert _run(tmp_path, [entry]) == 0
    assert len(server.requests) == 1

    def no_rehash(path):
        raise AssertionError(f"{path} was hashed again although its sidecar is current")

    monkeypatch.setattr(install.file_hash, "sha256_file", no_rehash)
    assert _run(tmp_path, [entry]) == 0
    assert len(server.requests) == 1


def test_changed_existing_file_is_downloaded_again(tmp_path, server, caplog):
    data = _payload(20_000, seed=7)
    entry = _entry(server, "changed.bin", data)
    folder = tmp_path / "models" / "checkpoints"
    folder.mkdir(parents=True)
    (folder / "changed.bin").write_bytes(_payload(20_000, seed=8))  # same size, other bytes
    assert _run(tmp_path, [entry]) == 0
    assert (folder / "changed.bin").read_bytes() == data
    assert "not the manifest's" in caplog.text


@pytest.mark.parametrize("sha256", [None, "", "abc", "g" * 64])
def test_entry_without_a_sha256_is_refused_before_any_download(tmp_path, server, caplog, sha256):
    assert _run(tmp_path, [_entry(server, "nohash.bin", _payload(5_000, seed=9), sha256=sha256)]) == install.EXIT_MANIFEST
    assert "has no sha256" in caplog.text and server.requests == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/x.bin", "http://example.com/x.bin",
                                 "http://10.0.0.1/x.bin", "gopher://127.0.0.1/x"])
def test_only_https_or_loopback_http_urls_are_followed(tmp_path, server, caplog, url):
    assert _run(tmp_path, [_entry(server, "x.bin", b"data", url=url)]) == install.EXIT_MANIFEST
    assert "is not https" in caplog.text and not (tmp_path / "models" / "checkpoints" / "x.bin").exists()


@pytest.mark.parametrize("location", ["file:///etc/passwd", "http://10.0.0.1/x.bin"])
def test_redirects_are_held_to_the_same_rule(tmp_path, server, caplog, location):
    entry = _entry(server, "moved.bin", b"data")
    server.redirects["/moved.bin"] = location
    assert _run(tmp_path, [entry]) != 0
    assert [r["path"] for r in server.requests] == ["/moved.bin"]  # the redirect was never followed
    assert not (tmp_path / "models" / "checkpoints" / "moved.bin").exists()


def test_every_shipped_manifest_entry_carries_a_sha256_and_an_https_url():
    for item in install.load_entries(install.DEFAULT_MANIFEST):
        install.check_url(item.url, item.id)
        assert len(item.sha256 or "") == 64 and item.url.startswith("https://"), item.id


def test_dry_run_lists_files_and_sizes_and_writes_nothing(tmp_path, server, caplog):
    entries = [_entry(server, "a.safetensors", _payload(3 * 1024 * 1024)), _entry(server, "b.bin", b"b" * 10)]
    assert _run(tmp_path, entries, "--dry-run") == 0
    assert server.requests == [] and not (tmp_path / "models").exists()
    assert "checkpoints/a.safetensors" in caplog.text and "3.0 MiB" in caplog.text
    assert "checkpoints/b.bin" in caplog.text and "10 B" in caplog.text


def test_zip_entry_is_unpacked_into_its_folder(tmp_path, server):
    members = {"buffalo_l/det_10g.onnx": _payload(3000, 10), "buffalo_l/w600k_r50.onnx": _payload(4000, 11)}
    entry = _entry(server, "buffalo_l.zip", _zip_bytes(members), folder="insightface", filename="models/buffalo_l",
                   unpack="zip")
    assert _run(tmp_path, [entry]) == 0
    target = tmp_path / "models" / "insightface" / "models" / "buffalo_l"
    assert (target / "det_10g.onnx").read_bytes() == members["buffalo_l/det_10g.onnx"]
    assert (target / "w600k_r50.onnx").read_bytes() == members["buffalo_l/w600k_r50.onnx"]
    assert sorted(p.name for p in target.parent.iterdir()) == ["buffalo_l"]  # archive and staging removed
    assert _run(tmp_path, [entry]) == 0
    assert len(server.requests) == 1  # the unpacked folder counts as installed

    (target / "det_10g.onnx").unlink()  # a damaged install is fetched again
    assert _run(tmp_path, [entry]) == 0
    assert (target / "det_10g.onnx").exists() and len(server.requests) == 2


def test_zip_slip_is_refused(tmp_path, server, caplog):
    archive = _zip_bytes({"ok.onnx": b"ok", "../../escaped.txt": b"gotcha"})
    entry = _entry(server, "slip.zip", archive, folder="insightface", filename="models/slip", unpack="zip")
    assert _run(tmp_path, [entry]) == install.EXIT_VERIFY
    assert "unsafe entry '../../escaped.txt'" in caplog.text
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not (tmp_path / "models" / "insightface" / "models" / "slip").exists()


def _examples(tmp_path: Path, monkeypatch, files: dict[str, bytes]) -> None:
    """Make `files` the pack's example inputs."""
    examples = tmp_path / "examples"
    for name, data in files.items():
        (examples / name).parent.mkdir(parents=True, exist_ok=True)
        (examples / name).write_bytes(data)
    monkeypatch.setattr(install, "EXAMPLES_DIR", examples)


def test_example_inputs_never_overwrite_the_users_files(tmp_path, monkeypatch):
    _examples(tmp_path, monkeypatch, {"face.png": b"example face", "scribbles/cat.png": b"example cat"})
    input_dir = tmp_path / "input"
    input_dir.mkdir()
    (input_dir / "face.png").write_bytes(b"the user's own face")
    assert install.main(["--no-requirements", "--input-dir", str(input_dir)]) == 0
    assert (input_dir / "face.png").read_bytes() == b"the user's own face"
    assert (input_dir / "scribbles" / "cat.png").read_bytes() == b"example cat"


def test_missing_input_dir_is_a_clear_usage_error(tmp_path, monkeypatch, caplog):
    _examples(tmp_path, monkeypatch, {"a.png": b"a"})
    assert install.main(["--no-requirements", "--input-dir", str(tmp_path / "nope")]) == install.EXIT_USAGE
    assert "--input-dir: no folder at" in caplog.text


def test_user_mistakes_exit_cleanly_without_a_traceback(tmp_path):
    command = [sys.executable, str(REPO_ROOT / "install.py")]
    unknown = subprocess.run([*command, "--models", "nosuchgroup", "--models-dir", str(tmp_path), "--dry-run"],
                             capture_output=True, text=True, timeout=60)
    assert unknown.returncode == install.EXIT_USAGE
    assert "unknown group(s) nosuchgroup" in unknown.stderr and "Traceback" not in unknown.stderr
    bad_flag = subprocess.run([*command, "--retries", "many"], capture_output=True, text=True, timeout=60)
    assert bad_flag.returncode == 2 and "Traceback" not in bad_flag.stderr
    helped = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "exit codes:" in helped.stdout


def test_log_level_quiet_hides_info(tmp_path, server, caplog):
    caplog.set_level(logging.INFO, logger="LongForm")
    entry = _entry(server, "quiet.bin", b"q" * 100)
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"models": [entry]}), encoding="utf-8")
    assert install.main(["--models", "--manifest", str(manifest), "--models-dir", str(tmp_path / "m"), "-q",
                         *FAST]) == 0
    assert "downloading" not in caplog.text


def _torch_bytes(obj) -> bytes:
    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_torch_pickle_is_converted_to_safetensors(tmp_path, server):
    import torch
    from safetensors.torch import load_file

    state = {"text.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3), "text.ids": torch.arange(5)}
    entry = _entry(server, "pytorch_model.bin", _torch_bytes(state), folder="encoders", filename="clip.safetensors",
                   unpack="torch-to-safetensors")
    assert _run(tmp_path, [entry]) == 0
    folder = tmp_path / "models" / "encoders"
    assert sorted(p.name for p in folder.iterdir()) == ["clip.safetensors", "clip.safetensors.sha256"]
    loaded = load_file(str(folder / "clip.safetensors"))
    assert loaded.keys() == state.keys() and all(torch.equal(loaded[k], state[k]) for k in state)
    assert _run(tmp_path, [entry]) == 0
    assert len(server.requests) == 1  # the converted file is traced to its verified download and kept


class PickledCode:
    """Any class: unpickling it would import and run code, which a weights_only load refuses."""


@pytest.mark.parametrize("payload, message", [
    ({"w": PickledCode()}, "not a readable PyTorch weights file"),
    ({"w": [1, 2]}, "not a flat state dict of tensors"),
])
def test_pickle_with_more_than_tensors_is_refused(tmp_path, server, caplog, payload, message):
    entry = _entry(server, "evil.bin", _torch_bytes(payload), folder="encoders", filename="evil.safetensors",
                   unpack="torch-to-safetensors")
    assert _run(tmp_path, [entry]) == install.EXIT_VERIFY
    assert not list((tmp_path / "models" / "encoders").iterdir())
    assert "'evil_bin'" in caplog.text and message in caplog.text


def test_unknown_unpack_kind_is_a_manifest_error(tmp_path, server, caplog):
    entry = _entry(server, "x.tar", b"x", unpack="tar")
    assert _run(tmp_path, [entry]) == install.EXIT_MANIFEST
    assert "unknown unpack 'tar'" in caplog.text and server.requests == []


def test_examples_outside_comfyui_need_an_input_dir(tmp_path, monkeypatch, caplog):
    _examples(tmp_path, monkeypatch, {"a.png": b"a"})
    monkeypatch.setattr(install, "PACK_ROOT", tmp_path / "not-custom-nodes" / "pack")
    assert install.main(["--no-requirements"]) == 0
    assert "were not copied (pass --input-dir" in caplog.text


def test_examples_go_to_the_comfyui_input_folder_the_pack_sits_in(tmp_path, monkeypatch):
    comfy = tmp_path / "ComfyUI"
    (comfy / "input").mkdir(parents=True)
    _examples(tmp_path, monkeypatch, {"sketch.png": b"sketch"})
    monkeypatch.setattr(install, "PACK_ROOT", comfy / "custom_nodes" / "ComfyUI-LongForm")
    assert install.main(["--no-requirements"]) == 0
    assert (comfy / "input" / "sketch.png").read_bytes() == b"sketch"


def test_tiny_writes_each_registered_stand_in_under_its_tiny_filename(tmp_path, monkeypatch, caplog):
    from longform_pack.core import manifest, tiny

    def build(path):
        path.write_bytes(b"tiny resnet")

    monkeypatch.setattr(tiny, "builders", lambda: {"resnet50": build})
    monkeypatch.setenv(tiny.CACHE_ENV, str(tmp_path / "cache"))  # the fake builder stays out of the shared cache
    models = tmp_path / "tiny-models"
    assert install.main(["--tiny", "--models-dir", str(models)]) == 0
    entry = manifest.entry("resnet50")
    assert (models / entry.folder / entry.tiny_filename).read_bytes() == b"tiny resnet"
    assert [p for p in models.rglob("*") if p.is_file()] == [models / entry.folder / entry.tiny_filename]
    assert "Built 1 tiny models" in caplog.text

    monkeypatch.setattr(tiny, "builders", dict)
    assert install.main(["--tiny", "--models-dir", str(tmp_path / "empty")]) == 0
    assert "nothing was written" in caplog.text


def test_failing_pip_install_exits_with_the_pip_code(tmp_path, monkeypatch, caplog):
    (tmp_path / "requirements.txt").write_text("./no-such-local-package\n")  # fails inside pip, no network needed
    monkeypatch.setattr(install, "PACK_ROOT", tmp_path)
    assert install.main([]) == install.EXIT_PIP
    assert f"pip could not install -r {tmp_path / 'requirements.txt'}" in caplog.text


def test_models_dir_that_cannot_be_created_is_a_usage_error(tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert install.main(["--tiny", "--models-dir", str(blocker / "models")]) == install.EXIT_USAGE
    assert f"--models-dir: cannot create {blocker / 'models'}" in caplog.text


@pytest.mark.parametrize("installed, cuda, expected", [
    ([], "12.4", ("onnxruntime-gpu>=1.18", "onnxruntime-gpu")),  # a CUDA machine: the GPU build
    ([], None, ("onnxruntime>=1.18", "onnxruntime")),  # no CUDA GPU (CPU, ROCm, MPS): the CPU build
    ([], "11.8", ("onnxruntime>=1.18", "onnxruntime")),  # PyPI's GPU build needs CUDA 12
    (["onnxruntime-directml"], "12.4", (None, "onnxruntime-directml")),  # the user's own build stays
    (["onnxruntime"], "12.4", (None, "onnxruntime")),
])
def test_one_onnxruntime_build_is_chosen(installed, cuda, expected):
    choice = install.choose_onnxruntime(installed, cuda)
    assert (choice.install, choice.build) == expected
    other = "onnxruntime-gpu" if expected[1] == "onnxruntime" else "onnxruntime"
    assert choice.switch_hint().endswith(f"pip uninstall -y {expected[1]} && {sys.executable} -m pip install {other}")


def test_bare_install_puts_in_insightface_without_its_onnxruntime_then_one_build(tmp_path, monkeypatch, caplog):
    commands, builds = [], [[], ["onnxruntime-gpu"]]
    monkeypatch.setattr(install, "PACK_ROOT", tmp_path)
    monkeypatch.setattr(install.subprocess, "run", lambda command, check: commands.append(command[3:]) or
                        subprocess.CompletedProcess(command, 0))
    monkeypatch.setattr(install, "installed_onnxruntime_builds", lambda: builds.pop(0))
    monkeypatch.setattr(install, "torch_cuda_version", lambda: "12.8")
    caplog.set_level(logging.INFO, logger="LongForm")
    assert install.main(["--input-dir", str(tmp_path)]) == 0
    assert commands == [["install", "-r", str(tmp_path / "requirements.txt")], ["install", "--no-deps", install.INSIGHTFACE],
                        ["install", install.ONNXRUNTIME_GPU]]
    assert "onnxruntime: onnxruntime-gpu (torch runs on CUDA 12.8). To switch to onnxruntime:" in caplog.text


def test_two_builds_already_installed_are_reported_with_the_fix(tmp_path, monkeypatch, caplog):
    commands = []
    monkeypatch.setattr(install, "PACK_ROOT", tmp_path)
    monkeypatch.setattr(install.subprocess, "run", lambda command, check: commands.append(command[3:]) or
                        subprocess.CompletedProcess(command, 0))
    monkeypatch.setattr(install, "installed_onnxruntime_builds", lambda: ["onnxruntime", "onnxruntime-gpu"])
    assert install.main(["--input-dir", str(tmp_path)]) == 0
    assert len(commands) == 2  # requirements and insightface; no third build
    assert "Several onnxruntime builds are installed (onnxruntime, onnxruntime-gpu)" in caplog.text
    assert "pip uninstall -y onnxruntime onnxruntime-gpu" in caplog.text and "pip install --no-deps onnxruntime-gpu" \
        in caplog.text


def test_installed_builds_are_read_from_this_python():
    builds = install.installed_onnxruntime_builds()
    assert "onnxruntime" in builds and set(builds) <= set(install.ONNXRUNTIME_BUILDS)  # requirements-dev's CPU build


@pytest.mark.parametrize("limit, value, members", [
    ("MAX_ZIP_ENTRIES", 3, {f"part{index}.onnx": b"x" for index in range(5)}),
    ("MAX_UNPACKED_BYTES", 10_000, {"bomb.onnx": bytes(200_000)}),  # compresses to a few hundred bytes
])
def test_an_archive_over_the_entry_or_size_cap_is_refused(tmp_path, server, caplog, monkeypatch, limit, value,
                                                          members):
    monkeypatch.setattr(install, limit, value)
    entry = _entry(server, "bomb.zip", _zip_bytes(members), folder="insightface", filename="models/bomb",
                   unpack="zip")
    assert _run(tmp_path, [entry]) == install.EXIT_VERIFY
    assert "may hold at most" in caplog.text and "Refusing to unpack" in caplog.text
    assert not (tmp_path / "models" / "insightface" / "models" / "bomb").exists()


@pytest.mark.parametrize("field", ["filename", "folder"])
def test_a_nul_in_a_manifest_path_exits_5_with_a_message(tmp_path, server, caplog, capsys, field):
    entry = _entry(server, "nul.bin", b"nul", **{field: "bad\x00name.bin"})
    assert _run(tmp_path, [entry]) == install.EXIT_MANIFEST
    assert "NUL" in caplog.text and "Traceback" not in capsys.readouterr().err
    assert server.requests == []
