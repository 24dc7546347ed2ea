"""Queue a LongForm workflow on a running ComfyUI and download what it makes.

    python scripts/client.py workflows/api/sketch_to_video.json --url http://127.0.0.1:8188 \\
        --set "Animate.seconds=4" --set 7.seed=42 --out outputs/

`--set NODE.INPUT=VALUE` overrides an input; NODE is a node id or its title; VALUE is parsed as JSON when it can be
(numbers, true/false), else taken as a string. Progress comes from ComfyUI's websocket. Exit codes: 0 done, 1 the
workflow failed in ComfyUI (its node errors are printed), 2 bad arguments or an unreachable server.

ComfyUI accepts a workflow of which only some outputs are valid (e.g. a LoadImage naming a file missing from its input
folder): it answers 200, lists the rest in `node_errors`, and runs the valid part. The client counts that as a failure:
it cancels the prompt and exits 1, listing every node ComfyUI dropped.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

logger = logging.getLogger("LongForm.client")


class WorkflowError(RuntimeError):
    """ComfyUI refused or failed the workflow; the message is readable as it is."""


class ComfyClient:
    """A minimal client for ComfyUI's HTTP + websocket API."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.client_id = uuid.uuid4().hex

    def _request(self, path: str, payload: dict | None = None) -> Any:
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def object_info(self) -> dict[str, Any]:
        """Every node definition the server knows (GET /object_info)."""
        return self._request("/object_info")

    def queue(self, prompt: dict[str, Any]) -> str:
        """Queue an API-format prompt; raise WorkflowError with ComfyUI's node errors made readable.

        A prompt that ComfyUI accepted only in part (200 with `node_errors`) is cancelled, and that is an error too.
        """
        try:
            answer = self._request("/prompt", {"prompt": prompt, "client_id": self.client_id})
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            try:
                raise WorkflowError(format_prompt_error(json.loads(detail), prompt)) from None
            except json.JSONDecodeError:
                raise WorkflowError(f"ComfyUI answered {error.code}: {detail}") from None
        if answer.get("node_errors"):
            self.cancel(answer["prompt_id"])
            raise WorkflowError(format_prompt_error(answer, prompt))
        return answer["prompt_id"]

    def cancel(self, prompt_id: str) -> None:
        """Drop a prompt from the queue, or interrupt it if it is already running."""
        self._request("/queue", {"delete": [prompt_id]})
        running = self._request("/queue").get("queue_running", [])
        if any(item[1] == prompt_id for item in running):
            self._request("/interrupt", {"prompt_id": prompt_id})

    def free(self) -> None:
        """Unload models and drop ComfyUI's output cache, so an identical prompt runs again."""
        self._request("/free", {"unload_models": True, "free_memory": True})

    def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry of a prompt, or None while it has not finished."""
        return self._request(f"/history/{prompt_id}").get(prompt_id)

    def wait(self, prompt_id: str, timeout: float = 1800.0, show_progress: bool = True) -> dict[str, Any]:
        """Wait for a prompt to finish and return its history entry; raise WorkflowError if it failed."""
        deadline = time.monotonic() + timeout
        self._follow_websocket(prompt_id, deadline, show_progress)
        while time.monotonic() < deadline:
            entry = self.history(prompt_id)
            if entry and entry.get("status", {}).get("completed") is not None:
                if entry["status"].get("status_str") == "error":
                    raise WorkflowError(format_execution_error(entry))
                return entry
            time.sleep(0.5)
        raise WorkflowError(f"Prompt {prompt_id} did not finish within {timeout:.0f} s.")

    def _follow_websocket(self, prompt_id: str, deadline: float, show_progress: bool) -> None:
        try:
            import websocket
        except ImportError:
            logger.info("websocket-client is not installed: waiting by polling /history, without step progress.")
            return
        ws_url = self.url.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        try:
            connection = websocket.create_connection(ws_url, timeout=10)
        except (OSError, websocket.WebSocketException) as error:
            logger.info("No websocket (%s): waiting by polling /history.", error)
            return
        try:
            while time.monotonic() < deadline:
                try:
                    message = connection.recv()
                except websocket.WebSocketTimeoutException:
                    if self.history(prompt_id):
                        return
                    continue
                if not isinstance(message, str):
                    continue  # binary messages are preview images
                event = json.loads(message)
                data = event.get("data", {})
                if data.get("prompt_id") not in (None, prompt_id):
                    continue
                if event["type"] == "progress" and show_progress:
                    print(f"\r  node {data.get('node')}: {data['value']}/{data['max']}", end="", file=sys.stderr)
                elif event["type"] == "executing" and data.get("node") is None and data.get("prompt_id") == prompt_id:
                    break
                elif event["type"] in ("execution_error", "execution_success", "execution_interrupted"):
                    break
        finally:
            if show_progress:
                print(file=sys.stderr)
            connection.close()

    def save_outputs(self, entry: dict[str, Any], prompt: dict[str, Any], out_dir: Path) -> list[Path]:
        """Download every file a finished prompt lists in its outputs into `out_dir`, and write its text outputs
        (PreviewAny and the like) there as `<node id>_<title>.txt`."""
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for node_id, texts in output_texts(entry).items():
            title = prompt.get(node_id, {}).get("_meta", {}).get("title", "text")
            target = out_dir / f"{node_id}_{re.sub(r'[^A-Za-z0-9]+', '_', title).strip('_')}.txt"
            target.write_text("\n".join(texts) + "\n", encoding="utf-8")
            written.append(target)
        for files in output_files(entry):
            query = urllib.parse.urlencode(
                {"filename": files["filename"], "subfolder": files.get("subfolder", ""), "type": files.get("type", "output")}
            )
            target = out_dir / Path(files["filename"]).name
            with urllib.request.urlopen(f"{self.url}/view?{query}", timeout=self.timeout) as response:
                target.write_bytes(response.read())
            written.append(target)
        return written


def output_files(entry: dict[str, Any]) -> list[dict[str, str]]:
    """The file records ({filename, subfolder, type}) in a history entry's outputs, temp previews left out."""
    found = []
    for node_output in entry.get("outputs", {}).values():
        for records in node_output.values():
            if not isinstance(records, list):
                continue
            for record in records:
                if isinstance(record, dict) and "filename" in record and record.get("type") != "temp":
                    found.append(record)
    return found


