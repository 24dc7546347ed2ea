"""A small graph builder that writes one workflow in both of ComfyUI's formats, so the two can't drift.

`workflows/source.py` describes each workflow once with `Graph`; `build_workflows.py` writes the UI format (LiteGraph
JSON that loads by dragging onto the canvas) to `workflows/<name>.json` and the API format (what POST /prompt takes)
to `workflows/api/<name>.json`. Widget values come from the node definitions: the pack's own `INPUT_TYPES()` and, for
the few ComfyUI core nodes used, the table `CORE_NODES` below (the host tests check both against a live /object_info).

The UI file is laid out for a person: each node is sized for what it shows after a run (an image, a video player, every
line of a text), nodes never overlap, and the saved view (`extra.ds`) shows the whole graph at a zoom where the
frontend still draws text. Model-loading nodes carry `properties.models` (name, url, directory), which the frontend's
Missing Models dialog reads to offer the download.
"""

from __future__ import annotations

import itertools
import math
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
    "EmptyImage": {
        "inputs": [("width", "INT", {"default": 512}), ("height", "INT", {"default": 512}),
                   ("batch_size", "INT", {"default": 1}), ("color", "INT", {"default": 0})],
        "outputs": [("IMAGE", "IMAGE")],
    },
    "ImageBatch": {"inputs": [("image1", "IMAGE", {}), ("image2", "IMAGE", {})], "outputs": [("IMAGE", "IMAGE")]},
    "ImageStitch": {
        "inputs": [("image1", "IMAGE", {}), ("direction", "COMBO", {"default": "right"}),
                   ("match_image_size", "BOOLEAN", {"default": True}), ("spacing_width", "INT", {"default": 0}),
                   ("spacing_color", "COMBO", {"default": "white"}), ("image2", "IMAGE", {})],
        "outputs": [("IMAGE", "IMAGE")],
    },
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
# Core nodes that produce a result on the canvas (ComfyUI's OUTPUT_NODE); the pack's say so with OUTPUT_NODE.
CORE_OUTPUT_NODES = {"SaveImage", "PreviewImage", "PreviewAny", "SaveAnimatedWEBP"}
# What a node shows inside itself once the graph has run (or, for Load Image, once it loads): the room to leave.
# Output nodes not named here show an image.
SHOWS = {
    "LoadImage": "image", "PreviewImage": "image", "SaveImage": "image", "SaveAnimatedWEBP": "image",
    "PreviewAny": "text", "LF_SaveVideo": "video", "LF_Animate": "video",
}
# Frontend-only nodes: in the UI file, never in the API file.
UI_ONLY_NODES = {"Note", "MarkdownNote"}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
SEED_NAMES = {"seed", "noise_seed"}

