"""Stylizer nodes: turn a sketch into a scribble map, render it on ComfyUI's MODEL, VAE and CONTROL_NET."""

from __future__ import annotations

from ..core import comfy_glue, host, lora, sketch, stylize
from ..core.checks import validate_inputs
from ..core.text import check_prompt

DEFAULT_NEGATIVE = "lowres, blurry"
CATEGORY = "LongForm/stylize"


class LF_SketchToScribble:
    """A drawing or photo -> a clean scribble map (white lines on black), with a preview."""

    DESCRIPTION = (
        "Turns any drawing or photo into a clean scribble map for the scribble ControlNet: inverts dark-on-light "
        "drawings, thresholds, thickens thin lines, optionally extracts edges (photos), and resizes to a multiple "
        "of 8. Errors if nothing is left after thresholding."
    )
    CATEGORY = CATEGORY
    FUNCTION = "prepare"
    RETURN_TYPES = ("IMAGE", "IMAGE")
    RETURN_NAMES = ("scribble", "preview")
    OUTPUT_TOOLTIPS = ("White lines on black, ready for LF Stylize.", "The input beside its scribble map.")

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        size = {"default": 0, "min": 0, "max": 4096, "step": 8}
        return {
            "required": {
                "image": ("IMAGE", {"tooltip": "A sketch (any colours) or a photo."}),
                "threshold": (
                    "FLOAT",
                    {
                        "default": 0.5,
                        "min": 0.01,
                        "max": 0.99,
                        "step": 0.01,
                        "tooltip": "Ink level that counts as a line (lower keeps fainter lines); edge sensitivity.",
                    },
                ),
                "invert": (
                    list(sketch.INVERT_MODES),
                    {"default": "auto", "tooltip": "Which lines are ink; auto: the background is the majority."},
                ),
                "min_line_width": (
                    "INT",
                    {"default": 3, "min": 1, "max": 64, "tooltip": "Strokes thinner than this (pixels) are thickened."},
                ),
                "edges": ("BOOLEAN", {"default": False, "tooltip": "Extract edges (Canny) first: use for photos."}),
                "width": ("INT", {**size, "tooltip": "Output width, a multiple of 8; 0 keeps the input's."}),
                "height": ("INT", {**size, "tooltip": "Output height, a multiple of 8; 0 keeps the input's."}),
            }
        }

    @classmethod
    def VALIDATE_INPUTS(cls, threshold=None):
        return validate_inputs(cls, {"threshold": threshold})

    def prepare(self, image, threshold, invert, min_line_width, edges, width, height):
        settings = sketch.ScribbleSettings(threshold, invert, min_line_width, edges, width, height)
        return sketch.prepare_scribble(image, settings)


class LF_Stylize:
    """MODEL + VAE + CONTROL_NET + scribble + prompt -> the image the core ControlNet chain makes, in one node."""

    DESCRIPTION = (
        "Renders a scribble map on your checkpoint (and LoRA, identity lock or any other MODEL patch): the sketch holds "
        "the structure through the ControlNet, the prompt says what it is. One node for EmptyLatentImage + "
        "ControlNetApplyAdvanced + KSampler + VAEDecode: with the same seed and settings it gives the same image as "
        "that chain. Give positive/negative CONDITIONING, or a CLIP and the prompts."
    )
    CATEGORY = CATEGORY
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE", "LATENT")
    RETURN_NAMES = ("image", "latent")
    OUTPUT_TOOLTIPS = ("One stylized image per scribble.", "Their latents (for a second pass or an upscale).")

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        size = {"default": 512, "min": stylize.MIN_SIDE, "max": stylize.MAX_SIDE, "step": 8}
        unit = {"min": 0.0, "max": 1.0, "step": 0.01}
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The diffusion model (Load Checkpoint, then LoRAs or an identity lock)."}),
                "vae": ("VAE", {"tooltip": "The VAE that decodes the result (Load Checkpoint's)."}),
                "control_net": ("CONTROL_NET", {"tooltip": "A scribble ControlNet (Load ControlNet Model)."}),
                "scribble": ("IMAGE", {"tooltip": "Scribble map, white lines on black (LF Sketch To Scribble)."}),
                "seed": ("INT", {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF,
                                 "tooltip": "Noise seed: same seed, same image (KSampler's noise)."}),
                "steps": ("INT", {"default": 20, "min": 1, "max": 10000, "tooltip": "Sampler steps."}),
                "cfg": ("FLOAT", {"default": 7.5, "min": 0.0, "max": 100.0, "step": 0.1, "round": 0.01,
                                  "tooltip": "Prompt adherence (classifier-free guidance)."}),
                "sampler_name": (comfy_glue.sampler_names(), {"tooltip": "ComfyUI's sampler."}),
                "scheduler": (comfy_glue.scheduler_names(), {"tooltip": "ComfyUI's noise schedule."}),
                "controlnet_strength": ("FLOAT", {"default": 1.0, "min": 0.0, "max": 10.0, "step": 0.01,
                                                  "tooltip": "How hard the sketch binds (0: not at all)."}),
                "control_start": ("FLOAT", {**unit, "default": 0.0,
                                            "tooltip": "Fraction of sampling where the control begins."}),
                "control_end": ("FLOAT", {**unit, "default": 1.0, "tooltip": "Fraction of sampling where it ends."}),
                "width": ("INT", {**size, "tooltip": "Output width (multiple of 8)."}),
                "height": ("INT", {**size, "tooltip": "Output height (multiple of 8)."}),
            },
            "optional": {
                "positive": ("CONDITIONING", {"tooltip": "What the picture shows, encoded (CLIP Text Encode); or "
                                                         "connect 'clip' and write 'prompt'."}),
                "negative": ("CONDITIONING", {"tooltip": "What to steer away from, encoded; or 'clip' + "
                                                         "'negative_prompt'."}),
                "clip": ("CLIP", {"tooltip": "Encodes 'prompt' and 'negative_prompt' where no conditioning is "
                                             "connected (Load Checkpoint's CLIP, after any LoRA)."}),
                "prompt": ("STRING", {"multiline": True, "default": "",
                                      "tooltip": "What the picture shows (used with 'clip')."}),
                "negative_prompt": ("STRING", {"multiline": True, "default": DEFAULT_NEGATIVE,
                                               "tooltip": "What to steer away from (used with 'clip')."}),
            },
        }

    @classmethod
    def VALIDATE_INPUTS(cls, cfg=None, controlnet_strength=None, control_start=None, control_end=None):
        return validate_inputs(cls, {"cfg": cfg, "controlnet_strength": controlnet_strength,
                                     "control_start": control_start, "control_end": control_end})

    def render(self, model, vae, control_net, scribble, seed, steps, cfg, sampler_name, scheduler,
               controlnet_strength, control_start, control_end, width, height, positive=None, negative=None, clip=None,
               prompt="", negative_prompt=DEFAULT_NEGATIVE):
        positive = _conditioning(positive, clip, prompt, "positive", "prompt")
        negative = _conditioning(negative, clip, negative_prompt, "negative", "negative_prompt")
        image, latent = stylize.render(model, vae, control_net, scribble, positive, negative, seed=seed, steps=steps,
                                       cfg=cfg, sampler_name=sampler_name, scheduler=scheduler,
                                       controlnet_strength=controlnet_strength, control_start=control_start,
                                       control_end=control_end, width=width, height=height)
        return image, latent


