"""Screenshots of the shipped workflows in ComfyUI's real frontend, as a person sees them on opening and after a run.

For each workflows/<name>.json: load it as a drop onto the canvas does (`app.loadGraphData`), save
`<out>/<name>.dialog.png` when the Missing Models dialog opens, close it, save `<out>/<name>.open.png` (the saved
view), then show a result in every output node the way a finished run does (the frontend's `executed` event, with
an uploaded sample picture, video and a 16-line text) and save `<out>/<name>.run.png`. Look at them: every output in
view and readable, nothing covered when the previews grow.

Needs a running ComfyUI with the pack (e.g. the host tests' server, or `main.py --cpu`), Chromium and the
`playwright` package (`pip install playwright`; its own browser download is not needed with `--chromium`):

    python scripts/workflow_screenshots.py --url http://127.0.0.1:8188 --out /tmp/shots --chromium /usr/bin/chromium
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from _pack import PACK_ROOT, load_pack
from workflow_graph import is_output_node

VIEWPORT = {"width": 1920, "height": 960}  # a maximised browser on a 1920x1080 screen
SAMPLE_TEXT = "\n".join(f"frame {i * 4}: adherence 0.{30 + i}, consistency 0.9{i % 10}" for i in range(16))


def _samples(folder: Path) -> dict[str, Path]:
    """A 512x512 picture, and the same as an 8-frame mp4 and gif."""
    from longform_pack.core import video

    frames = []
    for i in range(8):
        picture = Image.new("RGB", (512, 512), (40 + 20 * i, 110, 190))
        ImageDraw.Draw(picture).ellipse([100 + 20 * i, 150, 300 + 20 * i, 350], fill="yellow")
        frames.append(np.asarray(picture))
    Image.fromarray(frames[0]).save(folder / "longform_sample.png")
    video.write_video(frames, folder / "longform_sample.mp4", fps=8)
    video.write_video(frames, folder / "longform_sample.gif", fps=8)
    return {suffix: folder / f"longform_sample.{suffix}" for suffix in ("png", "mp4", "gif")}


def _upload(url: str, path: Path) -> dict[str, str]:
    """Put a file in the server's output folder through POST /upload/image; its reference for an `executed` event."""
    boundary = uuid.uuid4().hex
    body = b"".join([
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{path.name}"\r\n'
        f"Content-Type: application/octet-stream\r\n\r\n".encode(), path.read_bytes(),
        f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\noutput\r\n'.encode(),
        f'--{boundary}\r\nContent-Disposition: form-data; name="overwrite"\r\n\r\ntrue\r\n--{boundary}--\r\n'.encode(),
    ])
    request = urllib.request.Request(f"{url}/upload/image", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    answer = json.loads(urllib.request.urlopen(request).read())
    return {"filename": answer["name"], "subfolder": answer.get("subfolder", ""), "type": "output"}


def _result(node: dict, files: dict[str, dict[str, str]]) -> dict | None:
    """What a run would show in `node`: text, a video (with the format its widgets choose) or a picture."""
    if node["type"] == "PreviewAny":
        return {"text": [SAMPLE_TEXT]}
    formats = [value for value in node["widgets_values"] if value in ("mp4", "webm", "gif", "webp")]
    if formats:
        return {"images": [files["gif" if formats[0] == "gif" else "mp4"]], "animated": [True]}
    return {"images": [files["png"]]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://127.0.0.1:8188", help="a running ComfyUI with this pack")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG screenshots")
    parser.add_argument("--chromium", default=None, help="a Chromium executable (default: playwright's own)")
    parser.add_argument("--workflow", action="append", help="only these workflow names (default: all)")
    args = parser.parse_args(argv)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        parser.error("needs the playwright package: pip install playwright (and Chromium, given with --chromium)")
    node_classes = load_pack().NODE_CLASS_MAPPINGS
    paths = sorted((PACK_ROOT / "workflows").glob("*.json"))
    if args.workflow:
        paths = [p for p in paths if p.stem in args.workflow]
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        files = {kind: _upload(args.url, path) for kind, path in _samples(Path(scratch)).items()}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(args.url)
        page.wait_for_function("window.app && window.app.graph && window.app.canvas", timeout=120_000)
        time.sleep(2)
        for path in paths:
            workflow = json.loads(path.read_text(encoding="utf-8"))
            page.evaluate("workflow => window.app.loadGraphData(workflow)", workflow)
            time.sleep(2)
            if page.locator(".p-dialog").count():
                page.screenshot(path=str(args.out / f"{path.stem}.dialog.png"))
                page.keyboard.press("Escape")
                time.sleep(0.5)
            page.screenshot(path=str(args.out / f"{path.stem}.open.png"))
            for node in workflow["nodes"]:
                if is_output_node(node["type"], node_classes):
                    detail = {"node": str(node["id"]), "display_node": str(node["id"]),
                              "output": _result(node, files), "prompt_id": "screenshot"}
                    page.evaluate("detail => window.app.api.dispatchCustomEvent('executed', detail)", detail)
            time.sleep(2)
            page.evaluate("() => window.app.graph.setDirtyCanvas(true, true)")
            page.mouse.move(900, 700)  # the canvas redraws on input: let it draw the loaded previews
            time.sleep(1.5)
            page.screenshot(path=str(args.out / f"{path.stem}.run.png"))
            print(f"wrote {args.out / path.stem}.open.png, .run.png")
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
