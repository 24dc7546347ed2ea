"""Tiny conditional DDPM nodes: train on digits or a labelled folder, load a saved model, sample with guidance."""

from __future__ import annotations

import dataclasses

from ..core import ddpm, host, video
from ..core.checks import validate_inputs
from ..core.ddpm.data import check_dataset
from ..core.ddpm.diffusion import SAMPLERS, SCHEDULES
from ..core.ddpm.sampling import to_image_batch
from ..core.ddpm.train import FOLDER, checkpoint_name, probe_text_embedder
from ..core.paths import safe_name
from ..core.images import from_pil

CATEGORY = "LongForm/ddpm"
MODEL_TYPE = "LF_DDPM_MODEL"
NO_TEXT_ENCODER = "none (label conditioning)"
DEFAULTS = ddpm.TrainConfig()
SEED = {"default": 0, "min": 0, "max": 2**31 - 1}


class LF_DDPMTrain:
    """Dataset + recipe -> a trained DDPM, saved in models/ddpm, and its loss curve."""

    DESCRIPTION = (
        "Trains the from-scratch conditional DDPM (UNet with FiLM conditioning, EMA, classifier-free guidance "
        "dropout) on scikit-learn's 8x8 digits or on a folder with one subfolder per label. Saves "
        "models/ddpm/<name>.safetensors + <name>.json; an interrupted run is kept and resumes from where it "
        "stopped when queued again with the same settings. The default recipe takes about 2.5 minutes on 2 CPU cores."
    )
    CATEGORY = CATEGORY
    FUNCTION = "train"
    RETURN_TYPES = (MODEL_TYPE, "IMAGE", "STRING")
    RETURN_NAMES = ("model", "loss_curve", "summary")
    OUTPUT_TOOLTIPS = (
        "The trained model (EMA weights), for LF DDPM Sample.",
        "Loss per step and its moving average.",
        "Where the model was saved, steps, time and final loss.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "dataset": ("STRING", {"default": "digits", "tooltip": "'digits' (scikit-learn's 8x8 digits, 10 "
                                       "labels), or the name of a folder in ComfyUI's input folder holding one "
                                       "subfolder of images per label."}),
                "image_size": ("INT", {"default": DEFAULTS.image_size, "min": 4, "max": 128, "step": 4,
                                       "tooltip": "Training size in pixels (images are resized). The 3-level UNet "
                                                  "needs a multiple of 4, at least 8."}),
                "steps": ("INT", {"default": DEFAULTS.steps, "min": 1, "max": 1_000_000,
                                  "tooltip": "Optimizer steps. Raising it on a finished run trains further."}),
                "batch_size": ("INT", {"default": DEFAULTS.batch_size, "min": 1, "max": 4096,
                                       "tooltip": "Images per step."}),
                "learning_rate": ("FLOAT", {"default": DEFAULTS.learning_rate, "min": 1e-6, "max": 1.0,
                                            "step": 1e-4, "round": False,
                                            "tooltip": "AdamW peak learning rate (warm-up, then cosine decay)."}),
                "seed": ("INT", {**SEED, "tooltip": "Seed of the weights and of every batch: same seed, same model."}),
                "schedule": (list(SCHEDULES), {"default": DEFAULTS.schedule,
                                               "tooltip": "Noise schedule: cosine (Nichol & Dhariwal) or linear "
                                                          "(Ho et al.)."}),
                "name": ("STRING", {"default": "digits", "tooltip": "File name in models/ddpm (no extension)."}),
                "resume": ("BOOLEAN", {"default": True, "tooltip": "On: continue a run of the same name and "
                                       "settings (after an interrupt, or to more steps). Off: start over."}),
            },
            "optional": {
                "text_encoder": ([NO_TEXT_ENCODER, *host.list_models("encoders", (".safetensors",))],
                                 {"default": NO_TEXT_ENCODER, "tooltip": "Condition on text instead of label ids: "
                                  "each label name is embedded by this probe encoder (CLIP or BERT, models/encoders) "
                                  "and prompts are embedded by it at sampling time."}),
                "text_encoder_kind": (["clip", "bert"], {"default": "clip",
                                                         "tooltip": "The architecture of text_encoder."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, dataset=None, name=None, learning_rate=None):
        """Before any work: the dataset folder (input folder only), the model name (one safe file name), a finite
        learning rate."""
        return validate_inputs(cls, {"dataset": dataset, "name": name, "learning_rate": learning_rate},
                               names={"dataset": check_dataset, "name": checkpoint_name})

    def train(self, dataset, image_size, steps, batch_size, learning_rate, seed, schedule, name, resume,
              text_encoder=NO_TEXT_ENCODER, text_encoder_kind="clip"):
        config = dataclasses.replace(
            DEFAULTS, dataset=dataset.strip(), image_size=image_size, steps=steps, batch_size=batch_size,
            learning_rate=learning_rate, seed=seed, schedule=schedule,
        )
        embedder = None
        if text_encoder != NO_TEXT_ENCODER:
            spec = {"kind": text_encoder_kind, "filename": text_encoder}
            config = dataclasses.replace(config, conditioning="text", text_encoder=spec)
            embedder = probe_text_embedder(spec)
        result = ddpm.train(config, name=checkpoint_name(name), text_embedder=embedder, resume=resume)
        summary = (f"{result.path}: {len(result.losses)} steps in {result.seconds:.0f} s, "
                   f"final loss {result.losses[-1]:.4f}, labels {result.model.config.class_names}")
        return result.model, from_pil(ddpm.loss_curve_image(result.losses)), summary


class LF_DDPMLoader:
    """A model saved by LF DDPM Train, from models/ddpm."""

    DESCRIPTION = "Loads a DDPM saved by LF DDPM Train from models/ddpm (with its text encoder, if it uses one)."
    CATEGORY = CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = (MODEL_TYPE,)
    RETURN_NAMES = ("model",)

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "model_file": (host.list_models(FOLDER, (".safetensors",)),
                               {"tooltip": "A .safetensors file written by LF DDPM Train in models/ddpm."}),
            }
        }

    def load(self, model_file):
        path = host.model_path(FOLDER, model_file)
        model = ddpm.load_model(path)
        if model.config.conditioning == "text":
            model.text_embedder = probe_text_embedder(model.config.text_encoder)
        return (model,)


