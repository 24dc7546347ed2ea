"""Unit templates and the video engines' chunk plan, without ComfyUI: a small hand-written API template (the shape of
the shipped Wan 2.2 one), its slots, its check against an /object_info, and the chunk units a storyboard becomes."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from longform_pack.core.film import plan as film_plan
from longform_pack.core.film.storyboard import MAX_CHUNKS_PER_SCENE, StoryboardError, load_storyboard, parse_storyboard
from longform_pack.core.film.templates import load_template, parse_template
from test_film import example_pictures, render_in_order
from test_film_storyboard import EXAMPLES, GOOD
from tiny_profile import film_profile

REPO_ROOT = Path(__file__).resolve().parent.parent
SD15_KEYS = REPO_ROOT / "tests" / "data" / "film_sd15_keys.json"


def video_template():
    """An image-to-video graph with every slot declared, as a user exports it (Workflow > Export (API))."""
    return {
        "1": {"class_type": "UNETLoader", "inputs": {"unet_name": "wan.safetensors", "weight_dtype": "default"},
              "_meta": {"title": "Load Diffusion Model"}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a cat", "clip": ["9", 0]},
              "_meta": {"title": "Positive [film:prompt]"}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["9", 0]},
              "_meta": {"title": "[film:negative]"}},
        "4": {"class_type": "LoadImage", "inputs": {"image": "start.png"}, "_meta": {"title": "Start [film:start_image]"}},
        "5": {"class_type": "Wan22ImageToVideoLatent",
              "inputs": {"vae": ["10", 0], "start_image": ["4", 0], "width": 1280, "height": 704, "length": 121,
                         "batch_size": 1},
              "_meta": {"title": "Latent [film:frames=length] [film:width] [film:height]"}},
        "6": {"class_type": "KSampler",
              "inputs": {"model": ["1", 0], "positive": ["11", 0], "negative": ["3", 0], "latent_image": ["5", 0],
                         "seed": 0, "steps": 20, "cfg": 5.0, "sampler_name": "uni_pc", "scheduler": "simple",
                         "denoise": 1.0},
              "_meta": {"title": "KSampler [film:seed] [film:steps]"}},
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["10", 0]}},
        "8": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "ComfyUI"},
              "_meta": {"title": "Save [film:images]"}},
        "9": {"class_type": "CLIPLoader", "inputs": {"clip_name": "umt5.safetensors", "type": "wan"}},
        "10": {"class_type": "VAELoader", "inputs": {"vae_name": "wan_vae.safetensors"}},
        "11": {"class_type": "ConditioningAverage",
               "inputs": {"conditioning_to": ["12", 0], "conditioning_from": ["2", 0],
                          "conditioning_to_strength": 1.0},
               "_meta": {"title": "Blend [film:prompt_blend]"}},
        "12": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["9", 0]},
               "_meta": {"title": "Next [film:prompt_next]"}},
    }


def object_info():
    """The /object_info entries of the template's node types, as ComfyUI 0.3.64 answers (inputs and outputs)."""
    def node(required, output):
        return {"input": {"required": required}, "output": output}

    return {
        "UNETLoader": node({"unet_name": [["wan.safetensors"], {}], "weight_dtype": [["default"], {}]}, ["MODEL"]),
        "CLIPTextEncode": node({"text": ["STRING", {"multiline": True}], "clip": ["CLIP", {}]}, ["CONDITIONING"]),
        "LoadImage": node({"image": [["start.png"], {"image_upload": True}]}, ["IMAGE", "MASK"]),
        "Wan22ImageToVideoLatent": {"input": {"required": {"vae": ["VAE", {}], "width": ["INT", {}],
                                                           "height": ["INT", {}], "length": ["INT", {"step": 4}],
                                                           "batch_size": ["INT", {}]},
                                              "optional": {"start_image": ["IMAGE", {}]}}, "output": ["LATENT"]},
        "KSampler": node({name: ["INT", {}] for name in ("seed", "steps")} | {
            "model": ["MODEL", {}], "positive": ["CONDITIONING", {}], "negative": ["CONDITIONING", {}],
            "latent_image": ["LATENT", {}], "cfg": ["FLOAT", {}], "sampler_name": [["uni_pc"], {}],
            "scheduler": [["simple"], {}], "denoise": ["FLOAT", {}]}, ["LATENT"]),
        "VAEDecode": node({"samples": ["LATENT", {}], "vae": ["VAE", {}]}, ["IMAGE"]),
        "SaveImage": node({"images": ["IMAGE", {}], "filename_prefix": ["STRING", {}]}, []),
        "CLIPLoader": node({"clip_name": [["umt5.safetensors"], {}], "type": [["wan"], {}]}, ["CLIP"]),
        "VAELoader": node({"vae_name": [["wan_vae.safetensors"], {}]}, ["VAE"]),
        "ConditioningAverage": node({"conditioning_to": ["CONDITIONING", {}],
                                     "conditioning_from": ["CONDITIONING", {}],
                                     "conditioning_to_strength": ["FLOAT", {}]}, ["CONDITIONING"]),
    }


