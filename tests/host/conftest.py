"""A real headless ComfyUI for the host tests: the pack linked in, the tiny models and example inputs in place.

Runs only when COMFYUI_DIR points at a ComfyUI work tree (v0.3.64 or later; `make test` sets it when one is at hand);
otherwise every host test is skipped. The server start and stop live in scripts/comfy_server.py, shared with the demo.
"""

import compileall
import os
from pathlib import Path

import pytest

from comfy_server import ServerError, find_comfyui, prepare_base, running_comfyui

COMFYUI_DIR = os.environ.get("COMFYUI_DIR")
# Every server these tests start (the session's, scripts/film_servers.py's ManagedServer, Ray's actors) inherits one
# thread count: the film tests compare frames bit for bit across servers, and a CPU's float sums differ between thread
# counts (by a level or two of 255). Ray's servers default to 1 (film_servers.start_ray), so all run with 1.
os.environ.setdefault("OMP_NUM_THREADS", "1")
TEST_NODES = Path(__file__).resolve().parents[1] / "comfy_test_nodes"
SKIP_REASON = "host tests need a ComfyUI work tree: run `make test` (it builds one) or set COMFYUI_DIR"


@pytest.fixture(scope="session")
def comfyui(tmp_path_factory):
    """ComfyUI started once for the session on the tiny models; stopped afterwards."""
    if not COMFYUI_DIR:
        pytest.skip(SKIP_REASON)
    from longform_pack.core import host, tiny

    base = prepare_base(tmp_path_factory.mktemp("comfyui"))
    # The test-only nodes (tests/comfy_test_nodes: Wan's text-encoding stand-in) load as a custom node of their own.
    (base / "custom_nodes" / TEST_NODES.name).symlink_to(TEST_NODES, target_is_directory=True)
    tiny.build_all(base / "models")
    # The pack's bytecode, as a user's ComfyUI has it from its second start on: the import time the tests check is the
    # steady one, also where PYTHONDONTWRITEBYTECODE keeps the server from writing any.
    pack_root = Path(tiny.__file__).resolve().parents[2]
    for part in ("__init__.py", "core", "nodes"):
        path = pack_root / part
        compiled = compileall.compile_dir(path, quiet=1) if path.is_dir() else compileall.compile_file(path, quiet=1)
        assert compiled, f"the pack's {part} does not compile"
    # The server's home and system temp folders are its own, beside the base directory, so that the security probe
    # (tests/host/test_security.py) sees every file it writes there, and nothing else writes there.
    own = {"HOME": base.parent / "server-home", "TMPDIR": base.parent / "server-tmp"}
    for folder in own.values():
        folder.mkdir()
    # The tests' own film plans see the server's model files: a unit's key holds their digests (core/film/
    # model_digests.py), so a plan made here keys a unit as LF Film makes it inside the server.
    previous = host.set_models_dir(base / "models")
    try:
        with running_comfyui(find_comfyui(COMFYUI_DIR), base, env={k: str(v) for k, v in own.items()}) as server:
            yield server
    except ServerError as error:  # raised only while starting, before the yield
        pytest.fail(str(error))
    finally:
        host.set_models_dir(previous)


@pytest.fixture(scope="session")
def object_info(comfyui):
    """The server's /object_info."""
    return comfyui.client.object_info()
