"""ComfyUI's own classes inside the pytest process: node-level tests against the real host, no server.

As Advanced-ControlNet's tests do, this imports ComfyUI (`folder_paths`, `comfy.*`, core `nodes`) from COMFYUI_DIR,
runs it on the CPU with a base directory of its own (the tiny models in models/), and hands tests the core node classes
and the pack's. Without COMFYUI_DIR every test here is skipped.

Importing ComfyUI switches `core/host.py` to its ComfyUI branch for the rest of the process, so this folder runs in a
pytest process of its own (`make test` does that); collected together with the other tests, it skips itself.
"""

import os
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

COMFYUI_DIR = os.environ.get("COMFYUI_DIR")
NATIVE_DIR = Path(__file__).resolve().parent


def _import_comfyui(base: Path) -> SimpleNamespace:
    sys.path.insert(0, str(Path(COMFYUI_DIR).resolve()))
    from comfy.cli_args import args  # parses no argv: comfy.options.args_parsing is off outside main.py

    args.cpu = True
    args.base_directory = str(base)
    import folder_paths
    import comfy.model_management
    import comfy.sample
    import comfy.samplers
    import nodes as core_nodes

    return SimpleNamespace(
        dir=Path(COMFYUI_DIR), base=base, folder_paths=folder_paths, model_management=comfy.model_management,
        nodes=core_nodes, samplers=comfy.samplers, sample=comfy.sample,
    )


@pytest.fixture(scope="session")
def comfy(request, tmp_path_factory, pack):
    """ComfyUI imported in this process, on the CPU, its base directory holding the tiny models and example inputs."""
    if not COMFYUI_DIR:
        pytest.skip("native tests need a ComfyUI work tree: set COMFYUI_DIR (or run `make test`)")
    outside = [item.nodeid for item in request.session.items if NATIVE_DIR not in Path(item.path).resolve().parents]
    if outside:
        pytest.skip("tests/native imports ComfyUI into the process: run it in a pytest process of its own")
    from longform_pack.core import host, tiny

    base = tmp_path_factory.mktemp("comfyui-native")
    for folder in ("input", "output", "temp", "user"):
        (base / folder).mkdir()
    tiny.build_all(base / "models")
    host_ns = _import_comfyui(base)
    host.register_model_folders()
    host.hook_model_unloading()  # as the pack's __init__ does inside ComfyUI
    assert host.in_comfyui(), "ComfyUI did not import: core/host.py still takes its standalone branch"
    return host_ns
