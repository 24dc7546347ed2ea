"""Write workflows/<name>.json (UI format), workflows/api/<name>.json (API format) and workflows/<name>.jpg (the
template's thumbnail, a diagram of the graph) from workflows/source.py.

`--check` writes nothing and exits non-zero when a committed file differs from what the source gives (tests run it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from _pack import PACK_ROOT, load_pack
from workflow_graph import is_output_node
from workflow_thumbnail import thumbnail

WORKFLOWS_DIR = PACK_ROOT / "workflows"


def load_sources():
    """The `WORKFLOWS` dict of workflows/source.py: name -> function returning a Graph."""
    spec = importlib.util.spec_from_file_location("longform_workflow_sources", WORKFLOWS_DIR / "source.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WORKFLOWS


def model_sources() -> dict[str, dict[str, str]]:
    """Manifest files the frontend can fetch as they are, by file name: {"name", "url", "directory"}.

    Entries that install.py unpacks or converts (an archive, a PyTorch pickle) are left out: their download is not
    the file the workflow names.
    """
    from longform_pack.core.manifest import load_manifest

    return {
        entry.filename: {"name": entry.filename, "url": entry.url, "directory": entry.folder}
        for entry in load_manifest()
        if entry.unpack is None
    }


def render_all() -> dict[Path, str | bytes]:
    """Every workflow file's path and its content (text, or the thumbnail's bytes), as the source describes them."""
    node_classes = load_pack().NODE_CLASS_MAPPINGS
    sources = model_sources()
    files: dict[Path, str | bytes] = {}
    for name, build in load_sources().items():
        graph = build()
        ui = graph.to_ui(node_classes, sources)
        files[WORKFLOWS_DIR / f"{name}.json"] = json.dumps(ui, indent=2) + "\n"
        files[WORKFLOWS_DIR / "api" / f"{name}.json"] = json.dumps(graph.to_api(node_classes), indent=2) + "\n"
        results = {node["id"] for node in ui["nodes"] if is_output_node(node["type"], node_classes)}
        files[WORKFLOWS_DIR / f"{name}.jpg"] = thumbnail(ui, results)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, content in render_all().items():
        if args.check:
            # A JPEG's bytes may differ between Pillow versions: the check asks only that the thumbnail exists.
            same = path.exists() and (isinstance(content, bytes) or path.read_text(encoding="utf-8") == content)
            if not same:
                stale.append(path.relative_to(PACK_ROOT))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        print(f"wrote {path.relative_to(PACK_ROOT)}")
    if stale:
        print("Out of date (run `make workflows`): " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
