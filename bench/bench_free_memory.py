"""What POST /free (unload_models) gives back on the CPU: the process's RSS before and after ComfyUI unloads its
models, with the pack's caches released by the unload hook (core/host.py `hook_model_unloading`) and without.

Each case runs in a fresh process that imports ComfyUI, loads what a graph of the pack would (core
CheckpointLoaderSimple's tiny SD 1.5, the probe's three tiny encoders and tokenizers, the tiny insightface pack),
drops its own references as ComfyUI's executor does on /free, and then calls `unload_all_models` and `gc.collect()`
as ComfyUI's prompt worker does. The libraries those loads import (transformers, onnxruntime, insightface) are
imported before the first figure, so the figures count data, not code. RSS is read from /proc; "after trim" also returns glibc's free heap to the system
(ComfyUI does not), to separate what is still held from what the allocator keeps.

Run: `COMFYUI_DIR=... python bench/bench_free_memory.py` (prints a table; not part of bench/results.json).
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "bench"))
sys.path.insert(0, str(REPO_ROOT / "scripts"))


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def one(release: bool) -> None:
    """One case: load, free, print `label rss` lines."""
    import torch

    from _comfy import import_comfyui, work_dir
    from _pack import load_pack

    load_pack()
    torch.set_num_threads(1)
    from longform_pack.core import faces, host, manifest, probe, tiny

    base = work_dir("bench_free_memory_")
    tiny.build_all(base / "models")
    comfy = import_comfyui(base)
    host.register_model_folders()
    if release:
        host.hook_model_unloading()
    import insightface  # noqa: F401  (the libraries the loads import: their code is no model memory)
    import onnxruntime  # noqa: F401
    import transformers  # noqa: F401

    print(f"imported {rss_mib():.0f}")
    outputs = list(comfy.nodes.CheckpointLoaderSimple().load_checkpoint(manifest.entry("sd15").tiny_filename))
    for kind, entry in (("clip", "clip_probe"), ("resnet50", "resnet50"), ("bert", "bert_base_uncased")):
        encoder = probe.load_encoder(kind, manifest.entry(entry).tiny_filename)
        encoder.managed.load()
    probe.token_view("clip", "a fox")
    probe.token_view("bert", "a fox")
    faces.load_analyzer("models/longform_tiny")
    comfy.model_management.load_models_gpu([outputs[0]])
    print(f"loaded {rss_mib():.0f}")
    del outputs, encoder  # what ComfyUI's executor drops on /free (e.reset())
    comfy.model_management.unload_all_models()
    gc.collect()
    print(f"freed {rss_mib():.0f}")
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    print(f"trimmed {rss_mib():.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--one", choices=("release", "keep"), help="run one case in this process")
    args = parser.parse_args()
    if args.one:
        one(args.one == "release")
        return
    rows = {}
    for case in ("keep", "release"):
        done = subprocess.run([sys.executable, __file__, "--one", case], capture_output=True, text=True, check=True)
        rows[case] = dict(line.split() for line in done.stdout.splitlines() if line.split()[0] in
                          ("imported", "loaded", "freed", "trimmed"))
    print(f"{'RSS MiB':<36} {'imported':>9} {'loaded':>9} {'after /free':>12} {'after trim':>11}")
    for case, title in (("keep", "caches kept (the pack before)"), ("release", "caches released on unload")):
        row = rows[case]
        print(f"{title:<36} {row['imported']:>9} {row['loaded']:>9} {row['freed']:>12} {row['trimmed']:>11}")


if __name__ == "__main__":
    main()
