"""`make test`'s runner: three pytest processes, a totals line CI reads, pytest's "no tests collected" not a failure."""

from pathlib import Path

import pytest

import run_tests

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="{errors}"
failures="{failures}" skipped="{skipped}" tests="{tests}" time="1.0"></testsuite></testsuites>"""


@pytest.fixture(autouse=True)
def comfyui(tmp_path, monkeypatch):
    monkeypatch.setattr(run_tests, "RESULTS_DIR", tmp_path)
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


def counts(tests, failures=0, errors=0, skipped=0):
    return {"tests": tests, "failures": failures, "errors": errors, "skipped": skipped}


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