def output_texts(entry: dict[str, Any]) -> dict[str, list[str]]:
    """The text outputs in a history entry's outputs (PreviewAny's `text`), by node id."""
    return {
        node_id: [str(text) for text in node_output["text"]]
        for node_id, node_output in entry.get("outputs", {}).items()
        if isinstance(node_output.get("text"), list)
    }


def format_prompt_error(answer: dict[str, Any], prompt: dict[str, Any]) -> str:
    """An answer from POST /prompt with node errors (400: refused; 200: accepted in part) as lines to act on."""
    if "error" in answer:
        lines = [answer["error"].get("message", "ComfyUI refused the workflow.")]
    else:
        lines = [f"ComfyUI dropped {len(answer['node_errors'])} node(s) of the workflow and would have run only the "
                 "rest; the prompt was cancelled."]
    for node_id, node_error in answer.get("node_errors", {}).items():
        title = prompt.get(node_id, {}).get("_meta", {}).get("title", node_error.get("class_type", ""))
        dropped = ", ".join(_node_name(output, prompt) for output in node_error.get("dependent_outputs", []))
        for error in node_error.get("errors", []):
            field = error.get("extra_info", {}).get("input_name", "")
            lines.append(f"  node {node_id} ({title}){' input ' + field if field else ''}: "
                         f"{error.get('details') or error.get('message')}"
                         f"{f' (so these outputs do not run: {dropped})' if dropped else ''}")
    return "\n".join(lines)


def _node_name(node_id: str, prompt: dict[str, Any]) -> str:
    node = prompt.get(node_id, {})
    return f"{node_id} ({node.get('_meta', {}).get('title', node.get('class_type', '?'))})"


def format_execution_error(entry: dict[str, Any]) -> str:
    """The execution error of a failed history entry as one readable line."""
    for kind, data in entry.get("status", {}).get("messages", []):
        if kind == "execution_error":
            return f"node {data.get('node_id')} ({data.get('node_type')}) failed: {data.get('exception_message', '').strip()}"
        if kind == "execution_interrupted":
            return "the workflow was interrupted."
    return "the workflow failed (no error message in its history)."


def apply_overrides(prompt: dict[str, Any], assignments: list[str]) -> dict[str, Any]:
    """Apply `NODE.INPUT=VALUE` overrides; NODE is a node id or title. Errors say what is available."""
    for assignment in assignments:
        target, separator, raw = assignment.partition("=")
        node_ref, dot, input_name = target.rpartition(".")
        if not separator or not dot:
            raise ValueError(f"--set '{assignment}': write it as NODE.INPUT=VALUE, e.g. --set 3.seed=42.")
        matches = [nid for nid, node in prompt.items() if nid == node_ref or node.get("_meta", {}).get("title") == node_ref]
        if len(matches) != 1:
            titles = ", ".join(f"{nid} ({n.get('_meta', {}).get('title', n['class_type'])})" for nid, n in prompt.items())
            problem = "no node" if not matches else "several nodes"
            raise ValueError(f"--set '{assignment}': {problem} called '{node_ref}'. Nodes: {titles}.")
        inputs = prompt[matches[0]]["inputs"]
        if input_name not in inputs:
            raise ValueError(f"--set '{assignment}': node '{node_ref}' has no input '{input_name}'. Inputs: {', '.join(inputs)}.")
        try:
            inputs[input_name] = json.loads(raw)
        except json.JSONDecodeError:
            inputs[input_name] = raw
    return prompt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("workflow", type=Path, help="an API-format workflow (workflows/api/*.json)")
    parser.add_argument("--url", default="http://127.0.0.1:8188", help="ComfyUI's address (default %(default)s)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NODE.INPUT=VALUE")
    parser.add_argument("--out", type=Path, default=Path("outputs"), help="folder for the outputs (default %(default)s)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the result")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        prompt = apply_overrides(json.loads(args.workflow.read_text(encoding="utf-8")), args.overrides)
    except (OSError, json.JSONDecodeError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    client = ComfyClient(args.url)
    try:
        prompt_id = client.queue(prompt)
        print(f"queued {args.workflow.name} as {prompt_id}", file=sys.stderr)
        entry = client.wait(prompt_id, timeout=args.timeout)
        for path in client.save_outputs(entry, prompt, args.out):
            print(path)
    except WorkflowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except urllib.error.URLError as error:
        print(f"error: cannot reach ComfyUI at {args.url} ({error.reason}). Is it running?", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
