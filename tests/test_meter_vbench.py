"""Parity with VBench's own code: vbench 0.1.5's metric functions and the pack's, on the same clips and weights.

vbench pins numpy < 2 and transformers == 4.33.2, so it is installed without its dependencies into build/vbench (test
only; `reference_code` does it on first use), with the two small packages its metric modules import: easydict
(dynamic_degree.py) and decord (vbench/utils.py reads .mp4 with it). Only the metric modules are imported. What cannot
run here is replaced, and said where: the models VBench downloads (torch.hub's DINO, OpenAI's `clip` package) are
injected as objects holding the pack's stand-in weights, and `clip_transform(224)` is built at the CLIP stand-in's
input size. Each clip is an .mp4 that VBench reads itself (decord or OpenCV); the pack gets the same decoded frames.
"""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from longform_pack.core.meter import features, vbench
from longform_pack.core.tiny.meter import build_amt, build_raft

REPO_ROOT = Path(__file__).resolve().parent.parent
VBENCH_DIR = REPO_ROOT / "build" / "vbench"
REFERENCE_PACKAGES = ["vbench==0.1.5", "easydict==1.13", "decord==0.6.0"]
TOLERANCE = 0.002  # the issue's |delta| bound


@pytest.fixture(scope="module")
def reference_code():
    """VBench's metric modules (`vbench.<metric>`), installed with --no-deps into build/vbench on first use."""
    if not (VBENCH_DIR / "vbench" / "subject_consistency.py").is_file():
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(VBENCH_DIR),
                   *REFERENCE_PACKAGES]
        if subprocess.run(command).returncode != 0:
            pytest.fail(f"Could not install VBench's reference code; run `{' '.join(command)}` where PyPI is reachable.")
    sys.path.insert(0, str(VBENCH_DIR))
    # background_consistency.py imports OpenAI's `clip` only to download the model in compute_background_consistency,
    # and motion_smoothness.py imports omegaconf only to read AMT's config in MotionSmoothness.load_model; the tests
    # call neither: the models are handed over instead.
    stubs = {name: types.ModuleType(name) for name in ("clip", "omegaconf") if name not in sys.modules}
    if "omegaconf" in stubs:
        stubs["omegaconf"].OmegaConf = None
    sys.modules.update(stubs)
    import vbench.background_consistency
    import vbench.dynamic_degree
    import vbench.motion_smoothness
    import vbench.subject_consistency
    import vbench.temporal_flickering
    import vbench.utils

    yield types.SimpleNamespace(subject=vbench.subject_consistency, background=vbench.background_consistency,
                                flicker=vbench.temporal_flickering, dynamic=vbench.dynamic_degree,
                                smoothness=vbench.motion_smoothness, utils=vbench.utils)
    for name in stubs:
        sys.modules.pop(name, None)
    sys.path.remove(str(VBENCH_DIR))


# --------------------------------------------------------------------------------------------------- clips


