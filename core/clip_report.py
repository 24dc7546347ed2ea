"""Clip report: how a generated clip follows its prompt schedule, how steady it is, and whether it keeps the identity.

- prompt adherence: per frame, the CLIP cosine of the frame's image embedding with the text embedding of each of the
  schedule's prompts (the probe's CLIP); where the schedule switches from prompt a to prompt b, the curves should cross;
- temporal consistency: the CLIP cosine of consecutive frames and their mean absolute pixel difference (0..1);
- identity: the identity lock's score of every frame against a reference picture (optional).

One plot (three panels) and a JSON-ready summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
from PIL import Image

from .images import check_image_batch
from .schedule import PromptSchedule
from .video import streamed_run_frames

ENCODER_KIND = "clip"


@dataclass
class ClipReport:
    """Per-frame curves of one clip and the schedule's prompt switches they are read against."""

    prompts: list[str]  # each different prompt of the schedule once
    switches: list[tuple[str, str, float]]  # (from prompt, to prompt, scheduled switch frame)
    adherence: np.ndarray  # [frames, prompts] cosine of each frame with each prompt
    consecutive_cosine: np.ndarray  # [frames - 1]
    pixel_difference: np.ndarray  # [frames - 1], mean |frame k+1 - frame k| in 0..1
    identity_clip: list[float] | None = None
    identity_face: list[float] | None = None
    identity_face_provider: str = ""  # the onnxruntime provider the faces ran on (core/faces.py provider_report)

    def crossings(self) -> list[dict]:
        """For each switch a -> b: the frame where b's adherence overtakes a's (linear interpolation between frames;
        the sign change nearest the scheduled switch), and its distance to the switch."""
        found = []
        for before, after, switch in self.switches:
            lead = self.adherence[:, self.prompts.index(after)] - self.adherence[:, self.prompts.index(before)]
            frame = crossing_frame(lead, switch)
            found.append({
                "from": before, "to": after, "switch_frame": switch,
                "crossing_frame": frame, "distance": None if frame is None else abs(frame - switch),
            })
        return found

    def summary(self) -> dict:
        """Everything as plain numbers and lists (JSON-ready); NaN face scores become None."""
        identity = None
        if self.identity_clip is not None:
            face = None if self.identity_face is None else [None if math.isnan(v) else v for v in self.identity_face]
            identity = {"clip": self.identity_clip, "clip_mean": float(np.mean(self.identity_clip)),
                        "clip_min": float(np.min(self.identity_clip)), "face": face,
                        "face_provider": self.identity_face_provider or None}
        steady = len(self.consecutive_cosine) > 0
        return {
            "frames": int(self.adherence.shape[0]),
            "prompts": self.prompts,
            "adherence": self.adherence.round(6).tolist(),
            "adherence_mean": dict(zip(self.prompts, self.adherence.mean(0).round(6).tolist())),
            "crossings": self.crossings(),
            "consecutive_cosine": self.consecutive_cosine.round(6).tolist(),
            "consecutive_cosine_mean": float(self.consecutive_cosine.mean()) if steady else None,
            "consecutive_cosine_min": float(self.consecutive_cosine.min()) if steady else None,
            "pixel_difference": self.pixel_difference.round(6).tolist(),
            "pixel_difference_mean": float(self.pixel_difference.mean()) if steady else None,
            "identity": identity,
        }

    def plot(self) -> Image.Image:
        """Adherence curves with the switches marked, temporal consistency, identity: one picture."""
        from .images import figure_to_pil, new_figure

        panels = 3 if self.identity_clip is not None else 2
        figure = new_figure(9, 2.6 * panels)
        frames = np.arange(self.adherence.shape[0])
        axes = figure.add_subplot(panels, 1, 1)
        for index, prompt in enumerate(self.prompts):
            axes.plot(frames, self.adherence[:, index], marker=".", label=prompt[:50])
        for crossing in self.crossings():
            axes.axvline(crossing["switch_frame"], color="grey", linestyle=":", linewidth=1)
            if crossing["crossing_frame"] is not None:
                axes.axvline(crossing["crossing_frame"], color="red", linestyle="--", linewidth=1)
        axes.set_ylabel("CLIP cosine")
        axes.set_title("Prompt adherence (dotted: scheduled switch, dashed: curves cross)", fontsize=10)
        axes.legend(fontsize=7, loc="best")
        axes = figure.add_subplot(panels, 1, 2)
        steps = frames[1:]
        axes.plot(steps, self.consecutive_cosine, marker=".", color="tab:blue", label="CLIP cosine, frame k-1 to k")
        axes.set_ylabel("CLIP cosine", color="tab:blue")
        twin = axes.twinx()
        twin.plot(steps, self.pixel_difference, marker=".", color="tab:orange", label="mean |pixel difference|")
        twin.set_ylabel("pixel difference", color="tab:orange")
        axes.set_title("Temporal consistency (consecutive frames)", fontsize=10)
        if panels == 3:
            axes = figure.add_subplot(panels, 1, 3)
            axes.plot(frames, self.identity_clip, marker=".", label="CLIP identity")
            if self.identity_face is not None:
                axes.plot(frames, self.identity_face, marker="x", label="face identity")
            axes.set_ylabel("cosine to reference")
            axes.set_title("Identity", fontsize=10)
            axes.legend(fontsize=7, loc="best")
        axes.set_xlabel("frame")
        figure.tight_layout()
        return figure_to_pil(figure)


