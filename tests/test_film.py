"""The film's plan, unit workflows, state on disk, stitch and report, without ComfyUI (stand-in renders)."""

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from longform_pack.core.film import plan as film_plan
from longform_pack.core.film import render as film_render
from longform_pack.core.film import report as film_report
from longform_pack.core.film.stitch import crossfade, film_frames
from longform_pack.core.film.storyboard import baseline_of, parse_storyboard
from longform_pack.core.manifest import load_manifest
from longform_pack.core.meter.pixels import warp_error
from longform_pack.core.video import StreamingClip
from test_film_storyboard import EXAMPLES, GOOD
from tiny_profile import TINY_SAMPLER_STEPS, film_profile
from workflow_graph import CORE_NODES

GOOD_NEGATIVE = parse_storyboard(GOOD, EXAMPLES).negative


def example_pictures(folder: Path) -> Path:
    """`folder`, made, with the example sketch and character: an input folder for the test storyboards."""
    folder.mkdir()
    for name in ("longform_sketch.png", "longform_character.png"):
        shutil.copy(EXAMPLES / name, folder / name)
    return folder


@pytest.fixture
def inputs(tmp_path):
    return example_pictures(tmp_path / "input")


def make_plan(pack, inputs, text=GOOD, tiny=False):
    board = parse_storyboard(text, inputs)
    return film_plan.FilmPlan(board, inputs.parent / "output", pack.NODE_CLASS_MAPPINGS,
                              **(film_profile() if tiny else {}))


def nodes_of(workflow, class_type):
    return [node["inputs"] for node in workflow.values() if node["class_type"] == class_type]


def test_units_and_their_dependencies(pack, inputs):
    plan = make_plan(pack, inputs)
    assert [(u.id, u.kind, u.deps, u.frames) for u in plan.units.values()] == [
        ("keyframe-one", "keyframe", (), 1),
        ("keyframe-two", "keyframe", (), 1),
        ("keyframe-three", "keyframe", (), 1),
        ("animate-one", "animate", ("keyframe-one",), 8),
        ("animate-two", "animate", ("keyframe-two",), 6),
        ("animate-three", "animate", ("keyframe-three",), 4),
        ("morph-two-three", "morph", ("animate-two",), 2),
        ("stitch", "stitch", ("animate-one", "animate-two", "animate-three", "morph-two-three"), 0),
    ]
    assert plan.units["stitch"].workflow is None
    ids = list(plan.units)
    assert all(ids.index(dep) < ids.index(unit.id) for unit in plan.units.values() for dep in unit.deps)
    assert {u.id for u in plan.ready(set(), set())} == {"keyframe-one", "keyframe-two", "keyframe-three"}
    assert {u.id for u in plan.ready({"keyframe-two"}, {"keyframe-one"})} == {"keyframe-three", "animate-two"}


