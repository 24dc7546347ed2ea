"""Host tests of the film on the tiny Wan 2.2 TI2V: a three-scene storyboard rendered chunk by chunk through real
ComfyUI servers with the shipped template (workflows/templates/wan22_ti2v.json), on one server, then again on two
servers owned by Ray actors, one of which is killed mid-chunk.

Every node is ComfyUI's real core node except Wan's text encoding: CLIPLoader (type wan) builds umt5-xxl at its full
5.7 B parameters whatever the file holds, so the tests swap that one step, and only it, for the test-only
LFTest_WanTextEncode (tests/comfy_test_nodes, scripts/tiny_profile.py's with_test_text_encoder). The scenes: one of
two chunks with a prompt change inside it, a crossfade, one scene from an sd15 keyframe unit, a cut.
"""

import json
import os
import signal
import threading
import time
import urllib.request
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from film import FilmRun
from film_servers import RayWorker, ServerWorker, server_actors, start_ray, stop_servers
from test_film import TINY_NAMES, TINY_SD15_MODELS
from tiny_profile import with_test_text_encoder, with_tiny_models

from longform_pack.core import host
from longform_pack.core.film import plan as film_plan
from longform_pack.core.film.render import finish_film
from longform_pack.core.film.stitch import film_frames
from longform_pack.core.film.storyboard import load_storyboard

TEST_NODES = Path(__file__).resolve().parents[1] / "comfy_test_nodes"
STORYBOARD = f"""\
title: {{title}}
fps: 8
width: 64
height: 64
engine: wan22-ti2v
video: {{{{chunk: 9, overlap: 5, steps: 2, anchor_colours: true}}}}
render: {{{{steps: 2}}}}
{TINY_SD15_MODELS}scenes:
  - name: forest
    duration: 1.5
    keyframe: longform_character.png
    schedule: |
      0: a yellow creature in a sunny forest
      1s: a yellow creature in a stormy night
    transition: {{{{crossfade: 2}}}}
  - name: storm
    duration: 1
    keyframe: longform_sketch.png
    schedule: "0: a yellow creature in the rain"
  - name: town
    duration: 1
    schedule: "0: a yellow creature in a town"
"""
FRAMES = 12 + 2 + 8 + 8  # forest: chunks at frames 0 and 4 of 9 frames each, cut at 12


def tiny_wan(workflow: dict) -> dict:
    """A unit's workflow on the tiny models, Wan's text encoding by the test-only node."""
    return with_tiny_models(with_test_text_encoder(workflow))


def make_plan(comfyui, pack, title: str):
    path = comfyui.base / "input" / f"{title}.yaml"
    path.write_text(STORYBOARD.format(title=title), encoding="utf-8")
    board = load_storyboard(path, comfyui.base / "input")
    return film_plan.FilmPlan(board, comfyui.base / "output", pack.NODE_CLASS_MAPPINGS, rename=tiny_wan)


def pixels(paths):
    return [np.asarray(Image.open(path).convert("RGB")) for path in paths]


@pytest.fixture(scope="module")
def wan_film(comfyui, pack):
    """The storyboard rendered on the session's server through scripts/film.py's runner, with its film report."""
    plan = make_plan(comfyui, pack, "wan-film")
    worker = ServerWorker(comfyui.url, "first")
    plan.check(worker.object_info())
    rendered = FilmRun(plan, [worker], progress_every=2).run()
    previous = host.set_models_dir(comfyui.base / "models")
    try:
        video, report_json, _ = finish_film(plan, TINY_NAMES["clip_probe"])
    finally:
        host.set_models_dir(previous)
    return plan, rendered, video, json.loads(report_json.read_text(encoding="utf-8"))


def test_a_wan_storyboard_renders_chunk_by_chunk_into_one_film(wan_film):
    plan, rendered, video, _ = wan_film
    assert sorted(rendered) == sorted(unit_id for unit_id in plan.units if unit_id != "stitch")
    assert [unit_id for unit_id, unit in plan.units.items() if unit.kind == "chunk"] == [
        "chunk-forest-0", "chunk-forest-1", "chunk-storm-0", "chunk-town-0"]
    assert plan.units["chunk-town-0"].deps == ("keyframe-town",)  # an sd15 keyframe unit starts the town
    assert imageio_ffmpeg.count_frames_and_secs(str(video)) == (FRAMES, pytest.approx(FRAMES / 8))
    workflow = plan.units["chunk-forest-1"].workflow
    types = sorted(node["class_type"] for node in workflow.values())
    assert {"UNETLoader", "ModelSamplingSD3", "VAELoader", "LoadImage", "Wan22ImageToVideoLatent", "KSampler",
            "VAEDecode", "SaveImage", "ConditioningAverage"} <= set(types)
    assert "CLIPTextEncode" not in types and "CLIPLoader" not in types  # the one step the test node stands in for
    # the prompt changes at frame 8: chunk 1 (frames 4-11 of the scene's 12) blends towards the stormy night by the 4
    # of its 8 frames from the change on
    blend = next(node for node in workflow.values() if node["class_type"] == "ConditioningAverage")
    assert blend["inputs"]["conditioning_to_strength"] == pytest.approx(4 / 8)
    forest = pixels(film_frames(plan)[:12])
    assert not np.array_equal(forest[0], forest[11])


