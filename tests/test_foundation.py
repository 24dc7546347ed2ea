"""The foundation: the host bridge's fallbacks, import hygiene, node conventions, generated files in sync."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from longform_pack.core import host, manifest, tiny

REPO_ROOT = Path(__file__).resolve().parent.parent
FAMILIES = {"probe", "stylize", "identity", "animate", "ddpm", "film"}
HEAVY_MODULES = ("diffusers", "transformers", "insightface", "onnxruntime", "cv2", "imageio", "sklearn", "matplotlib")


def test_model_path_resolves_and_explains_missing_files(tmp_path):
    previous = host.set_models_dir(tmp_path)
    try:
        sd15 = manifest.entry("sd15")
        (tmp_path / "checkpoints").mkdir()
        (tmp_path / "checkpoints" / sd15.filename).write_bytes(b"x")
        assert host.model_path("checkpoints", sd15.filename) == (tmp_path / "checkpoints" / sd15.filename).resolve()
        assert host.list_models("checkpoints", (".safetensors",)) == [sd15.filename]
        with pytest.raises(FileNotFoundError) as missing:
            host.model_path("controlnet", manifest.entry("controlnet_scribble").filename)
        assert "controlnet_scribble" in str(missing.value) and "install.py --models stylize" in str(missing.value)
        with pytest.raises(FileNotFoundError, match="Put the file there"):
            host.model_path("checkpoints", "not-in-the-manifest.safetensors")
        with pytest.raises(ValueError, match="'..' parts are refused"):  # the path rule, core/paths.py
            host.model_path("checkpoints", "../../etc/passwd")
    finally:
        host.set_models_dir(previous)


def test_progress_checks_interrupt_outside_comfyui():
    assert not host.in_comfyui()
    with host.progress(3, "test") as bar:
        bar.update()
        host.request_interrupt()
        with pytest.raises(host.Interrupted):
            bar.update()
    host.check_interrupt()  # the request was consumed


def test_only_the_outermost_bar_draws_in_a_terminal(monkeypatch):
    monkeypatch.setenv("LONGFORM_PROGRESS", "1")
    with host.progress(4, "film") as outer:
        with host.progress(2, "encoding") as inner:
            inner.update()
            assert inner._tqdm is None and outer._tqdm is not None
        outer.update(2)
        assert outer._tqdm.n == 2
        with host.progress(2, "encoding") as inner:
            host.request_interrupt()
            with pytest.raises(host.Interrupted):
                inner.update()
    with host.progress(1, "next job") as bar:
        assert bar._tqdm is not None


def test_only_host_touches_comfyui():
    """Only core/host.py and the ComfyUI glue modules (core/comfy_*.py: patches on ComfyUI's MODEL, its memory
    manager) import ComfyUI, and they do it inside functions: importing any of them never pulls ComfyUI in."""
    pattern = re.compile(r"^\s*(import|from)\s+(comfy|folder_paths|comfy_api|nodes)\b", re.MULTILINE)
    offenders = [
        path.relative_to(REPO_ROOT).as_posix()
        for folder in ("core", "nodes")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if path.name != "host.py" and not (path.parent.name == "core" and path.name.startswith("comfy_"))
        and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
    top_level = re.compile(r"^(import|from)\s+(comfy|folder_paths|comfy_api|nodes)\b", re.MULTILINE)
    glue = [REPO_ROOT / "core" / "host.py", *(REPO_ROOT / "core").glob("comfy_*.py")]
    assert [path.name for path in glue if top_level.search(path.read_text(encoding="utf-8"))] == []


def test_pack_import_is_light_and_fast():
    code = (
        "import sys, time; import torch, numpy, PIL.Image; sys.path.insert(0, 'scripts');"
        "from _pack import load_pack; start = time.perf_counter(); pack = load_pack();"
        "print(time.perf_counter() - start);"
        f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    seconds, heavy = result.stdout.split("\n")[:2]
    assert heavy == "", f"importing the pack loaded {heavy}: import them inside the functions that use them"
    assert float(seconds) < 1.0


def test_node_conventions(pack):
    assert pack.NODE_CLASS_MAPPINGS, "no nodes registered"
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        assert node_id.startswith("LF_"), node_id
        family = cls.CATEGORY.split("/")
        assert family[0] == "LongForm" and family[1] in FAMILIES, f"{node_id}: category {cls.CATEGORY}"
        assert cls.DESCRIPTION.strip(), f"{node_id}: no DESCRIPTION"
        display = pack.NODE_DISPLAY_NAME_MAPPINGS[node_id]
        assert display[0].isupper() and all(word[0].isupper() or not word[0].isalpha() for word in display.split()), display
        assert callable(getattr(cls, cls.FUNCTION)), f"{node_id}: FUNCTION {cls.FUNCTION} missing"
        for section in ("required", "optional"):
            for name, spec in cls.INPUT_TYPES().get(section, {}).items():
                options = spec[1] if len(spec) > 1 else {}
                assert options.get("tooltip"), f"{node_id}.{name}: no tooltip"


def test_every_manifest_entry_with_a_tiny_filename_has_a_tiny_builder():
    # Entries without one (umt5-xxl) cannot be tiny: tests/test_manifest.py lists them.
    assert set(tiny.builders()) == {item.id for item in manifest.load_manifest() if item.tiny_filename}



def test_product_code_imports_the_tiny_marker_not_the_builders():
    builders = re.compile(r"^\s*from\s+\.+tiny(\.\w+)?\s+import|^\s*from\s+\.+\s+import\s+.*\btiny\b(?!_)", re.MULTILINE)
    offenders = {
        path.relative_to(REPO_ROOT).as_posix()
        for folder in ("core", "nodes")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if "tiny" not in path.relative_to(REPO_ROOT).parts[1:-1] and builders.search(path.read_text(encoding="utf-8"))
    }
    assert offenders == set(), sorted(offenders)


def test_tiny_models_are_built_once_and_linked_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    first = tiny.build_all(tmp_path / "a", only={"resnet50", "bert_base_uncased"}, cache_dir=cache)
    second = tiny.build_all(tmp_path / "b", only={"resnet50"}, cache_dir=cache)
    assert [p.name for p in first] == ["longform-tiny-resnet50.safetensors", "longform-tiny-bert.safetensors"]
    assert second[0].read_bytes() == first[0].read_bytes() and second[0].stat().st_ino == first[0].stat().st_ino
    assert len([p for p in cache.iterdir() if p.name.startswith("resnet50-")]) == 1


def test_workflows_are_generated_from_their_source():
    result = subprocess.run(
        [sys.executable, "scripts/build_workflows.py", "--check"], cwd=REPO_ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_readme_node_reference_matches_the_nodes(pack):
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    from node_reference import info_from_classes, readme_section, render

    expected = render(info_from_classes(pack.NODE_CLASS_MAPPINGS, pack.NODE_DISPLAY_NAME_MAPPINGS))
    assert readme_section((REPO_ROOT / "README.md").read_text(encoding="utf-8")) == expected


def test_a_tiny_cache_key_covers_the_modules_its_builder_imports():
    import inspect

    sources = {p.name for p in tiny._sources(Path(inspect.getfile(tiny.builders()["ipadapter_sd15"])).resolve(), set())}
    assert {"identity.py", "stylize.py", "clip_vision.py", "weights.py", "tiny_marker.py"} <= sources