def test_unit_workflows_carry_the_storyboard(pack, inputs):
    plan = make_plan(pack, inputs)
    known = set(pack.NODE_CLASS_MAPPINGS) | set(CORE_NODES)
    for unit in plan.units.values():
        if unit.workflow is not None:
            assert {node["class_type"] for node in unit.workflow.values()} <= known
    keyframe = plan.units["keyframe-one"].workflow
    (sampler,) = nodes_of(keyframe, "KSampler")
    (latent,) = nodes_of(keyframe, "EmptyLatentImage")
    (control,) = nodes_of(keyframe, "ControlNetApplyAdvanced")
    assert (sampler["seed"], sampler["steps"], latent["width"], control["strength"]) == (0, 20, 64, 1.0)
    assert {n["text"] for n in nodes_of(keyframe, "CLIPTextEncode")} == {"a forest", GOOD_NEGATIVE}
    (lock,) = nodes_of(keyframe, "LF_IdentityLock")
    assert lock["weight"] == 0.5 and lock["ipadapter"] == "ip-adapter-plus_sd15.safetensors"
    assert {n["image"] for n in nodes_of(keyframe, "LoadImage")} == {"longform_sketch.png", "longform_character.png"}
    assert nodes_of(keyframe, "SaveImage")[0]["filename_prefix"] == "film/tiny/keyframe-one/render"

    two = plan.units["keyframe-two"].workflow  # no sketch, no character
    assert nodes_of(two, "EmptyImage") and not nodes_of(two, "LF_IdentityLock") and not nodes_of(two, "LoadImage")
    assert nodes_of(two, "ControlNetApplyAdvanced")[0]["strength"] == 0.0
    assert sorted(map(int, two)) == list(range(1, len(two) + 1))

    animate = plan.units["animate-one"].workflow
    (start,) = [n["image"] for n in nodes_of(animate, "LoadImage") if n["image"].endswith("[output]")]
    assert start == "film/tiny/keyframe-one/keyframe.png [output]"
    (frames,) = nodes_of(animate, "LF_Animate")
    assert (frames["mode"], frames["run_name"], frames["resume"]) == ("stream to disk", "film/tiny/animate-one/clip", True)
    (schedule,) = nodes_of(animate, "LF_PromptSchedule")
    assert (schedule["seconds"], schedule["fps"]) == (2.0, 4.0) and "1s: a forest at dusk" in schedule["text"]

    morph = plan.units["morph-two-three"].workflow
    (start,) = [n["image"] for n in nodes_of(morph, "LoadImage") if n["image"].endswith("[output]")]
    assert start == "film/tiny/animate-two/clip/frames/frame_000005.png [output]"  # scene two's last frame
    text = nodes_of(morph, "LF_PromptSchedule")[0]["text"]
    assert text.startswith("0: a storm") and "\n1: a town" in text
    assert nodes_of(morph, "LF_Animate")[0]["strength"] == "0.6"


def test_tiny_profile_swaps_every_model_name(pack, inputs):
    real = json.dumps(make_plan(pack, inputs).units["keyframe-one"].workflow)
    tiny = json.dumps(make_plan(pack, inputs, tiny=True).units["keyframe-one"].workflow)
    assert "v1-5-pruned-emaonly.safetensors" in real and "longform-tiny-sd15.safetensors" in tiny
    values = {value for node in json.loads(tiny).values() for value in node["inputs"].values() if isinstance(value, str)}
    real_names = {entry.filename for entry in load_manifest()}
    assert not values & real_names and len(values & {entry.tiny_filename for entry in load_manifest()}) == 5


def test_keys_follow_inputs_and_dependencies(pack, inputs):
    base = {u.id: u.key for u in make_plan(pack, inputs).units.values()}
    changed = {u.id: u.key for u in make_plan(pack, inputs, GOOD.replace("0: a storm", "0: a blizzard")).units.values()}
    assert {i for i in base if base[i] != changed[i]} == {"keyframe-two", "animate-two", "morph-two-three", "stitch"}
    picture = Image.open(inputs / "longform_sketch.png").convert("RGB")
    picture.putpixel((0, 0), (1, 2, 3))
    picture.save(inputs / "longform_sketch.png")  # same name, other bytes: only scene one reads it
    redrawn = {u.id: u.key for u in make_plan(pack, inputs).units.values()}
    assert {i for i in base if base[i] != redrawn[i]} == {"keyframe-one", "animate-one", "stitch"}


# ---------------------------------------------------------------------------------------------- stand-in rendering


def frame_picture(unit_index: int, frame: int, size: int = 64) -> np.ndarray:
    """A textured frame, shifted one pixel per frame, its colour set by the unit."""
    rng = np.random.default_rng(unit_index)
    texture = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    return np.roll(texture, frame, axis=1)