# How ComfyUI's frontend (LiteGraph, frontend 1.27) draws a node, in canvas units at zoom 1.
TITLE_HEIGHT = 30  # LiteGraph.NODE_TITLE_HEIGHT: drawn above `pos`, not counted in `size`
SLOT_HEIGHT = 20  # one row of input/output slots
WIDGET_HEIGHT = 24  # one widget row, spacing included
TEXT_LINE_HEIGHT = 13  # a line in a multi-line text box (10 px monospace font, 1.2 line height, and some air)
TEXT_CHAR_WIDTH = 6.3  # one character of that font
TEXT_PADDING = 28  # a text box's inner padding and margin
TEXT_PREVIEW_LINES = 14  # room left for a text result whose length is known only after a run
NODE_WIDTH, WIDE_NODE_WIDTH = 300, 320  # plain nodes; nodes that show text, images or video
COLUMN_GAP, ROW_GAP = 40, 26
# The saved view is planned for the canvas of a maximised browser on a 1920x1080 screen (1856x882 CSS pixels at a
# 1920x960 page, measured in frontend 1.27), less a margin for the zoom controls: VIEW_SIZE at its top left.
VIEW_SIZE = (1800, 820)
VIEW_MARGIN = 20
# The minimap the frontend shows by default covers the canvas's bottom-right corner: (left, top, right, bottom) in
# the same screen coordinates. The layout keeps nodes out of it where any fold or wrap allows.
MINIMAP_BOX = (1560, 610, VIEW_SIZE[0], VIEW_SIZE[1])
# The frontend stops drawing text (low-quality mode) below zoom MinFontSizeForLOD / NODE_TEXT_SIZE = 8 / 14 = 0.571
# on a 1x display (lower on HiDPI); the saved view keeps above it with a margin.
READABLE_SCALE = 0.6


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

    def to_ui(self, node_classes: dict[str, type], model_sources: dict[str, dict[str, str]] | None = None
              ) -> dict[str, Any]:
        """The UI (LiteGraph) format: laid out in columns by depth, each node sized for what it shows after a run,
        and a saved view that shows every node at a readable zoom.

        `model_sources` maps a model file name to its {"name", "url", "directory"}: a node whose widgets name such a
        file carries it in `properties.models`, for the frontend's Missing Models dialog.
        """
        links: list[list[Any]] = []
        ui_nodes: list[dict[str, Any]] = []
        outgoing: dict[tuple[int, int], list[int]] = {}
        sizes = {node.id: self._size(node, node_classes) for node in self.nodes}
        positions = self._layout(sizes)
        for order, node in enumerate(self.nodes):
            place = positions[node.id], sizes[node.id]
            if node.class_type in UI_ONLY_NODES:
                ui_nodes.append(self._ui_node(node, order, place, [], [], [node.values["text"]], []))
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
                    if kind not in WIDGET_TYPES:
                        inputs.append({"name": name, "type": kind, "link": link_id})
                        continue
                    # A linked widget keeps its widget (greyed out) and its place in widgets_values, as the
                    # frontend saves it: without the value every later widget would take its neighbour's.
                    inputs.append({"name": name, "type": kind, "widget": {"name": name}, "link": link_id})
                if kind in WIDGET_TYPES:
                    widgets.append(_default(kind, options) if isinstance(value, Output) or name not in node.values
                                   else value)
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
            models = [model_sources[v] for v in widgets if isinstance(v, str) and v in (model_sources or {})]
            ui_nodes.append(self._ui_node(node, order, place, inputs, outputs, widgets, models))
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
            "extra": {"ds": saved_view(positions, sizes)},
            "version": 0.4,
        }

    def _ui_node(self, node: Node, order: int, place, inputs, outputs, widgets, models) -> dict[str, Any]:
        is_note = node.class_type in UI_ONLY_NODES
        properties: dict[str, Any] = {} if is_note else {"Node name for S&R": node.class_type}
        if models:
            properties["models"] = models
        ui_node = {
            "id": node.id,
            "type": node.class_type,
            "pos": place[0],
            "size": place[1],
            "flags": {},
            "order": order,
            "mode": 0,
            "inputs": inputs,
            "outputs": outputs,
            "properties": properties,
            "widgets_values": widgets,
        }
        if node.title:
            ui_node["title"] = node.title
        if is_note:
            ui_node["color"], ui_node["bgcolor"] = "#432", "#653"
        return ui_node

    def _size(self, node: Node, node_classes: dict[str, type]) -> list[int]:
        """[width, height] of a node (title excluded, as LiteGraph counts it), with room for every line of its
        multi-line texts and for the image, video or text it shows after a run."""
        if node.class_type in UI_ONLY_NODES:
            return [WIDE_NODE_WIDTH, _text_height(node.values["text"], WIDE_NODE_WIDTH)]
        spec = node_spec(node.class_type, node_classes)
        shows = SHOWS.get(node.class_type) or ("image" if is_output_node(node.class_type, node_classes) else None)
        texts = [str(node.values.get(name, _default(kind, options))) for name, kind, options in spec["inputs"]
                 if kind == "STRING" and options.get("multiline") and not isinstance(node.values.get(name), Output)]
        width = WIDE_NODE_WIDTH if shows or texts else NODE_WIDTH
        rows = 0
        slots = 0
        for name, kind, options in spec["inputs"]:
            if kind not in WIDGET_TYPES:
                slots += 1
            elif not (kind == "STRING" and options.get("multiline")):
                rows += 1 + (name in SEED_NAMES or bool(options.get("control_after_generate")))
                rows += bool(options.get("image_upload"))
        height = SLOT_HEIGHT * max(slots, len(spec["outputs"]), 1) + WIDGET_HEIGHT * rows + 14
        # The frontend shares the free height evenly between text boxes: each gets room for the longest.
        height += len(texts) * max((_text_height(text, width) for text in texts), default=0)
        if shows in ("image", "video"):
            height += width - 20  # a square picture the node's width (the pack's results are square)
        elif shows == "text":
            height += TEXT_PADDING + TEXT_LINE_HEIGHT * TEXT_PREVIEW_LINES
        return [width, height]

    def _layout(self, sizes: dict[int, list[int]]) -> dict[int, list[int]]:
        """Positions in columns by depth (Notes open the first column), each column ordered by where its inputs
        sit (or, for long chains, depths running on from column to column). A column too tall for the view is folded
        into several, and a row of columns too wide for it wraps into a band below. Of all the folds and wraps, the
        winner opens at a readable zoom, then keeps clear of the minimap, then has the highest zoom."""
        depth: dict[int, int] = {}
        for node in self.nodes:  # nodes are added after their inputs, so one pass suffices
            parents = [v.node.id for v in node.values.values() if isinstance(v, Output)]
            depth[node.id] = 1 + max((depth[p] for p in parents), default=0)
        by_depth: dict[int, list[Node]] = {}
        for node in self.nodes:
            by_depth.setdefault(depth[node.id], []).append(node)
        heights = [TITLE_HEIGHT + size[1] + ROW_GAP for size in sizes.values()]
        best_score, best = (False, False, 0.0), {}
        for height_limit, mixed in itertools.product(range(max(heights), sum(heights) + 40, 40), (False, True)):
            columns = self._columns(by_depth, sizes, height_limit, mixed)
            total_width = sum(width + COLUMN_GAP for width, _, _ in columns)
            widest = max(width for width, _, _ in columns)
            for width_limit in range(widest, total_width + 40, 40):
                positions = _wrap(columns, width_limit)
                view = saved_view(positions, sizes)
                clear = not any(_overlap(screen_box(positions[i], sizes[i], view), MINIMAP_BOX) for i in positions)
                readable = view["scale"] >= READABLE_SCALE
                score = (readable, clear and readable, view["scale"])  # unreadable anyway: the largest zoom wins
                if score > best_score or not best:
                    best_score, best = score, positions
        return best

    def _columns(self, by_depth: dict[int, list[Node]], sizes: dict[int, list[int]], height_limit: int,
                 mixed: bool) -> list[tuple[int, int, list[tuple[int, int]]]]:
        """Columns left to right as (width, height, [(node id, y)]), folded at `height_limit`. Each depth starts a
        column of its own, or, `mixed`, the nodes run on in depth order like text in newspaper columns (a long chain
        of small nodes then fills the view instead of stretching across it)."""
        columns: list[tuple[int, int, list[tuple[int, int]]]] = []
        rank: dict[int, float] = {}  # a placed node's place in reading order, to order the next column by
        placed: list[tuple[int, int]] = []
        y, width = TITLE_HEIGHT, 0
        for column_depth in sorted(by_depth):
            def anchor(node: Node) -> float:  # mean place of the node's inputs: keeps links short and level
                parents = [rank[v.node.id] for v in node.values.values() if isinstance(v, Output)]
                if parents:
                    return sum(parents) / len(parents)
                return -1.0 if node.class_type in UI_ONLY_NODES else 0.0  # Notes first

            for node in sorted(by_depth[column_depth], key=anchor):
                node_width, node_height = sizes[node.id]
                if placed and y + node_height > height_limit:  # fold: start a new column
                    columns.append((width, y, placed))
                    placed, y, width = [], TITLE_HEIGHT, 0
                placed.append((node.id, y))
                rank[node.id] = len(columns) * 10000 + y
                y += node_height + TITLE_HEIGHT + ROW_GAP
                width = max(width, node_width)
            if not mixed:
                columns.append((width, y, placed))
                placed, y, width = [], TITLE_HEIGHT, 0
        if placed:
            columns.append((width, y, placed))
        return columns

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


