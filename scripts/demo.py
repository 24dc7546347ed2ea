"""`make demo`: the shipped workflows run the way users run them, through a real headless ComfyUI.

Starts ComfyUI (build/ComfyUI, which `make comfyui` puts there, or $COMFYUI_DIR) on a free loopback port with the pack
linked into a base directory of its own (build/demo), queues every API workflow in workflows/api/ through the API
client (scripts/client.py) showing its progress, and downloads what each one makes into <out>/<workflow>/: the clip
(mp4, gif) and its report, the DDPM digits, the probe's heatmap, the text outputs. It lists every file and stops the
server when it ends, also on Ctrl-C or a failure.

Models: the real weights when `install.py --models` has put every file the workflows name into the models dir; else
the tiny stand-ins under a banner, with the tiny profile (64x64 pictures, a few DDPM training steps): their pictures
are not meaningful.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from client import WorkflowError
from comfy_server import REPO_ROOT, ComfyServer, ServerError, find_comfyui, prepare_base, running_comfyui
from tiny_profile import models_named, tiny_profile

sys.path.insert(0, str(REPO_ROOT))  # install.py: where the pack sits in ComfyUI
import install  # noqa: E402

from longform_pack.core import host, manifest, tiny  # noqa: E402

WORKFLOWS = sorted((REPO_ROOT / "workflows" / "api").glob("*.json"))
DEMO_BASE = REPO_ROOT / "build" / "demo"  # ComfyUI's base directory: kept, so a finished DDPM run is reused
TINY_BANNER = """
################################################################################################################
#  TINY MODELS: the real weights are not in {models_dir}.
#  The workflows run end to end on seeded random stand-ins at 64x64, so their pictures are NOT meaningful.
#  For real pictures: python install.py --models   (about 9 GB), then run the demo again.
################################################################################################################
"""


def default_models_dir() -> Path:
    """$LONGFORM_MODELS_DIR, else <ComfyUI>/models when the pack sits in custom_nodes/, else ./models."""
    if os.environ.get(host.MODELS_DIR_ENV):
        return Path(os.environ[host.MODELS_DIR_ENV])
    comfyui = install.comfyui_root()  # unresolved: a pack symlinked into custom_nodes/ still finds its ComfyUI
    return comfyui / "models" if comfyui is not None else REPO_ROOT / "models"


def real_weights_present(models_dir: Path, prompts: list[dict]) -> bool:
    """True when every manifest model the workflows name is in `models_dir` (files at the manifest's size)."""
    for filename in sorted(set().union(*(models_named(prompt) for prompt in prompts))):
        item = next(entry for entry in manifest.load_manifest() if entry.filename == filename)
        path = models_dir / item.folder / item.filename
        if item.unpack == "zip":
            present = path.is_dir()
        elif item.unpack or not item.size_bytes:  # converted by install.py: size_bytes is the download's
            present = path.is_file()
        else:
            present = path.is_file() and path.stat().st_size == item.size_bytes
        if not present:
            return False
    return True


def _models_folder(base: Path, real_models_dir: Path | None) -> None:
    """base/models: a link to the real models dir, else the tiny stand-ins (hard-linked from core.tiny's cache)."""
    models = base / "models"
    if models.is_symlink():
        models.unlink()
    elif models.exists():
        shutil.rmtree(models)
    if real_models_dir is not None:
        models.symlink_to(real_models_dir.resolve(), target_is_directory=True)
    else:
        tiny.build_all(models)


def run_workflows(server: ComfyServer, workflows: list[Path], prompts: list[dict], out: Path,
                  timeout: float) -> dict[str, list[Path] | None]:
    """Queue each workflow in turn; return the files written per workflow (None for a failed one)."""
    written: dict[str, list[Path] | None] = {}
    for number, (path, prompt) in enumerate(zip(workflows, prompts), start=1):
        print(f"\n[{number}/{len(workflows)}] {path.stem}: queued", flush=True)
        started = time.perf_counter()
        try:
            server.client.free()  # unload the previous workflow's models
            entry = server.client.wait(server.client.queue(prompt), timeout=timeout)
        except WorkflowError as error:
            print(f"  FAILED: {error}", file=sys.stderr)
            written[path.stem] = None
            continue
        files = server.client.save_outputs(entry, prompt, out / path.stem)
        print(f"  done in {time.perf_counter() - started:.0f} s, {len(files)} files")
        written[path.stem] = files
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="folder for the outputs (default outputs)")
    parser.add_argument("--models-dir", type=Path, help="where install.py put the real weights (default: "
                        "$LONGFORM_MODELS_DIR, else <ComfyUI>/models when the pack is in custom_nodes/, else ./models)")
    parser.add_argument("--comfyui", help="a ComfyUI work tree (default: $COMFYUI_DIR, else build/ComfyUI)")
    parser.add_argument("--only", nargs="+", choices=[path.stem for path in WORKFLOWS], metavar="WORKFLOW",
                        help="run only these workflows (names in workflows/api/)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for each workflow")
    args = parser.parse_args(argv)

    workflows = [path for path in WORKFLOWS if not args.only or path.stem in args.only]
    prompts = [json.loads(path.read_text(encoding="utf-8")) for path in workflows]
    models_dir = (args.models_dir or default_models_dir()).resolve()
    real = real_weights_present(models_dir, prompts)
    try:
        comfyui = find_comfyui(args.comfyui)
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not real:
        print(TINY_BANNER.format(models_dir=models_dir))
        prompts = [tiny_profile(prompt) for prompt in prompts]
    base = prepare_base(DEMO_BASE)
    _models_folder(base, models_dir if real else None)
    out = args.out.resolve()
    started = time.perf_counter()
    print(f"Starting ComfyUI from {comfyui} (log: {base / 'comfyui.log'}) ...", flush=True)
    try:
        with running_comfyui(comfyui, base, cpu=host.torch_device().type == "cpu") as server:
            print(f"ComfyUI answers at {server.url} after {time.perf_counter() - started:.0f} s")
            written = run_workflows(server, workflows, prompts, out, args.timeout)
    except ServerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopped by Ctrl-C; ComfyUI was shut down.", file=sys.stderr)
        return 130
    print(f"\nWrote under {out} in {time.perf_counter() - started:.0f} s ({'real' if real else 'TINY'} models):")
    for name, files in written.items():
        print(f"  {name}: FAILED (see above)" if files is None else f"  {name}:")
        for path in files or []:
            print(f"    {path}")
    if not real:
        print("(tiny models: the pictures are not meaningful; install the real weights for real ones)")
    return 1 if None in written.values() else 0


if __name__ == "__main__":
    sys.exit(main())