class StandInServer:
    """Runs a unit's workflow as ComfyUI would leave it on disk: a keyframe PNG numbered as SaveImage numbers them, or
    the animator's streamed clip."""

    def __init__(self, plan, stop_after: dict | None = None):
        self.plan, self.ran, self.stop_after = plan, [], stop_after or {}

    def __call__(self, workflow) -> None:
        unit = next(u for u in self.plan.units.values() if u.workflow is workflow)
        self.ran.append(unit.id)
        index = list(self.plan.units).index(unit.id)
        if unit.kind == "keyframe":
            prefix = self.plan.output_root / nodes_of(workflow, "SaveImage")[0]["filename_prefix"]
            counter = len(list(prefix.parent.glob(f"{prefix.name}_*_.png"))) + 1
            Image.fromarray(frame_picture(index, counter - 1)).save(f"{prefix}_{counter:05d}_.png")
            return
        clip = StreamingClip(self.plan.clip_dir(unit.id), unit.frames, self.plan.board.fps, chunk_frames=3,
                             key=unit.key)
        start = clip.open(resume=True)
        try:
            for frame in range(start, unit.frames):
                if self.stop_after.get(unit.id) == frame:
                    raise KeyboardInterrupt(f"{unit.id} stopped at frame {frame}")
                clip.append(frame_picture(index, frame))
        finally:
            clip.close()


def render_in_order(plan, server) -> list[str]:
    """Render as LF Film's steps do, one pending unit at a time, the results read from disk; then the film's end.
    The units rendered (and "stitch" when it stitched)."""
    rendered = []
    while (unit := film_render.next_unit(plan)) is not None:
        plan.begin(unit.id)
        server(unit.workflow)
        plan.finish(unit.id)
        rendered.append(unit.id)
    *_, stitched = film_render.film_outputs(plan)
    return rendered + ["stitch"] * stitched


def test_render_resumes_a_stopped_unit_and_skips_finished_ones(pack, inputs):
    plan = make_plan(pack, inputs)
    first = StandInServer(plan, stop_after={"animate-two": 3})
    with pytest.raises(KeyboardInterrupt):
        render_in_order(plan, first)
    assert first.ran == ["keyframe-one", "keyframe-two", "keyframe-three", "animate-one", "animate-two"]
    assert plan.is_done("animate-one") and not plan.is_done("animate-two") and plan.frames_on_disk("animate-two") == 3
    assert film_render.frames_done(plan) == 3 + 8
    second = StandInServer(plan)
    assert render_in_order(plan, second) == second.ran + ["stitch"] and plan.video_path.exists()
    assert second.ran == ["animate-two", "animate-three", "morph-two-three"]
    third = StandInServer(plan)
    assert render_in_order(plan, third) == [] and third.ran == []
    assert film_render.frames_done(plan) == plan.rendered_frames
    # a changed scene re-renders that scene's units only
    changed = make_plan(pack, inputs, GOOD.replace("0: a storm", "0: a blizzard"))
    fourth = StandInServer(changed)
    render_in_order(changed, fourth)
    assert fourth.ran == ["keyframe-two", "animate-two", "morph-two-three"]


def test_a_keyframe_is_found_on_disk_by_its_prefix_and_a_stopped_runs_picture_is_cleared(pack, inputs):
    plan = make_plan(pack, inputs)
    unit = plan.units["keyframe-one"]
    plan.begin(unit.id)
    with pytest.raises(RuntimeError, match="keyframe-one saved 0 of its 1 pictures"):
        plan.finish(unit.id)
    server = StandInServer(plan)
    server(unit.workflow)  # stopped after its SaveImage, before the film recorded the unit done
    plan.begin(unit.id)  # queued again: the stopped run's picture goes, the unit saves its own anew
    assert plan.saved_images(unit.id) == []
    server(unit.workflow)
    plan.finish(unit.id)
    keyframe = np.asarray(Image.open(plan.keyframe_path(plan.board.scenes[0])).convert("RGB"))
    assert np.array_equal(keyframe, frame_picture(0, 0)) and plan.is_done(unit.id)


