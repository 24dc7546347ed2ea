"""Stylizer nodes: load an SD 1.5 + ControlNet + LoRA pipeline, turn a sketch into a scribble map, render it."""

from __future__ import annotations

from ..core import host, lora, sketch, stylize
from ..core.checks import validate_inputs

CATEGORY = "LongForm/stylize"
NO_LORA = "None"


def _models(folder: str) -> list[str]:
    return host.list_models(folder, stylize.MODEL_EXTENSIONS)


def _lora_input(tooltip: str) -> tuple:
    return ([NO_LORA, *_models("loras")], {"default": NO_LORA, "tooltip": tooltip})


def _strength_input(tooltip: str) -> tuple:
    return ("FLOAT", {"default": 1.0, "min": -4.0, "max": 4.0, "step": 0.05, "tooltip": tooltip})


class LF_StylizePipelineLoader:
    """Checkpoint + ControlNet + up to two LoRAs + scheduler -> a cached SD 1.5 pipeline (LF_PIPELINE)."""

    DESCRIPTION = (
        "Loads a single-file SD 1.5 checkpoint, a ControlNet and up to two LoRAs (kohya or diffusers format) into a "
        "diffusers pipeline, fully offline. Loaded models are cached across runs; changing a LoRA strength only "
        "re-weights it. Refuses SDXL and other non-SD 1.5 checkpoints."
    )
    CATEGORY = CATEGORY
    FUNCTION = "load"
    RETURN_TYPES = ("LF_PIPELINE",)
    RETURN_NAMES = ("pipeline",)
    OUTPUT_TOOLTIPS = ("The SD 1.5 pipeline, for LF Stylize and the identity-lock and animator nodes.",)

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        return {
            "required": {
                "checkpoint": (_models("checkpoints"), {"tooltip": "SD 1.5 checkpoint, single .safetensors file."}),
                "controlnet": (_models("controlnet"), {"tooltip": "ControlNet for SD 1.5 (e.g. scribble v1.1)."}),
                "lora": _lora_input("LoRA that gives the style (models/loras), or None."),
                "lora_strength": _strength_input("How strongly the first LoRA applies (0 = not at all)."),
                "lora_2": _lora_input("An optional second LoRA mixed with the first, or None."),
                "lora_2_strength": _strength_input("How strongly the second LoRA applies."),
                "scheduler": (
                    list(stylize.SCHEDULERS),
                    {"default": stylize.DEFAULT_SCHEDULER, "tooltip": "Sampler used to denoise."},
                ),
            }
        }

    @classmethod
    def VALIDATE_INPUTS(cls, lora_strength, lora_2_strength):
        return validate_inputs(cls, {"lora_strength": lora_strength, "lora_2_strength": lora_2_strength})

    def load(self, checkpoint, controlnet, lora, lora_strength, lora_2, lora_2_strength, scheduler):
        pairs = ((lora, lora_strength), (lora_2, lora_2_strength))
        loras = [(name, strength) for name, strength in pairs if name and name != NO_LORA]
        return (stylize.load_pipeline(checkpoint, controlnet, loras, scheduler),)


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
    def VALIDATE_INPUTS(cls, threshold):
        return validate_inputs(cls, {"threshold": threshold})

    def prepare(self, image, threshold, invert, min_line_width, edges, width, height):
        settings = sketch.ScribbleSettings(threshold, invert, min_line_width, edges, width, height)
        return sketch.prepare_scribble(image, settings)


