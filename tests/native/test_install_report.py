"""`python install.py` resolved into a throwaway venv holding only torch and ComfyUI's requirements (pip's
--dry-run --report, scripts/install_report.py): nothing of ComfyUI's changes, exactly one onnxruntime build.

Needs ComfyUI's requirements.txt ($COMFYUI_DIR) and the package index (metadata only, about 10 s a resolve).
"""

import os
from pathlib import Path

import pytest

import install_report


@pytest.fixture(scope="module")
def comfyui_dir() -> Path:
    if not os.environ.get("COMFYUI_DIR"):
        pytest.fail("the install report needs ComfyUI's requirements.txt: set COMFYUI_DIR")
    return Path(os.environ["COMFYUI_DIR"])


def test_install_adds_packages_changes_none_and_leaves_one_onnxruntime_build(comfyui_dir):
    report = install_report.install_report(comfyui_dir)
    print(report.text())  # the install report, quoted in the README
    assert report.problems() == []
    assert report.onnxruntime_builds == ["onnxruntime"] and "insightface" in report.added
    requirements = install_report.requirement_lines(install_report.REPO_ROOT / "requirements.txt")
    assert {install_report.canonical(r.name) for r in requirements} <= set(report.added) | set(report.comfyui)


def test_a_second_onnxruntime_build_or_a_changed_comfyui_package_is_caught(comfyui_dir, tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"-r {install_report.REPO_ROOT / 'requirements.txt'}\nonnxruntime-gpu\nonnxruntime\n"
                            "numpy<2\n")
    problems = install_report.install_report(comfyui_dir, requirements).problems()
    assert "leaves 2 onnxruntime builds, not one: onnxruntime, onnxruntime-gpu" in problems
    assert any(problem.startswith("changes ComfyUI's packages: numpy 2.") for problem in problems)
