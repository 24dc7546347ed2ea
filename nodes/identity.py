"""Identity nodes: an IP-Adapter identity lock on ComfyUI's MODEL (base, plus, FaceID); an identity score per frame."""

from __future__ import annotations

from ..core import host, manifest
from ..core.checks import validate_inputs
from ..core.paths import safe_name
from ..core.identity import IPADAPTER_FOLDER, lock_identity
from ..core.identity_score import embedder, identity_scores, plot_scores

CATEGORY = "LongForm/identity"
NO_FACES = "none"
USE_CLIP_VISION = "clip_vision input"


def _with_manifest(folder: str, installed: list[str]) -> list[str]:
    """Installed files first, then the manifest's files for `folder` that are missing (choosing one gives an error
    that names the manifest entry and the install command)."""
    missing = [item.filename for item in manifest.entries_for_folder(folder) if item.filename not in installed]
    return installed + missing


def _adapters() -> list[str]:
    return _with_manifest(IPADAPTER_FOLDER, host.list_models(IPADAPTER_FOLDER, (".safetensors", ".bin")))


def _face_packs() -> list[str]:
    """insightface packs as "models/<name>" (FaceAnalysis's root/models/<name> layout)."""
    packs = sorted(
        f"models/{path.name}"
        for base in host.model_folder_paths("insightface")
        if (base / "models").is_dir()
        for path in (base / "models").iterdir()
        if path.is_dir()
    )
    return [NO_FACES] + _with_manifest("insightface", packs)


class LF_IdentityLock:
    """MODEL in -> a clone of it with an IP-Adapter identity lock in every cross-attention layer."""

    DESCRIPTION = (
        "Keeps one character's identity across images: patches a clone of the MODEL with an SD 1.5 IP-Adapter so "
        "that everything sampled from it is conditioned on the reference picture(s). The variant (base, plus, FaceID) "
        "is read from the weights. Base and plus take the whole picture through the CLIP_VISION (core Load CLIP "
        "Vision, ViT-H); FaceID takes the largest face's insightface embedding. Works with any loader, LoRA, "
        "ControlNet and sampler (KSampler, LF Stylize, LF Animate); the input MODEL is never changed; weight 0 returns "
        "it as it is."
    )
    CATEGORY = CATEGORY
    RETURN_TYPES = ("MODEL", "STRING")
    RETURN_NAMES = ("model", "info")
    OUTPUT_TOOLTIPS = (
        "A patched clone of the model (connect it to KSampler, LF Stylize or LF Animate).",
        "The variant read from the weights, the weight, the sampling window and the number of reference images.",
    )
    FUNCTION = "lock"

    @classmethod
    def INPUT_TYPES(cls):
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "An SD 1.5 MODEL (Load Checkpoint, after any LoRA)."}),
                "reference": ("IMAGE", {"tooltip": "The character to keep. Several images (a batch) are used together."}),
                "ipadapter": (_adapters(), {"tooltip": "IP-Adapter weights in models/ipadapter: ip-adapter_sd15, "
                              "ip-adapter-plus_sd15 (more detail) or ip-adapter-faceid_sd15.bin (face only)."}),
                "weight": ("FLOAT", {"default": 0.8, "min": 0.0, "max": 2.0, "step": 0.05, "tooltip": "Strength of "
                           "the reference. 0 = the model unpatched; 0.6-1.0 is usual; higher copies the picture."}),
                "start_at": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Fraction "
                             "of sampling at which the adapter starts acting (0 = from the first step)."}),
                "end_at": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 1.0, "step": 0.01, "tooltip": "Fraction of "
                           "sampling at which it stops (1 = to the last step). Ending early frees pose and detail. "
                           "FaceID's LoRA is a weight patch and acts on every step, as in IPAdapter_plus."}),
            },
            "optional": {
                "clip_vision": ("CLIP_VISION", {"tooltip": "CLIP ViT-H/14 image encoder (core Load CLIP Vision), "
                                "needed by the base and plus variants (FaceID does not use it)."}),
                "insightface": (_face_packs(), {"default": NO_FACES, "tooltip": "insightface pack (models/insightface/"
                                "models/<name>, e.g. buffalo_l), needed by FaceID only: detection + ArcFace on "
                                "onnxruntime (CPU when ComfyUI runs on the CPU)."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, weight=None, start_at=None, end_at=None, ipadapter=None, insightface=None):
        return validate_inputs(cls, {"weight": weight, "start_at": start_at, "end_at": end_at, "ipadapter": ipadapter,
                                     "insightface": insightface},
                               names={"ipadapter": safe_name, "insightface": safe_name})

    def lock(self, model, reference, ipadapter, weight, start_at, end_at, clip_vision=None, insightface=NO_FACES):
        locked = lock_identity(model, ipadapter, reference, weight, start_at, end_at, clip_vision=clip_vision,
                               insightface_pack="" if insightface == NO_FACES else insightface)
        return (locked.model, locked.info(ipadapter))


class LF_IdentityScore:
    """Frames + reference -> per-frame identity similarity plot and mean/min."""

    DESCRIPTION = (
        "Measures how well frames keep the reference's identity: per frame, the cosine similarity of CLIP image "
        "embeddings to the reference's, and of insightface face embeddings when a face pack is chosen (frames with no "
        "face are left out of the face mean). The CLIP embeddings come from the connected CLIP_VISION (the identity "
        "lock's ViT-H, loaded once) or from the probe's CLIP file. Outputs a plot, a text summary, and the CLIP mean "
        "and min."
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
                "reference": ("IMAGE", {"tooltip": "The identity reference (several images count equally)."}),
                "encoder": ([USE_CLIP_VISION] + host.list_models("encoders", (".safetensors",)), {"tooltip":
                            "CLIP image encoder: the connected clip_vision (the IP-Adapter's ViT-H), or a probe CLIP "
                            "file in models/encoders."}),
                "face_pack": (_face_packs(), {"default": NO_FACES, "tooltip": "insightface pack for face "
                              "similarity as well, or none for CLIP only."}),
            },
            "optional": {
                "clip_vision": ("CLIP_VISION", {"tooltip": "Core Load CLIP Vision's encoder, used when 'encoder' is "
                                "'clip_vision input'."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, encoder=None, face_pack=None):
        return validate_inputs(cls, {"encoder": encoder, "face_pack": face_pack},
                               names={"encoder": safe_name, "face_pack": safe_name})

    def score(self, frames, reference, encoder, face_pack, clip_vision=None):
        if encoder == USE_CLIP_VISION:
            if clip_vision is None:
                raise ValueError("'encoder' is 'clip_vision input' but no CLIP_VISION is connected: connect core Load "
                                 "CLIP Vision to 'clip_vision', or choose a probe CLIP file as 'encoder'.")
            embed = embedder(clip_vision=clip_vision)
        else:
            embed = embedder(probe_encoder=encoder)
        scores = identity_scores(frames, reference, embed, "" if face_pack == NO_FACES else face_pack)
        return (plot_scores(scores), scores.summary(), scores.clip_mean, scores.clip_min)


NODE_CLASS_MAPPINGS = {"LF_IdentityLock": LF_IdentityLock, "LF_IdentityScore": LF_IdentityScore}
NODE_DISPLAY_NAME_MAPPINGS = {"LF_IdentityLock": "LF Identity Lock (IP-Adapter)", "LF_IdentityScore": "LF Identity Score"}
