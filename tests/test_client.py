"""The API client's pure parts: overrides, readable errors, output records. (The host tests drive it for real.)"""

import pytest

from client import apply_overrides, format_execution_error, format_prompt_error, output_files

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
