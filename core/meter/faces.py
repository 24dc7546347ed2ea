"""Face identity across a video: insightface's ArcFace cosine to a reference face, frame by frame.

Not a VBench metric (VBench has none for identity). With insightface's buffalo_l pack (manifest entry
`insightface_buffalo_l`) each frame goes through the pack's SCRFD detector (det_10g), its largest face is
aligned to ArcFace's 112x112 template from its five landmarks, and the recognition model (w600k_r50) gives a unit
vector; the frame's identity is the cosine of that vector to the reference face's. A frame with no detected face
counts as faceless and has no cosine. Detection, alignment and embedding are `core/faces.py`'s (shared with FaceID).
When the pack is not installed the report falls back to CLIP identity, under that name.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch

from .. import faces
from .. import images as image_utils
from ..identity_score import cosine_to_reference
from .features import installed_file
from .vbench import StreamMeter, measure

FACE_PACK_ENTRY = "insightface_buffalo_l"


class FaceIdentityMeter(StreamMeter):
    """Per frame, the cosine of its largest face's ArcFace embedding to the reference's; see `face_identity`."""

    metric = "face_identity"

    def __init__(self, reference: torch.Tensor, pack: str):
        super().__init__()
        self.pack = pack
        self.reference = faces.face_embeddings(image_utils.check_image_batch(reference, "reference"), pack, "reference",
                                               hint="Give a reference picture with a clearly visible face.")
        self.per_frame: list[float | None] = []

    def _take(self, chunk: torch.Tensor) -> None:
        for picture in faces.to_uint8(chunk, "frames"):
            found = faces.analyse(picture, self.pack)
            self.per_frame.append(None if found is None else
                                  cosine_to_reference(torch.from_numpy(found.embedding)[None], self.reference)[0])

    def result(self) -> dict:
        measured = [value for value in self.per_frame if value is not None]
        return {
            "mean": float(np.mean(measured)) if measured else None,
            "per_frame": list(self.per_frame),
            "faceless": len(self.per_frame) - len(measured),
        }


def face_meter(reference: torch.Tensor) -> FaceIdentityMeter | None:
    """A face-identity meter against `reference`, or None when insightface's pack is not installed."""
    pack = installed_file(FACE_PACK_ENTRY)
    return None if pack is None else FaceIdentityMeter(reference, pack)


def face_identity(chunks: Iterable[torch.Tensor], reference: torch.Tensor) -> dict | None:
    """{mean, per_frame, faceless} for a video against the face in `reference` (an IMAGE; several pictures count
    equally, as in the identity score), or None when insightface's pack is not installed.

    per_frame holds one cosine in -1..1 per frame, None where no face was found; faceless counts those frames; mean
    is the mean cosine over the frames with a face (None when no frame has one). A reference picture without a face
    is a ValueError.
    """
    meter = face_meter(reference)
    if meter is None:
        return None
    measure(chunks, meter)
    return meter.result()
