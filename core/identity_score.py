"""Identity score: how closely each frame keeps a reference's identity, a measurement beside the clip report.

Per frame, the cosine of its CLIP image embedding with the reference's and, with an insightface pack, of its largest
face's ArcFace embedding. The CLIP embeddings come from ComfyUI's CLIP_VISION (the ViT-H the identity lock already
uses) or from the probe's CLIP file in models/encoders.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from . import clip_vision as vision
from . import host, images

Embedder = Callable[[torch.Tensor], torch.Tensor]  # IMAGE batch -> [B, D] embeddings


@dataclass(frozen=True)
class IdentityScores:
    """Per-frame cosine similarities to the reference (frame order kept); `face` is None without a face pack and
    NaN for frames where no face was found."""

    clip: list[float]
    face: list[float] | None = None
    face_provider: str = ""  # the onnxruntime provider line of core/faces.py provider_report, with a face pack

    @property
    def clip_mean(self) -> float:
        """Mean CLIP cosine over the frames."""
        return float(np.mean(self.clip))

    @property
    def clip_min(self) -> float:
        """Lowest CLIP cosine over the frames."""
        return float(np.min(self.clip))

    @property
    def faces_missing(self) -> int:
        """Frames in which no face was found (0 without a face pack)."""
        return 0 if self.face is None else int(np.isnan(self.face).sum())

    def face_stats(self) -> tuple[float, float] | None:
        """(mean, min) of the face cosines over frames with a face, None without a face pack or with no face at all."""
        if self.face is None or self.faces_missing == len(self.face):
            return None
        found = np.array(self.face)[~np.isnan(self.face)]
        return float(found.mean()), float(found.min())

    def summary(self) -> str:
        """Mean and min as one or two lines of text."""
        lines = [f"CLIP identity: mean {self.clip_mean:.4f}, min {self.clip_min:.4f} over {len(self.clip)} frames"]
        stats = self.face_stats()
        if self.face is not None:
            if stats is None:
                lines.append("Face identity: no face found in any frame")
            else:
                missing = f" ({self.faces_missing} frames without a face)" if self.faces_missing else ""
                lines.append(f"Face identity: mean {stats[0]:.4f}, min {stats[1]:.4f}{missing}")
        if self.face_provider:
            lines.append(self.face_provider)
        return "\n".join(lines)


def cosine_to_reference(frames: torch.Tensor, reference: torch.Tensor) -> list[float]:
    """Cosine of each frame vector [N, D] with the reference direction: the mean of the references' unit vectors
    [R, D], itself made unit length, so every reference counts the same whatever its norm and a frame pointing
    along that mean scores 1."""
    unit = torch.nn.functional.normalize
    target = unit(unit(reference.float(), dim=-1).mean(0), dim=0)
    return unit(frames.float(), dim=-1).matmul(target).clamp(-1, 1).tolist()


def embedder(clip_vision=None, probe_encoder: str = "") -> Embedder:
    """IMAGE batch -> CLIP image embeddings, from a CLIP_VISION or from the probe's CLIP file (models/encoders);
    exactly one of the two."""
    if (clip_vision is None) == (not probe_encoder):
        raise ValueError(
            "Choose exactly one image encoder for the identity score: a CLIP_VISION (core Load CLIP Vision, e.g. the "
            "IP-Adapter's ViT-H) or a probe CLIP file in models/encoders; got "
            f"clip_vision={'connected' if clip_vision is not None else 'none'}, probe encoder='{probe_encoder}'."
        )
    if clip_vision is not None:
        vision.check_clip_vision(clip_vision)
        return lambda batch: vision.image_embeds(clip_vision, batch)
    from .encoders import load_encoder

    probe = load_encoder("clip", probe_encoder)
    return lambda batch: probe.encode_images(batch).vectors


def identity_scores(frames: torch.Tensor, reference: torch.Tensor, embed: Embedder,
                    insightface_pack: str = "") -> IdentityScores:
    """Per frame, the cosine of its embedding (`embed`, see `embedder`) with the reference's, and of its largest
    face's insightface embedding when `insightface_pack` is given (NaN where no face is found). Several reference
    pictures count equally (`cosine_to_reference`)."""
    frames = images.check_image_batch(frames, "frames")
    reference = images.check_image_batch(reference, "reference")
    reference_clip = embed(reference)
    frame_clip = []
    with host.progress(frames.shape[0], "identity score") as bar:
        for chunk in frames.split(vision.CHUNK):
            frame_clip.append(embed(chunk))
            bar.update(chunk.shape[0])
    clip = cosine_to_reference(torch.cat(frame_clip), reference_clip)
    face, face_provider = None, ""
    if insightface_pack:
        from .faces import analyse, face_embeddings, provider_report, to_uint8

        hint = "Use a reference with a visible face, or set the face pack to none to score with CLIP only."
        reference_face = face_embeddings(reference, insightface_pack, "reference", hint)
        face = []
        with host.progress(frames.shape[0], "face identity") as bar:
            for picture in to_uint8(frames, "frames"):
                found = analyse(picture, insightface_pack)
                vector = None if found is None else torch.from_numpy(found.embedding)[None]
                face.append(math.nan if vector is None else cosine_to_reference(vector, reference_face)[0])
                bar.update()
        face_provider = provider_report(insightface_pack)
    return IdentityScores(clip=clip, face=face, face_provider=face_provider)


def plot_scores(scores: IdentityScores) -> torch.Tensor:
    """A line plot of the per-frame cosines (CLIP, and face when present) as a one-picture IMAGE batch."""
    figure = images.new_figure(8, 4)
    axes = figure.add_subplot(1, 1, 1)
    frames = np.arange(len(scores.clip))
    axes.plot(frames, scores.clip, marker="o", label=f"CLIP (mean {scores.clip_mean:.3f}, min {scores.clip_min:.3f})")
    stats = scores.face_stats()
    if scores.face is not None and stats is not None:
        axes.plot(frames, scores.face, marker="s", label=f"face (mean {stats[0]:.3f}, min {stats[1]:.3f})")
    axes.set_xlabel("frame")
    axes.set_ylabel("cosine similarity to the reference")
    axes.set_ylim(min(-0.05, float(np.nanmin(scores.clip)) - 0.05), 1.05)
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left")
    axes.set_title("Identity score per frame")
    figure.tight_layout()
    return images.from_pil(images.figure_to_pil(figure))
