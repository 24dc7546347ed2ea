"""Write workflows/<name>.json (UI format) and workflows/api/<name>.json (API format) from workflows/source.py.

`--check` writes nothing and exits non-zero when a committed file differs from what the source gives (tests run it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

from _pack import PACK_ROOT, load_pack

WORKFLOWS_DIR = PACK_ROOT / "workflows"


def load_sources():
    """The `WORKFLOWS` dict of workflows/source.py: name -> function returning a Graph."""
    spec = importlib.util.spec_from_file_location("longform_workflow_sources", WORKFLOWS_DIR / "source.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.WORKFLOWS


def render_all() -> dict[Path, str]:
    """Every workflow file's path and its text, as the source describes them."""
    node_classes = load_pack().NODE_CLASS_MAPPINGS
    files = {}
    for name, build in load_sources().items():
        graph = build()
        files[WORKFLOWS_DIR / f"{name}.json"] = json.dumps(graph.to_ui(node_classes), indent=2) + "\n"
        files[WORKFLOWS_DIR / "api" / f"{name}.json"] = json.dumps(graph.to_api(node_classes), indent=2) + "\n"
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare with the committed files, write nothing")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render_all().items():
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.relative_to(PACK_ROOT))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(PACK_ROOT)}")
    if stale:
        print("Out of date (run `make workflows`): " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
