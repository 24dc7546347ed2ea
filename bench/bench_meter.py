"""The consistency meter's full report on CPU with the tiny feature models: frames per second, and peak memory (RSS)
for 1, 4 and 10 minutes of 256x256 frames at 16 fps, each length in a fresh process. Memory should stay flat (within
10%): frames stream through in chunks and only per-frame scalars are kept.

The frames are made on the fly (no file to decode, so the figure is the meter's own): a texture panning 2 px a frame
whose colour drifts slowly, with a hard cut to a new texture every 30 seconds. The report is everything
`LF Video Report` computes on a video without a storyboard, with the feature models of the manifest's tiny stand-ins.

    python bench/bench_meter.py            # the real run (or through bench/run_all.py: the "meter" section)
    python bench/bench_meter.py --quick    # 10, 20 and 40 seconds: a smoke run, prints only
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
SIDE, FPS, CUT_SECONDS = 256, 16.0, 30
MINUTES = (1, 4, 10)
QUICK_SECONDS = (10, 20, 40)


def synthetic_source(seconds: float):
    """A FrameSource of `seconds` of generated frames (see the module's docstring)."""
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from _pack import load_pack

    load_pack()
    import cv2

    from longform_pack.core.meter.frames import FrameSource

    @functools.lru_cache(maxsize=2)
    def texture(seed: int) -> np.ndarray:
        noise = np.random.default_rng(seed).uniform(0, 255, (SIDE, SIDE, 3)).astype(np.float32)
        return cv2.GaussianBlur(noise, (0, 0), 4).clip(0, 255).astype(np.uint8)

    class Synthetic(FrameSource):
        name, fps, size = "synthetic", FPS, (SIDE, SIDE)

        def __init__(self):
            self.count = round(seconds * FPS)

        def chunks(self, frames: int = 64):
            for start in range(0, self.count, frames):
                chunk = []
                for k in range(start, min(start + frames, self.count)):
                    scene = int(k / FPS // CUT_SECONDS)
                    frame = np.roll(texture(scene), 2 * k, axis=1).astype(np.int16)
                    frame[..., 0] += (k % int(CUT_SECONDS * FPS)) // 32  # a slow warm drift within each scene
                    chunk.append(frame.clip(0, 255).astype(np.uint8))
                yield np.stack(chunk)

    return Synthetic()


def run_one(seconds: float, models: Path) -> dict:
    """The full report of `seconds` of frames in this process: its time and this process's peak RSS."""
    source = synthetic_source(seconds)
    from longform_pack.core import host
    from longform_pack.core.meter.report import video_report

    host.set_models_dir(models)
    started = time.perf_counter()
    report = video_report(source)
    report.summary()
    report.plot()
    elapsed = time.perf_counter() - started
    return {"frames": source.count, "seconds": round(elapsed, 2), "frames_per_second": round(source.count / elapsed, 2),
            "peak_rss_mib": peak_rss_mib()}


def peak_rss_mib() -> float:
    """This process's peak resident set size since it started its program (VmHWM: unlike ru_maxrss, it does not
    carry over the parent's size at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status: the peak memory figure needs Linux.")


def _fresh(seconds: float, models: Path) -> dict:
    command = [sys.executable, __file__, "--one", str(seconds), "--models", str(models)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "LONGFORM_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the {seconds} s run failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(quick: bool = False) -> dict:
    """Build the tiny models once, run each length in a fresh process, print and return the figures."""
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from _pack import load_pack

    load_pack()
    from longform_pack.core import tiny
    from longform_pack.core.meter.vbench import AMT_FILENAME, MODEL_FOLDER, RAFT_FILENAME
    from longform_pack.core.tiny.meter import build_amt, build_raft

    sys.path.insert(0, str(REPO_ROOT / "bench"))
    from _comfy import work_dir

    models = work_dir("bench_meter_") / "models"
    tiny.build_all(models)
    # RAFT and AMT-S have no manifest entry (no published sha256), so build_all leaves them out: the full report
    # needs them for dynamic degree and motion smoothness.
    build_raft(models / MODEL_FOLDER / RAFT_FILENAME)
    build_amt(models / MODEL_FOLDER / AMT_FILENAME)
    lengths = {f"{s} s": s for s in QUICK_SECONDS} if quick else {f"{m} min": 60 * m for m in MINUTES}
    runs = {label: _fresh(seconds, models) for label, seconds in lengths.items()}
    print(f"meter full report, {SIDE}x{SIDE} at {FPS:g} fps, tiny feature models, CPU, fresh process each")
    print(f"{'length':<8} {'frames':>7} {'fps':>8} {'peak RSS MiB':>13}")
    for label, run in runs.items():
        print(f"{label:<8} {run['frames']:>7} {run['frames_per_second']:>8.1f} {run['peak_rss_mib']:>13.0f}")
    memory = [run["peak_rss_mib"] for run in runs.values()]
    growth = round(memory[-1] / memory[0] - 1.0, 4)
    print(f"peak memory of the longest against the shortest: {growth:+.1%} (goal: within 10%)")
    return {"size": SIDE, "fps": FPS, "quick": quick, "runs": runs, "peak_rss_growth": growth}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10, 20 and 40 seconds instead of 1, 4 and 10 minutes")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--models", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is None:
        main(args.quick)
    else:
        print(json.dumps(run_one(args.one, args.models)))