class LF_Stylize:
    """Pipeline + scribble + prompt -> an image in the LoRA's style with the sketch's structure."""

    DESCRIPTION = (
        "Renders a scribble map with an SD 1.5 ControlNet + LoRA pipeline: the sketch holds the structure, the "
        "LoRA the style, the prompt says what it is. Shows a progress bar and stops between steps when interrupted."
    )
    CATEGORY = CATEGORY
    FUNCTION = "render"
    RETURN_TYPES = ("IMAGE",)
    RETURN_NAMES = ("image",)
    OUTPUT_TOOLTIPS = ("One stylized image per scribble.",)

    @classmethod
    def INPUT_TYPES(cls) -> dict:
        size = {"default": 512, "min": 64, "max": 2048, "step": 8}
        unit = {"min": 0.0, "max": 1.0, "step": 0.01}
        return {
            "required": {
                "pipeline": ("LF_PIPELINE", {"tooltip": "From LF Stylize Pipeline Loader."}),
                "scribble": ("IMAGE", {"tooltip": "Scribble map, white lines on black (LF Sketch To Scribble)."}),
                "prompt": ("STRING", {"multiline": True, "default": "", "tooltip": "What the picture shows."}),
                "negative_prompt": (
                    "STRING",
                    {"multiline": True, "default": "lowres, blurry", "tooltip": "What to steer away from."},
                ),
                "seed": (
                    "INT",
                    {"default": 0, "min": 0, "max": 2**63 - 1, "tooltip": "Noise seed: same seed, same image."},
                ),
                "steps": ("INT", {"default": 20, "min": 1, "max": 200, "tooltip": "Denoising steps."}),
                "guidance": (
                    "FLOAT",
                    {"default": 7.5, "min": 1.0, "max": 30.0, "step": 0.1, "tooltip": "Prompt adherence (CFG)."},
                ),
                "controlnet_strength": (
                    "FLOAT",
                    {"default": 1.0, "min": 0.0, "max": 2.0, "step": 0.05, "tooltip": "How hard the sketch binds."},
                ),
                "control_start": ("FLOAT", {**unit, "default": 0.0, "tooltip": "Step fraction where control begins."}),
                "control_end": ("FLOAT", {**unit, "default": 1.0, "tooltip": "Step fraction where control ends."}),
                "width": ("INT", {**size, "tooltip": "Output width (multiple of 8)."}),
                "height": ("INT", {**size, "tooltip": "Output height (multiple of 8)."}),
                "previews": ("BOOLEAN", {"default": True, "tooltip": "Show a cheap latent preview at each step."}),
            }
        }

    @classmethod
    def VALIDATE_INPUTS(cls, guidance, controlnet_strength, control_start, control_end):
        return validate_inputs(cls, {"guidance": guidance, "controlnet_strength": controlnet_strength, "control_start": control_start, "control_end": control_end})

    def render(
        self,
        pipeline,
        scribble,
        prompt,
        negative_prompt,
        seed,
        steps,
        guidance,
        controlnet_strength,
        control_start,
        control_end,
        width,
        height,
        previews,
    ):
        image = stylize.stylize(
            pipeline,
            scribble,
            prompt,
            negative_prompt,
            seed=seed,
            steps=steps,
            guidance=guidance,
            controlnet_strength=controlnet_strength,
            control_start=control_start,
            control_end=control_end,
            width=width,
            height=height,
            previews=previews,
        )
        return (image,)


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
    def VALIDATE_INPUTS(cls, strength_model, strength_clip):
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
        model, clip, placed = host.apply_lora(model, clip, kohya.tensors, strength_model, strength_clip)
        unmapped = sorted(source for name, source in kohya.sources.items() if name not in placed)
        text = lora.report(len(placed), len(kohya.sources), unmapped, kohya.unrecognised)
        return (model, clip, text)


NODE_CLASS_MAPPINGS = {
    "LF_StylizePipelineLoader": LF_StylizePipelineLoader,
    "LF_SketchToScribble": LF_SketchToScribble,
    "LF_Stylize": LF_Stylize,
    "LF_LoraLoader": LF_LoraLoader,
}
NODE_DISPLAY_NAME_MAPPINGS = {
    "LF_StylizePipelineLoader": "LF Stylize Pipeline Loader",
    "LF_SketchToScribble": "LF Sketch To Scribble",
    "LF_Stylize": "LF Stylize",
    "LF_LoraLoader": "LF Load LoRA",
}
