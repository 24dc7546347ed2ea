"""`make test`'s runner: three pytest processes, a totals line CI reads; in CI (--require-comfyui) a part that collects
nothing and a skip off the allow-list fail."""

from pathlib import Path

import pytest

import run_tests

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="{errors}"
failures="{failures}" skipped="{skipped}" tests="{tests}" time="1.0">{cases}</testsuite></testsuites>"""
SKIPPED_CASE = """<testcase classname="tests.test_x" name="test_{index}"><skipped type="pytest.skip" message="{reason}">
tests/test_x.py:3: {reason}</skipped></testcase>"""


@pytest.fixture(autouse=True)
def comfyui(tmp_path, monkeypatch):
    monkeypatch.setattr(run_tests, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(run_tests, "SKIP_ALLOWLIST", tmp_path / "skip_allowlist.txt")
    monkeypatch.setenv("COMFYUI_DIR", str(tmp_path / "ComfyUI"))


def fake_pytest(monkeypatch, runs):
    """Each pytest process writes the junit counts of the next run and exits with its code; return the commands."""
    commands = []

    def call(command, cwd):
        counts, code = runs[len(commands)]
        commands.append(command)
        report = Path(next(arg for arg in command if arg.startswith("--junitxml=")).split("=", 1)[1])
        if counts is not None:
            report.write_text(JUNIT.format(**counts))
        return code

    monkeypatch.setattr(run_tests.subprocess, "call", call)
    return commands


def counts(tests, failures=0, errors=0, skipped=0, reasons=()):
    """junit counts; `reasons` are the skip reasons of that many of the `skipped` tests."""
    cases = "".join(SKIPPED_CASE.format(index=index, reason=reason) for index, reason in enumerate(reasons))
    return {"tests": tests, "failures": failures, "errors": errors, "skipped": skipped, "cases": cases}


def test_three_processes_and_a_totals_line(monkeypatch, capsys, tmp_path):
    commands = fake_pytest(monkeypatch, [(counts(10, skipped=2), 0), (counts(0), 5), (counts(4, errors=1), 1)])
    assert run_tests.main(["-x"]) == 1
    assert [command[4] for command in commands] == ["tests", "tests/native", "tests/host"]
    assert "--ignore=tests/native" in commands[0] and commands[0][-1] == "-x"
    lines = capsys.readouterr().out.splitlines()
    assert lines[-2:] == ["FAILED: tests/host", "11 passed, 1 failed, 2 skipped"]
    assert (tmp_path / "totals.txt").read_text() == "11 passed, 1 failed, 2 skipped\n"  # for .ci/run


def test_no_tests_collected_is_not_a_failure(monkeypatch, capsys):
    fake_pytest(monkeypatch, [(counts(3), 0), (counts(0), 5), (counts(1, skipped=1), 0)])
    assert run_tests.main([]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "3 passed, 0 failed, 1 skipped"


def test_a_crash_before_any_report_counts_as_a_failure(monkeypatch, capsys):
    fake_pytest(monkeypatch, [(None, 4), (counts(0), 5), (counts(0), 5)])
    assert run_tests.main([]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "0 passed, 1 failed, 0 skipped"


def test_without_comfyui_one_line_says_what_was_skipped(monkeypatch, capsys):
    monkeypatch.delenv("COMFYUI_DIR")
    commands = fake_pytest(monkeypatch, [(counts(2), 0)])
    assert run_tests.main([]) == 0
    assert len(commands) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if "Skipped" in line] == [
        "Skipped tests/native and tests/host: no ComfyUI (run `make comfyui`, or set COMFYUI_DIR to one)."]
    assert run_tests.main(["--require-comfyui"]) == 2


def test_in_ci_a_part_that_collects_no_test_fails(monkeypatch, capsys):
    fake_pytest(monkeypatch, [(counts(3), 0), (counts(0), 5), (counts(1), 0)])
    assert run_tests.main(["--require-comfyui"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "=== tests/native: 0 passed, 1 failed, 0 skipped in 0 s (no tests collected)" in out
    assert out[-2:] == ["FAILED: tests/native", "4 passed, 1 failed, 0 skipped"]


def test_in_ci_a_skip_fails_unless_its_reason_is_on_the_allow_list(monkeypatch, capsys, tmp_path):
    runs = [(counts(3, skipped=1, reasons=["needs a GPU"]), 0), (counts(2), 0), (counts(1), 0)]
    fake_pytest(monkeypatch, list(runs))
    assert run_tests.main(["--require-comfyui"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "SKIP NOT ALLOWED: tests.test_x::test_0: needs a GPU" in out and "FAILED: tests" in out
    (tmp_path / "skip_allowlist.txt").write_text("# reviewed\nneeds a GPU # CI machines have none; tests/gpu covers it\n")
    fake_pytest(monkeypatch, list(runs))
    assert run_tests.main(["--require-comfyui"]) == 0
    fake_pytest(monkeypatch, list(runs))
    assert run_tests.main([]) == 0  # a local run lists skips without failing


def test_an_allow_list_entry_must_say_why():
    run_tests.SKIP_ALLOWLIST.write_text("needs a GPU\n")
    with pytest.raises(ValueError, match="skip_allowlist.txt:1: 'needs a GPU' gives no reason why"):
        run_tests.allowed_skip_reasons()


def test_the_shipped_allow_list_is_empty():
    assert run_tests.allowed_skip_reasons(run_tests.REPO_ROOT / "tests" / "skip_allowlist.txt") == []
