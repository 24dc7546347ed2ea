"""Loads workflows/film_units.py, the one module that turns a film's units into ComfyUI graphs.

The unit graphs are built with the same `Graph` (scripts/workflow_graph.py) and helpers (workflows/source.py) as the
shipped workflows. Those files import each other by plain module name, as scripts do; this loader makes that work
inside ComfyUI (the LF_Film node) too, where neither folder is on the import path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

PACK_ROOT = Path(__file__).resolve().parents[2]
_MODULES = (
    ("workflow_graph", PACK_ROOT / "scripts" / "workflow_graph.py"),
    ("longform_workflow_sources", PACK_ROOT / "workflows" / "source.py"),
    ("longform_film_units", PACK_ROOT / "workflows" / "film_units.py"),
)


def unit_graphs() -> ModuleType:
    """workflows/film_units.py, imported once (with the two modules it builds on)."""
    for name, path in _MODULES:
        if name not in sys.modules:
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
    return sys.modules["longform_film_units"]
