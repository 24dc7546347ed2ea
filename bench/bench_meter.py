"""The consistency meter's report on CPU with the tiny feature models: frames per second and peak memory (RSS), each
run in a fresh process, on 256x256 frames at 16 fps.

- The full report, every metric: VBench's five, with the manifest's tiny DINO and CLIP stand-ins and RAFT-large and
  AMT-S at full size with seeded random weights (their architectures are fixed, and speed does not depend on the
  weights' values), and everything else the report computes. REPEATS runs of FULL_SECONDS for frames per second, and
  one run of LONG_FULL_SECONDS for memory against length.
- 1, 4 and 10 minutes, for memory against length (goal: flat within 10%): the same report without RAFT and AMT-S
  (dynamic degree and motion smoothness "not measured"). RAFT takes about 2 s a pair on one core of this CPU, and
  dynamic degree scores 8 pairs a second of video: with it, 15 minutes of video would take several hours here.

The frames are made on the fly (no file to decode, so the figure is the meter's own): a texture panning 2 px a frame
whose colour drifts slowly, with a hard cut to a new texture every 30 seconds. Runs use every core (torch threads =
cores); the thread count is recorded with the figures.

    python bench/bench_meter.py            # the real run (or through bench/run_all.py: the "meter" section)
    python bench/bench_meter.py --quick    # a smoke run of 2 to 8 seconds, prints only
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "bench"))
from _timing import MIN_REPEATS, format_spread, spread  # noqa: E402

SIDE, FPS, CUT_SECONDS = 256, 16.0, 30
FULL_SECONDS, LONG_FULL_SECONDS, REPEATS = 10, 30, MIN_REPEATS
MINUTES = (1, 4, 10)
QUICK = {"full": 2, "long full": 4, "lengths": (2, 4, 8)}


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
    """The report of `seconds` of frames in this process, with whatever meter models `models` holds: the time to load
    them, the time to measure and report (summary and plot), and this process's peak RSS."""
    source = synthetic_source(seconds)
    from longform_pack.core import host
    from longform_pack.core.meter.report import meter_models, video_report

    host.set_models_dir(models)
    started = time.perf_counter()
    meter_models()  # loaded once and cached: the report below finds them loaded
    loaded = time.perf_counter()
    report = video_report(source)
    report.summary()
    report.plot()
    elapsed = time.perf_counter() - loaded
    return {"frames": source.count, "load_seconds": round(loaded - started, 2), "seconds": round(elapsed, 2),
            "frames_per_second": round(source.count / elapsed, 2), "peak_rss_mib": peak_rss_mib()}


def peak_rss_mib() -> float:
    """This process's peak resident set size since it started its program (VmHWM: unlike ru_maxrss, it does not
    carry over the parent's size at fork)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status: the peak memory figure needs Linux.")


def _fresh(seconds: float, models: Path) -> dict:
    command = [sys.executable, __file__, "--one", str(seconds), "--models", str(models)]
    env = {**os.environ, "OMP_NUM_THREADS": str(os.cpu_count()), "LONGFORM_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO_ROOT, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the {seconds} s run failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def build_models() -> tuple[Path, Path]:
    """Two models folders of tiny stand-ins: (every meter model, without RAFT and AMT-S)."""
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from _pack import load_pack

    load_pack()
    from _comfy import work_dir

    from longform_pack.core import tiny
    from longform_pack.core.meter.vbench import AMT_FILENAME, MODEL_FOLDER, RAFT_FILENAME
    from longform_pack.core.tiny.meter import build_amt, build_raft

    root = work_dir("bench_meter_")
    light, full = root / "models-without-raft-amt", root / "models"
    tiny.build_all(light)
    shutil.copytree(light, full)
    # RAFT and AMT-S have no manifest entry (no published sha256), so build_all leaves them out.
    build_raft(full / MODEL_FOLDER / RAFT_FILENAME)
    build_amt(full / MODEL_FOLDER / AMT_FILENAME)
    return full, light


def growth(runs: list[dict]) -> float:
    """Peak memory of the last run against the first's, as a fraction (+0.05: 5% more)."""
    return round(runs[-1]["peak_rss_mib"] / runs[0]["peak_rss_mib"] - 1.0, 4)


def main(quick: bool = False) -> dict:
    """Build the tiny models once, run each length in a fresh process, print and return the figures."""
    full_models, light_models = build_models()
    full_seconds = QUICK["full"] if quick else FULL_SECONDS
    long_seconds = QUICK["long full"] if quick else LONG_FULL_SECONDS
    lengths = QUICK["lengths"] if quick else tuple(60 * m for m in MINUTES)
    repeats = [_fresh(full_seconds, full_models) for _ in range(REPEATS)]
    long_full = _fresh(long_seconds, full_models)
    by_length = {f"{s / 60:g} min" if s >= 60 else f"{s} s": _fresh(s, light_models) for s in lengths}

    fps = spread([run["frames_per_second"] for run in repeats], 2)
    print(f"meter report, {SIDE}x{SIDE} at {FPS:g} fps, tiny feature models, CPU, {os.cpu_count()} threads, "
          "fresh process each; frames/s of measuring and reporting, the models' load apart")
    print(f"full report (every metric), {full_seconds} s of video, {REPEATS} runs: {format_spread(fps, 2)} "
          f"frames/s, peak RSS {format_spread(spread([r['peak_rss_mib'] for r in repeats], 0), 0)} MiB, load "
          f"{format_spread(spread([r['load_seconds'] for r in repeats], 2), 1)} s")
    full_growth = growth([repeats[0], long_full])
    print(f"full report, {long_seconds} s: {long_full['frames_per_second']:.2f} frames/s, peak RSS "
          f"{long_full['peak_rss_mib']:.0f} MiB ({full_growth:+.1%} against {full_seconds} s)")
    print("without RAFT and AMT-S (dynamic degree and motion smoothness not measured):")
    print(f"{'length':<8} {'frames':>7} {'frames/s':>9} {'peak RSS MiB':>13}")
    for label, run in by_length.items():
        print(f"{label:<8} {run['frames']:>7} {run['frames_per_second']:>9.1f} {run['peak_rss_mib']:>13.0f}")
    series_growth = growth(list(by_length.values()))
    print(f"peak memory of the longest against the shortest: {series_growth:+.1%} (goal: within 10%: "
          f"{'met' if abs(series_growth) <= 0.10 else 'not met'})")
    return {"size": SIDE, "fps": FPS, "threads": os.cpu_count(), "quick": quick,
            "full_report": {"seconds": full_seconds, "runs": repeats, "frames_per_second": fps,
                            "long": {**long_full, "video_seconds": long_seconds}, "peak_rss_growth": full_growth},
            "without_raft_amt": {"runs": by_length, "peak_rss_growth": series_growth}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 to 8 seconds of video instead of 10 s to 10 minutes")
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--models", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is None:
        main(args.quick)
    else:
        print(json.dumps(run_one(args.one, args.models)))
