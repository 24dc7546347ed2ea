"""Host tests of unit templates: a user's exported API workflow renders a scene chunk by chunk in a real ComfyUI, and
one with a slot missing, or a node the server lacks, is refused before anything renders.

The user's template here is an img2img "video" on the tiny SD 1.5 and core nodes only (the shipped Wan 2.2 template
has its own host test, test_film_wan.py): it takes the first of the frames it starts from, repeats it `frames` times,
and samples them with the prompt blended towards the next one (ConditioningAverage), as any exported workflow would
declare its slots in its node titles.
"""

import json
import urllib.request

import numpy as np
import pytest
from PIL import Image

from film import FilmRun
from film_servers import ServerWorker

from longform_pack.core.film import plan as film_plan
from longform_pack.core.film.render import finish_film
from longform_pack.core.film.stitch import film_frames
from longform_pack.core.film.storyboard import load_storyboard
from longform_pack.core.manifest import load_manifest

TINY_NAMES = {entry.id: entry.tiny_filename for entry in load_manifest()}


def sd_chunk_template() -> dict:
    """What a user exports with Workflow > Export (API) after tagging the titles."""
    def node(class_type, title, **inputs):
        return {"class_type": class_type, "inputs": inputs, "_meta": {"title": title}}

    return {
        "1": node("CheckpointLoaderSimple", "Load Checkpoint", ckpt_name=TINY_NAMES["sd15"]),
        "2": node("CLIPTextEncode", "Prompt [film:prompt]", text="a cat", clip=["1", 1]),
        "3": node("CLIPTextEncode", "Negative [film:negative]", text="blurry", clip=["1", 1]),
        "4": node("CLIPTextEncode", "Next Prompt [film:prompt_next]", text="", clip=["1", 1]),
        "5": node("ConditioningAverage", "Blend [film:prompt_blend]", conditioning_to=["4", 0],
                  conditioning_from=["2", 0], conditioning_to_strength=0.0),
        "6": node("LoadImage", "Start Frames [film:start_image]", image="longform_character.png"),
        "7": node("ImageFromBatch", "First Of Them", image=["6", 0], batch_index=0, length=1),
        "8": node("ImageScale", "Size [film:width] [film:height]", image=["7", 0], upscale_method="bilinear",
                  width=512, height=512, crop="center"),
        "9": node("RepeatImageBatch", "Frames [film:frames=amount]", image=["8", 0], amount=16),
        "10": node("VAEEncode", "VAE Encode", pixels=["9", 0], vae=["1", 2]),
        "11": node("KSampler", "KSampler [film:seed] [film:steps]", model=["1", 0], positive=["5", 0],
                   negative=["3", 0], latent_image=["10", 0], seed=0, steps=20, cfg=7.0, sampler_name="euler",
                   scheduler="normal", denoise=0.5),
        "12": node("VAEDecode", "VAE Decode", samples=["11", 0], vae=["1", 2]),
        "13": node("SaveImage", "Save [film:images]", images=["12", 0], filename_prefix="ComfyUI"),
    }


STORYBOARD = """\
title: {title}
fps: 4
width: 64
height: 64
engine: {template}
video: {{chunk: 5, overlap: 2, steps: 2, anchor_colours: true}}
scenes:
  - name: walk
    duration: 2
    keyframe: longform_character.png
    schedule: |
      0: a yellow creature in a forest
      1s: a yellow creature in the snow
"""


def history_size(comfyui) -> int:
    with urllib.request.urlopen(comfyui.url + "/history") as answer:
        return len(json.loads(answer.read()))


def write_board(comfyui, title: str, template: dict):
    input_dir = comfyui.base / "input"
    (input_dir / f"{title}.json").write_text(json.dumps(template), encoding="utf-8")
    path = input_dir / f"{title}.yaml"
    path.write_text(STORYBOARD.format(title=title, template=f"{title}.json"), encoding="utf-8")
    return load_storyboard(path, input_dir)


def test_a_users_exported_workflow_renders_a_scene_chunk_by_chunk(comfyui, pack):
    board = write_board(comfyui, "user-template", sd_chunk_template())
    plan = film_plan.FilmPlan(board, comfyui.base / "output", pack.NODE_CLASS_MAPPINGS)
    assert [unit.id for unit in plan.units.values()] == ["chunk-walk-0", "chunk-walk-1", "stitch"]
    worker = ServerWorker(comfyui.url)
    plan.check(worker.object_info())
    FilmRun(plan, [worker], progress_every=2).run()
    finish_film(plan)
    frames = [np.asarray(Image.open(path).convert("RGB")) for path in film_frames(plan)]
    assert len(frames) == board.frame_count == 8 and all(frame.shape == (64, 64, 3) for frame in frames)
    # chunk 1 started from chunk 0's last two frames, read back by LoadImage from one APNG
    with Image.open(plan.tail_path("chunk-walk-0")) as tail:
        assert tail.n_frames == 2
    assert json.loads((plan.unit_dir("chunk-walk-1") / "workflow.json").read_text())["6"]["inputs"]["image"] == \
        "film/user-template/chunk-walk-0/tail.png [output]"
    assert not np.array_equal(frames[0], frames[-1])


@pytest.mark.parametrize("change, fragment", [
    (lambda t: t["6"]["_meta"].update(title="Start Frames"),
     "template broken-slot.json: no node declares slot 'start_image', which a chunk of a video engine needs; add "
     "[film:start_image] to the title of the LoadImage that takes the first frame(s)."),
    (lambda t: t["7"].update(class_type="ImageFromBatchPlus"),
     "template broken-slot.json does not fit this ComfyUI:\n  - node 7 (First Of Them) is a ImageFromBatchPlus, "
     "which this ComfyUI does not have"),
])
def test_a_broken_user_template_is_refused_before_any_render(comfyui, pack, change, fragment):
    template = sd_chunk_template()
    change(template)
    board = write_board(comfyui, "broken-slot", template)
    queued_before = history_size(comfyui)
    with pytest.raises(ValueError) as caught:
        plan = film_plan.FilmPlan(board, comfyui.base / "output", pack.NODE_CLASS_MAPPINGS)
        plan.check(ServerWorker(comfyui.url).object_info())
        FilmRun(plan, [ServerWorker(comfyui.url)]).run()
    assert fragment in str(caught.value)
    assert history_size(comfyui) == queued_before
    assert not (comfyui.base / "output" / "film" / "broken-slot").exists()