def synthetic_clip(frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """RGB uint8 [frames, h, w, 3]: a colour gradient, a square moving across it and a little noise, from `seed`."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs / width, ys / height, np.full_like(xs, rng.uniform(0.2, 0.8), dtype=float)], -1) * 200
    step, side = rng.uniform(1, 5, size=2), max(8, height // 3)
    clip = []
    for t in range(frames):
        frame = base.copy()
        top, left = (np.array([height // 4, width // 4]) + step * t).astype(int)
        frame[top : top + side, left : left + side] = rng.uniform(0, 255, size=3)
        clip.append(np.clip(frame + rng.normal(0, 6, frame.shape), 0, 255))
    return np.asarray(clip, dtype=np.uint8)


def write_mp4(path: Path, clip: np.ndarray, fps: float) -> Path:
    """The clip as an MPEG-4 .mp4 (OpenCV's mp4v), which both decord and OpenCV read."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (clip.shape[2], clip.shape[1]))
    for frame in clip:
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def opencv_frames(path: Path) -> torch.Tensor:
    """The frames as VBench's OpenCV readers decode them (temporal flickering, dynamic degree), 0..1 RGB."""
    capture, frames = cv2.VideoCapture(str(path)), []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    capture.release()
    return torch.from_numpy(np.stack(frames)).float() / 255.0


def decord_frames(path: Path) -> torch.Tensor:
    """The frames as `vbench.utils.load_video` decodes them with decord (subject, background consistency), 0..1."""
    import decord

    reader = decord.VideoReader(str(path), num_threads=1)
    return torch.from_numpy(reader.get_batch(range(len(reader))).asnumpy()).float() / 255.0


def chunks_of(frames: torch.Tensor, size: int = 5) -> list[torch.Tensor]:
    """Uneven chunks, so the streaming code carries its state across chunk boundaries."""
    return list(frames.split(size))


@pytest.fixture(scope="module")
def consistency_clips(tmp_path_factory) -> list[Path]:
    """Three 16-frame clips of different sizes and aspect ratios (non-square ones exercise DINO's position-grid
    interpolation and CLIP's crop)."""
    folder = tmp_path_factory.mktemp("videos")
    sizes = [(64, 96), (96, 64), (80, 80)]
    return [write_mp4(folder / f"clip{i}.mp4", synthetic_clip(16, h, w, seed=i), fps=8) for i, (h, w) in enumerate(sizes)]


# --------------------------------------------------------------------------------------------------- consistency


def test_subject_consistency_matches_vbench(tiny_models_dir, reference_code, consistency_clips):
    dino = features.load_feature_model("dino_vitb16")
    for path in consistency_clips:
        _, rows = reference_code.subject.subject_consistency(dino.model, [str(path)], "cpu", False)
        ours = vbench.subject_consistency(chunks_of(decord_frames(path)), dino)
        assert abs(ours - rows[0]["video_results"]) <= TOLERANCE, path.name
        assert 0.0 < ours < 1.0  # random stand-in features: neither identical nor opposite


def test_background_consistency_matches_vbench(tiny_models_dir, reference_code, consistency_clips, monkeypatch):
    clip = features.load_feature_model("clip_vitb32")
    encoder = clip.encoder
    size = encoder.image_size  # 224 for the published ViT-B/32; the stand-in takes 32
    monkeypatch.setattr(reference_code.background, "clip_transform", lambda _: reference_code.utils.clip_transform(size))

    class OpenAIClipStandIn:
        """What `clip.load` returns, as far as background_consistency uses it: `encode_image` = the projected
        image embedding, here of the pack's CLIP stand-in."""

        @staticmethod
        def encode_image(pixels: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                return encoder.model.visual_projection(encoder.model.vision_model(pixel_values=pixels).pooler_output)

    for path in consistency_clips:
        _, rows = reference_code.background.background_consistency(OpenAIClipStandIn(), None, [str(path)], "cpu", False)
        ours = vbench.background_consistency(chunks_of(decord_frames(path)), clip)
        assert abs(ours - rows[0]["video_results"]) <= TOLERANCE, path.name


def test_temporal_flickering_matches_vbench(reference_code, consistency_clips):
    for path in consistency_clips:
        ours = vbench.temporal_flickering(chunks_of(opencv_frames(path)))
        assert abs(ours - reference_code.flicker.cal_score(str(path))) <= TOLERANCE, path.name


def test_meters_share_one_pass_and_refuse_a_change_of_size(tiny_models_dir, consistency_clips):
    dino, clip = features.load_feature_model("dino_vitb16"), features.load_feature_model("clip_vitb32")
    frames = opencv_frames(consistency_clips[0])
    meters = (vbench.FirstAndPreviousConsistency(dino, "subject_consistency"),
              vbench.FirstAndPreviousConsistency(clip, "background_consistency"), vbench.TemporalFlickering())
    vbench.measure(chunks_of(frames, 4), *meters)
    alone = (vbench.subject_consistency(chunks_of(frames, 7), dino),
             vbench.background_consistency(chunks_of(frames, 7), clip), vbench.temporal_flickering(chunks_of(frames, 7)))
    assert [meter.result() for meter in meters] == pytest.approx(alone, abs=1e-6)
    meter = vbench.TemporalFlickering()
    meter.update(torch.rand(3, 32, 48, 3))
    with pytest.raises(ValueError, match="temporal_flickering.*frame 3 is 48x40, but the video's frames are 48x32"):
        meter.update(torch.rand(2, 40, 48, 3))


def test_models_not_installed_measure_nothing():
    assert vbench.subject_consistency([torch.rand(2, 8, 8, 3)], None) is None
    assert vbench.background_consistency([torch.rand(2, 8, 8, 3)], None) is None
    assert vbench.dynamic_degree([torch.rand(2, 8, 8, 3)], 8, None) is None
    assert vbench.motion_smoothness([torch.rand(2, 8, 8, 3)], None) is None


def test_one_frame_is_an_error_naming_the_metric(tiny_models_dir):
    dino = features.load_feature_model("dino_vitb16")
    with pytest.raises(ValueError, match="subject_consistency.*at least 2 frames"):
        vbench.subject_consistency([torch.rand(1, 32, 32, 3)], dino)
    with pytest.raises(ValueError, match="temporal_flickering.*at least 2 frames"):
        vbench.temporal_flickering([torch.rand(1, 32, 32, 3)])


# --------------------------------------------------------------------------------------------------- DINO itself


def test_dino_vit_equals_transformers_vit_on_square_input(tiny_models_dir):
    """An independent implementation of the same transformer: the stand-in's weights mapped onto transformers'
    ViTModel give the same [CLS] feature at 224x224 (where DINO uses its position grid as is)."""
    from transformers import ViTConfig, ViTModel

    dino = features.load_feature_model("dino_vitb16").model
    state = dino.state_dict()
    dim, depth = state["cls_token"].shape[-1], len(dino.blocks)
    config = ViTConfig(hidden_size=dim, num_hidden_layers=depth, num_attention_heads=dim // 64,
                       intermediate_size=state["blocks.0.mlp.fc1.weight"].shape[0], image_size=224, patch_size=16,
                       layer_norm_eps=1e-6, qkv_bias=True, hidden_act="gelu")
    mapped = {"embeddings.cls_token": state["cls_token"], "embeddings.position_embeddings": state["pos_embed"],
              "embeddings.patch_embeddings.projection.weight": state["patch_embed.proj.weight"],
              "embeddings.patch_embeddings.projection.bias": state["patch_embed.proj.bias"],
              "layernorm.weight": state["norm.weight"], "layernorm.bias": state["norm.bias"]}
    for i in range(depth):  # transformers 5's ViT layout
        ours, theirs = f"blocks.{i}.", f"layers.{i}."
        for part, name in enumerate(("q_proj", "k_proj", "v_proj")):
            for kind in ("weight", "bias"):
                mapped[f"{theirs}attention.{name}.{kind}"] = state[f"{ours}attn.qkv.{kind}"].chunk(3)[part]
        for src, dst in (("attn.proj", "attention.o_proj"), ("norm1", "layernorm_before"),
                         ("norm2", "layernorm_after"), ("mlp.fc1", "mlp.fc1"), ("mlp.fc2", "mlp.fc2")):
            for kind in ("weight", "bias"):
                mapped[f"{theirs}{dst}.{kind}"] = state[f"{ours}{src}.{kind}"]
    reference = ViTModel(config, add_pooling_layer=False).eval()
    reference.load_state_dict(mapped, strict=True)
    pixels = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = reference(pixel_values=pixels).last_hidden_state[:, 0]
        assert torch.allclose(dino(pixels), expected, atol=1e-4)


# --------------------------------------------------------------------------------------------------- dynamic degree


def vbench_raft_state(torchvision_state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision's raft_large keys -> the original RAFT's (VBench's third_party/RAFT), which torchvision's were
    ported from; the original's shared `norm3` (its downsample's norm) gets the same tensors."""
    renames = [("feature_encoder.", "fnet."), ("context_encoder.", "cnet."), ("convnormrelu.0.", "conv1."),
               ("convnormrelu.1.", "norm1."), ("convnormrelu1.0.", "conv1."), ("convnormrelu1.1.", "norm1."),
               ("convnormrelu2.0.", "conv2."), ("convnormrelu2.1.", "norm2."),
               ("update_block.motion_encoder.", "update_block.encoder."), ("encoder.convcorr1.0.", "encoder.convc1."),
               ("encoder.convcorr2.0.", "encoder.convc2."), ("encoder.convflow1.0.", "encoder.convf1."),
               ("encoder.convflow2.0.", "encoder.convf2."), ("encoder.conv.0.", "encoder.conv."),
               ("recurrent_block.convgru1.convz", "gru.convz1"), ("recurrent_block.convgru1.convr", "gru.convr1"),
               ("recurrent_block.convgru1.convq", "gru.convq1"), ("recurrent_block.convgru2.convz", "gru.convz2"),
               ("recurrent_block.convgru2.convr", "gru.convr2"), ("recurrent_block.convgru2.convq", "gru.convq2"),
               ("mask_predictor.convrelu.0.", "update_block.mask.0."), ("mask_predictor.conv.", "update_block.mask.2."),
               ("fnet.conv.", "fnet.conv2."), ("cnet.conv.", "cnet.conv2.")]
    out = {}
    for key, value in torchvision_state.items():
        for old, new in renames:
            key = key.replace(old, new)
        out[key] = value
        if ".downsample.1." in key:
            out[key.replace(".downsample.1.", ".norm3.")] = value
    return out


def stand_in(tiny_models_dir: Path, name: str, build) -> Path:
    """A stand-in without a manifest entry (build_all does not make those), built into models/encoders once."""
    path = tiny_models_dir / vbench.MODEL_FOLDER / name
    if not path.is_file():
        build(path)
    return path


@pytest.fixture(scope="module")
def raft_stand_in(tiny_models_dir) -> Path:
    return stand_in(tiny_models_dir, vbench.RAFT_TINY_FILENAME, build_raft)


def test_dynamic_degree_matches_vbench(raft_stand_in, reference_code, tmp_path):
    from easydict import EasyDict
    from safetensors.torch import load_file
    from vbench.third_party.RAFT.core.raft import RAFT

    ours_raft = vbench.load_raft()
    assert ours_raft is not None and ours_raft.tiny
    original = RAFT(EasyDict({"small": False, "mixed_precision": False, "alternate_corr": False}))
    original.load_state_dict(vbench_raft_state(load_file(str(raft_stand_in))), strict=True)
    detector = reference_code.dynamic.DynamicDegree.__new__(reference_code.dynamic.DynamicDegree)  # no ckpt load
    detector.args, detector.device, detector.model = None, "cpu", original.eval()
    seen: list[list[float]] = []
    decide = detector.check_move
    detector.check_move = lambda scores: seen.append(list(scores)) or decide(scores)
    # (fps, frames, height, width): VBench samples every round(fps / 8)th frame: 2, 3 and 1 here, so 2, 1 and 1
    # pairs, needing round(4 * samples / 16) = 1, 0, 0 of them above the threshold; 130 pixels pad to 136 (RAFT's
    # sintel padding), 128 needs none.
    for index, (fps, count, height, width) in enumerate([(16, 5, 130, 128), (24, 4, 128, 136), (8, 2, 128, 130)]):
        path = write_mp4(tmp_path / f"motion{index}.mp4", synthetic_clip(count, height, width, seed=10 + index), fps)
        expected = detector.infer(str(path))
        ours = vbench.dynamic_degree_details(chunks_of(opencv_frames(path), 2), fps, ours_raft)
        assert len(ours.pair_scores) == len(seen[-1]) == (2 if index == 0 else 1), path.name
        assert np.allclose(ours.pair_scores, seen[-1], atol=TOLERANCE), (ours.pair_scores, seen[-1])
        assert ours.dynamic == expected
        assert ours.threshold == detector.params["thres"] and ours.pairs_needed == detector.params["count_num"]


def test_dynamic_degree_refuses_frames_raft_cannot_take(raft_stand_in):
    with pytest.raises(ValueError, match="at least 128 pixels"):
        vbench.dynamic_degree([torch.rand(3, 64, 200, 3)], 8, vbench.load_raft())
    with pytest.raises(ValueError, match="'fps' must be a positive"):
        vbench.dynamic_degree([torch.rand(3, 128, 128, 3)], 0, vbench.load_raft())


# --------------------------------------------------------------------------------------------------- face identity


def test_face_identity_counts_faceless_frames_and_scores_the_rest(tiny_models_dir):
    from longform_pack.core.meter.faces import face_identity
    from test_identity import face_picture

    face, other = face_picture(), face_picture(skin=(200, 150, 120), background=(20, 120, 60))
    noise = torch.rand(1, 96, 96, 3, generator=torch.Generator().manual_seed(3))
    result = face_identity([torch.cat([face, noise]), torch.cat([other, face])], face)
    assert result["faceless"] == 1 and result["per_frame"][1] is None
    assert result["per_frame"][0] == pytest.approx(1.0, abs=1e-5) and result["per_frame"][3] == pytest.approx(1.0, abs=1e-5)
    assert -1.0 <= result["per_frame"][2] < 0.9999
    assert result["mean"] == pytest.approx(np.mean([v for v in result["per_frame"] if v is not None]))
    with pytest.raises(ValueError, match="No face found in 'reference'"):
        face_identity([face], noise)


def test_face_identity_is_none_without_the_face_pack(tmp_path):
    from longform_pack.core import host
    from longform_pack.core.meter.faces import face_identity

    previous = host.models_dir()
    host.set_models_dir(tmp_path)
    try:
        assert face_identity([torch.rand(2, 32, 32, 3)], torch.rand(1, 32, 32, 3)) is None
        assert features.load_feature_model("dino_vitb16") is None
        assert vbench.load_raft() is None and vbench.load_interpolator() is None
    finally:
        host.set_models_dir(previous)


# --------------------------------------------------------------------------------------------------- motion smoothness


@pytest.fixture(scope="module")
def amt_stand_in(tiny_models_dir) -> Path:
    return stand_in(tiny_models_dir, vbench.AMT_TINY_FILENAME, build_amt)


def vbench_amt(reference_code, path: Path) -> torch.nn.Module:
    """VBench's own AMT-S network (third_party/amt) holding the stand-in's weights."""
    import importlib

    network = importlib.import_module("vbench.third_party.amt.networks.AMT-S").Model(corr_radius=3, corr_lvls=4,
                                                                                      num_flows=3)
    network.load_state_dict(torch.load(str(path), weights_only=True)["state_dict"], strict=True)
    return network.eval()


def test_amt_s_equals_vbench_network(amt_stand_in, reference_code):
    ours = vbench.load_interpolator()
    assert ours is not None and ours.tiny
    theirs = vbench_amt(reference_code, amt_stand_in)
    generator = torch.Generator().manual_seed(8)
    first, second = torch.rand(2, 3, 128, 160, generator=generator), torch.rand(2, 3, 128, 160, generator=generator)
    with torch.no_grad():
        expected = torch.cat([theirs(first[i : i + 1], second[i : i + 1], torch.tensor(0.5).view(1, 1, 1, 1),
                                     scale_factor=1.0, eval=True)["imgt_pred"] for i in range(2)])
    assert torch.allclose(ours.middle(first, second), expected, atol=1e-4)


def test_motion_smoothness_matches_vbench(amt_stand_in, reference_code, tmp_path):
    scorer = reference_code.smoothness.MotionSmoothness.__new__(reference_code.smoothness.MotionSmoothness)
    scorer.device, scorer.niters = "cpu", 1
    scorer.initialization()  # its CPU settings: no downscaling
    scorer.model = vbench_amt(reference_code, amt_stand_in)
    interpolator = vbench.load_interpolator()
    # An odd and an even frame count (the even one leaves a last odd frame unscored); 136 pads to 144.
    for index, (count, height, width) in enumerate([(7, 128, 144), (8, 136, 128), (5, 128, 128)]):
        path = write_mp4(tmp_path / f"smooth{index}.mp4", synthetic_clip(count, height, width, seed=20 + index), 8)
        ours = vbench.motion_smoothness(chunks_of(opencv_frames(path), 3), interpolator)
        assert abs(ours - scorer.motion_score(str(path))) <= TOLERANCE, path.name
        assert 0.0 < ours < 1.0


def test_motion_smoothness_errors_name_the_metric(amt_stand_in):
    with pytest.raises(ValueError, match="motion_smoothness.*at least 3 frames"):
        vbench.motion_smoothness([torch.rand(2, 128, 128, 3)], vbench.load_interpolator())
    with pytest.raises(ValueError, match="motion_smoothness.*at least 128 pixels"):
        vbench.motion_smoothness([torch.rand(3, 96, 160, 3)], vbench.load_interpolator())


def test_the_report_folds_the_vbench_figures_into_its_one_cached_pass(raft_stand_in, amt_stand_in, tmp_path,
                                                                      monkeypatch):
    """The report's single pass (chunks of 4, so pairs and triples straddle chunks) gives what VBench's functions
    above give, each model seeing each frame once; a re-run from the cache embeds and scores nothing again."""
    from PIL import Image

    from longform_pack.core.meter import frames, measure
    from longform_pack.core.meter import report as meter_report

    clip = synthetic_clip(11, 128, 136, seed=30)
    paths = []
    for k, picture in enumerate(clip):
        paths.append(tmp_path / f"frame_{k:06d}.png")
        Image.fromarray(picture).save(paths[-1])
    monkeypatch.setattr(measure, "CHUNK_FRAMES", 4)
    models = meter_report.meter_models()
    assert all(m is not None for m in (models.subject, models.background, models.raft, models.interpolator))
    calls = {"embed": 0, "flow": 0, "middle": 0}
    for network, method in ((models.subject, "embed"), (models.raft, "flow"), (models.interpolator, "middle")):
        original = getattr(network, method)
        monkeypatch.setattr(network, method, lambda *a, _f=original, _m=method: calls.__setitem__(_m, calls[_m] + 1)
                            or _f(*a))
    source = frames.FileFrames(paths, 16.0)
    report = meter_report.video_report(source, cache_dir=tmp_path / "cache")
    whole = report.summary()["whole"]
    assert calls == {"embed": 3, "flow": 3, "middle": 3}  # 3 chunks: pairs and triples end at frames 2, 4, 6, 8, 10
    alone = torch.from_numpy(clip).float() / 255.0
    expected = {"subject_consistency": vbench.subject_consistency(chunks_of(alone), models.subject),
                "background_consistency": vbench.background_consistency(chunks_of(alone), models.background),
                "temporal_flickering": vbench.temporal_flickering(chunks_of(alone)),
                "motion_smoothness": vbench.motion_smoothness(chunks_of(alone), models.interpolator)}
    for metric, value in expected.items():
        assert abs(whole[metric]["value"] - value) <= 2e-6, metric
    details = vbench.dynamic_degree_details(chunks_of(alone), 16.0, models.raft)
    assert np.allclose(report.measures.vbench["dynamic_degree"].pair_scores, details.pair_scores, atol=TOLERANCE)
    assert whole["dynamic_degree"]["value"] == float(details.dynamic)
    assert whole["dynamic_degree"]["pairs"] == 5 and whole["dynamic_degree"]["pairs_needed"] == details.pairs_needed

    calls.update(embed=0, flow=0, middle=0)
    again = meter_report.video_report(frames.FileFrames(paths, 16.0), cache_dir=tmp_path / "cache")
    assert calls == {"embed": 0, "flow": 0, "middle": 0}
    assert {m: again.summary()["whole"][m]["value"] for m in expected} == {m: whole[m]["value"] for m in expected}


def test_a_video_too_small_for_raft_and_amt_is_reported_not_measured_with_why(raft_stand_in, amt_stand_in):
    from longform_pack.core.meter import frames
    from longform_pack.core.meter import report as meter_report

    small = frames.BatchFrames(torch.from_numpy(synthetic_clip(6, 64, 96, seed=31)).float() / 255.0, 16.0, "small")
    whole = meter_report.video_report(small).summary()["whole"]
    for metric in ("dynamic_degree", "motion_smoothness"):
        assert whole[metric]["value"] is None and "at least 128 pixels" in whole[metric]["not_measured"], metric
    assert whole["subject_consistency"]["value"] is not None and whole["temporal_flickering"]["value"] is not None
