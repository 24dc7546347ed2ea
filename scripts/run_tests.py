"""`make test`: the whole suite in three pytest processes, closed by one line of totals.

1. tests/ without tests/native and tests/host: the core on tiny models, the nodes called directly, the scripts.
2. tests/native: ComfyUI's own classes imported into the process. That switches core/host.py to its ComfyUI branch for
   the rest of the process, hence a process of its own.
3. tests/host: a real headless ComfyUI serving the pack, every shipped workflow queued through the API client.

Parts 2 and 3 need a ComfyUI work tree in $COMFYUI_DIR; without one they are skipped, said in one line (an error with
--require-comfyui, which CI passes). The last line of the output is `N passed, N failed, N skipped` (CI reads it); the
exit status is 1 when any part failed. A part that collects no test (pytest's exit 5) is not a failure.

    python scripts/run_tests.py [--require-comfyui] [PYTEST ARGS...]   # e.g. -k workflow, -x
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO_ROOT / "build" / "test-results"
NO_TESTS_COLLECTED = 5  # pytest's exit status when nothing matched
PARTS = {
    "tests": ["tests", "--ignore=tests/native", "--ignore=tests/host"],
    "tests/native": ["tests/native"],
    "tests/host": ["tests/host"],
}
NEEDS_COMFYUI = ("tests/native", "tests/host")


@dataclass
class Totals:
    """Test counts of one pytest run (or of several, added up)."""

    passed: int = 0
    failed: int = 0
    skipped: int = 0

    def __add__(self, other: "Totals") -> "Totals":
        return Totals(self.passed + other.passed, self.failed + other.failed, self.skipped + other.skipped)

    def __str__(self) -> str:
        return f"{self.passed} passed, {self.failed} failed, {self.skipped} skipped"


def read_junit(path: Path) -> Totals:
    """The counts in a pytest --junitxml report (errors count as failures)."""
    if not path.is_file():
        return Totals()
    totals = Totals()
    for suite in ElementTree.parse(path).getroot().iter("testsuite"):
        tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        totals += Totals(tests - failed - skipped, failed, skipped)
    return totals


def run_part(name: str, pytest_args: list[str]) -> tuple[Totals, bool]:
    """Run one pytest process; return its counts and whether it passed."""
    report = RESULTS_DIR / f"{name.replace('/', '-')}.xml"
    report.unlink(missing_ok=True)
    print(f"\n=== {name} ===", flush=True)
    started = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", *PARTS[name], f"--junitxml={report}", *pytest_args],
                           cwd=REPO_ROOT)
    totals = read_junit(report)
    ok = code in (0, NO_TESTS_COLLECTED)
    if not ok and not totals.failed:
        totals.failed = 1  # pytest stopped before reporting a test (usage or internal error): never a clean total
    print(f"=== {name}: {totals} in {time.perf_counter() - started:.0f} s{'' if ok else f' (pytest exit {code})'}")
    return totals, ok


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    require_comfyui = "--require-comfyui" in args
    pytest_args = [arg for arg in args if arg != "--require-comfyui"]
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    comfyui = os.environ.get("COMFYUI_DIR")
    if not comfyui and require_comfyui:
        print("error: COMFYUI_DIR is not set: the native and host tests cannot run (make test sets it when "
              "build/ComfyUI or the ComfyUI archive is at hand).", file=sys.stderr)
        return 2
    parts = [name for name in PARTS if comfyui or name not in NEEDS_COMFYUI]
    totals, failed_parts = Totals(), []
    for name in parts:
        part_totals, ok = run_part(name, pytest_args)
        totals += part_totals
        if not ok:
            failed_parts.append(name)
    print()
    if not comfyui:
        print("Skipped tests/native and tests/host: no ComfyUI (run `make comfyui`, or set COMFYUI_DIR to one).")
    if failed_parts:
        print(f"FAILED: {', '.join(failed_parts)}")
    print(totals)
    (RESULTS_DIR / "totals.txt").write_text(f"{totals}\n")  # .ci/run prints it again after make's error line
    return 1 if failed_parts else 0


if __name__ == "__main__":
    sys.exit(main())
