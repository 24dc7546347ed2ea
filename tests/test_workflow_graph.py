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


class FakeLoader:
    CATEGORY = "LongForm/stylize"
    RETURN_TYPES = ("MODEL",)
    OUTPUT_NODE = False

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"checkpoint": (["model.safetensors", "other.safetensors"], {"tooltip": "file"}),
                             "text": ("STRING", {"multiline": True, "default": "", "tooltip": "t"})}}


def test_ui_nodes_carry_their_model_download_and_room_for_every_line():
    from workflow_graph import TEXT_LINE_HEIGHT

    sources = {"model.safetensors": {"name": "model.safetensors", "url": "https://x/model", "directory": "checkpoints"}}
    short, long = Graph("a"), Graph("b")
    short.node("FakeLoader", checkpoint="model.safetensors", text="one line")
    long.node("FakeLoader", checkpoint="other.safetensors", text="\n".join(f"{i}: a prompt" for i in range(12)))
    short_node = short.to_ui({"FakeLoader": FakeLoader}, sources)["nodes"][0]
    long_node = long.to_ui({"FakeLoader": FakeLoader}, sources)["nodes"][0]
    assert short_node["properties"]["models"] == [sources["model.safetensors"]]
    assert "models" not in long_node["properties"]  # a file the sources do not know
    assert long_node["size"][1] - short_node["size"][1] >= 11 * TEXT_LINE_HEIGHT  # eleven more lines, all shown


def test_a_long_chain_is_folded_to_stay_readable_and_in_view():
    from workflow_graph import READABLE_SCALE, VIEW_SIZE, bounds

    graph = Graph("chain")
    image = graph.node("LoadImage", image="a.png")
    for _ in range(12):
        image = graph.node("ImageBatch", image1=image.out(0), image2=image.out(0))
    for _ in range(3):
        graph.node("SaveImage", images=image.out(0))
    ui = graph.to_ui({})
    positions = {n["id"]: n["pos"] for n in ui["nodes"]}
    sizes = {n["id"]: n["size"] for n in ui["nodes"]}
    left, top, right, bottom = bounds(positions, sizes)
    ds = ui["extra"]["ds"]
    assert ds["scale"] >= READABLE_SCALE
    assert (left + ds["offset"][0]) * ds["scale"] >= 0 and (right + ds["offset"][0]) * ds["scale"] <= VIEW_SIZE[0]
    assert (top + ds["offset"][1]) * ds["scale"] >= 0 and (bottom + ds["offset"][1]) * ds["scale"] <= VIEW_SIZE[1]


def test_a_linked_widget_keeps_its_place_in_the_widget_values():
    """The frontend gives widgets_values to every widget in order, linked or not: a linked seed keeps its slot."""
    graph = Graph("linked")
    picture = graph.node("LoadImage", image="sketch.png")
    first = graph.node("FakeSampler", image=picture.out(0), mode="b")
    graph.node("FakeSampler", image=picture.out(0), seed=first.out(1), mode="a", strength=0.25)
    ui = graph.to_ui({"FakeSampler": FakeSampler})
    node = ui["nodes"][2]
    assert node["widgets_values"] == [7, "fixed", "a", 0.25]  # the seed's default stands in for the link
    assert node["inputs"][1] == {"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": 3}
