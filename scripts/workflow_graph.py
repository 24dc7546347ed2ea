"""A small graph builder that writes one workflow in both of ComfyUI's formats, so the two can't drift.

`workflows/source.py` describes each workflow once with `Graph`; `build_workflows.py` writes the UI format (LiteGraph
JSON that loads by dragging onto the canvas) to `workflows/<name>.json` and the API format (what POST /prompt takes)
to `workflows/api/<name>.json`. Widget values come from the node definitions: the pack's own `INPUT_TYPES()` and, for
the few ComfyUI core nodes used, the table `CORE_NODES` below (the host tests check both against a live /object_info).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# ComfyUI core nodes the workflows use: inputs in declaration order as (name, type, options), and outputs.
CORE_NODES: dict[str, dict[str, Any]] = {
    "LoadImage": {
        "inputs": [("image", "COMBO", {"image_upload": True})],
        "outputs": [("IMAGE", "IMAGE"), ("MASK", "MASK")],
    },
    "SaveImage": {
        "inputs": [("images", "IMAGE", {}), ("filename_prefix", "STRING", {"default": "ComfyUI"})],
        "outputs": [],
    },
    "PreviewImage": {"inputs": [("images", "IMAGE", {})], "outputs": []},
    "PreviewAny": {"inputs": [("source", "*", {})], "outputs": []},
    "ImageBatch": {"inputs": [("image1", "IMAGE", {}), ("image2", "IMAGE", {})], "outputs": [("IMAGE", "IMAGE")]},
    "SaveAnimatedWEBP": {
        "inputs": [
            ("images", "IMAGE", {}),
            ("filename_prefix", "STRING", {"default": "ComfyUI"}),
            ("fps", "FLOAT", {"default": 6.0}),
            ("lossless", "BOOLEAN", {"default": True}),
            ("quality", "INT", {"default": 80}),
            ("method", "COMBO", {"options": ["default", "fastest", "slowest"]}),
        ],
        "outputs": [],
    },
    # Loading, conditioning and sampling as in ComfyUI's nodes.py (0.3.64): the native path of stylize and animate.
    "CheckpointLoaderSimple": {
        "inputs": [("ckpt_name", "COMBO", {})],
        "outputs": [("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE")],
    },
    "LoraLoader": {
        "inputs": [
            ("model", "MODEL", {}),
            ("clip", "CLIP", {}),
            ("lora_name", "COMBO", {}),
            ("strength_model", "FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01}),
            ("strength_clip", "FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01}),
        ],
        "outputs": [("MODEL", "MODEL"), ("CLIP", "CLIP")],
    },
    "ControlNetLoader": {"inputs": [("control_net_name", "COMBO", {})], "outputs": [("CONTROL_NET", "CONTROL_NET")]},
    "ControlNetApplyAdvanced": {
        "inputs": [
            ("positive", "CONDITIONING", {}),
            ("negative", "CONDITIONING", {}),
            ("control_net", "CONTROL_NET", {}),
            ("image", "IMAGE", {}),
            ("strength", "FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01}),
            ("start_percent", "FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.001}),
            ("end_percent", "FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.001}),
            ("vae", "VAE", {}),
        ],
        "outputs": [("positive", "CONDITIONING"), ("negative", "CONDITIONING")],
    },
    "CLIPTextEncode": {
        "inputs": [("text", "STRING", {"multiline": True}), ("clip", "CLIP", {})],
        "outputs": [("CONDITIONING", "CONDITIONING")],
    },
    "EmptyLatentImage": {
        "inputs": [
            ("width", "INT", {"default": 512, "min": 16, "max": 16384, "step": 8}),
            ("height", "INT", {"default": 512, "min": 16, "max": 16384, "step": 8}),
            ("batch_size", "INT", {"default": 1, "min": 1, "max": 4096}),
        ],
        "outputs": [("LATENT", "LATENT")],
    },
    "KSampler": {
        "inputs": [
            ("model", "MODEL", {}),
            ("seed", "INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF}),
            ("steps", "INT", {"default": 20, "min": 1, "max": 10000}),
            ("cfg", "FLOAT", {"default": 8.0, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01}),
            ("sampler_name", "COMBO", {}),
            ("scheduler", "COMBO", {}),
            ("positive", "CONDITIONING", {}),
            ("negative", "CONDITIONING", {}),
            ("latent_image", "LATENT", {}),
            ("denoise", "FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01}),
        ],
        "outputs": [("LATENT", "LATENT")],
    },
    "VAEDecode": {"inputs": [("samples", "LATENT", {}), ("vae", "VAE", {})], "outputs": [("IMAGE", "IMAGE")]},
    "CLIPVisionLoader": {"inputs": [("clip_name", "COMBO", {})], "outputs": [("CLIP_VISION", "CLIP_VISION")]},
}
# Frontend-only nodes: in the UI file, never in the API file.
UI_ONLY_NODES = {"Note", "MarkdownNote"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SEED_NAMES = {"seed", "noise_seed"}


def node_spec(class_type: str, node_classes: dict[str, type]) -> dict[str, Any]:
    """Inputs and outputs of a node type, from the pack's classes or the core-node table."""
    if class_type in CORE_NODES:
        return CORE_NODES[class_type]
    if class_type not in node_classes:
        raise KeyError(f"Unknown node type '{class_type}': not in this pack and not in workflow_graph.CORE_NODES.")
    cls = node_classes[class_type]
    declared = cls.INPUT_TYPES()
    inputs = []
    for section in ("required", "optional"):
        for name, spec in declared.get(section, {}).items():
            kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
            if isinstance(kind, (list, tuple)):
                inputs.append((name, "COMBO", {**options, "options": list(kind)}))
            else:
                inputs.append((name, kind, options))
    names = getattr(cls, "RETURN_NAMES", None) or cls.RETURN_TYPES
    return {"inputs": inputs, "outputs": list(zip(names, cls.RETURN_TYPES))}


