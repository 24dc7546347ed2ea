"""The README's node reference, rendered from node definitions in ComfyUI's /object_info shape.

`python scripts/node_reference.py` rewrites the section between the markers in README.md from the pack's classes;
tests compare that section with the classes (always) and with a live ComfyUI's /object_info (host tests).
"""

from __future__ import annotations

import sys
from typing import Any

from _pack import PACK_ROOT, load_pack

START, END = "<!-- node-reference:start -->", "<!-- node-reference:end -->"
README = PACK_ROOT / "README.md"


def info_from_classes(classes: dict[str, type], display_names: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The subset of /object_info the reference uses, built from the node classes themselves."""
    info = {}
    for node_id, cls in classes.items():
        returns = list(cls.RETURN_TYPES)
        info[node_id] = {
            "display_name": display_names.get(node_id, node_id),
            "category": cls.CATEGORY,
            "description": getattr(cls, "DESCRIPTION", ""),
            "input": {section: dict(specs) for section, specs in cls.INPUT_TYPES().items() if section != "hidden"},
            "output": returns,
            "output_name": list(getattr(cls, "RETURN_NAMES", None) or returns),
        }
    return info


def _type_name(kind: Any) -> str:
    return "choice" if isinstance(kind, (list, tuple)) or kind == "COMBO" else str(kind)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def render(info: dict[str, dict[str, Any]]) -> str:
    """Markdown for every LF_ node in `info`, grouped by category, in a stable order."""
    lines: list[str] = []
    nodes = sorted((n for n in info if n.startswith("LF_")), key=lambda n: (info[n]["category"], n))
    category = None
    for node_id in nodes:
        node = info[node_id]
        if node["category"] != category:
            category = node["category"]
            lines += [f"### {category}", ""]
        lines += [f"#### {node['display_name']} (`{node_id}`)", "", node["description"].strip(), ""]
        lines += ["| input | type | default | what it does |", "|---|---|---|---|"]
        for section in ("required", "optional"):
            for name, spec in node["input"].get(section, {}).items():
                options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
                default = options.get("default", "")
                optional = " (optional)" if section == "optional" else ""
                lines.append(
                    f"| `{name}`{optional} | {_type_name(spec[0])} | {_cell(default)} | {_cell(options.get('tooltip', ''))} |"
                )
        outputs = ", ".join(f"`{name}` ({kind})" for name, kind in zip(node["output_name"], node["output"]))
        lines += ["", f"Outputs: {outputs or 'none (writes files, shows a preview)'}", ""]
    return "\n".join(lines).rstrip() + "\n"


def readme_section(text: str) -> str:
    """The text between the node-reference markers of a README."""
    if START not in text or END not in text:
        raise ValueError(f"README.md lacks the markers {START} ... {END}.")
    return text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"


def main() -> int:
    pack = load_pack()
    section = render(info_from_classes(pack.NODE_CLASS_MAPPINGS, pack.NODE_DISPLAY_NAME_MAPPINGS))
    text = README.read_text(encoding="utf-8")
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    README.write_text(f"{before}{START}\n{section}{END}{after}", encoding="utf-8")
    print(f"updated the node reference in {README.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