def test_stitch_keeps_every_frame_and_the_timing_without_re_encoding(pack, inputs):
    plan = make_plan(pack, inputs)
    render_in_order(plan, StandInServer(plan))
    board = plan.board
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(plan.video_path))
    assert frames == board.frame_count == 23 and seconds == pytest.approx(board.frame_count / board.fps, abs=1e-6)
    assert len(film_frames(plan)) == 23 and all(path.exists() for path in film_frames(plan))

    def decoded(path):
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        return [np.frombuffer(raw, np.uint8).reshape(meta["size"][1], meta["size"][0], 3) for raw in reader]

    film = decoded(plan.video_path)
    parts = [plan.clip_video("animate-one"), plan.film_dir / "crossfade-one-two" / "crossfade.mp4",
             plan.clip_video("animate-two"), plan.clip_video("morph-two-three"), plan.clip_video("animate-three")]
    joined = [frame for part in parts for frame in decoded(part)]
    assert len(film) == len(joined) == 23
    assert all(np.array_equal(a, b) for a, b in zip(film, joined))  # stream copy: the same decoded pixels


def test_crossfade_dissolves_between_its_neighbours():
    last, first = np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 200, np.uint8)
    faded = crossfade(last, first, 3)
    assert [int(frame[0, 0, 0]) for frame in faded] == [50, 100, 150]


# ------------------------------------------------------------------------------------------------------- the report


def test_warp_error_follows_motion():
    texture = frame_picture(3, 0)
    shifted = np.roll(texture, 2, axis=1)
    assert warp_error(texture, texture) == 0.0
    plain = float(np.mean(((shifted.astype(np.float32) - texture) / 255.0) ** 2))
    assert warp_error(texture, shifted) < 0.25 * plain  # the flow explains most of the motion


class FakeEncoder:
    """Texts: one axis each, by prompt. Images: the axis named by the frame's top-left red value (an index)."""

    def __init__(self, prompts):
        self.prompts = prompts

    def encode_texts(self, texts, truncate=False):
        vectors = torch.zeros(len(texts), 8)
        for row, text in enumerate(texts):
            vectors[row, self.prompts.index(text)] = 1.0
        return type("E", (), {"vectors": vectors})

    def encode_images(self, batch):
        vectors = torch.zeros(batch.shape[0], 8)
        for row, picture in enumerate(batch):
            vectors[row, int(round(float(picture[0, 0, 0]) * 255)) % 8] = 1.0
            vectors[row, 7] = 0.1 * float(picture[1, 1, 1])  # a little per-picture variation
        return type("E", (), {"vectors": vectors})