VIDEO_BOARD = """\
title: chunks
fps: 8
width: 64
height: 64
engine: my_video.json
video: {chunk: 9, overlap: 5, steps: 3, anchor_colours: false}
scenes:
  - name: walk
    duration: 2
    keyframe: longform_character.png
    schedule: |
      0: a sunny forest
      1s: a stormy night
    transition: {crossfade: 2}
  - name: town
    duration: 1
    schedule: "0: a town"
"""


@pytest.fixture
def inputs(tmp_path):
    folder = example_pictures(tmp_path / "input")
    (folder / "my_video.json").write_text(json.dumps(video_template()), encoding="utf-8")
    return folder


def video_plan(pack, inputs, text=VIDEO_BOARD):
    return film_plan.FilmPlan(parse_storyboard(text, inputs), inputs.parent / "output", pack.NODE_CLASS_MAPPINGS)


# --------------------------------------------------------------------------------------------------------- templates


def test_slots_come_from_title_tags_with_default_or_named_inputs():
    template = parse_template(video_template(), "my_video.json")
    found = {slot: [(target.node, target.input) for target in targets] for slot, targets in template.slots.items()}
    assert found == {"prompt": [("2", "text")], "negative": [("3", "text")], "start_image": [("4", "image")],
                     "frames": [("5", "length")], "width": [("5", "width")], "height": [("5", "height")],
                     "seed": [("6", "seed")], "steps": [("6", "steps")], "images": [("8", "filename_prefix")],
                     "prompt_blend": [("11", "conditioning_to_strength")], "prompt_next": [("12", "text")]}
    template.check(object_info())


def test_fill_sets_each_slot_and_takes_the_tags_out_of_the_titles():
    template = parse_template(video_template(), "my_video.json")
    workflow = template.fill({"prompt": "a fox", "frames": 17, "width": 64, "fps": 8.0, "images": "film/x/render"})
    assert workflow["2"]["inputs"]["text"] == "a fox" and workflow["5"]["inputs"]["length"] == 17
    assert workflow["5"]["inputs"]["width"] == 64 and workflow["5"]["inputs"]["height"] == 704  # not given: kept
    assert workflow["8"]["inputs"]["filename_prefix"] == "film/x/render"
    assert [node["_meta"]["title"] for node in (workflow["2"], workflow["3"], workflow["5"])] == [
        "Positive", "CLIPTextEncode", "Latent"]
    assert template.workflow["2"]["inputs"]["text"] == "a cat"  # the template itself is unchanged
    with pytest.raises(KeyError, match="no slots"):
        template.fill({"colour": 1})


@pytest.mark.parametrize("change, fragment", [
    (lambda w: w["4"]["_meta"].update(title="Start"), "no node declares slot 'start_image', which a chunk of a video "
     "engine needs; add [film:start_image] to the title of the LoadImage that takes the first frame"),
    (lambda w: w["8"]["_meta"].update(title="Save"), "add [film:images] to the title of the SaveImage"),
    (lambda w: w["6"]["_meta"].update(title="KSampler [film:steps]"), "add [film:seed] to the title of the KSampler"),
])
def test_a_template_missing_a_slot_is_refused_with_what_to_add(pack, inputs, change, fragment):
    workflow = video_template()
    change(workflow)
    (inputs / "my_video.json").write_text(json.dumps(workflow), encoding="utf-8")
    with pytest.raises(ValueError) as caught:
        video_plan(pack, inputs)
    assert str(caught.value).startswith("template my_video.json: ") and fragment in str(caught.value)


