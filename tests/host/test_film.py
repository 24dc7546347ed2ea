"""Host tests of the film: a tiny storyboard rendered by LF_Film in a real ComfyUI (through node expansion), an
LF_Film render interrupted and queued again, then the film on two servers of which one is killed mid-scene.

LF_Film renders the reference film inside the session's server, loading the checkpoint once for all its units. A
one-scene film is interrupted while its scene streams frames and queued again: it skips the done keyframe and
resumes from the frames on disk. Then a second server joins, takes units, and is killed while it streams a scene's
frames: its unit runs again on the first server, resuming from the frames on disk. Every film must come out frame for
frame the same as the reference. At most two servers run at once.
"""

import json
import os
import threading
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from client import WorkflowError
from film import FilmRun
from film_servers import ManagedServer, ServerWorker

from longform_pack.core.film import plan as film_plan
from longform_pack.core.film.render import finish_film
from longform_pack.core.film.stitch import film_frames
from longform_pack.core.film.storyboard import load_storyboard
from longform_pack.core.manifest import load_manifest

TINY_NAMES = {entry.id: entry.tiny_filename for entry in load_manifest()}
TINY_SD15_MODELS = f"""\
models:
  checkpoint: {TINY_NAMES["sd15"]}
  controlnet: {TINY_NAMES["controlnet_scribble"]}
  lora: {TINY_NAMES["lora_pokemon"]}
  ipadapter: {TINY_NAMES["ipadapter_plus_sd15"]}
  clip_vision: {TINY_NAMES["clip_vision_h"]}
"""  # a storyboard's models section naming the tiny stand-ins
STORYBOARD = f"""\
title: {{title}}
fps: 4
width: 64
height: 64
render: {{{{steps: 2, strength: 0.5, morph_strength: 0.5}}}}
{TINY_SD15_MODELS}characters:
  creature: {{{{reference: longform_character.png}}}}
scenes:
  - name: forest
    duration: 1.5
    sketch: longform_sketch.png
    character: creature
    schedule: |
      0: a yellow creature in a forest
      1s: a yellow creature in a forest at dusk
    transition: {{{{crossfade: 2}}}}
  - name: storm
    duration: 1.5
    character: creature
    schedule: "0: a yellow creature in a storm"
    transition: {{{{morph: 2}}}}
  - name: town
    duration: 1.5
    sketch: longform_sketch.png
    schedule: "0: a yellow creature in a town"
"""
FRAMES = 6 + 2 + 6 + 2 + 6


def storyboard(comfyui, title: str):
    path = comfyui.base / "input" / f"{title}.yaml"
    path.write_text(STORYBOARD.format(title=title), encoding="utf-8")
    return load_storyboard(path, comfyui.base / "input")


def pixels(paths):
    return [np.asarray(Image.open(path).convert("RGB")) for path in paths]


