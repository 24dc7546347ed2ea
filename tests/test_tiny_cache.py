"""The tiny models' cache: built once per version of the builder code, linked into every models dir that asks."""

import pytest

from longform_pack.core import manifest, tiny

VERSION_A, VERSION_B = "0123456789abcdef", "fedcba9876543210"


@pytest.fixture
def calls(monkeypatch):
    """Fake builders for a file entry and a folder entry (the insightface pack), counting their runs."""
    made = []

    def build_file(path):
        made.append(path.name)
        path.write_bytes(b"resnet")

    def build_folder(path):
        made.append(path.name)
        path.mkdir(parents=True)
        (path / "det.onnx").write_bytes(b"detector")

    monkeypatch.setattr(tiny, "builders", lambda: {"resnet50": build_file, "insightface_buffalo_l": build_folder})
    monkeypatch.setattr(tiny, "builder_version", lambda: VERSION_A)
    return made


def test_built_once_and_linked_into_each_models_dir(tmp_path, calls):
    resnet, faces = manifest.entry("resnet50"), manifest.entry("insightface_buffalo_l")
    first = tiny.build_all(tmp_path / "one", cache_dir=tmp_path / "cache")
    second = tiny.build_all(tmp_path / "two", cache_dir=tmp_path / "cache")
    assert len(calls) == 2, "the second models dir was built again instead of linked"
    assert sorted(first) == sorted([tmp_path / "one" / resnet.folder / resnet.tiny_filename,
                                    tmp_path / "one" / faces.folder / faces.tiny_filename])
    for models in (tmp_path / "one", tmp_path / "two"):
        assert (models / resnet.folder / resnet.tiny_filename).read_bytes() == b"resnet"
        assert (models / faces.folder / faces.tiny_filename / "det.onnx").read_bytes() == b"detector"
        assert not (models / resnet.folder).is_symlink()  # tests add their own files to these folders
    resnet_link = tmp_path / "two" / resnet.folder / resnet.tiny_filename
    assert resnet_link in second and resnet_link.stat().st_ino == (tmp_path / "cache" / VERSION_A / resnet.folder / resnet.tiny_filename).stat().st_ino


def test_new_builder_code_rebuilds_and_drops_the_old_build(tmp_path, calls, monkeypatch):
    tiny.build_all(tmp_path / "one", cache_dir=tmp_path / "cache")
    monkeypatch.setattr(tiny, "builder_version", lambda: VERSION_B)
    tiny.build_all(tmp_path / "two", cache_dir=tmp_path / "cache")
    assert len(calls) == 4
    assert sorted(path.name for path in (tmp_path / "cache").iterdir()) == [VERSION_B]


def test_a_failed_build_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken(path):
        path.write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(tiny, "builders", lambda: {"resnet50": broken})
    monkeypatch.setattr(tiny, "builder_version", lambda: VERSION_A)
    with pytest.raises(OSError, match="disk full"):
        tiny.build_all(tmp_path / "models", cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_version_follows_the_builder_source():
    version = tiny.builder_version()
    assert len(version) == 16 and version == tiny.builder_version()
