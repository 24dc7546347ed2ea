"""The API client: overrides, readable errors, output records, and a half-accepted prompt against a fake server.

(The host tests drive it against a real ComfyUI.)"""

import http.server
import json
import threading

import pytest

import client
from client import apply_overrides, format_execution_error, format_prompt_error, output_files, output_texts

PROMPT = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "a.png"}, "_meta": {"title": "Sketch"}},
    "2": {"class_type": "LF_Thing", "inputs": {"seed": 0, "prompt": "x", "image": ["1", 0]}, "_meta": {"title": "Thing"}},
}


def test_overrides_by_id_and_title_parse_json_values():
    prompt = apply_overrides({k: {**v, "inputs": dict(v["inputs"])} for k, v in PROMPT.items()},
                             ["2.seed=42", "Thing.prompt=stormy night", "Sketch.image=b.png"])
    assert prompt["2"]["inputs"]["seed"] == 42
    assert prompt["2"]["inputs"]["prompt"] == "stormy night"
    assert prompt["1"]["inputs"]["image"] == "b.png"


@pytest.mark.parametrize(
    "assignment, message",
    [("seed=1", "NODE.INPUT=VALUE"), ("9.seed=1", "no node called '9'"), ("Thing.steps=3", "has no input 'steps'")],
)
def test_bad_overrides_say_what_exists(assignment, message):
    with pytest.raises(ValueError, match=message) as error:
        apply_overrides(PROMPT, [assignment])
    if "no node" in message:
        assert "1 (Sketch)" in str(error.value)


def test_prompt_errors_name_node_and_input():
    answer = {
        "error": {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation"},
        "node_errors": {"2": {"class_type": "LF_Thing", "errors": [
            {"type": "value_bigger_than_max", "message": "Value bigger than max",
             "details": "seed: 99 bigger than max of 10", "extra_info": {"input_name": "seed"}}]}},
    }
    text = format_prompt_error(answer, PROMPT)
    assert text.splitlines() == ["Prompt outputs failed validation", "  node 2 (Thing) input seed: seed: 99 bigger than max of 10"]


def test_execution_error_and_outputs():
    entry = {
        "status": {"status_str": "error", "messages": [
            ["execution_start", {}],
            ["execution_error", {"node_id": "2", "node_type": "LF_Thing", "exception_message": "'prompt' is empty.\n"}]]},
        "outputs": {"3": {"images": [{"filename": "a.png", "subfolder": "", "type": "output"},
                                     {"filename": "p.png", "subfolder": "", "type": "temp"}],
                          "animated": [True]}},
    }
    assert format_execution_error(entry) == "node 2 (LF_Thing) failed: 'prompt' is empty."
    assert [record["filename"] for record in output_files(entry)] == ["a.png"]
    assert output_texts({"outputs": {"4": {"text": ["0.31"]}, "3": entry["outputs"]["3"]}}) == {"4": ["0.31"]}


class FakeComfyUI(http.server.BaseHTTPRequestHandler):
    """Answers POST /prompt as ComfyUI 0.3.64 does for a LoadImage naming a missing file: 200, node_errors, run."""

    calls: list = []
    running: list = []

    def do_GET(self):
        self.calls.append(("GET", self.path, None))
        self._answer({"queue_running": [[0, prompt_id, {}, {}, []] for prompt_id in self.running], "queue_pending": []})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append(("POST", self.path, body))
        if self.path == "/prompt":
            self._answer({"prompt_id": "p1", "number": 0, "node_errors": {"1": {
                "class_type": "LoadImage", "dependent_outputs": ["3"], "errors": [{
                    "type": "custom_validation_failed", "message": "Custom validation failed for node",
                    "details": "image - Invalid image file: a.png", "extra_info": {"input_name": "image"}}]}}})
        else:
            self._answer({})

    def _answer(self, payload):
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_comfyui():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeComfyUI)
    FakeComfyUI.calls, FakeComfyUI.running = [], []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("already_running", [False, True], ids=["pending", "running"])
def test_a_half_accepted_workflow_is_cancelled_and_exits_1(fake_comfyui, tmp_path, capsys, already_running):
    FakeComfyUI.running = ["p1"] if already_running else []
    workflow = tmp_path / "workflow.json"
    workflow.write_text(json.dumps({**PROMPT, "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0]}}}))
    assert client.main([str(workflow), "--url", fake_comfyui, "--out", str(tmp_path / "out")]) == 1
    error = capsys.readouterr().err
    assert "dropped 1 node(s)" in error and "the prompt was cancelled" in error
    assert "node 1 (Sketch) input image: image - Invalid image file: a.png" in error
    assert "3 (SaveImage)" in error
    posts = [(path, body) for method, path, body in FakeComfyUI.calls if method == "POST"]
    cancels = [("/queue", {"delete": ["p1"]})] + ([("/interrupt", {"prompt_id": "p1"})] if already_running else [])
    assert posts[1:] == cancels, "the prompt must be dropped from the queue, and interrupted only when it runs"
    assert not (tmp_path / "out").exists()