def test_film_report_measures_scenes_seams_and_accuracy(pack, inputs, monkeypatch, no_vbench_models):
    plan = make_plan(pack, inputs)
    prompts = ["a forest", "a forest at dusk", "a storm", "a town"]

    class SceneFrames(StandInServer):
        """Every frame of a scene identical and 'showing' one prompt; scene two shows the wrong one."""

        def __call__(self, workflow):
            unit = next(u for u in self.plan.units.values() if u.workflow is workflow)
            shown = {"one": 0, "two": 3, "three": 3}[self.plan.board.scenes[unit.scene].name]
            if unit.kind == "morph":
                shown = 3
            picture = np.zeros((64, 64, 3), np.uint8)
            picture[..., 0] = shown
            if unit.kind == "keyframe":
                super().__call__(workflow)
                return
            clip = StreamingClip(self.plan.clip_dir(unit.id), unit.frames, self.plan.board.fps, key=unit.key)
            clip.open(resume=False)
            for _ in range(unit.frames):
                clip.append(picture)
            clip.close()

    render_in_order(plan, SceneFrames(plan))
    monkeypatch.setattr("longform_pack.core.encoders.load_encoder", lambda kind, name: FakeEncoder(prompts))
    measures = film_report.measure(plan, "fake")
    summary = film_report.FilmReport(measures).summary()
    segments = {s["label"]: s for s in summary["segments"]}
    assert segments["one"]["consistency"] == pytest.approx(1.0) and segments["one"]["warp_error"] == 0.0
    # scene one's frames show "a forest": right for frames scheduled "a forest", wrong after the eased switch
    scheduled_forest = [k for k in range(8) if plan.board.scenes[0].schedule.weights()[k].argmax() == 0]
    assert segments["one"]["adherence"] == pytest.approx(len(scheduled_forest) / 8, abs=0.02)
    assert segments["one"]["accuracy"] == 1.0  # its best prompt is one of its own scene's
    assert segments["two"]["accuracy"] == 0.0 and segments["three"]["accuracy"] == 1.0
    assert summary["film"]["accuracy"] == pytest.approx((8 + 0 + 4) / 18)
    seams = {seam["frame"]: seam for seam in summary["seams"]}
    assert set(seams) == {8, 11, 17, 19}
    assert seams[11]["warp_error"] > 0 and seams[11]["consistency"] < 1.0  # crossfade into another picture
    assert measures.identity[:8].min() == pytest.approx(measures.identity[:8].max())
    assert np.isnan(measures.identity[8:]).all()  # only scene one has a character
    picture = film_report.FilmReport(measures, baseline=measures).plot()
    assert picture.size[0] > 500
    meter = summary["meter"]  # the consistency meter's report of the same pass
    assert [seam["frame"] for seam in meter["seams"]["value"]] == [8, 11, 17, 19]
    assert meter["seams"]["value"][1]["kind"] == "end of crossfade"
    assert meter["whole"]["motion_guard"]["value"] is True  # every scene is one still picture


def test_a_film_report_run_again_measures_only_frames_that_changed(pack, inputs, monkeypatch, no_vbench_models):
    from longform_pack.core.meter import measure as meter_measure

    plan = make_plan(pack, inputs)
    render_in_order(plan, StandInServer(plan))
    prompts = ["a forest", "a forest at dusk", "a storm", "a town"]
    monkeypatch.setattr("longform_pack.core.encoders.load_encoder", lambda kind, name: FakeEncoder(prompts))
    monkeypatch.setattr(meter_measure, "CHUNK_FRAMES", 8)  # the film's 23 frames in three chunks
    first = film_report.measure(plan, "fake")
    measured = []
    original = meter_measure._Pass.compute
    monkeypatch.setattr(meter_measure._Pass, "compute", lambda self, chunk, start: measured.append(start) or
                        original(self, chunk, start))
    again = film_report.measure(plan, "fake")
    assert measured == [] and np.array_equal(first.warp_error, again.warp_error, equal_nan=True)
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(film_frames(plan)[12])
    changed = film_report.measure(plan, "fake")
    assert measured == [8]  # only the chunk holding the re-rendered frame
    assert changed.warp_error[12] != first.warp_error[12] and changed.warp_error[20] == first.warp_error[20]


def test_the_baseline_is_the_same_film_without_the_consistency_switches(pack, inputs):
    plan = make_plan(pack, inputs)
    baseline = film_plan.FilmPlan(baseline_of(plan.board), plan.output_root, pack.NODE_CLASS_MAPPINGS)
    assert baseline.film_dir.name == "tiny-baseline" and list(baseline.units) == list(plan.units)
    for unit_id in ("animate-one", "morph-two-three"):
        ours, theirs = (nodes_of(p.units[unit_id].workflow, "LF_Animate")[0] for p in (plan, baseline))
        assert (ours["cross_frame_attention"], ours["color_match"], ours["shared_noise"]) == (True, True, 0.5)
        assert (theirs["cross_frame_attention"], theirs["color_match"], theirs["shared_noise"]) == (False, False, 0.0)
        left_out = {"cross_frame_attention", "color_match", "shared_noise", "run_name"}
        assert {k: v for k, v in ours.items() if k not in left_out and not isinstance(v, list)} == \
               {k: v for k, v in theirs.items() if k not in left_out and not isinstance(v, list)}
    assert plan.units["keyframe-one"].workflow != baseline.units["keyframe-one"].workflow  # its own folder


