"""Every figure of the meter's report: its id (each JSON figure carries one), its one-line definition, its VBench
reference where it has one, and the model it needs. docs/meter.md lists the same table (a test compares them)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Definition:
    text: str
    vbench: str = ""  # the VBench dimension it reproduces; "" for figures VBench does not give
    model: str = "none"


DEFINITIONS = {
    "subject_consistency": Definition(
        "Per frame after the first, the mean of max(0, cos) of its DINO feature to the previous and to the first "
        "frame, averaged over frames.", "subject_consistency", "DINO ViT-B/16 (manifest `dino_vitb16`)"),
    "background_consistency": Definition(
        "The same formula on CLIP ViT-B/32 image features.", "background_consistency",
        "CLIP ViT-B/32 (the probe's, manifest `clip_probe`)"),
    "temporal_flickering": Definition(
        "(255 - mean absolute difference of consecutive frames in 0..255) / 255.", "temporal_flickering"),
    "motion_smoothness": Definition(
        "How well the frame-interpolation model predicts each dropped odd frame from its neighbours.",
        "motion_smoothness", "AMT-S (`models/encoders/amt-s.pth`; no manifest entry: no published sha256)"),
    "dynamic_degree": Definition(
        "1 when RAFT flow on frames sampled at about 8 fps exceeds VBench's threshold on enough pairs, else 0.",
        "dynamic_degree", "RAFT (`models/encoders/raft_large_C_T_V1.safetensors`; no manifest entry: no published sha256)"),
    "mean_top5_flow": Definition(
        "Mean over frame pairs (sampled at about 8 fps, short side scaled to at most 256) of the mean of the largest "
        "5% of OpenCV DIS flow magnitudes (fast preset; the medium one where the pair is consecutive at full size), in "
        "pixels."),
    "static": Definition(
        "True when fewer than max(1, round(4 x sampled frames / 16)) pairs have a mean top-5% DIS flow above "
        "6 x (short side / 256) pixels: VBench's dynamic-degree rule on OpenCV flow."),
    "cuts": Definition(
        "Frames k where the RGB histogram distance (half L1, 8x8x8 bins) of frames k-1 and k is at least 0.3 and "
        "at least 3 x the scene's recent median plus 0.1."),
    "colour_delta_e": Definition(
        "CIE 1976 ΔE*ab between the mean CIELAB colours (sRGB, D65) of two frames."),
    "colour_drift": Definition(
        "ΔE*ab (CIE 1976) of each frame's mean CIELAB colour to the first frame's, and to its scene's first frame's."),
    "warp_error": Definition(
        "Frame k-1 warped onto frame k along OpenCV DIS flow, mean squared pixel error on a 0..1 scale."),
    "pixel_difference": Definition("Mean absolute difference of consecutive frames, on a 0..1 scale."),
    "drift_curve": Definition(
        "Mean cosine of frame pairs at gaps of 2, 5, 10, 20, 50 frames, 1 s and 10 s, per feature kind; and the "
        "cosine of consecutive scenes' mean features.", "", "DINO / CLIP ViT-B/32 when installed; pixel always"),
    "pixel_thumbnail_cosine": Definition(
        "Cosine of two frames' grey 16x16 thumbnails with their mean removed: a pixel-space similarity, no model."),
    "seam": Definition(
        "At each cut, crossfade or morph: the subject similarity across it and its drop below the leaving segment's "
        "median, the warp error's ratio to that median, and the ΔE*ab across it.", "",
        "DINO when installed, else the pixel thumbnail"),
    "consecutive_feature_similarity": Definition(
        "Mean cosine of consecutive frames' features: DINO ViT-B/16 (subject) or CLIP ViT-B/32 (background).", "",
        "DINO / CLIP ViT-B/32"),
    "clip_consistency": Definition("CLIP cosine of consecutive frames (the probe's CLIP).", "",
                                   "the probe's CLIP (models/encoders)"),
    "adherence": Definition("CLIP cosine of a frame with the prompt scheduled for it.", "",
                            "the probe's CLIP (models/encoders)"),
    "identity": Definition("CLIP cosine of a frame with its scene's character reference.", "",
                           "the probe's CLIP (models/encoders)"),
    "accuracy": Definition("Share of a scene's frames whose closest prompt, among every scene's, is its own.", "",
                           "the probe's CLIP (models/encoders)"),
    "prompt_switch_latency": Definition(
        "Frames from a scheduled prompt switch until the frame's CLIP adherence to the new prompt exceeds that to "
        "the old one; with the subject similarity across the switch.", "", "the probe's CLIP (models/encoders)"),
    "face_identity": Definition(
        "insightface cosine of each frame's face to the reference face; faceless frames counted.", "",
        "insightface buffalo_l (manifest `insightface_buffalo_l`)"),
}
