"""The workflow builder writes the UI and API formats of one graph consistently."""

import pytest

from workflow_graph import Graph


class FakeSampler:
    CATEGORY = "LongForm/ddpm"
    RETURN_TYPES = ("IMAGE", "STRING")
    RETURN_NAMES = ("images", "report")

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "in"}),
                "seed": ("INT", {"default": 7, "min": 0, "tooltip": "seed"}),
                "mode": (["a", "b"], {"tooltip": "mode"}),
            },
            "optional": {"strength": ("FLOAT", {"default": 0.5, "tooltip": "s"})},
        }


def build() -> Graph:
    graph = Graph("demo")
    graph.note("Change the seed.")
    picture = graph.node("LoadImage", title="Sketch", image="sketch.png")
    sampler = graph.node("FakeSampler", image=picture.out(0), mode="b")
    graph.node("SaveImage", images=sampler.out(0), filename_prefix="out")
    return graph


def test_api_format_links_and_defaults():
    api = build().to_api({"FakeSampler": FakeSampler})
    assert set(api) == {"2", "3", "4"}  # the Note is UI-only
    assert api["3"]["inputs"] == {"image": ["2", 0], "seed": 7, "mode": "b", "strength": 0.5}
    assert api["2"]["_meta"]["title"] == "Sketch"


def test_ui_format_widgets_links_and_layout():
    ui = build().to_ui({"FakeSampler": FakeSampler})
    nodes = {node["id"]: node for node in ui["nodes"]}
    assert nodes[2]["widgets_values"] == ["sketch.png", "image"]  # LoadImage's upload widget
    assert nodes[3]["widgets_values"] == [7, "fixed", "b", 0.5]  # a seed carries its control widget
    assert ui["links"] == [[1, 2, 0, 3, 0, "IMAGE"], [2, 3, 0, 4, 0, "IMAGE"]]
    assert nodes[2]["outputs"][0]["links"] == [1] and nodes[3]["inputs"][0]["link"] == 1
    assert nodes[1]["type"] == "Note" and nodes[1]["widgets_values"] == ["Change the seed."]
    assert nodes[3]["pos"][0] > nodes[2]["pos"][0]


def test_unknown_inputs_and_types_are_refused():
    graph = Graph("bad")
    graph.node("FakeSampler", colour="red")
    with pytest.raises(KeyError, match="no inputs"):
        graph.to_api({"FakeSampler": FakeSampler})
    with pytest.raises(KeyError, match="Unknown node type"):
        build().to_api({})  # FakeSampler is not a known node type here
