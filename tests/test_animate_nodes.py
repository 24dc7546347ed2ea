"""Animator node classes called directly: schedule node (with a stand-in CLIP), save-video node (files and UI preview)."""

import pytest
import torch
from PIL import Image

from longform_pack.nodes import animate as nodes


def test_prompt_schedule_node_gives_conditioning_schedule_timeline_and_frame_count(fake_clip):
    positive, negative, schedule, timeline, frame_count = nodes.LF_PromptSchedule().build(
        fake_clip, "0: a sunny forest\n2s: a stormy night --neg sun", seconds=4.0, fps=12.0, interpolation="eased",
        negative="blurry",
    )
    assert frame_count == 48 == schedule.frame_count
    assert [k.frame for k in schedule.keyframes] == [0, 24]
    assert schedule.negatives == ["blurry", "sun"]
    assert timeline.ndim == 4 and timeline.shape[0] == 1 and timeline.shape[-1] == 3 and timeline.dtype == torch.float32
    for conditioning in (positive, negative):  # ComfyUI CONDITIONING: one entry, a row per frame
        assert len(conditioning) == 1
        cond, extra = conditioning[0]
        assert cond.shape == (48, 77, 8) and extra["pooled_output"].shape == (48, 8)
    assert sorted(fake_clip.encoded) == ["a stormy night", "a sunny forest", "blurry", "sun"]


def test_prompt_schedule_node_error_names_the_text_field_and_line(fake_clip):
    with pytest.raises(ValueError, match=r"'text' has 1 error:\n  - line 2, column 1"):
        nodes.LF_PromptSchedule().build(fake_clip, "0: a\nnonsense", seconds=1.0, fps=8.0, interpolation="linear",
                                        negative="")
    assert fake_clip.encoded == []  # nothing is encoded before the text parses


@pytest.mark.parametrize("video_format", ["mp4", "webm", "webp", "gif"])
def test_save_video_node_writes_into_output_with_ui_preview(output_dir, video_format):
    frames = torch.rand(6, 32, 32, 3, generator=torch.Generator().manual_seed(1))
    node = nodes.LF_SaveVideo()
    first = node.save(frames, "clips/test", video_format, 8.0, True)
    second = node.save(frames, "clips/test", video_format, 8.0, True)
    entry = first["ui"]["images"][0]
    assert entry == {"filename": f"test_00001_.{video_format}", "subfolder": "clips", "type": "output"}
    # the frontend plays "animated" files (but webp) in a <video>, which cannot play a gif: a gif shows as an image
    assert first["ui"]["animated"] == (video_format != "gif",)
    assert second["ui"]["images"][0]["filename"] == f"test_00002_.{video_format}"
    path = output_dir / "clips" / entry["filename"]
    assert path.exists() and first["result"] == (str(path.resolve()),)
    if video_format in ("webp", "gif"):
        with Image.open(path) as picture:
            assert picture.n_frames == 6


def test_save_video_node_refuses_paths_outside_output(output_dir):
    with pytest.raises(ValueError, match="'filename_prefix'"):
        nodes.LF_SaveVideo().save(torch.rand(2, 8, 8, 3), "../escape", "gif", 8.0, True)
