"""Runs an API-format workflow inside the current ComfyUI process, node after node (the LF_Film node's executor).

ComfyUI runs one prompt at a time, so a node cannot queue more work on its own server; instead it evaluates each
unit's workflow here with the node classes ComfyUI registered (core and custom). No validation beyond the nodes'
own: the unit workflows are generated. A `cache` shared by the units of one film keeps the loaders' outputs (nodes
without linked inputs, by type and values), so each model file loads once a film; every other node runs afresh in
every unit, as on a server that starts each unit from a clean cache.
"""

from __future__ import annotations

import json
from typing import Any

from .. import host


def _order(prompt: dict[str, Any]) -> list[str]:
    """Node ids so that every node comes after the nodes it reads from."""
    ordered, placed = [], set()

    def visit(node_id: str, path: tuple[str, ...]) -> None:
        if node_id in placed:
            return
        if node_id in path:
            raise ValueError(f"The workflow has a cycle through node {node_id}.")
        for value in prompt[node_id]["inputs"].values():
            if _is_link(value):
                visit(value[0], path + (node_id,))
        placed.add(node_id)
        ordered.append(node_id)

    for node_id in prompt:
        visit(node_id, ())
    return ordered


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def run_workflow(prompt: dict[str, Any], node_classes: dict[str, type] | None = None,
                 cache: dict[str, tuple] | None = None) -> dict[str, Any]:
    """Evaluate every node of `prompt`; return the outputs' "ui" records by node id (as ComfyUI's history has them).

    `cache` (signature -> outputs) is read and filled for loaders: nodes without linked inputs, not output nodes."""
    classes = node_classes if node_classes is not None else host.node_classes()
    cache = {} if cache is None else cache
    results: dict[str, tuple] = {}
    signatures: dict[str, str] = {}
    outputs: dict[str, Any] = {}
    for node_id in _order(prompt):
        node = prompt[node_id]
        if node["class_type"] not in classes:
            raise ValueError(f"Node {node_id} is a {node['class_type']}, which this ComfyUI does not have.")
        cls = classes[node["class_type"]]
        signatures[node_id] = json.dumps([node["class_type"], {
            name: ["link", signatures[value[0]], value[1]] if _is_link(value) else value
            for name, value in sorted(node["inputs"].items())}], default=str)
        # Only loaders (no linked inputs) are kept: a patched MODEL that sampled once may carry state into the next unit.
        reusable = not getattr(cls, "OUTPUT_NODE", False) and not any(map(_is_link, node["inputs"].values()))
        if reusable and signatures[node_id] in cache:
            results[node_id] = cache[signatures[node_id]]
            continue
        kwargs = {name: results[value[0]][value[1]] if _is_link(value) else value
                  for name, value in node["inputs"].items()}
        host.check_interrupt()
        returned = getattr(cls(), cls.FUNCTION)(**kwargs)
        if isinstance(returned, dict):
            if returned.get("ui"):
                outputs[node_id] = returned["ui"]
            returned = returned.get("result") or ()
        results[node_id] = tuple(returned)
        if reusable:
            cache[signatures[node_id]] = results[node_id]
    return outputs
