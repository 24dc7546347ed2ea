"""The consistency meter on synthetic clips whose answers are known without any model, its sources, its cache and
its report."""

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from longform_pack.core.meter import curves, frames, measure, pixels
from longform_pack.core.meter import report as meter_report
from longform_pack.core.meter.definitions import DEFINITIONS
from test_film import FakeEncoder

FPS, SIDE = 16.0, 64
REPO_ROOT = Path(__file__).resolve().parent.parent


def texture(seed: int, side: int = SIDE) -> np.ndarray:
    """A smooth random RGB picture (blurred noise, values well inside 0..255), wrapping at its edges."""
    import cv2

    noise = np.random.default_rng(seed).uniform(0, 255, (side, side, 3)).astype(np.float32)
    smooth = cv2.GaussianBlur(np.tile(noise, (3, 3, 1)), (0, 0), 3)[side:2 * side, side:2 * side]
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return (40 + 170 * smooth).round().astype(np.uint8)


def batch(pictures) -> frames.BatchFrames:
    return frames.BatchFrames(torch.from_numpy(np.stack(pictures)).float() / 255.0, FPS, "synthetic")


def report_of(pictures, **kwargs) -> dict:
    return meter_report.video_report(batch(pictures), **kwargs).summary()


def test_a_static_clip_has_no_flow_and_is_flagged_static():
    summary = report_of([texture(0)] * 40)
    guard = summary["whole"]["motion_guard"]
    assert guard["mean_top5_flow"] == pytest.approx(0.0, abs=1e-6) and guard["value"] is True
    assert summary["whole"]["temporal_flickering"]["value"] == pytest.approx(1.0)
    assert summary["whole"]["subject_consistency"]["beside"]["static"] is True  # printed beside every figure


def test_injected_flicker_lowers_the_flicker_score_by_the_formula():
    steady, step = texture(1), 12
    flicker = [steady + (step if k % 2 else 0) for k in range(40)]  # never clips: texture is 40..210
    score = report_of(flicker)["whole"]["temporal_flickering"]["value"]
    assert score == pytest.approx(1.0 - step / 255.0, abs=1e-6)  # every consecutive pair differs by `step`


def test_a_hard_cut_at_frame_37_is_found_there_with_a_large_delta_e():
    first, second = texture(2), np.clip(texture(3).astype(int) * [0.4, 0.6, 1.3], 0, 255).astype(np.uint8)
    clip = [np.roll(first, k, axis=1) for k in range(37)] + [np.roll(second, k, axis=1) for k in range(23)]
    summary = report_of(clip)
    assert [cut["frame"] for cut in summary["cuts"]["value"]] == [37]
    assert summary["cuts"]["value"][0]["delta_e"] > 10
    assert [scene["start"] for scene in summary["scenes"]] == [0, 37]


def test_a_linear_colour_drift_gives_a_linearly_growing_delta_e():
    import cv2

    base = texture(4).astype(np.float32) / 255.0
    lab = cv2.cvtColor(base, cv2.COLOR_RGB2Lab)
    clip = []
    for k in range(50):
        shifted = lab + np.array([0.0, 0.6 * k, 0.0], np.float32)  # a* grows 0.6 a frame
        clip.append((np.clip(cv2.cvtColor(shifted, cv2.COLOR_Lab2RGB), 0, 1) * 255).round().astype(np.uint8))
    measures = meter_report.video_report(batch(clip)).measures
    drift = curves.colour_drift(measures)["to_first"]
    slope, intercept = np.polyfit(np.arange(50), drift, 1)
    residual = drift - (slope * np.arange(50) + intercept)
    assert slope == pytest.approx(0.6, rel=0.1)
    assert np.abs(residual).max() < 0.5  # linear: within half a ΔE unit everywhere
    assert measures.scene_starts == [0]  # a drift is not a cut


def test_a_pan_is_dynamic_and_not_flagged():
    clip = [np.roll(texture(5), 3 * k, axis=1) for k in range(40)]
    summary = report_of(clip)
    guard = summary["whole"]["motion_guard"]
    stride = guard["sampled_every"]
    assert stride == 2 and guard["value"] is False
    assert guard["mean_top5_flow"] == pytest.approx(3 * stride, rel=0.3)  # 3 px a frame, pairs 2 frames apart
    assert summary["cuts"]["value"] == []


def test_the_drift_curve_falls_with_the_gap_on_a_slow_change():
    start, end = texture(6).astype(np.float32), texture(16).astype(np.float32)
    clip = [(start + (end - start) * k / 59).round().astype(np.uint8) for k in range(60)]  # a slow dissolve
    curve = meter_report.video_report(batch(clip)).measures.drift["pixel"]
    assert list(curve) == ["2 frames", "5 frames", "10 frames", "1 s", "20 frames", "50 frames", "10 s"]  # 1 s = 16
    values = [curve[label] for label in list(curve)[:-1]]
    assert all(a > b for a, b in itertools.pairwise(values))
    assert curve["10 s"] is None  # the clip is shorter than 10 s


