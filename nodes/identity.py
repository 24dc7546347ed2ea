"""Identity lock nodes: attach an IP-Adapter (base, plus, FaceID) to the stylizer's pipeline; score identity per frame."""

from __future__ import annotations

from ..core import host, identity, manifest
from ..core.checks import validate_inputs

CATEGORY = "LongForm/identity"
PIPELINE = "LF_PIPELINE"
NO_FACES = "none"
ENCODER_FOLDERS = (identity.CLIP_VISION_FOLDER, "encoders")


def _with_manifest(folder: str, installed: list[str]) -> list[str]:
    """Installed files first, then the manifest's files for `folder` that are missing (choosing one gives an error
    that names the manifest entry and the install command)."""
    missing = [item.filename for item in manifest.entries_for_folder(folder) if item.filename not in installed]
    return installed + missing


def _adapters() -> list[str]:
    return _with_manifest(identity.IPADAPTER_FOLDER, host.list_models(identity.IPADAPTER_FOLDER, (".safetensors", ".bin")))


def _clip_visions() -> list[str]:
    return _with_manifest(identity.CLIP_VISION_FOLDER, host.list_models(identity.CLIP_VISION_FOLDER, (".safetensors",)))


def _face_packs() -> list[str]:
    """insightface packs as "models/<name>" (FaceAnalysis's root/models/<name> layout)."""
    packs = sorted(
        f"models/{path.name}"
        for base in host.model_folder_paths("insightface")
        if (base / "models").is_dir()
        for path in (base / "models").iterdir()
        if path.is_dir()
    )
    return _with_manifest("insightface", packs)


def _score_encoders() -> list[str]:
    """CLIP image encoders for the score, as "<folder>/<file>": models/clip_vision, then the probe's models/encoders."""
    return [f"{identity.CLIP_VISION_FOLDER}/{name}" for name in _clip_visions()] + [
        f"encoders/{name}" for name in host.list_models("encoders", (".safetensors",))
    ]


class LF_IdentityLock:
    """Pipeline in -> the same pipeline with an IP-Adapter identity lock on its runs."""

    DESCRIPTION = (
        "Keeps one character's identity across frames: attaches an SD 1.5 IP-Adapter to the pipeline so that every "
        "image it makes is conditioned on the reference picture(s). The variant (base, plus, FaceID) is read from the "
        "weights. Base and plus take the whole picture through the CLIP vision encoder; FaceID takes the face's "
        "insightface embedding (the largest face). The shared pipeline is only changed while this pipeline runs; "
        "weight 0 returns the pipeline untouched."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = (PIPELINE, "STRING")
    RETURN_NAMES = ("pipeline", "info")
    OUTPUT_TOOLTIPS = (
        "The same pipeline with the identity lock on every run (connect it to LF Stylize or the animator).",
        "The variant read from the weights, the weight, the step window and the number of reference images.",
    )
    FUNCTION = "lock"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "pipeline": (PIPELINE, {"tooltip": "From the LongForm pipeline loader (SD 1.5, optionally ControlNet)."}),
                "reference": ("IMAGE", {"tooltip": "The character to keep. Several images (a batch) are used together."}),
                "ipadapter": (_adapters(), {"tooltip": "IP-Adapter weights in models/ipadapter: ip-adapter_sd15, "
                              "ip-adapter-plus_sd15 (more detail) or ip-adapter-faceid_sd15.bin (face only)."}),
                "weight": ("FLOAT", {"default": 0.8, "min": 0.0, "max": 2.0, "step": 0.05, "tooltip": "Strength of "
                           "the reference. 0 = no IP-Adapter at all; 0.6-1.0 is usual; higher copies the picture."}),
                "start": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Fraction of "
                          "the sampling steps at which the adapter starts acting (0 = from the first step)."}),
                "end": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Fraction of the "
                        "sampling steps at which it stops (1 = to the last). Ending early frees pose and detail."}),
                "clip_vision": (_clip_visions(), {"tooltip": "CLIP ViT-H/14 image encoder in models/clip_vision, used "
                                "by the base and plus variants (FaceID ignores it)."}),
                "insightface": (_face_packs(), {"tooltip": "insightface pack (models/insightface/models/<name>, e.g. "
                                "buffalo_l), used by FaceID only: detection + ArcFace recognition on onnxruntime."}),
            }
        }

    @classmethod
    def VALIDATE_INPUTS(cls, weight, start, end):
        return validate_inputs(cls, {"weight": weight, "start": start, "end": end})

    def lock(self, pipeline, reference, ipadapter, weight, start, end, clip_vision, insightface):
        locked, lock = identity.lock_identity(
            pipeline, ipadapter, reference, weight, start, end, clip_vision_name=clip_vision, insightface_pack=insightface
        )
        info = (
            f"{lock.variant} IP-Adapter '{ipadapter}', weight {weight}, steps {start:.2f}-{end:.2f}, "
            f"{reference.shape[0]} reference image(s)" + (" (weight 0: not attached)" if weight == 0 else "")
        )
        return (locked, info)


class LF_IdentityScore:
    """Frames + reference -> per-frame identity similarity plot and mean/min."""

    DESCRIPTION = (
        "Measures how well frames keep the reference's identity: per frame, the cosine similarity of CLIP image "
        "embeddings to the reference's, and of insightface face embeddings when a face pack is chosen (frames with no "
        "face are left out of the face mean). Outputs a plot, a text summary, and the CLIP mean and min."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("IMAGE", "STRING", "FLOAT", "FLOAT")
    RETURN_NAMES = ("plot", "summary", "clip_mean", "clip_min")
    OUTPUT_TOOLTIPS = (
        "Cosine similarity to the reference per frame (CLIP, and face when a pack is chosen).",
        "Mean and min per measure as text, with the number of frames without a face.",
        "Mean CLIP cosine over the frames (1 = same picture).",
        "Lowest CLIP cosine over the frames: the frame that drifted most.",
    )
    FUNCTION = "score"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "frames": ("IMAGE", {"tooltip": "The frames to score, in order (e.g. the animator's output)."}),
                "reference": ("IMAGE", {"tooltip": "The identity reference (several images are averaged)."}),
                "encoder": (_score_encoders(), {"tooltip": "CLIP image encoder: clip_vision/<file> (the IP-Adapter's "
                            "ViT-H) or encoders/<file> (the probe's CLIP)."}),
                "face_pack": ([NO_FACES] + _face_packs(), {"default": NO_FACES, "tooltip": "insightface pack for face "
                              "similarity as well, or none for CLIP only."}),
            }
        }

    def score(self, frames, reference, encoder, face_pack):
        folder, _, name = encoder.partition("/")
        if folder not in ENCODER_FOLDERS or not name:
            raise ValueError(f"'encoder' must be clip_vision/<file> or encoders/<file>; got '{encoder}'.")
        scores = identity.identity_scores(
            frames,
            reference,
            clip_vision_name=name if folder == identity.CLIP_VISION_FOLDER else "",
            probe_encoder=name if folder == "encoders" else "",
            insightface_pack="" if face_pack == NO_FACES else face_pack,
        )
        return (identity.plot_scores(scores), scores.summary(), scores.clip_mean, scores.clip_min)


NODE_CLASS_MAPPINGS = {"LF_IdentityLock": LF_IdentityLock, "LF_IdentityScore": LF_IdentityScore}
NODE_DISPLAY_NAME_MAPPINGS = {"LF_IdentityLock": "LF Identity Lock (IP-Adapter)", "LF_IdentityScore": "LF Identity Score"}