@pytest.mark.parametrize("change, fragment", [
    (lambda w: w["7"].update(class_type="VAEDecodeFancy"), "node 7 is a VAEDecodeFancy, which this ComfyUI does not "
                                                           "have"),
    (lambda w: w["7"]["inputs"].update(samples=["99", 0]), "node 7's input 'samples' is linked to node 99"),
    (lambda w: w["7"]["inputs"].update(samples=["6", 3]), "takes output 3 of node 6, which has 1"),
    (lambda w: w["5"]["_meta"].update(title="Latent [film:frames=frame_count]"),
     "slot 'frames' names input 'frame_count' of node 5 (Latent), a Wan22ImageToVideoLatent with inputs vae"),
    (lambda w: w["6"]["_meta"].update(title="KSampler [film:seed] [film:prompt=cfg]"),
     "slot 'prompt' is input 'cfg' of node 6, of type FLOAT; it needs STRING"),
    (lambda w: w["3"]["_meta"].update(title="[film:start_image=text]"), "slot 'start_image' is on node 3, a "
                                                                       "CLIPTextEncode; put [film:start_image] on "
                                                                       "the LoadImage"),
    (lambda w: w["2"]["inputs"].update(text=["12", 0]), "slot 'prompt' is input 'text' of node 2 (Positive), which "
                                                         "is linked to another node"),
])
def test_check_against_object_info_names_the_slot_and_node(change, fragment):
    workflow = video_template()
    change(workflow)
    with pytest.raises(ValueError) as caught:
        parse_template(workflow, "my_video.json").check(object_info())
    assert str(caught.value).startswith("template my_video.json does not fit this ComfyUI:") and \
        fragment in str(caught.value)


