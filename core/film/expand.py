"""A unit's API workflow as part of a node expansion: the graph the LF_Film node hands to ComfyUI's executor.

A node's function may return {"result": ..., "expand": graph}; ComfyUI adds the graph's nodes to the running prompt
and runs them as its own (caching, progress, interrupt, V1 and V3 nodes alike). The graph is built with ComfyUI's
`GraphBuilder` (comfy_execution.graph_utils, handed in by the node through core/host.py), whose prefix is the film
node's id, so every id is unique in the prompt:
- the unit's nodes become `<unit>.<node id in its workflow>`: ComfyUI's events name the unit of the node they report;
- loaders (nodes without linked inputs that are no output nodes: checkpoint, ControlNet, CLIP vision, pictures)
  become `loader-<digest of their class and inputs>` and are added once a film: a later unit links to the node an
  earlier expansion added. ComfyUI keeps each expansion's outputs in a cache of its own below the node that expanded
  it, so two loaders with the same inputs in two units' expansions would each load their file (measured on the
  tiny film of tests/host/test_film.py: 7 checkpoint loads for its 7 units without this, 1 with it).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Callable


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def _is_loader(node: dict[str, Any], is_output: Callable[[str], bool]) -> bool:
    return not is_output(node["class_type"]) and not any(map(_is_link, node["inputs"].values()))


def _loader_id(node: dict[str, Any]) -> str:
    signature = json.dumps([node["class_type"], node["inputs"]], sort_keys=True, default=str)
    return f"loader-{hashlib.sha256(signature.encode()).hexdigest()[:16]}"


def end_link(workflow: dict[str, Any], is_output: Callable[[str], bool]) -> tuple[str, int]:
    """The link into the workflow's deepest output node (its file-writing SaveImage, or the preview of LF Animate's
    clip): when the linked node has run, the unit's frames are on disk, and ComfyUI runs the output node before any
    other node that was waiting on the same output (ExecutionList.ux_friendly_pick_node)."""
    depths: dict[str, int] = {}

    def depth(node_id: str) -> int:
        if node_id not in depths:
            links = [value for value in workflow[node_id]["inputs"].values() if _is_link(value)]
            depths[node_id] = 1 + max((depth(link[0]) for link in links), default=0)
        return depths[node_id]

    outputs = [node_id for node_id, node in workflow.items() if is_output(node["class_type"])
               and any(map(_is_link, node["inputs"].values()))]
    if not outputs:
        raise ValueError("A film unit's workflow has no output node reading from it: nothing marks its end.")
    deepest = max(outputs, key=depth)
    source = next(value for value in workflow[deepest]["inputs"].values() if _is_link(value))
    return source[0], source[1]


def add_unit(builder, unit_id: str, workflow: dict[str, Any], is_output: Callable[[str], bool],
             exists: Callable[[str], bool]) -> list:
    """Add `unit_id`'s `workflow` (API format) to `builder` (a ComfyUI GraphBuilder), reusing the loaders for which
    `exists(node id)` (the running prompt has them); return the link ([node id, output index]) whose value marks the
    unit's end."""
    ids = {node_id: _loader_id(node) if _is_loader(node, is_output) else f"{unit_id}.{node_id}"
           for node_id, node in workflow.items()}
    for node_id, node in workflow.items():
        if ids[node_id].startswith("loader-") and exists(builder.prefix + ids[node_id]):
            continue
        inputs = {name: [builder.prefix + ids[value[0]], value[1]] if _is_link(value) else value
                  for name, value in node["inputs"].items()}
        builder.node(node["class_type"], id=ids[node_id], **inputs)
    end_id, index = end_link(workflow, is_output)
    return [builder.prefix + ids[end_id], index]
