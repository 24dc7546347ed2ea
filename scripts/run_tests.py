"""`make test`: the whole suite in three pytest processes, closed by one line of totals.

1. tests/ without tests/native and tests/host: the core on tiny models, the nodes called directly, the scripts.
2. tests/native: ComfyUI's own classes imported into the process. That switches core/host.py to its ComfyUI branch for
   the rest of the process, hence a process of its own.
3. tests/host: a real headless ComfyUI serving the pack, every shipped workflow queued through the API client.

Parts 2 and 3 need a ComfyUI work tree in $COMFYUI_DIR; without one they are skipped, said in one line. The last line
of the output is `N passed, N failed, N skipped` (CI reads it); the exit status is 1 when any part failed.

With --require-comfyui (CI passes it) nothing can pass by going missing: no ComfyUI is an error, a part that collects no
test (pytest's exit 5) fails, and so does every skipped test whose reason is not on tests/skip_allowlist.txt (a short,
reviewed list: each line a reason, then ` # ` and why it may skip). Without it (a local run, e.g. with -k) a part that
collects nothing is fine and skips are only listed.

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
SKIP_ALLOWLIST = REPO_ROOT / "tests" / "skip_allowlist.txt"
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
    skips: tuple[tuple[str, str], ...] = ()  # (test, reason) of each skipped test

    def __add__(self, other: "Totals") -> "Totals":
        return Totals(self.passed + other.passed, self.failed + other.failed, self.skipped + other.skipped,
                      self.skips + other.skips)

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
        skips = tuple((f"{case.get('classname', '')}::{case.get('name', '')}", skip.get("message", ""))
                      for case in suite.iter("testcase") for skip in case.iter("skipped"))
        totals += Totals(tests - failed - skipped, failed, skipped, skips)
    return totals


def allowed_skip_reasons(path: Path | None = None) -> list[str]:
    """The skip reasons CI accepts: each line of the allow-list (default SKIP_ALLOWLIST) up to its ` # why` (blank
    lines and comments left out). A line without its why is refused: each entry says why it may skip."""
    path = path or SKIP_ALLOWLIST
    reasons = []
    for number, line in enumerate(path.read_text().splitlines() if path.is_file() else [], 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        reason, _, why = line.partition(" # ")
        if not why.strip():
            raise ValueError(f"{path}:{number}: '{line}' gives no reason why it may skip: add ' # why'.")
        reasons.append(reason.strip())
    return reasons


def unallowed_skips(totals: Totals, allowed: list[str]) -> list[tuple[str, str]]:
    """The skips whose reason (pytest's "file:line: reason" message, or the bare reason) is not on the allow-list."""
    return [(test, message) for test, message in totals.skips
            if not any(message == reason or message.endswith(f": {reason}") for reason in allowed)]


def run_part(name: str, pytest_args: list[str], required: bool = False) -> tuple[Totals, bool]:
    """Run one pytest process; return its counts and whether it passed (a `required` part must collect tests)."""
    report = RESULTS_DIR / f"{name.replace('/', '-')}.xml"
    report.unlink(missing_ok=True)
    print(f"\n=== {name} ===", flush=True)
    started = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "pytest", "-q", *PARTS[name], f"--junitxml={report}", *pytest_args],
                           cwd=REPO_ROOT)
    totals = read_junit(report)
    ok = code == 0 or (code == NO_TESTS_COLLECTED and not required)
    if not ok and not totals.failed:
        totals.failed = 1  # no test ran, or pytest stopped before reporting one: never a clean total
    why = "" if ok else " (no tests collected)" if code == NO_TESTS_COLLECTED else f" (pytest exit {code})"
    print(f"=== {name}: {totals} in {time.perf_counter() - started:.0f} s{why}")
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
    allowed = allowed_skip_reasons()
    parts = [name for name in PARTS if comfyui or name not in NEEDS_COMFYUI]
    totals, failed_parts = Totals(), []
    for name in parts:
        part_totals, ok = run_part(name, pytest_args, required=require_comfyui)
        totals += part_totals
        if not ok or (require_comfyui and unallowed_skips(part_totals, allowed)):
            failed_parts.append(name)
    print()
    if not comfyui:
        print("Skipped tests/native and tests/host: no ComfyUI (run `make comfyui`, or set COMFYUI_DIR to one).")
    for test, reason in unallowed_skips(totals, allowed):
        print(f"{'SKIP NOT ALLOWED' if require_comfyui else 'skipped'}: {test}: {reason}")
    if failed_parts:
        print(f"FAILED: {', '.join(failed_parts)}")
    print(totals)
    (RESULTS_DIR / "totals.txt").write_text(f"{totals}\n")  # .ci/run prints it again after make's error line
    return 1 if failed_parts else 0


if __name__ == "__main__":
    sys.exit(main())