def test_parsing_refuses_ui_exports_unknown_slots_and_tags_without_an_input(tmp_path):
    path = tmp_path / "ui.json"
    path.write_text(json.dumps({"nodes": [], "links": []}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"ui.json is a UI workflow; in ComfyUI use Workflow > Export \(API\)"):
        load_template(path)
    workflow = video_template()
    workflow["6"]["_meta"]["title"] = "[film:sampler]"
    with pytest.raises(ValueError, match=r"node 6 has \[film:sampler\], which is no slot; slots: prompt"):
        parse_template(workflow, "t.json")
    workflow = video_template()
    workflow["7"]["_meta"] = {"title": "Decode [film:seed]"}
    with pytest.raises(ValueError, match=r"node 7 \(Decode\) has \[film:seed\] but no input named seed or "
                                         r"noise_seed; write \[film:seed=<input>\]"):
        parse_template(workflow, "t.json")


# ------------------------------------------------------------------------------------------------------- sd15 units


def test_sd15_units_keep_their_workflows_and_keys(pack, tmp_path, monkeypatch):
    """The sd15 units, now templates filled through their slots, have the keys main's code gave them before the
    template mechanism (tests/data/film_sd15_keys.json, computed at 2fc24bd) once the one part added to every key
    since, the model files' digests (a model replaced under the same name renders again: test_film_model_keys.py), is
    left out: the same workflows, pictures and dependencies, so the same frames."""
    without_models = object()
    monkeypatch.setattr(film_plan, "model_digests", lambda workflow: without_models)
    fingerprint = film_plan.fingerprint
    monkeypatch.setattr(film_plan, "fingerprint",
                        lambda *parts: fingerprint(*(part for part in parts if part is not without_models)))
    expected = json.loads(SD15_KEYS.read_text(encoding="utf-8"))
    inputs = example_pictures(tmp_path / "input")
    plans = {
        "GOOD default": film_plan.FilmPlan(parse_storyboard(GOOD, inputs), tmp_path / "out", pack.NODE_CLASS_MAPPINGS),
        "GOOD tiny": film_plan.FilmPlan(parse_storyboard(GOOD, inputs), tmp_path / "out", pack.NODE_CLASS_MAPPINGS,
                                        **film_profile()),
        "example default": film_plan.FilmPlan(load_storyboard(EXAMPLES / "storyboard.yaml", EXAMPLES),
                                              tmp_path / "out", pack.NODE_CLASS_MAPPINGS),
    }
    assert {label: {unit.id: unit.key for unit in plan.units.values()} for label, plan in plans.items()} == expected
    workflow = plans["GOOD default"].units["keyframe-one"].workflow
    assert not any("[film:" in node["_meta"]["title"] for node in workflow.values())


# ------------------------------------------------------------------------------------------------------ chunk plans


def test_a_video_scene_becomes_a_chain_of_chunks_and_scenes_run_in_parallel(pack, inputs):
    plan = video_plan(pack, inputs)
    # walk: 16 frames in chunks of 9 overlapping by 5 -> starts 0, 4, 8; town: 8 frames, one chunk from an sd15 keyframe
    assert [(u.id, u.kind, u.deps, u.frames, u.chunk) for u in plan.units.values()] == [
        ("keyframe-town", "keyframe", (), 1, 0),
        ("chunk-walk-0", "chunk", (), 9, 0),
        ("chunk-walk-1", "chunk", ("chunk-walk-0",), 9, 1),
        ("chunk-walk-2", "chunk", ("chunk-walk-1",), 9, 2),
        ("chunk-town-0", "chunk", ("keyframe-town",), 9, 0),
        ("stitch", "stitch", ("chunk-walk-0", "chunk-walk-1", "chunk-walk-2", "chunk-town-0"), 0, 0),
    ]
    assert [unit.id for unit in plan.ready(set(), set())] == ["keyframe-town", "chunk-walk-0"]
    first, second = plan.units["chunk-walk-0"].workflow, plan.units["chunk-walk-1"].workflow
    assert first["4"]["inputs"]["image"] == "longform_character.png"
    assert second["4"]["inputs"]["image"] == "film/chunks/chunk-walk-0/tail.png [output]"
    assert plan.units["chunk-town-0"].workflow["4"]["inputs"]["image"] == "film/chunks/keyframe-town/keyframe.png [output]"
    assert [plan.units[f"chunk-walk-{k}"].workflow["6"]["inputs"]["seed"] for k in range(3)] == [0, 7919, 15838]
    assert second["8"]["inputs"]["filename_prefix"] == "film/chunks/chunk-walk-1/render"
    assert (second["5"]["inputs"]["length"], second["5"]["inputs"]["width"], second["6"]["inputs"]["steps"]) == \
        (9, 64, 3)


def test_a_prompt_change_blends_the_conditioning_across_the_chunks_it_falls_in(pack, inputs):
    plan = video_plan(pack, inputs)
    # the change is at frame 8 (1 s at 8 fps): chunk 0 (frames 0-8) has 1 of 9 frames from it on, chunk 1 (4-12) 5;
    # chunk 2 starts on it: the new prompt alone
    blends = [(w["2"]["inputs"]["text"], w["12"]["inputs"]["text"], w["11"]["inputs"]["conditioning_to_strength"])
              for w in (plan.units[f"chunk-walk-{k}"].workflow for k in range(3))]
    assert blends == [("a sunny forest", "a stormy night", pytest.approx(1 / 9)),
                      ("a sunny forest", "a stormy night", pytest.approx(5 / 9)),
                      ("a stormy night", "a stormy night", 0.0)]


def test_a_change_inside_a_chunk_needs_the_blend_slots(pack, inputs):
    workflow = video_template()
    del workflow["11"], workflow["12"]
    workflow["6"]["inputs"]["positive"] = ["2", 0]
    (inputs / "my_video.json").write_text(json.dumps(workflow), encoding="utf-8")
    with pytest.raises(ValueError, match=r"template my_video.json: no node declares slot 'prompt_next', which scene "
                                         r"'walk', whose prompt changes at frame 8 inside chunk 0, needs; add "
                                         r"\[film:prompt_next\]"):
        video_plan(pack, inputs)
    assert len(video_plan(pack, inputs, VIDEO_BOARD.replace("      1s: a stormy night\n", "")).units) == 6


def test_the_baseline_turns_colour_anchoring_off(pack, inputs):
    from longform_pack.core.film.storyboard import baseline_of

    board = parse_storyboard(VIDEO_BOARD.replace("anchor_colours: false", "anchor_colours: true"), inputs)
    assert board.video["anchor_colours"] and not baseline_of(board).video["anchor_colours"]


def test_chunk_keys_follow_the_template_and_the_chain(pack, inputs):
    before = {unit.id: unit.key for unit in video_plan(pack, inputs).units.values()}
    longer = {unit.id: unit.key for unit in video_plan(pack, inputs, VIDEO_BOARD.replace("duration: 2", "duration: 2.5"))
              .units.values()}
    assert longer["chunk-walk-0"] == before["chunk-walk-0"] and "chunk-walk-3" in longer
    workflow = video_template()
    workflow["6"]["inputs"]["cfg"] = 6.0
    (inputs / "my_video.json").write_text(json.dumps(workflow), encoding="utf-8")
    after = {unit.id: unit.key for unit in video_plan(pack, inputs).units.values()}
    assert all(before[unit_id] != after[unit_id] for unit_id in before if unit_id != "keyframe-town")
    assert before["keyframe-town"] == after["keyframe-town"]


def test_a_chunk_is_collected_from_disk_and_leaves_its_tail_for_the_next(pack, inputs):
    plan = video_plan(pack, inputs)
    folder = plan.unit_dir("chunk-walk-0")
    folder.mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(folder / "render_00099_.png")  # a stopped run's picture: begin() clears it
    plan.begin("chunk-walk-0")
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(9)]
    frames[6] = frames[5]  # a still stretch: the tail keeps both frames
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"render_{index + 1:05}_.png")
    plan.finish("chunk-walk-0", {})
    assert plan.is_done("chunk-walk-0") and plan.frames_on_disk("chunk-walk-0") == 9
    assert not plan.saved_images("chunk-walk-0")
    with Image.open(plan.tail_path("chunk-walk-0")) as tail:
        assert tail.n_frames == 5
        kept = []
        for index in range(tail.n_frames):
            tail.seek(index)
            kept.append(np.asarray(tail.convert("RGB")))
    assert all(np.array_equal(a, b) for a, b in zip(kept, frames[4:]))  # lossless, anchoring off