def crossing_frame(lead: np.ndarray, near: float) -> float | None:
    """Where `lead` (b's adherence minus a's, per frame) goes from <= 0 to > 0, interpolated linearly; the crossing
    nearest `near` when there are several, None when b never overtakes a."""
    candidates = []
    for frame in range(len(lead) - 1):
        left, right = float(lead[frame]), float(lead[frame + 1])
        if left <= 0 < right:
            candidates.append(frame + (-left / (right - left) if right != left else 0.0))
    if not candidates:
        return None
    return min(candidates, key=lambda frame: abs(frame - near))


def report_from_vectors(
    image_vectors: torch.Tensor,
    text_vectors: torch.Tensor,
    frames: torch.Tensor,
    schedule: PromptSchedule,
    identity_clip: list[float] | None = None,
    identity_face: list[float] | None = None,
) -> ClipReport:
    """The report from CLIP image vectors [frames, D], text vectors of the schedule's distinct prompts [prompts, D]
    and the IMAGE batch."""
    prompts = schedule.distinct_prompts
    if image_vectors.shape[0] != frames.shape[0]:
        raise ValueError(f"'image_vectors' has {image_vectors.shape[0]} rows for {frames.shape[0]} frames.")
    if text_vectors.shape[0] != len(prompts):
        raise ValueError(f"'text_vectors' has {text_vectors.shape[0]} rows for {len(prompts)} distinct prompts.")
    unit_images = torch.nn.functional.normalize(image_vectors.float(), dim=-1)
    unit_texts = torch.nn.functional.normalize(text_vectors.float(), dim=-1)
    adherence = (unit_images @ unit_texts.T).numpy()
    consecutive = (unit_images[1:] * unit_images[:-1]).sum(-1).numpy()
    pixels = (frames[1:].float() - frames[:-1].float()).abs().mean(dim=(1, 2, 3)).numpy()
    return ClipReport(
        prompts=prompts, switches=schedule.switches(), adherence=adherence, consecutive_cosine=consecutive,
        pixel_difference=pixels, identity_clip=identity_clip, identity_face=identity_face,
    )


def clip_report(
    frames: torch.Tensor,
    schedule: PromptSchedule,
    encoder_name: str,
    reference: torch.Tensor | None = None,
    insightface_pack: str = "",
    video_path: str = "",
    clip_vision=None,
) -> ClipReport:
    """Report on an IMAGE batch made with `schedule`, using the probe's CLIP `encoder_name` (models/encoders) for the
    adherence and consistency curves and, with a `reference`, for the identity score (plus insightface's face score
    when `insightface_pack` is given). With the animator's `video_path` from a 'stream to disk' run, `frames` are its
    previews and every frame is read back from the run folder instead. A `clip_vision` (ComfyUI's CLIP_VISION, the
    identity lock's ViT-H) scores the identity instead of the probe's CLIP."""
    from .encoders import load_encoder

    frames = check_image_batch(frames, "frames")
    if frames.shape[0] != schedule.frame_count and video_path:
        frames = streamed_run_frames(video_path, schedule.frame_count)
    if frames.shape[0] != schedule.frame_count:
        raise ValueError(f"'frames' has {frames.shape[0]} frames but the schedule has {schedule.frame_count}: connect "
                         "the animator's full output (not a streamed preview) and the schedule it was made with.")
    encoder = load_encoder(ENCODER_KIND, encoder_name)
    image_vectors = encoder.encode_images(frames).vectors
    text_vectors = encoder.encode_texts(schedule.distinct_prompts, truncate=True).vectors
    identity_clip = identity_face = None
    face_provider = ""
    if reference is not None:
        from .identity_score import embedder, identity_scores

        embed = embedder(clip_vision=clip_vision) if clip_vision is not None else embedder(probe_encoder=encoder_name)
        scores = identity_scores(frames, reference, embed, insightface_pack)
        identity_clip, identity_face, face_provider = scores.clip, scores.face, scores.face_provider
    report = report_from_vectors(image_vectors, text_vectors, frames, schedule, identity_clip, identity_face)
    return replace(report, identity_face_provider=face_provider)