def test_a_video_file_streams_in_chunks_and_gives_the_batch_figures(tmp_path):
    from longform_pack.core.video import write_video

    clip = [np.roll(texture(7), 2 * k, axis=1) for k in range(30)] + [texture(8)] * 50
    path = write_video(clip, tmp_path / "clip.mp4", FPS)
    source = frames.VideoFrames(path)
    assert source.fps == FPS and source.size == (SIDE, SIDE)
    assert [len(chunk) for chunk in source.chunks(32)] == [32, 32, 16]
    summary = meter_report.video_report(source).summary()
    assert summary["frames"] == 80 and [cut["frame"] for cut in summary["cuts"]["value"]] == [30]


def test_a_video_name_is_looked_up_in_input_then_output(tmp_path, monkeypatch):
    monkeypatch.setenv("LONGFORM_INPUT_DIR", str(tmp_path / "input"))
    monkeypatch.setenv("LONGFORM_OUTPUT_DIR", str(tmp_path / "output"))
    (tmp_path / "output" / "runs").mkdir(parents=True)
    (tmp_path / "input").mkdir()
    (tmp_path / "output" / "runs" / "clip.mp4").write_bytes(b"")
    (tmp_path / "output" / "runs" / "chunks").mkdir()
    (tmp_path / "output" / "runs" / "chunks" / "chunk_00000.mp4").write_bytes(b"")
    assert frames.video_file("runs/clip.mp4") == (tmp_path / "output" / "runs" / "clip.mp4").resolve()
    assert frames.list_videos() == ["runs/clip.mp4"]  # a streamed run's pieces are not offered
    with pytest.raises(FileNotFoundError, match="'video' 'nope.mp4' is in neither"):
        frames.video_file("nope.mp4")
    with pytest.raises(ValueError, match="absolute paths are refused"):
        frames.video_file("/etc/passwd")


def test_cached_chunks_are_not_measured_again_and_a_changed_frame_is(tmp_path, monkeypatch):
    from PIL import Image

    paths = []
    for k in range(70):
        paths.append(tmp_path / f"frame_{k:06d}.png")
        Image.fromarray(np.roll(texture(9), k, axis=1)).save(paths[-1])
    first = measure.measure(frames.FileFrames(paths, FPS), cache_dir=tmp_path / "cache")
    computed = []
    original = measure._Pass.compute
    monkeypatch.setattr(measure._Pass, "compute", lambda self, chunk, start: computed.append(start) or
                        original(self, chunk, start))
    again = measure.measure(frames.FileFrames(paths, FPS), cache_dir=tmp_path / "cache")
    assert computed == [] and np.array_equal(again.scalars["warp_error"], first.scalars["warp_error"], equal_nan=True)
    Image.fromarray(texture(10)).save(paths[66])
    changed = measure.measure(frames.FileFrames(paths, FPS), cache_dir=tmp_path / "cache")
    assert computed == [64]  # only the chunk holding the new frame
    assert changed.scalars["histogram_distance"][66] > first.scalars["histogram_distance"][66]


def test_storyboard_seams_and_prompt_switch_latency(tiny_models_dir):
    prompts = ["a forest", "a storm"]
    timeline = meter_report.Timeline(
        [{"label": "forest", "kind": "scene", "start": 0, "count": 20},
         {"label": "storm", "kind": "scene", "start": 20, "count": 20}], prompts, [0] * 20 + [1] * 20)
    clip = []
    for k in range(40):
        picture = texture(11) if k < 20 else np.clip(texture(12).astype(int) + 30, 0, 255).astype(np.uint8)
        picture[0, 0, 0] = 0 if k < 23 else 1  # the frames show the storm prompt 3 frames late
        clip.append(picture)
    summary = report_of(clip, timeline=timeline, clip=FakeEncoder(prompts))
    seam = summary["seams"]["value"][0]
    assert (seam["frame"], seam["kind"], seam["from"], seam["to"]) == (20, "cut", "forest", "storm")
    similarity = "subject_similarity" if "subject_similarity_drop" in seam else "pixel_thumbnail_cosine"
    assert seam["delta_e"] > 5 and seam[f"{similarity}_drop"] > 0  # less alike across the cut than within a scene
    switch = summary["prompt_switches"]["value"][0]
    assert (switch["frame"], switch["latency_frames"], switch["to"]) == (20, 3, "a storm")
    with pytest.raises(ValueError, match="describes 40 frames"):
        report_of(clip[:30], timeline=timeline)


