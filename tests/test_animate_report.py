"""Clip report: crossing detection, adherence/consistency curves, identity, the node and the script."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from longform_pack.core import clip_report, schedule
from longform_pack.nodes import animate as nodes

ENCODER = "longform-tiny-clip.safetensors"


def two_prompt_schedule(frames=12):
    return schedule.parse_schedule("0: a sunny forest\n11: a stormy night", frames)


def test_crossing_frame_is_interpolated_and_nearest_the_switch():
    assert clip_report.crossing_frame(np.linspace(-1, 1, 11), 5.0) == pytest.approx(5.0)
    assert clip_report.crossing_frame(np.array([-1.0, -0.5, 0.5, 1.0]), 1.0) == pytest.approx(1.5)
    wobbly = np.array([-1.0, 0.2, -0.2, -0.1, 0.3, 1.0])  # crosses at 0.83 and 3.25
    assert clip_report.crossing_frame(wobbly, 3.0) == pytest.approx(3.25)
    assert clip_report.crossing_frame(np.array([-1.0, -0.5, -0.1]), 1.0) is None


def test_curves_of_a_clip_that_follows_its_schedule_cross_at_the_switch():
    sched = schedule.parse_schedule("0: a sunny forest\n3: a sunny forest\n11: a stormy night", 12)  # a hold first
    texts = torch.eye(2, 8)
    weights = sched.weights()  # frame k sits between the two prompts exactly as scheduled
    vectors = torch.stack([schedule.slerp(texts[0], texts[1], float(w)) for w in weights[:, 2]])
    frames = torch.linspace(0, 1, 12).view(12, 1, 1, 1).expand(12, 4, 4, 3)
    report = clip_report.report_from_vectors(vectors, texts, frames, sched)
    crossing = report.crossings()[0]
    assert crossing["switch_frame"] == 7.0 and crossing["crossing_frame"] == pytest.approx(7.0, abs=0.5)
    assert len(report.crossings()) == 1 and report.adherence.shape == (12, 2)
    assert report.adherence[0, 0] == pytest.approx(1.0) and report.adherence[-1, 1] == pytest.approx(1.0)
    assert np.all(report.consecutive_cosine > 0.98)
    assert report.pixel_difference == pytest.approx(np.full(11, 1 / 11), abs=1e-6)


def test_clip_report_on_tiny_clip_with_identity(tiny_models_dir):
    generator = torch.Generator().manual_seed(0)
    frames = torch.rand(12, 32, 32, 3, generator=generator)
    frames[6:] = frames[6:] * 0.2  # a visible change halfway
    reference = frames[:1].clone()
    report = clip_report.clip_report(frames, two_prompt_schedule(), ENCODER, reference)
    summary = json.loads(json.dumps(report.summary()))
    assert summary["frames"] == 12 and len(summary["adherence"]) == 12 and len(summary["adherence"][0]) == 2
    assert len(summary["consecutive_cosine"]) == 11 == len(summary["pixel_difference"])
    assert summary["pixel_difference"][5] == max(summary["pixel_difference"])  # the jump between frames 5 and 6
    assert summary["identity"]["clip"][0] == pytest.approx(1.0, abs=1e-4)  # frame 0 is the reference
    assert summary["identity"]["clip_min"] < 1.0
    assert summary["identity"]["face"] is None and summary["identity"]["face_provider"] is None  # no face pack
    assert all(-1 <= value <= 1 for row in summary["adherence"] for value in row)
    assert not any(math.isnan(v) for v in summary["consecutive_cosine"])
    plot = report.plot()
    assert plot.height > plot.width * 0.7  # three panels stacked


def test_clip_report_with_a_face_pack_names_the_provider_the_faces_ran_on(tiny_models_dir):
    from test_identity import FACE_PACK, face_picture

    frames = face_picture(64).expand(12, -1, -1, -1).clone()
    report = clip_report.clip_report(frames, two_prompt_schedule(), ENCODER, frames[:1], FACE_PACK)
    identity = json.loads(json.dumps(report.summary()))["identity"]
    assert identity["face"] == pytest.approx([1.0] * 12, abs=1e-4)
    assert identity["face_provider"] == "faces: insightface on onnxruntime CPUExecutionProvider"


def test_clip_report_refuses_a_preview_batch(tiny_models_dir):
    with pytest.raises(ValueError, match="'frames' has 3 frames but the schedule has 12"):
        clip_report.clip_report(torch.rand(3, 16, 16, 3), two_prompt_schedule(), ENCODER)


def test_clip_report_node(tiny_models_dir):
    plot, text = nodes.LF_ClipReport().report(torch.rand(12, 32, 32, 3), two_prompt_schedule(), ENCODER)
    assert plot.ndim == 4 and plot.shape[0] == 1
    summary = json.loads(text)
    assert summary["identity"] is None and summary["prompts"] == ["a sunny forest", "a stormy night"]


def test_clip_report_script_on_frame_folder(tiny_models_dir, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for index in range(12):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"frame_{index:06d}.png")
    (tmp_path / "schedule.txt").write_text("0: a sunny forest\n1s: a stormy night", encoding="utf-8")
    import clip_report as script  # scripts/ is on sys.path (conftest)

    summary = script.main(["--frames", str(folder), "--schedule", str(tmp_path / "schedule.txt"), "--fps", "8",
                           "--encoder", ENCODER, "--models-dir", str(tiny_models_dir), "--out", str(tmp_path / "out")])
    assert summary["crossings"][0]["switch_frame"] == 4.0  # keyframes 0 and 1s at 8 fps
    assert json.loads((tmp_path / "out" / "report.json").read_text())["frames"] == 12
    assert Image.open(tmp_path / "out" / "report.png").size[0] > 300
