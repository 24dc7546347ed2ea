"""Run every bench/bench_*.py and write bench/results.json with the commit, the machine and each figure.

Each benchmark script has `main() -> dict` and prints its own table; this runner only collects. `--only NAME` runs
the scripts whose name contains NAME.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results.json"
# Tables, not progress bars, in the log; and no model hub is ever asked.
os.environ.setdefault("LONGFORM_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def machine() -> dict:
    """What the figures were measured on."""
    import torch

    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
    }


def commit() -> dict:
    """The git commit measured, and whether the tree had uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=BENCH_DIR, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--untracked-files=no"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", default="", help="run only the scripts whose name contains this")
    args = parser.parse_args(argv)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results.update({**commit(), "machine": machine(), "date": datetime.date.today().isoformat()})
    figures = results.setdefault("benchmarks", {})
    for script in sorted(BENCH_DIR.glob("bench_*.py")):
        name = script.stem.removeprefix("bench_")
        if args.only not in name:
            continue
        print(f"== {script.name}", flush=True)
        spec = importlib.util.spec_from_file_location(script.stem, script)
        module = importlib.util.module_from_spec(spec)
        sys.path.insert(0, str(BENCH_DIR))
        spec.loader.exec_module(module)
        started = time.perf_counter()
        figures[name] = {**module.main(), "bench_wall_s": round(time.perf_counter() - started, 1)}
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
