"""A stand-in for branch meter-vbench's core/meter/features.py and vbench.py, installed only while those files are
absent, so the meter's own tests run before the two branches are merged. Same interface; VBench's formulas for
temporal flickering and subject/background consistency; the 'feature model' is a colour layout (mean RGB of a 4x4
grid, L2-normalised), no RAFT and no interpolator."""

import importlib.util
import sys
import types

import torch

PACKAGE = "longform_pack.core.meter"


class GridFeatures:
    """frames [n, h, w, 3] in 0..1 -> [n, 48] unit vectors."""

    def __init__(self, name):
        self.name, self.manifest_id = name, f"standin_{name}"

    def embed(self, frames):
        pooled = torch.nn.functional.adaptive_avg_pool2d(frames.permute(0, 3, 1, 2), 4).flatten(1)
        return torch.nn.functional.normalize(pooled - 0.5, dim=-1)


def _consistency(chunks, model):
    """VBench: per frame after the first, (max(0, cos to previous) + max(0, cos to first)) / 2, averaged."""
    first = previous = None
    total, count = 0.0, 0
    for chunk in chunks:
        for vector in model.embed(chunk):
            if first is None:
                first = vector
            else:
                total += (max(0.0, float(vector @ previous)) + max(0.0, float(vector @ first))) / 2
                count += 1
            previous = vector
    return total / max(count, 1)


def _flickering(chunks):
    """VBench: (255 - mean absolute difference of consecutive uint8 frames) / 255."""
    previous, total, count = None, 0.0, 0
    for chunk in chunks:
        for frame in (chunk * 255).round():
            if previous is not None:
                total += float((frame - previous).abs().mean())
                count += 1
            previous = frame
    return (255.0 - total / max(count, 1)) / 255.0


def install():
    """Put the stand-in modules in sys.modules unless the real ones exist (or are already installed)."""
    if f"{PACKAGE}.features" in sys.modules or importlib.util.find_spec(f"{PACKAGE}.features") is not None:
        return
    features = types.ModuleType(f"{PACKAGE}.features")
    features.FeatureModel = GridFeatures
    features.MISSING = {"dino_vitb16": "dino_vitb16", "clip_vitb32": "clip_vitb32"}
    features.load_feature_model = GridFeatures
    vbench = types.ModuleType(f"{PACKAGE}.vbench")
    vbench.subject_consistency = vbench.background_consistency = _consistency
    vbench.temporal_flickering = _flickering
    vbench.dynamic_degree = lambda chunks, fps, raft: None
    vbench.motion_smoothness = lambda chunks, interpolator: None
    vbench.load_raft = vbench.load_interpolator = lambda: None
    vbench.NOT_MEASURED = {"subject_consistency": "dino_vitb16", "background_consistency": "clip_probe",
                           "dynamic_degree": "models/encoders/raft_large_C_T_V1.safetensors",
                           "motion_smoothness": "models/encoders/amt-s.pth"}
    sys.modules[features.__name__], sys.modules[vbench.__name__] = features, vbench
    package = sys.modules[PACKAGE]
    package.features, package.vbench = features, vbench