def _wrap(columns: list[tuple[int, int, list[tuple[int, int]]]], width_limit: int) -> dict[int, list[int]]:
    """Columns placed left to right, wrapping into a new band below when a band would pass `width_limit`."""
    positions: dict[int, list[int]] = {}
    x, band_top, band_height = 0, 0, 0
    for width, height, placed in columns:
        if x and x + width > width_limit:
            x, band_top, band_height = 0, band_top + band_height + ROW_GAP, 0
        for node_id, y in placed:
            positions[node_id] = [x, band_top + y]
        x += width + COLUMN_GAP
        band_height = max(band_height, height)
    return positions


def is_output_node(class_type: str, node_classes: dict[str, type]) -> bool:
    """True for a node that ComfyUI runs as a result of the graph (core output nodes, the pack's OUTPUT_NODE)."""
    if class_type in CORE_NODES or class_type in UI_ONLY_NODES:
        return class_type in CORE_OUTPUT_NODES
    return bool(getattr(node_classes.get(class_type), "OUTPUT_NODE", False))


def _text_height(text: str, width: int) -> int:
    """Height of a text box `width` wide that shows every line of `text`, wrapped as the frontend wraps it."""
    per_line = max(1, int((width - TEXT_PADDING) / TEXT_CHAR_WIDTH))
    lines = sum(max(1, math.ceil(len(line) / per_line)) for line in text.split("\n"))
    return TEXT_PADDING + TEXT_LINE_HEIGHT * lines


