"""The requirement files say what the code imports: requirements.txt exactly what the nodes import when ComfyUI runs
them (traced from __init__.py through every relative import), requirements-dev.txt the rest (tests, scripts, bench,
the tiny-model builders), pyproject.toml in step with requirements.txt. tests/native/test_install_report.py resolves
the install itself."""

import ast
import functools
import importlib.metadata
import sys
import tomllib
from pathlib import Path

from install_report import canonical, requirement_lines
from test_meter_vbench import REFERENCE_PACKAGES

REPO_ROOT = Path(__file__).resolve().parent.parent
# Provided by ComfyUI itself: its modules, and the torch build its user chose.
COMFYUI_MODULES = {"comfy", "comfy_api", "comfy_execution", "comfy_extras", "comfyui_version", "execution", "folder_paths",
                   "latent_preview", "nodes", "server"}
HOST_PACKAGES = {"torch", "torchvision"}
INSTALLED_BY_INSTALL_PY = {"insightface", "onnxruntime"}  # see install.py INSIGHTFACE, choose_onnxruntime
# Imported only inside a script that names the package in its error when it is missing (the README's screenshots).
OPTIONAL_SCRIPT_IMPORTS = {"playwright"}
# VBench's metric code and the two packages it imports: the parity tests install them into build/vbench with --no-deps
# (vbench pins numpy < 2 and transformers == 4.33.2), never into the venv.
PARITY_REFERENCE = {spec.split("==")[0] for spec in REFERENCE_PACKAGES}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(level, module) of every import in a file, anywhere in it; `from . import a` gives (1, "a")."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            found.append((node.level, base))
            if node.level:  # `from .pkg import name`: name may be a submodule
                found += [(node.level, f"{base}.{alias.name}".lstrip(".")) for alias in node.names]
    return found


def _module_file(package_dir: Path, dotted: str) -> Path | None:
    target = package_dir.joinpath(*dotted.split(".")) if dotted else package_dir
    for candidate in (target.with_suffix(".py"), target / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def runtime_imports() -> set[str]:
    """Top-level names of the absolute imports reached from __init__.py and nodes/ through relative imports."""
    queue = [REPO_ROOT / "__init__.py", *sorted((REPO_ROOT / "nodes").glob("*.py"))]
    seen, external = set(), set()
    while queue:
        path = queue.pop()
        if path in seen:
            continue
        seen.add(path)
        for level, module in _imports(path):
            if level == 0:
                external.add(module.split(".")[0])
                continue
            base = path.parent
            for _ in range(level - 1):
                base = base.parent
            found = _module_file(base, module)
            if found is not None:
                queue.append(found)
                if found.name == "__init__.py":
                    continue
            # a package's __init__ runs on the way to its submodules
            for parent in Path(module.replace(".", "/")).parents:
                init = _module_file(base, ".".join(parent.parts))
                if init is not None:
                    queue.append(init)
    return external - set(sys.stdlib_module_names) - {"__future__"}


@functools.cache
def _packages_distributions() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distributions_of(import_name: str) -> set[str]:
    """Canonical names of the installed distributions that provide a top-level import name."""
    return {canonical(name) for name in _packages_distributions().get(import_name, [])}


def listed(*files: str) -> set[str]:
    """Canonical names in requirement files, following their `-r` includes."""
    names = set()
    for file in files:
        path = REPO_ROOT / file
        names |= {canonical(r.name) for r in requirement_lines(path)}
        for line in path.read_text().splitlines():
            if line.startswith("-r "):
                names |= listed(line[3:].strip())
    return names


def insightface_requirements() -> set[str]:
    """insightface's own requirements (no extras), its onnxruntime excepted: install.py installs it without them."""
    wanted = [line for line in importlib.metadata.requires("insightface") or [] if "extra ==" not in line]
    return {canonical(line.split(";")[0].split(">")[0].split("=")[0].split("<")[0].strip()) for line in wanted} - {
        "onnxruntime"}


def test_every_runtime_import_is_a_runtime_requirement_and_every_requirement_is_imported():
    runtime = runtime_imports()
    assert {"transformers", "insightface", "cv2"} <= runtime and "diffusers" not in runtime  # the trace sees far
    requirements = listed("requirements.txt")
    provided = {name: distributions_of(name) for name in runtime - COMFYUI_MODULES - HOST_PACKAGES
                - INSTALLED_BY_INSTALL_PY}
    unlisted = {name: dists for name, dists in provided.items() if not dists & requirements}
    assert not unlisted, f"imported when the nodes run but not in requirements.txt: {unlisted}"
    imported = set().union(*provided.values())
    unused = requirements - imported - insightface_requirements()
    assert not unused, f"in requirements.txt but never imported when the nodes run: {sorted(unused)}"


def test_insightface_gets_its_own_requirements_but_no_onnxruntime_from_requirements_txt():
    requirements = listed("requirements.txt")
    assert insightface_requirements() <= requirements
    assert not {name for name in requirements if name.startswith("onnxruntime") or name == "insightface"}


def test_pyproject_dependencies_are_requirements_txt():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    declared = [str(r) for r in requirement_lines(REPO_ROOT / "requirements.txt")]
    assert project["project"]["dependencies"] == declared
    assert project["tool"]["comfy"]["requires-comfyui"].startswith(">=")


def test_everything_the_tests_scripts_and_builders_import_is_in_requirements_dev():
    local = {path.stem for path in REPO_ROOT.rglob("*.py") if ".venv" not in path.parts and "build" not in path.parts}
    local |= {path.parent.name for path in REPO_ROOT.rglob("__init__.py") if ".venv" not in path.parts} | {"longform_pack"}
    files = [path for folder in ("tests", "scripts", "bench", "core") for path in (REPO_ROOT / folder).rglob("*.py")]
    imported = {module.split(".")[0] for path in files for level, module in _imports(path) if level == 0}
    third_party = (imported - set(sys.stdlib_module_names) - {"__future__"} - local - COMFYUI_MODULES - HOST_PACKAGES
                   - OPTIONAL_SCRIPT_IMPORTS - PARITY_REFERENCE)
    dev = listed("requirements-dev.txt")
    missing = {name: sorted(distributions_of(name)) for name in third_party if not distributions_of(name) & dev}
    assert not missing, f"imported by tests, scripts, bench or core/tiny but in no requirements file: {missing}"
    assert {"jsonschema", "diffusers", "pytest", "ruff"} <= dev