def test_a_chunk_that_saved_nothing_where_the_plan_looks_says_so(pack, inputs):
    plan = video_plan(pack, inputs)
    plan.begin("chunk-walk-0")
    with pytest.raises(RuntimeError, match=r"saved 0 of its 9 pictures .* \(ComfyUI reports elsewhere_00001_.png: "
                                           r"is the server's output folder"):
        plan.finish("chunk-walk-0", {"8": {"images": [{"filename": "elsewhere_00001_.png"}]}})


@pytest.mark.parametrize("change, where, fragment", [
    (("engine: my_video.json", "engine: wan23"), "storyboard.engine", "'wan23' is no engine: write sd15, wan22-ti2v"),
    (("engine: my_video.json", "engine: missing.json"), "storyboard.engine", "'missing.json' is not in the input "
                                                                            "folder"),
    (("engine: my_video.json", "engine: ../my_video.json"), "storyboard.engine", "'..' parts are refused"),
    (("overlap: 5", "overlap: 9"), "video.overlap", "make it smaller than chunk"),
    (("duration: 2\n", "duration: 600\n"), "scenes[0].duration",
     f"more than MAX_CHUNKS_PER_SCENE ({MAX_CHUNKS_PER_SCENE})"),
    (("{crossfade: 2}", "{morph: 2}"), "scenes[0].transition", "a morph is rendered by sd15"),
    (("    duration: 1\n", "    duration: 1\n    engine: sd15\n    keyframe: longform_sketch.png\n"),
     "scenes[1].keyframe", "a keyframe picture is for the video engines"),
])
def test_engine_and_video_errors_name_their_field(inputs, change, where, fragment):
    old, new = change
    assert old in VIDEO_BOARD
    with pytest.raises(StoryboardError) as caught:
        parse_storyboard(VIDEO_BOARD.replace(old, new, 1), inputs, "board.yaml")
    assert any(issue.where == where and fragment in issue.message for issue in caught.value.issues), \
        caught.value.issues