def test_the_film_report_lists_the_chunk_boundaries_and_the_seams(wan_film):
    plan, _, _, report = wan_film
    assert [(b["frame"], b["scene"], b["chunk"], b["overlap"]) for b in report["chunk_boundaries"]] == [
        (4, "forest", 1, 5)]
    assert report["chunk_boundaries"][0]["consistency"] is not None
    assert [seam["frame"] for seam in report["seams"]] == [12, 14, 22]
    assert report["frames"] == FRAMES and (plan.film_dir / "report.png").exists()


def queue_running(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/queue", timeout=2) as answer:
            return bool(json.loads(answer.read()).get("queue_running"))
    except OSError:
        return False


def test_on_ray_a_server_killed_mid_chunk_leaves_the_same_film(comfyui, pack, wan_film):
    """Two servers owned by Ray actors (the runner's --ray path); the second one's ComfyUI is killed while it runs a
    chunk: the chunk renders again on the first, the chunks already done are not rendered again, and every frame is
    the uninterrupted film's."""
    import ray

    reference, _, _, _ = wan_film
    plan = make_plan(comfyui, pack, "wan-ray")
    settings = {"comfyui_dir": Path(os.environ["COMFYUI_DIR"]), "models_dir": comfyui.base / "models",
                "input_dir": comfyui.base / "input", "output_dir": comfyui.base / "output",
                "custom_nodes": (TEST_NODES,)}
    start_ray()
    actors, killed, finished = [], {}, threading.Event()
    try:
        actors = server_actors(2, settings)
        url, pid = ray.get([actors[1].url.remote(), actors[1].pid.remote()])  # asked now: run() occupies the actor
        run = FilmRun(plan, [RayWorker(actor, f"ray-server-{index}") for index, actor in enumerate(actors)],
                      progress_every=2)

        def kill_mid_chunk():
            while not finished.is_set():
                for unit_id, name in list(run.running.items()):
                    if name == "ray-server-1" and plan.units[unit_id].kind == "chunk" and queue_running(url):
                        os.kill(pid, signal.SIGKILL)
                        killed["unit"] = unit_id
                        return
                time.sleep(0.05)

        watcher = threading.Thread(target=kill_mid_chunk, daemon=True)
        watcher.start()
        rendered = run.run()
    finally:
        finished.set()
        stop_servers([], actors)
    assert killed, "the second server never ran a chunk"
    assert run.attempts == {killed["unit"]: 1} and plan.is_done(killed["unit"])
    assert sorted(rendered) == sorted(unit_id for unit_id in plan.units if unit_id != "stitch")  # each unit once
    assert FilmRun(plan, [ServerWorker(comfyui.url)]).run() == []  # done chunks are skipped
    finish_film(plan)
    ours, theirs = pixels(film_frames(plan)), pixels(film_frames(reference))
    assert len(ours) == len(theirs) == FRAMES
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs)), "a frame differs from the uninterrupted render"
    print(f"killed the second server while it ran {killed['unit']}")


def test_lf_film_renders_a_wan_scene_through_node_expansion(comfyui, pack, wan_film):
    """LF_Film inside the session's server, on ComfyUI's executor (node expansion, V3 nodes such as
    Wan22ImageToVideoLatent and ModelSamplingSD3 included): a user template in the input folder (the shipped Wan
    template on the tiny models, its text encoding the test-only node) renders the forest scene chunk by chunk, and
    every frame equals the same scene rendered by scripts/film.py's runner on the server."""
    reference, _, _, _ = wan_film
    template = json.loads((film_plan.SHIPPED_TEMPLATES / "wan22_ti2v.json").read_text(encoding="utf-8"))
    (comfyui.base / "input" / "tiny_wan.json").write_text(json.dumps(tiny_wan(template)), encoding="utf-8")
    forest_only = STORYBOARD.split("  - name: storm")[0].replace("    transition: {{crossfade: 2}}\n", "")
    text = forest_only.replace("engine: wan22-ti2v", "engine: tiny_wan.json").format(title="wan-node")
    (comfyui.base / "input" / "wan-node.yaml").write_text(text, encoding="utf-8")
    prompt = {"1": {"class_type": "LF_Film", "inputs": {"storyboard": "wan-node.yaml", "encoder": "none"}},
              "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
    entry = comfyui.client.wait(comfyui.client.queue(prompt), timeout=1200, show_progress=False)
    video = Path(entry["outputs"]["2"]["text"][0])
    board = load_storyboard(comfyui.base / "input" / "wan-node.yaml", comfyui.base / "input")
    plan = film_plan.FilmPlan(board, comfyui.base / "output", pack.NODE_CLASS_MAPPINGS)
    assert [unit_id for unit_id in plan.units] == ["chunk-forest-0", "chunk-forest-1", "stitch"]
    assert all(plan.is_done(unit_id) for unit_id in plan.units)
    assert imageio_ffmpeg.count_frames_and_secs(str(video)) == (12, pytest.approx(12 / 8))
    ours, theirs = pixels(film_frames(plan)), pixels(film_frames(reference)[:12])
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs)), "LF Film's frame differs from the runner's"
