"""What installing the pack does to a ComfyUI's Python: packages added, packages changed, onnxruntime builds.

The ComfyUI environment is a throwaway venv holding only torch and ComfyUI's requirements, at the versions this
Python has (their metadata, copied: nothing is imported from it, so nothing large is copied). pip then resolves, with
`install --dry-run --report`, what `python install.py` installs: requirements.txt, insightface without its
requirements, and the one onnxruntime build install.py chooses (the CPU build here: the venv has no CUDA torch).
Resolving needs the package index (PyPI); it downloads metadata only, in well under a minute.

    python scripts/install_report.py --comfyui DIR     # prints the report; exit 1 when a rule is broken

tests/native/test_install_report.py runs it and holds the rules: no package of ComfyUI's changed, one onnxruntime
build, insightface's own requirements (its onnxruntime excepted) all in.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parent.parent
PIP_TIMEOUT_S = 300


def canonical(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_lines(path: Path) -> list[Requirement]:
    """The requirements of a requirements file (comments, blank lines and pip options left out)."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith("-")]


def _load_install():
    """install.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("longform_install", REPO_ROOT / "install.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses looks the module up
    spec.loader.exec_module(module)
    return sys.modules[spec.name]


def installed_closure(roots: list[Requirement]) -> tuple[dict[str, importlib.metadata.Distribution], list[str]]:
    """The distributions of this Python that `roots` need, transitively (markers evaluated here), by canonical name;
    and the roots that are not installed here (ComfyUI's torchaudio, on machines without it)."""
    found: dict[str, importlib.metadata.Distribution] = {}
    missing: list[str] = []
    queue = list(roots)
    while queue:
        requirement = queue.pop()
        name = canonical(requirement.name)
        if name in found or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            if requirement in roots:
                missing.append(requirement.name)
            continue
        found[name] = dist
        queue.extend(Requirement(text) for text in dist.requires or [])
    return found, sorted(missing)


def comfyui_venv(comfyui_requirements: Path, where: Path) -> tuple[Path, dict[str, str], list[str]]:
    """A venv at `where` that holds torch and ComfyUI's requirements (their metadata only, at this Python's
    versions). Returns its python, {package: version} and the requirements this Python lacks."""
    roots = requirement_lines(comfyui_requirements) + [Requirement("torch")]
    dists, missing = installed_closure(roots)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    python = where / "bin" / "python"
    site = Path(subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                                        text=True).strip())
    for dist in dists.values():
        metadata_dir = Path(dist._path)  # the .dist-info folder: what pip reads to know a package is installed
        shutil.copytree(metadata_dir, site / metadata_dir.name)
    return python, {name: dist.version for name, dist in dists.items()}, missing


def dry_run(python: Path, *args: str) -> dict[str, dict]:
    """{package: its metadata (version, requires_dist, ...)} that `pip install --dry-run` would install into the venv
    of `python`."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        command = [sys.executable, "-m", "pip", "--python", str(python), "install", "--dry-run", "--quiet",
                   "--no-input", "--retries", "2", "--timeout", "30", "--report", str(report), *args]
        result = subprocess.run(command, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
        if result.returncode != 0:
            raise RuntimeError(f"pip could not resolve {' '.join(args)} (is the package index reachable?):\n"
                               f"{result.stderr[-3000:]}")
        items = json.loads(report.read_text())["install"]
    return {canonical(item["metadata"]["name"]): item["metadata"] for item in items}


@dataclass
class InstallReport:
    """What `python install.py` adds to a ComfyUI environment, and what breaks the pack's install rules."""

    comfyui: dict[str, str]  # the environment before: torch and ComfyUI's requirements
    added: dict[str, str]  # new packages, with the versions pip chose
    changed: dict[str, tuple[str, str]]  # packages of ComfyUI's that pip would replace: (before, after)
    onnxruntime_builds: list[str]
    insightface_missing: list[str]  # insightface's own requirements (onnxruntime excepted) nothing installs
    comfyui_missing: list[str] = field(default_factory=list)  # ComfyUI requirements this Python lacks (left out)

    def problems(self) -> list[str]:
        """The broken rules, as sentences (none when the install is clean)."""
        found = []
        if self.changed:
            found.append("changes ComfyUI's packages: " + ", ".join(f"{name} {old} -> {new}" for name, (old, new)
                                                                     in sorted(self.changed.items())))
        if len(self.onnxruntime_builds) != 1:
            found.append(f"leaves {len(self.onnxruntime_builds)} onnxruntime builds, not one: "
                         f"{', '.join(self.onnxruntime_builds) or 'none'}")
        if self.insightface_missing:
            found.append("installs none of insightface's requirements " + ", ".join(self.insightface_missing))
        return found

    def text(self) -> str:
        """The report as printed."""
        lines = [f"Into a venv holding torch and ComfyUI's requirements ({len(self.comfyui)} packages), "
                 f"`python install.py` adds {len(self.added)} packages and changes {len(self.changed)}:"]
        lines += [f"  + {name} {version}" for name, version in sorted(self.added.items())]
        lines += [f"  ~ {name} {old} -> {new}" for name, (old, new) in sorted(self.changed.items())]
        lines.append(f"onnxruntime builds afterwards: {', '.join(self.onnxruntime_builds) or 'none'}")
        if self.comfyui_missing:
            lines.append(f"(ComfyUI requirements not installed here, left out: {', '.join(self.comfyui_missing)})")
        lines += [f"PROBLEM: {problem}" for problem in self.problems()]
        return "\n".join(lines)


def install_report(comfyui_dir: Path, requirements: Path = REPO_ROOT / "requirements.txt") -> InstallReport:
    """Resolve install.py's three installs (`requirements` first) into a throwaway ComfyUI venv (see the module
    docstring)."""
    install = _load_install()
    with tempfile.TemporaryDirectory(prefix="longform-install-report-") as folder:
        python, before, missing = comfyui_venv(comfyui_dir / "requirements.txt", Path(folder) / "venv")
        required = dry_run(python, "-r", str(requirements))
        choice = install.choose_onnxruntime([name for name in {**before, **required}
                                             if name in install.ONNXRUNTIME_BUILDS], None)
        # One resolve for both: install.py installs each without its requirements.
        insightface = dry_run(python, "--no-deps", install.INSIGHTFACE, *filter(None, [choice.install]))
    resolved = {name: metadata["version"] for name, metadata in {**required, **insightface}.items()}
    after = {**before, **resolved}
    wanted = [Requirement(text) for text in insightface["insightface"].get("requires_dist", [])]
    insightface_needs = [canonical(r.name) for r in wanted if not r.marker and canonical(r.name) != "onnxruntime"]
    return InstallReport(
        comfyui=before,
        added={name: version for name, version in after.items() if name not in before},
        changed={name: (before[name], version) for name, version in after.items()
                 if name in before and before[name] != version},
        onnxruntime_builds=sorted(name for name in after if name in install.ONNXRUNTIME_BUILDS),
        insightface_missing=sorted(name for name in insightface_needs if name not in after),
        comfyui_missing=missing,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--comfyui", required=True, type=Path, help="a ComfyUI folder (its requirements.txt is read)")
    args = parser.parse_args(argv)
    report = install_report(args.comfyui)
    print(report.text())
    return 1 if report.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
