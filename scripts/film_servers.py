"""ComfyUI servers for the film renderer: started on loopback ports, reached over HTTP, optionally owned by Ray actors.

A `ManagedServer` is one headless ComfyUI process (`main.py --cpu` unless GPUs are asked for) with this pack linked
into its custom_nodes, a models folder, and the film's shared input and output folders. A `ServerWorker` runs one
API workflow on a server and tells a dead server (`ServerDied`: the unit goes to another server) from a failed
workflow (`WorkflowError`). With Ray, each `ServerActor` owns one server on its node. Ray is imported only here,
inside the functions that use it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from client import ComfyClient, WorkflowError
from comfy_server import PACK_FOLDER_NAME, STARTUP_TIMEOUT_S, free_port

logger = logging.getLogger("LongForm.film")

PACK_ROOT = Path(__file__).resolve().parent.parent


class ServerDied(RuntimeError):
    """The server stopped answering while it ran a unit: the unit should run again on another server."""


def answers(url: str, timeout: float = 2.0) -> bool:
    """True when a ComfyUI server answers at `url`."""
    try:
        urllib.request.urlopen(url.rstrip("/") + "/system_stats", timeout=timeout).read()
        return True
    except (OSError, ValueError):
        return False


@dataclass
class ManagedServer:
    """One ComfyUI process on a loopback port, in a base folder of its own; input and output folders shared."""

    comfyui_dir: Path
    models_dir: Path
    input_dir: Path
    output_dir: Path
    port: int = 0
    cpu: bool = True
    custom_nodes: tuple[Path, ...] = ()  # further custom-node folders linked beside the pack (the tests' test nodes)
    base: Path | None = None
    process: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "ManagedServer":
        """Start ComfyUI and wait until it answers; RuntimeError with the log's end when it does not."""
        self.port = self.port or free_port()
        self.base = Path(tempfile.mkdtemp(prefix="longform-film-server-"))
        (self.base / "custom_nodes").mkdir()
        (self.base / "user").mkdir()
        (self.base / "custom_nodes" / PACK_FOLDER_NAME).symlink_to(PACK_ROOT, target_is_directory=True)
        for folder in self.custom_nodes:
            (self.base / "custom_nodes" / Path(folder).name).symlink_to(Path(folder).resolve(), target_is_directory=True)
        (self.base / "models").symlink_to(Path(self.models_dir).resolve(), target_is_directory=True)
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        command = [sys.executable, "main.py", "--listen", "127.0.0.1", "--port", str(self.port),
                   "--base-directory", str(self.base), "--input-directory", str(Path(self.input_dir).resolve()),
                   "--output-directory", str(Path(self.output_dir).resolve()),
                   "--database-url", f"sqlite:///{self.base}/user/comfyui.db"] + (["--cpu"] if self.cpu else [])
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(command, cwd=self.comfyui_dir, stdout=log, stderr=subprocess.STDOUT,
                                            env=env)
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not answers(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"ComfyUI did not start on port {self.port}:\n{self.log()[-3000:]}")
            time.sleep(0.5)
        logger.info("ComfyUI server %s started (pid %d)", self.url, self.process.pid)
        return self

    @property
    def log_path(self) -> Path:
        return self.base / "server.log"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def peak_rss_mb(self) -> float | None:
        """The server process's peak resident memory so far (Linux), in MB; None when it is not running."""
        status = Path(f"/proc/{self.pid}/status")
        if self.pid is None or self.process.poll() is not None or not status.exists():
            return None
        line = next(line for line in status.read_text().splitlines() if line.startswith("VmHWM:"))
        return int(line.split()[1]) / 1024

    def stop(self) -> None:
        """Stop the process (if it still runs) and remove its base folder."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.base is not None:
            shutil.rmtree(self.base, ignore_errors=True)


class ServerWorker:
    """Runs workflows on one server; `name` says which in progress lines."""

    def __init__(self, url: str, name: str | None = None, timeout: float = 6 * 3600):
        self.url, self.name, self.timeout = url.rstrip("/"), name or url, timeout

    def run(self, workflow: dict[str, Any]) -> dict[str, Any]:
        """Queue `workflow`, wait for it, return its outputs; ServerDied when the server goes away meanwhile."""
        client = ComfyClient(self.url)
        try:
            # A clean cache per unit: a cached patched MODEL that sampled in an earlier unit can carry state (and a
            # different resume key) into this one; the frames must not depend on which server ran what before.
            client.free()
            prompt_id = client.queue(workflow)
            entry = client.wait(prompt_id, timeout=self.timeout, show_progress=False)
        except WorkflowError:
            if not answers(self.url):
                raise ServerDied(f"ComfyUI at {self.url} stopped while it ran a unit.") from None
            raise
        except Exception as error:  # urllib, http.client and websocket errors all mean the connection broke
            if answers(self.url):
                raise
            raise ServerDied(f"ComfyUI at {self.url} stopped while it ran a unit ({type(error).__name__}).") from None
        return entry.get("outputs", {})

    def object_info(self) -> dict[str, Any]:
        """The server's /object_info: what the film checks its templates against before any unit renders."""
        return ComfyClient(self.url).object_info()


