"""Face analysis with insightface on onnxruntime: detect faces, keep the largest, return its ArcFace embedding.

The pack is a folder of ONNX files (`models/insightface/models/<name>/*.onnx`, as `FaceAnalysis` expects). The provider
follows the host's device (ComfyUI's inside ComfyUI, so `--cpu` means the CPU provider): CUDA when that device is a
GPU and onnxruntime offers it, otherwise the CPU. Only CPU sessions are cached: a CUDA session holds GPU memory that
ComfyUI's memory manager cannot reclaim, so it lives as long as the call that made it. insightface, onnxruntime and cv2 are imported
inside the functions so that importing the pack stays fast.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from . import host, images, tiny_marker
from .model_files import check_onnx

logger = logging.getLogger("LongForm")

FOLDER = "insightface"
DETECTION_SIZE = (640, 640)  # the buffalo_l detector's usual input; a detector with a fixed input size keeps its own

_ANALYZERS: dict[tuple[str, tuple[str, ...]], object] = {}
# The execution provider each pack's recognition session last ran on, by pack folder: the nodes' info output names it.
_PROVIDERS_USED: dict[str, str] = {}


@host.release_on_unload
def clear_cache() -> None:
    """Forget the cached face analyzers (their ONNX sessions); also when ComfyUI unloads its models."""
    _ANALYZERS.clear()


@dataclass(frozen=True)
class FaceResult:
    """The largest face of one picture: box (x1, y1, x2, y2) in pixels, detector score, L2-normalised embedding."""

    box: tuple[float, float, float, float]
    score: float
    embedding: np.ndarray  # [512] float32, unit length (insightface's `normed_embedding`)


def providers() -> list[str]:
    """onnxruntime providers for the host's device: CUDA first when it is a GPU and onnxruntime has it, else CPU."""
    import onnxruntime

    available = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" in available and host.torch_device().type == "cuda":
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _checked_pack(folder: Path, field: str) -> bool:
    """Check every .onnx file of a pack (empty, truncated, another format: the pack's error); True when tiny."""
    models = [check_onnx(path, field) for path in sorted(folder.glob("*.onnx"))]
    return any(tiny_marker.is_tiny({prop.key: prop.value for prop in model.metadata_props}) for model in models)


def load_analyzer(pack: str):
    """The insightface `FaceAnalysis` (detection + recognition) for the pack folder `pack` in models/insightface,
    cached when it runs on the CPU.

    `pack` is the folder's path relative to models/insightface, e.g. "models/buffalo_l" (the manifest's filename).
    """
    folder = host.model_path(FOLDER, pack)
    if not folder.is_dir() or not any(folder.glob("*.onnx")):
        raise FileNotFoundError(
            f"insightface pack '{pack}' ({folder}) is not a folder of .onnx files. Unpack buffalo_l.zip there "
            "(`python install.py --models identity`) so that it holds det_10g.onnx and w600k_r50.onnx."
        )
    chosen = providers()
    key = (str(folder), tuple(chosen))
    analyzer = _ANALYZERS.get(key)
    if analyzer is None:
        from insightface.app import FaceAnalysis

        pack_is_tiny = _checked_pack(folder, "insightface")
        analyzer = FaceAnalysis(name=str(folder), allowed_modules=["detection", "recognition"], providers=chosen)
        if "recognition" not in analyzer.models:
            raise FileNotFoundError(f"'insightface': the pack '{pack}' ({folder}) has no recognition model (ArcFace "
                                    ".onnx). Fix: unpack buffalo_l.zip again with `python install.py --models "
                                    "identity` (it verifies the sha256).")
        analyzer.prepare(ctx_id=0 if chosen[0] == "CUDAExecutionProvider" else -1, det_size=DETECTION_SIZE)
        if pack_is_tiny:
            tiny_marker.warn_if_tiny(dict(tiny_marker.TINY_METADATA), folder)
        if chosen == ["CPUExecutionProvider"]:
            _ANALYZERS[key] = analyzer
    # What the session really runs on: onnxruntime falls back to the CPU when the CUDA libraries fail to load.
    used = analyzer.models["recognition"].session.get_providers()[0]
    if _PROVIDERS_USED.get(str(folder)) != used:
        logger.info("insightface pack %s on %s", folder.name, used)
    _PROVIDERS_USED[str(folder)] = used
    return analyzer


def provider_report(pack: str) -> str:
    """A line for a node's info output: the onnxruntime execution provider the pack's faces ran on, and, when ComfyUI
    runs on CUDA but the faces ran on the CPU, a warning saying how to get onnxruntime's GPU build (also logged)."""
    used = _PROVIDERS_USED.get(str(host.model_path(FOLDER, pack)), "not run")
    line = f"faces: insightface on onnxruntime {used}"
    if used != "CPUExecutionProvider" or host.torch_device().type != "cuda":
        return line
    import onnxruntime

    warning = (f"WARNING: ComfyUI runs on CUDA but FaceID ran on the CPU (onnxruntime {onnxruntime.__version__} offers "
               f"{', '.join(onnxruntime.get_available_providers())}). Fix: with ComfyUI's Python, `pip uninstall -y "
               "onnxruntime onnxruntime-gpu` then `pip install onnxruntime-gpu` (or run the pack's install.py again), "
               "and restart ComfyUI; if onnxruntime-gpu is installed, check that its CUDA 12 and cuDNN 9 libraries load.")
    logger.warning("%s", warning)
    return f"{line}\n{warning}"


def largest_face(faces: list) -> object | None:
    """The face with the largest box (insightface `Face` objects or anything with `.bbox`), or None."""
    if not faces:
        return None
    return max(faces, key=lambda face: float((face.bbox[2] - face.bbox[0]) * (face.bbox[3] - face.bbox[1])))


def analyse(picture: np.ndarray, pack: str) -> FaceResult | None:
    """The largest face in one RGB uint8 [H, W, 3] picture, or None when the detector finds none."""
    analyzer = load_analyzer(pack)
    face = largest_face(analyzer.get(np.ascontiguousarray(picture[..., ::-1])))  # insightface wants BGR, like cv2
    if face is None:
        return None
    embedding = np.asarray(face.normed_embedding, dtype=np.float32)
    return FaceResult(tuple(float(v) for v in face.bbox[:4]), float(face.det_score), embedding)


def to_uint8(batch: torch.Tensor, field: str) -> list[np.ndarray]:
    """An IMAGE batch as RGB uint8 arrays; the error names `field`."""
    return list(images.to_uint8(images.check_image_batch(batch, field)))


FACEID_HINT = (
    "FaceID needs a clearly visible face: use a picture with a face, or switch to the non-FaceID IP-Adapter "
    "(ip-adapter_sd15 or ip-adapter-plus_sd15), which takes the whole picture."
)


def face_embeddings(batch: torch.Tensor, pack: str, field: str = "reference", hint: str = FACEID_HINT) -> torch.Tensor:
    """[B, 512] embeddings of the largest face of every picture in an IMAGE batch; raises (with `hint`) if one has
    no face."""
    embeddings = []
    for index, picture in enumerate(to_uint8(batch, field)):
        result = analyse(picture, pack)
        if result is None:
            raise ValueError(f"No face found in '{field}' image {index} (of {batch.shape[0]}). {hint}")
        embeddings.append(torch.from_numpy(result.embedding))
    return torch.stack(embeddings)
