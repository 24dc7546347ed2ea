"""A real headless ComfyUI for the host tests: the pack linked in, the tiny models and example inputs in place.

Runs only when COMFYUI_DIR points at a ComfyUI work tree (v0.3.64 or later); otherwise every host test is skipped.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from client import ComfyClient

COMFYUI_DIR = os.environ.get("COMFYUI_DIR")
SKIP_REASON = "host tests need a ComfyUI work tree: run `COMFYUI_DIR=/path/to/ComfyUI make test-host`"
PACK_FOLDER_NAME = "ComfyUI-LongForm"
STARTUP_TIMEOUT_S = 180


@dataclass
class ComfyServer:
    """A running ComfyUI: its URL, base directory, log file and a client."""

    url: str
    base: Path
    log_path: Path
    client: ComfyClient

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def comfyui(tmp_path_factory, pack):
    """Start ComfyUI once for the session; stop it afterwards."""
    if not COMFYUI_DIR:
        pytest.skip(SKIP_REASON)
    from longform_pack.core import tiny

    repo_root = Path(pack.__file__).parent
    base = tmp_path_factory.mktemp("comfyui")
    (base / "custom_nodes").mkdir()
    (base / "user").mkdir()
    (base / "custom_nodes" / PACK_FOLDER_NAME).symlink_to(repo_root, target_is_directory=True)
    tiny.build_all(base / "models")
    examples = repo_root / "example_inputs"
    if examples.is_dir():
        shutil.copytree(examples, base / "input", dirs_exist_ok=True)
    port = _free_port()
    log_path = base / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
             "--base-directory", str(base), "--database-url", f"sqlite:///{base}/user/comfyui.db"],
            cwd=COMFYUI_DIR, stdout=log, stderr=subprocess.STDOUT, env=env,
        )
    url = f"http://127.0.0.1:{port}"
    server = ComfyServer(url, base, log_path, ComfyClient(url))
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if process.poll() is not None:
            pytest.fail(f"ComfyUI exited with {process.returncode} while starting:\n{server.log()[-4000:]}")
        try:
            urllib.request.urlopen(url + "/system_stats", timeout=2).read()
            break
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"ComfyUI did not answer within {STARTUP_TIMEOUT_S} s:\n{server.log()[-4000:]}")
            time.sleep(0.5)
    yield server
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def object_info(comfyui):
    """The server's /object_info."""
    return comfyui.client.object_info()