def test_numbers_the_template_cannot_take_are_refused_before_rendering(pack, inputs):
    info = object_info()
    info["Wan22ImageToVideoLatent"]["input"]["required"]["length"] = ["INT", {"min": 1, "max": 16384, "step": 4}]
    pictures_only = VIDEO_BOARD.replace('    schedule: "0: a town"', '    keyframe: longform_sketch.png\n    schedule: "0: a town"')
    video_plan(pack, inputs, pictures_only).check(info)
    with pytest.raises(ValueError, match=r"video.chunk is 10, but template my_video.json puts it in input 'length' "
                                         r"of node 5 \(Latent\), a Wan22ImageToVideoLatent that takes 1 to 16384 in "
                                         r"steps of 4; use 9 or 13 \(slot 'frames'\)"):
        video_plan(pack, inputs, pictures_only.replace("chunk: 9", "chunk: 10")).check(info)


def test_a_chunked_scene_is_assembled_with_its_overlaps_blended_and_reported(pack, inputs, monkeypatch, no_vbench_models):
    import torch

    from longform_pack.core.film import report as film_report
    from longform_pack.core.film.continuity import blend_overlap
    from longform_pack.core.film.stitch import chunk_boundaries, film_frames
    from test_film import FakeEncoder

    board = VIDEO_BOARD.replace('    schedule: "0: a town"', '    keyframe: longform_sketch.png\n    schedule: "0: a town"')
    plan = video_plan(pack, inputs, board)
    rendered = {}

    def stand_in(workflow):  # as SaveImage leaves a chunk: its prefix's numbered PNGs, a grey level per frame
        unit = next(u for u in plan.units.values() if u.workflow is workflow)
        prefix = workflow["8"]["inputs"]["filename_prefix"]
        rendered[unit.id] = [np.full((64, 64, 3), 20 * unit.scene + 3 * unit.chunk + i, np.uint8) for i in range(9)]
        for index, frame in enumerate(rendered[unit.id]):
            Image.fromarray(frame).save(plan.output_root / f"{prefix}_{index + 1:05}_.png")
        return {}

    render_in_order(plan, stand_in)
    frames = [np.asarray(Image.open(path).convert("RGB")) for path in film_frames(plan)]
    assert len(frames) == plan.board.frame_count == 16 + 2 + 8
    walk = [rendered[f"chunk-walk-{k}"] for k in range(3)]
    assert all(np.array_equal(frames[i], walk[0][i]) for i in range(4))  # before the first overlap: chunk 0 as is

    def tensor(pictures):
        return torch.from_numpy(np.stack(pictures)).float() / 255

    # frames 4-8 blend chunk 0's last five into chunk 1's first five; frame 8 is then blended into chunk 2's first
    first_overlap = (blend_overlap(tensor(walk[0][4:]), tensor(walk[1][:5])) * 255).round().byte().numpy()
    assert all(np.array_equal(frames[4 + i], first_overlap[i]) for i in range(4))
    assert all(np.array_equal(frames[13 + i], walk[2][5 + i]) for i in range(3))  # after the last: chunk 2, cut at 16
    assert all(np.array_equal(frames[18 + i], rendered["chunk-town-0"][i]) for i in range(8))
    assert [(b["frame"], b["scene"], b["chunk"]) for b in chunk_boundaries(plan)] == [(4, "walk", 1), (8, "walk", 2)]
    monkeypatch.setattr("longform_pack.core.encoders.load_encoder",
                        lambda kind, name: FakeEncoder(["a sunny forest", "a stormy night", "a town"]))
    report = film_report.FilmReport(film_report.measure(plan, "fake"))
    assert [b["frame"] for b in report.summary()["chunk_boundaries"]] == [4, 8]
    assert [seam["frame"] for seam in report.summary()["seams"]] == [16, 18]
    meter_seams = report.summary()["meter"]["seams"]["value"]  # the meter marks the chunk boundaries as seams too
    assert [(seam["frame"], seam["kind"]) for seam in meter_seams] == [(4, "chunk boundary"), (8, "chunk boundary"),
                                                                       (16, "crossfade"), (18, "end of crossfade")]
    assert report.plot().size[0] > 500


def test_the_schema_knows_engines_and_video_fields():
    import jsonschema
    import yaml

    from longform_pack.core.film.storyboard import storyboard_schema

    schema, board = storyboard_schema(), yaml.safe_load(VIDEO_BOARD)
    jsonschema.validate(board, schema)
    jsonschema.validate({**board, "engine": "wan22-ti2v"}, schema)
    for bad in ({**board, "engine": "wan23"}, {**board, "video": {"chunk": 9, "tail": 2}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, schema)