class StandInBuilder:
    """ComfyUI's GraphBuilder as add_unit uses it: a prefix, node(class_type, id, **inputs).out(i), finalize()."""

    def __init__(self, prefix: str):
        self.prefix, self.nodes = prefix, {}

    def node(self, class_type, id, **inputs):
        self.nodes.setdefault(self.prefix + id, {"class_type": class_type, "inputs": inputs})
        return SimpleNamespace(out=lambda index, node_id=self.prefix + id: [node_id, index])

    def finalize(self):
        return dict(self.nodes)


def test_a_unit_expands_under_the_film_node_and_reuses_the_loaders_of_earlier_units(pack, inputs):
    from longform_pack.core.film import expand

    plan = make_plan(pack, inputs)
    outputs = {"SaveImage", "PreviewImage", "PreviewAny"} | {
        name for name, cls in pack.NODE_CLASS_MAPPINGS.items() if getattr(cls, "OUTPUT_NODE", False)}
    added: set[str] = set()  # node ids of the running prompt: earlier expansions'

    def expansion(unit_id):
        builder = StandInBuilder("7.")
        end = expand.add_unit(builder, unit_id, plan.units[unit_id].workflow, outputs.__contains__, added.__contains__)
        graph = builder.finalize()
        added.update(graph)
        return graph, end

    first, first_end = expansion("keyframe-one")
    second, second_end = expansion("animate-one")
    workflow = plan.units["keyframe-one"].workflow
    loaders = {node_id for node_id, node in first.items() if node_id.startswith("7.loader-")}
    assert {first[node_id]["class_type"] for node_id in loaders} >= {"CheckpointLoaderSimple", "ControlNetLoader",
                                                                     "LoadImage"}
    assert len(first) == len(workflow) and all(node_id.startswith(("7.loader-", "7.keyframe-one."))
                                               for node_id in first)
    decoder = next(node_id for node_id, node in workflow.items() if node["class_type"] == "VAEDecode")
    assert first_end == [f"7.keyframe-one.{decoder}", 0]  # what the keyframe's SaveImage saves
    assert not any(node["class_type"] == "CheckpointLoaderSimple" for node in second.values())
    links = [value for node in second.values() for value in node["inputs"].values()
             if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)]
    assert all(link[0] in second or link[0] in loaders for link in links)
    assert any(link[0] in loaders and first[link[0]]["class_type"] == "CheckpointLoaderSimple" for link in links)
    animator = next(node_id for node_id, node in second.items() if node["class_type"] == "LF_Animate")
    assert second_end == [animator, 1]
    with pytest.raises(ValueError, match="no output node"):
        expand.end_link({"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "x"}}},
                        outputs.__contains__)


def test_the_tiny_profile_renders_at_the_tiny_models_size(pack, inputs):
    text = GOOD.replace("width: 64", "width: 512").replace("height: 64", "height: 512")
    assert make_plan(pack, inputs, text).board.width == 512
    plan = make_plan(pack, inputs, text, tiny=True)
    assert (plan.board.width, plan.board.height) == (64, 64)
    assert nodes_of(plan.units["keyframe-one"].workflow, "EmptyLatentImage")[0]["width"] == 64
    # the demo's few steps: the storyboard's 20 capped, a storyboard's fewer kept
    assert nodes_of(plan.units["keyframe-one"].workflow, "KSampler")[0]["steps"] == TINY_SAMPLER_STEPS
    assert nodes_of(plan.units["animate-one"].workflow, "LF_Animate")[0]["steps"] == TINY_SAMPLER_STEPS
    fewer = text.replace("title: tiny", "title: tiny\nrender: {steps: 2}")
    assert nodes_of(make_plan(pack, inputs, fewer, tiny=True).units["keyframe-one"].workflow, "KSampler")[0]["steps"] == 2
