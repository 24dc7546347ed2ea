"""The thumbnail of a workflow template: a small diagram of its graph, drawn from the UI file it describes.

ComfyUI's frontend shows `workflows/<name>.jpg` on the template's card. The picture is the graph as it opens: every
node where the UI file puts it, titled, results in green, inputs and loaders in blue, links as lines.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from workflow_graph import TITLE_HEIGHT, UI_ONLY_NODES

SIZE = (512, 320)
MARGIN = 14
BACKGROUND = (32, 32, 36)
LINK = (140, 150, 165)
FILL = {"note": (101, 85, 51), "result": (46, 110, 70), "source": (45, 78, 120), "step": (62, 62, 70)}


def thumbnail(ui: dict[str, Any], result_ids: set[int]) -> bytes:
    """The diagram of a UI-format workflow as JPEG bytes; `result_ids` are the output nodes (drawn in green)."""
    nodes = {node["id"]: node for node in ui["nodes"]}
    boxes = {i: (n["pos"][0], n["pos"][1] - TITLE_HEIGHT, n["pos"][0] + n["size"][0], n["pos"][1] + n["size"][1])
             for i, n in nodes.items()}
    left, top = min(b[0] for b in boxes.values()), min(b[1] for b in boxes.values())
    right, bottom = max(b[2] for b in boxes.values()), max(b[3] for b in boxes.values())
    scale = min((SIZE[0] - 2 * MARGIN) / (right - left), (SIZE[1] - 2 * MARGIN) / (bottom - top))
    shift_x = (SIZE[0] - (right - left) * scale) / 2
    shift_y = (SIZE[1] - (bottom - top) * scale) / 2

    def at(x: float, y: float) -> tuple[float, float]:
        return (shift_x + (x - left) * scale, shift_y + (y - top) * scale)

    picture = Image.new("RGB", SIZE, BACKGROUND)
    draw = ImageDraw.Draw(picture)
    for _, origin, _, target, _, _ in ui["links"]:
        start = at(boxes[origin][2], (boxes[origin][1] + boxes[origin][3]) / 2)
        end = at(boxes[target][0], (boxes[target][1] + boxes[target][3]) / 2)
        draw.line([start, end], fill=LINK, width=2)
    label_font = ImageFont.load_default(max(9, int(TITLE_HEIGHT * scale * 0.55)))
    for node_id, node in nodes.items():
        x0, y0 = at(*boxes[node_id][:2])
        x1, y1 = at(*boxes[node_id][2:])
        if node["type"] in UI_ONLY_NODES:
            kind = "note"
        elif node_id in result_ids:
            kind = "result"
        elif not any(slot.get("link") for slot in node["inputs"]):
            kind = "source"
        else:
            kind = "step"
        draw.rounded_rectangle([x0, y0, x1, y1], radius=4, fill=FILL[kind], outline=(210, 210, 210))
        draw.rectangle([x0 + 1, y0 + 1, x1 - 1, y0 + TITLE_HEIGHT * scale], fill=tuple(c - 18 for c in FILL[kind]))
        title = node.get("title") or node["type"].removeprefix("LF_")
        while title and draw.textlength(title, font=label_font) > x1 - x0 - 6:
            title = title[:-1]
        draw.text((x0 + 3, y0 + 2), title, fill=(240, 240, 240), font=label_font)
    out = BytesIO()
    picture.save(out, format="JPEG", quality=85, optimize=True)
    return out.getvalue()
