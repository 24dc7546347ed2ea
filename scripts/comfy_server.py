"""A headless ComfyUI with the pack linked in, for the demo and the host tests.

`prepare_base` lays out a base directory of its own (custom_nodes/ holding a link to this repository, input/ holding the
example pictures, user/); `running_comfyui` starts ComfyUI's main.py on the CPU on a free loopback port with that base
directory, waits until it answers, and stops it (its whole process group) when the block ends, also on Ctrl-C, on
SIGTERM and on failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from client import ComfyClient

REPO_ROOT = Path(__file__).resolve().parent.parent
PACK_FOLDER_NAME = "ComfyUI-LongForm"
COMFYUI_DIR_ENV = "COMFYUI_DIR"
BUILT_COMFYUI = REPO_ROOT / "build" / "ComfyUI"  # where `make comfyui` puts the pinned ComfyUI
STARTUP_TIMEOUT_S = 180
STOP_TIMEOUT_S = 20


class ServerError(RuntimeError):
    """ComfyUI could not be found or did not start; the message says why (with the end of its log)."""


@dataclass
class ComfyServer:
    """A running ComfyUI: its URL, base directory, log file and a client."""

    url: str
    base: Path
    log_path: Path
    client: ComfyClient

    def log(self) -> str:
        """Everything ComfyUI has logged so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def find_comfyui(explicit: str | Path | None = None) -> Path:
    """The ComfyUI work tree to run: `explicit`, else $COMFYUI_DIR, else build/ComfyUI (`make comfyui`)."""
    chosen = explicit or os.environ.get(COMFYUI_DIR_ENV) or BUILT_COMFYUI
    if not (Path(chosen) / "main.py").is_file():
        raise ServerError(f"No ComfyUI work tree at {chosen} (no main.py). Run `make comfyui` to put ComfyUI v0.3.64 "
                          f"in {BUILT_COMFYUI}, or set {COMFYUI_DIR_ENV} to your ComfyUI folder.")
    return Path(chosen).resolve()


def prepare_base(base: Path) -> Path:
    """Lay out a ComfyUI base directory: the pack linked into custom_nodes/, the example inputs in input/, user/."""
    (base / "custom_nodes").mkdir(parents=True, exist_ok=True)
    (base / "user").mkdir(exist_ok=True)
    link = base / "custom_nodes" / PACK_FOLDER_NAME
    if link.is_symlink() and link.resolve() != REPO_ROOT:
        link.unlink()  # a base directory left by a clone elsewhere
    if not link.is_symlink():
        link.symlink_to(REPO_ROOT, target_is_directory=True)
    shutil.copytree(REPO_ROOT / "example_inputs", base / "input", dirs_exist_ok=True)
    return base


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def running_comfyui(comfyui_dir: Path, base: Path, cpu: bool = True, timeout: float = STARTUP_TIMEOUT_S,
                    env: dict[str, str] | None = None) -> Iterator[ComfyServer]:
    """Run ComfyUI from `comfyui_dir` on base directory `base` for the duration of the block (on the CPU when `cpu`,
    else on the device ComfyUI picks), with `env` added to its environment."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = base / "comfyui.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **(env or {})}
    command = [sys.executable, "main.py", *(["--cpu"] if cpu else []), "--listen", "127.0.0.1", "--port", str(port),
               "--base-directory", str(base), "--database-url", f"sqlite:///{base}/user/comfyui.db"]
    with open(log_path, "w") as log:
        # A session of its own: the server and anything it spawns stop together, and a Ctrl-C in the terminal
        # reaches only this process, whose `finally` stops them.
        process = subprocess.Popen(command, cwd=comfyui_dir, stdout=log, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
    server = ComfyServer(url, base, log_path, ComfyClient(url))
    previous_handler = _exit_on_sigterm()
    try:
        _wait_until_answering(process, server, timeout)
        yield server
    finally:
        _stop(process)
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)


def _exit_on_sigterm():
    """Turn SIGTERM into SystemExit so the `finally` that stops the server runs; return the handler it replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None

    def leave(signum, frame):
        raise SystemExit(128 + signum)

    return signal.signal(signal.SIGTERM, leave)


def _wait_until_answering(process: subprocess.Popen, server: ComfyServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ServerError(f"ComfyUI exited with {process.returncode} while starting:\n{server.log()[-4000:]}")
        try:
            urllib.request.urlopen(server.url + "/system_stats", timeout=2).read()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise ServerError(f"ComfyUI did not answer within {timeout:.0f} s:\n{server.log()[-4000:]}") from None
            time.sleep(0.5)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL to whatever is left of it after STOP_TIMEOUT_S."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_TIMEOUT_S)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()