def test_with_no_model_installed_the_model_free_figures_remain(monkeypatch):
    from longform_pack.core.meter import features

    monkeypatch.setattr(features, "load_feature_model", lambda name: None)
    clip = [np.roll(texture(13), k, axis=1) for k in range(20)] + [texture(14)] * 20
    result = meter_report.video_report(batch(clip))
    summary = result.summary()
    assert summary["whole"]["subject_consistency"]["value"] is None
    assert "install dino_vitb16" in summary["whole"]["subject_consistency"]["not_measured"]
    assert summary["whole"]["temporal_flickering"]["value"] is not None
    assert [cut["frame"] for cut in summary["cuts"]["value"]] == [20]
    assert summary["whole"]["motion_guard"]["value"] is False and summary["whole"]["colour_drift"]["value"] > 0
    assert set(summary["drift_curve"]["value"]) == {"pixel_thumbnail_cosine"}
    assert result.plot().size[0] >= 1000


def test_every_figure_names_a_definition_and_docs_define_each():
    docs = (REPO_ROOT / "docs" / "meter.md").read_text(encoding="utf-8")
    assert all(f"`{key}`" in docs for key in DEFINITIONS)
    summary = report_of([np.roll(texture(15), k, axis=1) for k in range(20)])

    def definitions(node):
        if isinstance(node, dict):
            if "definition" in node:
                yield node["definition"]
            for value in node.values():
                yield from definitions(value)
        elif isinstance(node, list):
            for value in node:
                yield from definitions(value)

    used = set(definitions(summary))
    assert used <= set(DEFINITIONS) and {"static", "cuts", "colour_drift", "temporal_flickering"} <= used


def test_pixels_delta_e_is_cie76():
    assert pixels.delta_e([50, 0, 0], [50, 3, 4]) == pytest.approx(5.0)
    white = np.full((4, 4, 3), 255, np.uint8)
    assert pixels.mean_lab(white) == pytest.approx([100, 0, 0], abs=0.01)


# --------------------------------------------------------------------------------------------------------- the node


def test_the_node_measures_a_batch_or_a_file_and_refuses_neither_or_both(tmp_path, monkeypatch):
    from longform_pack.core.video import write_video
    from longform_pack.nodes.meter import LF_VideoReport

    monkeypatch.setenv("LONGFORM_INPUT_DIR", str(tmp_path / "input"))
    monkeypatch.setenv("LONGFORM_OUTPUT_DIR", str(tmp_path / "output"))
    (tmp_path / "input").mkdir()
    clip = [np.roll(texture(17), k, axis=1) for k in range(12)] + [texture(18) // 2] * 12  # a cut to a darker shot
    write_video(clip, tmp_path / "input" / "clip.mp4", FPS)
    assert LF_VideoReport.INPUT_TYPES()["optional"]["video"][0] == ["none", "clip.mp4"]
    assert LF_VideoReport.VALIDATE_INPUTS() is True
    assert LF_VideoReport.VALIDATE_INPUTS(fps=0.0, video="clip.mp4", storyboard="none") is True
    assert "'video'" in LF_VideoReport.VALIDATE_INPUTS(video="../clip.mp4")
    assert "'fps'" in LF_VideoReport.VALIDATE_INPUTS(fps=float("nan"))
    node = LF_VideoReport()
    from_file, plot = node.report(0.0, video="clip.mp4")
    from_batch, _ = node.report(FPS, images=batch(clip).images)
    assert json.loads(from_file)["fps"] == FPS and plot.shape[-1] == 3
    assert [c["frame"] for c in json.loads(from_file)["cuts"]["value"]] == [12]
    assert [c["frame"] for c in json.loads(from_batch)["cuts"]["value"]] == [12]
    with pytest.raises(ValueError, match="neither 'images' nor 'video'"):
        node.report(FPS)
    with pytest.raises(ValueError, match="both 'images' and 'video'"):
        node.report(FPS, images=batch(clip).images, video="clip.mp4")
    with pytest.raises(FileNotFoundError, match="'video' 'gone.mp4'"):
        node.report(FPS, video="gone.mp4")
    with pytest.raises(ValueError, match="'fps' is 0.0"):
        node.report(0.0, images=batch(clip).images)


def test_the_command_line_reports_the_shipped_example_clip(tmp_path):
    import video_report

    summary = video_report.main([str(REPO_ROOT / "example_inputs" / "longform_clip.mp4"), "--out", str(tmp_path)])
    assert json.loads((tmp_path / "report.json").read_text()) == summary
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert [cut["frame"] for cut in summary["cuts"]["value"]] == [20]  # the pan ends, the sketch begins
    assert summary["whole"]["motion_guard"]["value"] is False  # a 4 px a frame pan at 128 px
    assert summary["scenes"][1]["motion_guard"]["value"] is True  # the held sketch