# ---------------------------------------------------------------------------------------------------------------- Ray


def start_ray(address: str | None = None) -> None:
    """Connect to the Ray cluster at `address`, or start a small local one (2 CPUs, 200 MB object store)."""
    import ray

    scripts = str(Path(__file__).resolve().parent)
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(filter(None, [scripts, os.environ.get("PYTHONPATH")])),
                                "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}}
    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, runtime_env=runtime_env, logging_level=logging.WARNING)
    else:
        ray.init(num_cpus=2, object_store_memory=200 * 1024 * 1024, include_dashboard=False,
                 runtime_env=runtime_env, logging_level=logging.WARNING)


def server_actors(count: int, settings: dict[str, Any], gpus_per_server: float = 0.0) -> list:
    """`count` Ray actors, each owning one started ComfyUI server (`settings` are ManagedServer's fields)."""
    import ray

    actor_class = ray.remote(num_cpus=1, num_gpus=gpus_per_server, max_restarts=0)(ServerActor)
    actors = [actor_class.remote(settings) for _ in range(count)]
    ray.get([actor.url.remote() for actor in actors])  # wait until every server answers
    return actors


def stop_servers(servers: list, actors: list) -> None:
    """Stop every started server, and every Ray actor's server, then Ray itself."""
    for server in servers:
        server.stop()
    if actors:
        import ray

        ray.get([actor.stop.remote() for actor in actors])
        ray.shutdown()


class ServerActor:
    """A Ray actor that owns one ComfyUI server on its node and runs workflows on it."""

    def __init__(self, settings: dict[str, Any]):
        self.server = ManagedServer(**settings).start()

    def url(self) -> str:
        return self.server.url

    def pid(self) -> int | None:
        return self.server.pid

    def peak_rss_mb(self) -> float | None:
        return self.server.peak_rss_mb()

    def run(self, workflow: dict[str, Any]) -> dict[str, Any]:
        return ServerWorker(self.server.url).run(workflow)

    def object_info(self) -> dict[str, Any]:
        return ServerWorker(self.server.url).object_info()

    def stop(self) -> None:
        self.server.stop()


class RayWorker:
    """A `ServerWorker` seen through its Ray actor: a dead actor or server is `ServerDied`."""

    def __init__(self, actor, name: str):
        self.actor, self.name = actor, name

    def run(self, workflow: dict[str, Any]) -> dict[str, Any]:
        import ray
        from ray.exceptions import RayActorError

        try:
            return ray.get(self.actor.run.remote(workflow))
        except RayActorError as error:
            raise ServerDied(f"{self.name}: its Ray actor died ({error}).") from None
        except ServerDied as error:  # Ray re-raises the actor's exception as a subclass of it
            raise ServerDied(str(error).splitlines()[-1]) from None

    def object_info(self) -> dict[str, Any]:
        import ray

        return ray.get(self.actor.object_info.remote())