def _conditioning(conditioning, clip, text: str, field: str, text_field: str) -> list:
    """The connected CONDITIONING, else `text` encoded by `clip`."""
    if conditioning is not None:
        return conditioning
    check_prompt(text, text_field)
    if clip is None:
        raise ValueError(f"'{field}' is not connected and there is no 'clip' to encode '{text_field}': connect a "
                         "CONDITIONING (CLIP Text Encode) or Load Checkpoint's CLIP.")
    return comfy_glue.encode_text(clip, text)


class LF_LoraLoader:
    """MODEL + CLIP + a LoRA file (kohya or diffusers/PEFT keys) -> patched clones and a report of what applied."""

    DESCRIPTION = (
        "Applies a LoRA to MODEL and CLIP through ComfyUI's own patching, like core Load LoRA, but also reads "
        "diffusers/PEFT files (unet.<module>.lora_A/lora_B), whose UNet half core Load LoRA drops in ComfyUI 0.3.64. "
        "The report says how many of the file's modules it applied and names any it could not place."
    )
    CATEGORY = CATEGORY
    FUNCTION = "load_lora"
    RETURN_TYPES = ("MODEL", "CLIP", "STRING")
    RETURN_NAMES = ("model", "clip", "report")
    OUTPUT_TOOLTIPS = (
        "The model with the LoRA patched in (a clone: the input model is unchanged).",
        "The text encoder with the LoRA patched in (a clone).",
        "How many LoRA modules applied, and the names of any this model has no layer for.",
    )

    def __init__(self):
        self._loaded: tuple[tuple, lora.KohyaLora] | None = None

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        strength = {"default": 1.0, "min": -100.0, "max": 100.0, "step": 0.01}
        return {
            "required": {
                "model": ("MODEL", {"tooltip": "The diffusion model to patch (from Load Checkpoint or another patch)."}),
                "clip": ("CLIP", {"tooltip": "The text encoder to patch."}),
                "lora_name": (
                    host.list_models("loras", lora.LORA_EXTENSIONS),
                    {"tooltip": "LoRA file in models/loras (.safetensors, kohya or diffusers/PEFT keys)."},
                ),
                "strength_model": ("FLOAT", {**strength, "tooltip": "How strongly the LoRA changes the model."}),
                "strength_clip": ("FLOAT", {**strength, "tooltip": "How strongly the LoRA changes the text encoder."}),
            }
        }

    @classmethod
    def VALIDATE_INPUTS(cls, strength_model=None, strength_clip=None):
        return validate_inputs(cls, {"strength_model": strength_model, "strength_clip": strength_clip})

    def _lora(self, name: str) -> lora.KohyaLora:
        path = host.model_path("loras", name)
        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size)
        if self._loaded is None or self._loaded[0] != key:
            self._loaded = (key, lora.load(path))
        return self._loaded[1]

    def load_lora(self, model, clip, lora_name, strength_model, strength_clip):
        if strength_model == 0 and strength_clip == 0:
            return (model, clip, "strengths are 0: the LoRA was not applied")
        kohya = self._lora(lora_name)
        model, clip, placed, misfits = host.apply_lora(model, clip, kohya.tensors, strength_model, strength_clip)
        unmapped = sorted(source for name, source in kohya.sources.items() if name not in placed and name not in misfits)
        text = lora.report(len(placed), len(kohya.sources), unmapped, kohya.unrecognised, sorted(misfits.values()))
        return (model, clip, text)


NODE_CLASS_MAPPINGS = {
    "LF_SketchToScribble": LF_SketchToScribble,
    "LF_Stylize": LF_Stylize,
    "LF_LoraLoader": LF_LoraLoader,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "LF_SketchToScribble": "LF Sketch To Scribble",
    "LF_Stylize": "LF Stylize",
    "LF_LoraLoader": "LF Load LoRA",
}
