"""Run every bench/bench_*.py and write each one's section of bench/results.json with its own provenance.

Each benchmark script has `main(quick: bool = False) -> dict` and prints its own table; this runner only collects.
A section is `{"provenance": {...}, "figures": {...}}`; the provenance says what that section was measured at (commit,
dirty flag, UTC date and time, machine, load average at start and end), so `--only NAME` rewrites section NAME and
leaves every other section, with its own provenance, as it was. A new bench_<name>.py is picked up as section <name>.

`--quick` runs each script's small, fast variant to show it works end to end; quick figures never go into
bench/results.json (they go to build/bench-quick.json). A script whose main() takes no `quick` is skipped there.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import inspect
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results.json"
RESULTS_IN_REPO = "bench/results.json"
QUICK_RESULTS = BENCH_DIR.parent / "build" / "bench-quick.json"
# Tables, not progress bars, in the log; and no model hub is ever asked.
os.environ.setdefault("LONGFORM_PROGRESS", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def machine() -> dict:
    """What the figures were measured on: CPU model, cores, RAM, torch, GPU (None: none)."""
    import torch

    cpu = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if line.startswith("model name")]
        cpu = names[0] if names else cpu
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
    }


def commit() -> dict:
    """The git commit measured, and whether tracked files had uncommitted changes (results.json aside: this runner
    rewrites it between sections)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=BENCH_DIR, capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "HEAD")
    if not head:
        return {"commit": "unknown", "dirty": "unknown"}
    changes = git("status", "--porcelain", "--untracked-files=no", "--", ":/", f":(top,exclude){RESULTS_IN_REPO}")
    return {"commit": head, "dirty": bool(changes)}


def load_average() -> float:
    """The 1-minute load average: other jobs on the cores, which timings measure along with the code."""
    return round(os.getloadavg()[0], 2)


def scripts() -> dict[str, Path]:
    """Section name -> script, for every bench/bench_*.py."""
    return {script.stem.removeprefix("bench_"): script for script in sorted(BENCH_DIR.glob("bench_*.py"))}


def run_section(script: Path, quick: bool) -> dict | None:
    """Run one script's main(); its section (provenance + figures), or None when it has no quick mode and `quick`."""
    spec = importlib.util.spec_from_file_location(script.stem, script)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(BENCH_DIR))
    spec.loader.exec_module(module)
    takes_quick = "quick" in inspect.signature(module.main).parameters
    if quick and not takes_quick:
        print(f"-- {script.name}: main() takes no `quick`: skipped in --quick", flush=True)
        return None
    print(f"== {script.name}{' (quick)' if quick else ''}", flush=True)
    provenance = {**commit(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "machine": machine(), "load_average_1min": {"start": load_average()}}
    started = time.perf_counter()
    figures = module.main(quick=True) if quick else module.main()
    provenance["load_average_1min"]["end"] = load_average()
    provenance["bench_wall_s"] = round(time.perf_counter() - started, 1)
    return {"provenance": provenance, "figures": figures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help="comma-separated section names (bench_<name>.py) to run")
    parser.add_argument("--quick", action="store_true", help=f"small variants; figures to {QUICK_RESULTS}, not "
                        "bench/results.json")
    args = parser.parse_args(argv)
    available = scripts()
    wanted = [name for name in args.only.split(",") if name] or list(available)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        parser.error(f"--only {','.join(unknown)}: no bench/bench_<name>.py of that name; "
                     f"known: {', '.join(available)}")
    target = QUICK_RESULTS if args.quick else RESULTS
    results = json.loads(target.read_text()) if target.exists() else {}
    sections = results.setdefault("sections", {})
    for name in wanted:
        section = run_section(available[name], args.quick)
        if section is None:
            continue
        sections[name] = section
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