@dataclass(frozen=True)
class Output:
    """One output slot of a node, used as an input value to link two nodes."""

    node: "Node"
    slot: int


@dataclass
class Node:
    """A node in a `Graph`: its type, the values and links given, and an optional title."""

    id: int
    class_type: str
    values: dict[str, Any]
    title: str | None = None

    def out(self, slot: int = 0) -> Output:
        """The output at `slot`, to pass as another node's input."""
        return Output(self, slot)


@dataclass
class Graph:
    """A workflow described once; `to_api()` and `to_ui()` write its two formats."""

    name: str
    nodes: list[Node] = field(default_factory=list)

    def node(self, class_type: str, title: str | None = None, **values: Any) -> Node:
        """Add a node; keyword values are widget values or `Output`s of earlier nodes."""
        created = Node(len(self.nodes) + 1, class_type, values, title)
        self.nodes.append(created)
        return created

    def note(self, text: str) -> Node:
        """Add a Note node (UI only) that tells the user what to change and what comes out."""
        return self.node("Note", text=text)

    # ---------------------------------------------------------------------------------------------------- API format

    def to_api(self, node_classes: dict[str, type]) -> dict[str, Any]:
        """The API format: {id: {class_type, inputs, _meta}}, widget defaults filled in from the node definitions."""
        prompt: dict[str, Any] = {}
        for node in self.nodes:
            if node.class_type in UI_ONLY_NODES:
                continue
            spec = node_spec(node.class_type, node_classes)
            self._check_values(node, spec)
            inputs: dict[str, Any] = {}
            for name, kind, options in spec["inputs"]:
                if name in node.values:
                    value = node.values[name]
                    inputs[name] = [str(value.node.id), value.slot] if isinstance(value, Output) else value
                elif kind in WIDGET_TYPES and _has_default(kind, options):
                    inputs[name] = _default(kind, options)
            prompt[str(node.id)] = {
                "class_type": node.class_type,
                "inputs": inputs,
                "_meta": {"title": node.title or node.class_type},
            }
        return prompt

    # ----------------------------------------------------------------------------------------------------- UI format

    def to_ui(self, node_classes: dict[str, type]) -> dict[str, Any]:
        """The UI (LiteGraph) format, laid out in columns by depth, Notes in the first column."""
        links: list[list[Any]] = []
        ui_nodes: list[dict[str, Any]] = []
        outgoing: dict[tuple[int, int], list[int]] = {}
        positions = self._layout()
        for order, node in enumerate(self.nodes):
            if node.class_type in UI_ONLY_NODES:
                ui_nodes.append(self._ui_node(node, order, positions[node.id], [], [], [node.values["text"]]))
                continue
            spec = node_spec(node.class_type, node_classes)
            self._check_values(node, spec)
            inputs, widgets = [], []
            for name, kind, options in spec["inputs"]:
                value = node.values.get(name)
                if isinstance(value, Output):
                    link_id = len(links) + 1
                    origin_spec = node_spec(value.node.class_type, node_classes)
                    link_type = origin_spec["outputs"][value.slot][1]
                    links.append([link_id, value.node.id, value.slot, node.id, len(inputs), link_type])
                    outgoing.setdefault((value.node.id, value.slot), []).append(link_id)
                    inputs.append({"name": name, "type": kind, "link": link_id})
                elif kind in WIDGET_TYPES:
                    widgets.append(value if name in node.values else _default(kind, options))
                    if name in SEED_NAMES or options.get("control_after_generate"):
                        widgets.append("fixed")
                    if options.get("image_upload"):
                        widgets.append("image")
                else:
                    inputs.append({"name": name, "type": kind, "link": None})
            outputs = [
                {"name": out_name, "type": out_type, "links": [], "slot_index": slot}
                for slot, (out_name, out_type) in enumerate(spec["outputs"])
            ]
            ui_nodes.append(self._ui_node(node, order, positions[node.id], inputs, outputs, widgets))
        for ui_node in ui_nodes:
            for slot, output in enumerate(ui_node["outputs"]):
                output["links"] = outgoing.get((ui_node["id"], slot), [])
        return {
            "last_node_id": len(self.nodes),
            "last_link_id": len(links),
            "nodes": ui_nodes,
            "links": links,
            "groups": [],
            "config": {},
            "extra": {"ds": {"scale": 0.8, "offset": [40, 40]}},
            "version": 0.4,
        }

    def _ui_node(self, node: Node, order: int, pos: list[int], inputs, outputs, widgets) -> dict[str, Any]:
        is_note = node.class_type in UI_ONLY_NODES
        ui_node = {
            "id": node.id,
            "type": node.class_type,
            "pos": pos,
            "size": [400, 220] if is_note else [320, 60 + 26 * (len(widgets) + max(len(inputs), len(outputs)))],
            "flags": {},
            "order": order,
            "mode": 0,
            "inputs": inputs,
            "outputs": outputs,
            "properties": {} if is_note else {"Node name for S&R": node.class_type},
            "widgets_values": widgets,
        }
        if node.title:
            ui_node["title"] = node.title
        if is_note:
            ui_node["color"], ui_node["bgcolor"] = "#432", "#653"
        return ui_node

    def _layout(self) -> dict[int, list[int]]:
        depth: dict[int, int] = {}
        for node in self.nodes:  # nodes are added after their inputs, so one pass suffices
            parents = [v.node.id for v in node.values.values() if isinstance(v, Output)]
            depth[node.id] = 0 if node.class_type in UI_ONLY_NODES else 1 + max((depth[p] for p in parents), default=0)
        rows: dict[int, int] = {}
        positions = {}
        for node in self.nodes:
            column = depth[node.id]
            positions[node.id] = [40 + 380 * column, 40 + 300 * rows.get(column, 0)]
            rows[column] = rows.get(column, 0) + 1
        return positions

    def _check_values(self, node: Node, spec: dict[str, Any]) -> None:
        known = {name for name, _, _ in spec["inputs"]}
        unknown = set(node.values) - known
        if unknown:
            raise KeyError(f"{self.name}: node {node.id} ({node.class_type}) has no inputs {sorted(unknown)}.")


def _has_default(kind: str, options: dict[str, Any]) -> bool:
    return "default" in options or kind == "COMBO"


def _default(kind: str, options: dict[str, Any]) -> Any:
    if "default" in options:
        return options["default"]
    if kind == "COMBO":
        choices = options.get("options") or []
        return choices[0] if choices else ""
    return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}[kind]