class LF_DDPMSample:
    """Model + labels or prompts -> images in the given order, a labelled grid, the denoising strip and animation."""

    DESCRIPTION = (
        "Samples the DDPM with classifier-free guidance: eps = eps_uncond + w (eps_cond - eps_uncond); w = 1 is the "
        "plain conditional model, w = 0 ignores the labels, larger w follows them harder. Returns the images in the "
        "order of the labels, a labelled grid, a strip of x_t and the predicted x_0 at evenly spaced steps, and the "
        "same as an animation in the output folder."
    )
    CATEGORY = CATEGORY
    FUNCTION = "sample"
    OUTPUT_NODE = True
    RETURN_TYPES = ("IMAGE", "IMAGE", "IMAGE", "STRING")
    RETURN_NAMES = ("images", "grid", "denoising_strip", "animation_path")
    OUTPUT_TOOLTIPS = (
        "One image per label line (x N repeats), in that order.",
        "The images in a grid, each with its label.",
        "For the first samples: x_t (top) and predicted x_0 (bottom) from pure noise to the end.",
        "The animated .webp of the denoising, in the output folder.",
    )

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "model": (MODEL_TYPE, {"tooltip": "From LF DDPM Train or LF DDPM Loader."}),
                "labels": ("STRING", {"default": "\n".join(f"{digit} x 4" for digit in range(10)), "multiline": True,
                                      "tooltip": "One label (or prompt, for a text-conditioned model) per line; "
                                                 "'label x N' repeats it N times."}),
                "guidance": ("FLOAT", {"default": 3.0, "min": 0.0, "max": 20.0, "step": 0.5,
                                       "tooltip": "Classifier-free guidance scale w (1 = plain conditional)."}),
                "sampler": (list(SAMPLERS), {"default": "ddim", "tooltip": "ddim: deterministic for eta 0, few "
                                             "steps suffice. ddpm: ancestral, as in Ho et al."}),
                "steps": ("INT", {"default": 50, "min": 1, "max": 1000,
                                  "tooltip": "Denoising steps (spread over the model's 1000 training timesteps)."}),
                "eta": ("FLOAT", {"default": 0.0, "min": 0.0, "max": 1.0, "step": 0.05,
                                  "tooltip": "DDIM noise: 0 deterministic, 1 like ancestral sampling."}),
                "seed": ("INT", {**SEED, "tooltip": "Seed of the starting noise: same seed, same images."}),
                "strip_columns": ("INT", {"default": 8, "min": 2, "max": 24,
                                          "tooltip": "How many steps the denoising strip shows."}),
                "strip_rows": ("INT", {"default": 4, "min": 1, "max": 16,
                                       "tooltip": "How many of the first samples the strip and animation show."}),
                "filename_prefix": ("STRING", {"default": "longform/ddpm_denoising",
                                               "tooltip": "Name of the animation in the output folder."}),
            }
        }

    @classmethod
    def VALIDATE_INPUTS(cls, guidance=None, eta=None, filename_prefix=None):
        return validate_inputs(cls, {"guidance": guidance, "eta": eta, "filename_prefix": filename_prefix},
                               names={"filename_prefix": safe_name})

    def sample(self, model, labels, guidance, sampler, steps, eta, seed, strip_columns, strip_rows, filename_prefix):
        conditions = ddpm.parse_conditions(labels)
        samples = ddpm.sample(model, conditions, guidance=guidance, sampler=sampler, steps=steps, eta=eta, seed=seed,
                              recorded=strip_rows)
        root = host.output_dir()
        path = ddpm.save_animation(ddpm.animation_frames(samples), video.next_output_path(filename_prefix, "webp",
                                                                                               root))
        images = to_image_batch(samples.images)
        strip = ddpm.strip_image(samples, columns=strip_columns)
        return {
            "ui": video.ui_preview(path, root),
            "result": (images, from_pil(ddpm.grid_image(samples)), from_pil(strip), str(path)),
        }


NODE_CLASS_MAPPINGS = {"LF_DDPMTrain": LF_DDPMTrain, "LF_DDPMLoader": LF_DDPMLoader, "LF_DDPMSample": LF_DDPMSample}
NODE_DISPLAY_NAME_MAPPINGS = {
    "LF_DDPMTrain": "LF DDPM Train",
    "LF_DDPMLoader": "LF DDPM Loader",
    "LF_DDPMSample": "LF DDPM Sample",
}