def bounds(positions: dict[int, list[int]], sizes: dict[int, list[int]]) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of all nodes, titles included."""
    boxes = [node_box(positions[i], sizes[i]) for i in positions]
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def node_box(pos: list[float], size: list[float]) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of one node on the canvas, its title bar included."""
    return (pos[0], pos[1] - TITLE_HEIGHT, pos[0] + size[0], pos[1] + size[1])


def screen_box(pos: list[float], size: list[float], view: dict[str, Any]) -> tuple[float, float, float, float]:
    """Where the frontend draws a node (title included) at the saved view `view`: screen = (canvas + offset) * scale."""
    left, top, right, bottom = node_box(pos, size)
    (dx, dy), scale = view["offset"], view["scale"]
    return ((left + dx) * scale, (top + dy) * scale, (right + dx) * scale, (bottom + dy) * scale)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def saved_view(positions: dict[int, list[int]], sizes: dict[int, list[int]]) -> dict[str, Any]:
    """`extra.ds` that shows every node inside VIEW_SIZE, as large as fits (never above zoom 1), at its top left.

    LiteGraph draws canvas point p at screen (p + offset) * scale.
    """
    left, top, right, bottom = bounds(positions, sizes)
    room_w, room_h = VIEW_SIZE[0] - 2 * VIEW_MARGIN, VIEW_SIZE[1] - 2 * VIEW_MARGIN
    scale = min(1.0, room_w / (right - left), room_h / (bottom - top))
    scale = math.floor(scale * 1000) / 1000
    offset_x = VIEW_MARGIN / scale - left
    offset_y = VIEW_MARGIN / scale - top
    return {"scale": scale, "offset": [round(offset_x, 1), round(offset_y, 1)]}