def film_prompt(title: str, encoder: str) -> dict:
    """LF_Film on storyboard `title`, its report's JSON shown by a PreviewAny."""
    return {"1": {"class_type": "LF_Film", "inputs": {"storyboard": f"{title}.yaml", "encoder": encoder}},
            "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 2]}}}


@pytest.fixture(scope="module")
def node_film(comfyui, pack):
    """The tiny film rendered by LF_Film inside the session's server, with its report: the uninterrupted reference;
    its summary, its history entry, and the checkpoint loads the server logged while it rendered."""
    board = storyboard(comfyui, "film-node")
    log_start = len(comfyui.log())
    entry = comfyui.client.wait(comfyui.client.queue(film_prompt("film-node", TINY_NAMES["clip_probe"])),
                                timeout=1200, show_progress=False)
    checkpoint_loads = comfyui.log()[log_start:].count("model_type EPS")
    summary = json.loads(entry["outputs"]["2"]["text"][0])
    return film_plan.FilmPlan(board, comfyui.base / "output", pack.NODE_CLASS_MAPPINGS), summary, entry, \
        checkpoint_loads


def test_lf_film_renders_the_storyboard_with_its_frames_timing_and_report(node_film):
    plan, summary, entry, checkpoint_loads = node_film
    frames, seconds = imageio_ffmpeg.count_frames_and_secs(str(plan.video_path))
    assert frames == plan.board.frame_count == FRAMES and seconds == pytest.approx(FRAMES / 4, abs=1e-6)
    assert all(plan.is_done(unit_id) for unit_id in plan.units)
    assert summary["rendered_units"] == list(plan.units) and summary["frames"] == FRAMES
    assert [seam["frame"] for seam in summary["seams"]] == [6, 8, 14, 16]
    assert (plan.film_dir / "report.png").exists() and (plan.film_dir / "report.json").exists()
    last, faded = pixels(film_frames(plan)[5:7])  # the forest's last frame and the crossfade's first
    assert not np.array_equal(last, faded)
    # The units ran as nodes of the prompt, named after their unit; the film's preview shows on LF_Film's node.
    ran = {node_id.split(".")[1] for node_id in entry["outputs"] if node_id.startswith("1.")}
    assert {unit_id for unit_id in plan.units if unit_id != "stitch"} <= ran
    previews = [entry["outputs"][node_id]["images"][0] for node_id, meta in entry["meta"].items()
                if meta["display_node"] == "1" and entry["outputs"][node_id].get("animated")]
    assert {"filename": plan.video_path.name, "subfolder": "film/film-node", "type": "output"} in previews
    assert checkpoint_loads == 1, f"the film's {len(plan.units) - 1} units loaded the checkpoint {checkpoint_loads} times"


def test_an_interrupted_lf_film_skips_its_done_units_and_resumes_from_its_frames_on_disk(comfyui, pack, node_film):
    reference = node_film[0]
    path = comfyui.base / "input" / "film-resume.yaml"
    path.write_text(STORYBOARD.format(title="film-resume").split("    transition:")[0], encoding="utf-8")  # the forest
    plan = film_plan.FilmPlan(load_storyboard(path, comfyui.base / "input"), comfyui.base / "output",
                              pack.NODE_CLASS_MAPPINGS)
    scene, frames = "animate-forest", plan.units["animate-forest"].frames
    prompt = film_prompt("film-resume", "none")
    prompt_id = comfyui.client.queue(prompt)
    deadline = time.monotonic() + 600
    while plan.frames_on_disk(scene) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    comfyui.client.cancel(prompt_id)  # POST /interrupt, as the frontend's Cancel button
    with pytest.raises(WorkflowError, match="interrupted"):
        comfyui.client.wait(prompt_id, timeout=600, show_progress=False)
    stopped_at = plan.frames_on_disk(scene)
    assert plan.is_done("keyframe-forest") and not plan.is_done(scene) and 1 <= stopped_at < frames
    kept = {index: plan.frame_path(scene, index).stat().st_mtime_ns for index in range(stopped_at)}
    keyframe = plan.keyframe_path(plan.board.scenes[0]).stat().st_mtime_ns

    entry = comfyui.client.wait(comfyui.client.queue(prompt), timeout=600, show_progress=False)  # the same prompt
    assert json.loads(entry["outputs"]["2"]["text"][0])["rendered_units"] == [scene, "stitch"]
    assert plan.keyframe_path(plan.board.scenes[0]).stat().st_mtime_ns == keyframe
    assert {index: plan.frame_path(scene, index).stat().st_mtime_ns for index in range(stopped_at)} == kept
    ours = pixels(plan.frame_path(scene, index) for index in range(frames))
    theirs = pixels(reference.frame_path(scene, index) for index in range(frames))
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs)), "a frame differs from the uninterrupted render"
    assert imageio_ffmpeg.count_frames_and_secs(str(plan.video_path))[0] == frames
    print(f"interrupted {scene} after {stopped_at} of {frames} frames")


def test_a_killed_server_leaves_a_complete_film_with_the_same_frames(comfyui, pack, node_film):
    reference = node_film[0]
    plan = film_plan.FilmPlan(storyboard(comfyui, "film-killed"), comfyui.base / "output", pack.NODE_CLASS_MAPPINGS)
    second = ManagedServer(Path(os.environ["COMFYUI_DIR"]), comfyui.base / "models", comfyui.base / "input",
                           comfyui.base / "output").start()
    killed: dict = {}
    try:
        run = FilmRun(plan, [ServerWorker(comfyui.url, "first"), ServerWorker(second.url, "second")],
                      progress_every=2)

        def kill_mid_scene():
            while not killed and second.process.poll() is None:
                for unit_id, name in list(run.running.items()):
                    unit = plan.units[unit_id]
                    if name == "second" and unit.kind == "animate" and 1 <= plan.frames_on_disk(unit_id) < unit.frames:
                        second.process.kill()
                        killed.update(unit=unit_id, frames=plan.frames_on_disk(unit_id))
                        break
                time.sleep(0.05)

        watcher = threading.Thread(target=kill_mid_scene, daemon=True)
        watcher.start()
        run.run()
        watcher.join(timeout=5)
    finally:
        second.stop()
    assert killed, "the second server finished before it could be killed mid-scene"
    assert run.attempts == {killed["unit"]: 1} and plan.is_done(killed["unit"])
    finish_film(plan)
    assert imageio_ffmpeg.count_frames_and_secs(str(plan.video_path)) == (FRAMES, pytest.approx(FRAMES / 4))
    ours, theirs = pixels(film_frames(plan)), pixels(film_frames(reference))
    assert len(ours) == len(theirs) == FRAMES
    assert all(np.array_equal(a, b) for a, b in zip(ours, theirs)), "a frame differs from the uninterrupted render"
    print(f"killed the second server during {killed['unit']} after {killed['frames']} frames")
