"""The identity lock: a ComfyUI MODEL in, a clone conditioned on a reference picture (IP-Adapter) out.

This module checks the inputs once, reads the adapter file, encodes the reference (CLIP vision for base and plus,
insightface for FaceID) and hands the features to the ComfyUI glue (core/comfy_ipadapter.py) that patches a clone of
the model. The attention maths and the file layout are in core/ipadapter.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from . import clip_vision as vision
from . import host, images, ipadapter, tiny_marker
from .checks import check_finite

logger = logging.getLogger("LongForm")

IPADAPTER_FOLDER = "ipadapter"


@dataclass(frozen=True)
class LockedModel:
    """The patched clone (or the input model itself at weight 0) and what was applied, for the node's info text."""

    model: object
    variant: str
    references: int
    weight: float
    start_at: float
    end_at: float
    faces: str = ""  # FaceID: the onnxruntime provider the faces ran on (core/faces.py provider_report)

    def info(self, name: str) -> str:
        """The node's STRING output: one line, and FaceID's provider line."""
        text = (f"{self.variant} IP-Adapter '{name}', weight {self.weight:g}, sampling {self.start_at:.2f}-"
                f"{self.end_at:.2f}, {self.references} reference image(s)")
        text += " (weight 0: model returned unpatched)" if self.weight == 0 else ""
        return f"{text}\n{self.faces}" if self.faces else text


def _check_inputs(reference, weight: float, start_at: float, end_at: float) -> tuple[torch.Tensor, float, float, float]:
    if not isinstance(reference, torch.Tensor):
        raise ValueError(
            f"'reference' must be an IMAGE (a [batch, height, width, channels] tensor); got {type(reference).__name__}. "
            "Connect a Load Image node (or any IMAGE output) to it."
        )
    reference = images.check_image_batch(reference, "reference")
    weight, start_at, end_at = (check_finite(value, name) for value, name in
                                ((weight, "weight"), (start_at, "start_at"), (end_at, "end_at")))
    if not 0.0 <= start_at < end_at <= 1.0:
        raise ValueError(
            f"'start_at' and 'end_at' must satisfy 0 <= start_at < end_at <= 1 (fractions of sampling); got "
            f"start_at={start_at}, end_at={end_at}. Example: 0.0 and 1.0 for every step."
        )
    if weight < 0:
        raise ValueError(f"'weight' must be 0 or more; got {weight}. 0 turns the identity lock off, 1 is full strength.")
    return reference, weight, start_at, end_at


def reference_features(adapter: ipadapter.AdapterFile, reference: torch.Tensor, clip_vision=None,
                       insightface_pack: str = "") -> tuple[torch.Tensor, torch.Tensor]:
    """(cond, uncond) features of the reference for the adapter's variant: the conditional half from the reference,
    the unconditional half from nothing (zeros for base and FaceID, a black picture's CLIP states for plus)."""
    if adapter.variant == "faceid":
        if not insightface_pack:
            raise ValueError(f"'insightface' must name an insightface pack (e.g. models/buffalo_l) for the FaceID "
                             f"adapter '{adapter.name}'.")
        from .faces import face_embeddings

        cond = face_embeddings(reference, insightface_pack, "reference")
        uncond = torch.zeros_like(cond)
    else:
        vision.check_clip_vision(clip_vision)
        if adapter.variant == "base":
            cond = vision.image_embeds(clip_vision, reference)
            uncond = torch.zeros_like(cond)
        else:
            cond = vision.penultimate(clip_vision, reference)
            uncond = vision.penultimate(clip_vision, torch.zeros_like(reference[:1])).expand_as(cond)
    if cond.shape[-1] != adapter.input_width:
        source = f"insightface pack '{insightface_pack}'" if adapter.variant == "faceid" else "'clip_vision'"
        raise ValueError(
            f"{source} gives {cond.shape[-1]}-wide features but the {adapter.variant} IP-Adapter '{adapter.name}' "
            f"expects {adapter.input_width}: SD 1.5 IP-Adapters need CLIP ViT-H/14 (CLIP-ViT-H-14-laion2B-s32B-b79K)"
            " for base and plus, and ArcFace (buffalo_l) embeddings for FaceID."
        )
    return cond, uncond


def read_adapter(name: str) -> ipadapter.AdapterFile:
    """The IP-Adapter file `name` in models/ipadapter, read through the checked readers (a warning for tiny files)."""
    path = host.model_path(IPADAPTER_FOLDER, name)
    adapter = ipadapter.read_adapter(path)
    tiny_marker.warn_if_tiny(adapter.metadata, path)
    return adapter


def lock_identity(model, ipadapter_name: str, reference, weight: float = 0.8, start_at: float = 0.0,
                  end_at: float = 1.0, clip_vision=None, insightface_pack: str = "") -> LockedModel:
    """A clone of the ComfyUI `model` conditioned on `reference` through the IP-Adapter file `ipadapter_name`
    (models/ipadapter). Weight 0 returns `model` itself, without reading anything.

    `reference` is an IMAGE batch: several pictures give several sets of image tokens side by side. Base and plus
    need `clip_vision` (a CLIP_VISION); FaceID needs `insightface_pack` (models/insightface, a folder).
    """
    from . import comfy_ipadapter

    reference, weight, start_at, end_at = _check_inputs(reference, weight, start_at, end_at)
    if weight == 0:
        return LockedModel(model, "none", int(reference.shape[0]), 0.0, start_at, end_at)
    adapter = read_adapter(ipadapter_name)
    cond, uncond = reference_features(adapter, reference, clip_vision, insightface_pack)
    patched = comfy_ipadapter.lock_model(model, adapter, cond, uncond, weight, start_at, end_at)
    faces = ""
    if adapter.variant == "faceid":
        from .faces import provider_report

        faces = provider_report(insightface_pack)
    return LockedModel(patched, adapter.variant, int(reference.shape[0]), float(weight), start_at, end_at, faces)
