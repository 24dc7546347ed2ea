"""ControlNet + LoRA stylizer on diffusers: load SD 1.5 single files offline, cache them, run a sketch to an image.

`load_pipeline()` returns a `StylizePipeline`, the node type `LF_PIPELINE` that the stylize, identity-lock and
animator families share. The heavy objects (UNet, VAE, text encoder, ControlNet, LoRA adapters) are cached in
module-level dicts keyed by the resolved file (and its size and mtime), the device and the dtype, so a second queue
run with the same inputs loads nothing, and a changed LoRA strength only re-weights the already loaded adapter.

How to run with the shared, cached pipe (and how to extend it)
----------------------------------------------------------------
Several `StylizePipeline` objects share one diffusers pipe, so nothing may rely on state an earlier run left there.
Every run goes through `StylizePipeline.prepared(extensions)`, which

1. takes the pipe's lock, checks that it is in its base state (no IP-Adapter or other projection left attached),
2. sets this object's scheduler and LoRA weights (`set_adapters`, or LoRA switched off when it has none),
3. calls `extension.attach(pipeline)` for each extension, in order, and merges the keyword arguments they return
   into the diffusers call, yields, and
4. calls `extension.detach(pipeline)` in reverse order, even after an error or an interrupt.

An extension (the identity lock's IP-Adapter, say) is any object with `attach(pipeline) -> dict` (change the pipe
for this run, return extra `pipe(...)` keyword arguments such as `ip_adapter_image_embeds`) and
`detach(pipeline) -> None` (leave the pipe exactly as `attach` found it, e.g. `unload_ip_adapter()`); cache what it
loads in its own module, keyed by its file. Pass extensions to `run()` / `stylize()`, or use `prepared()` directly
for a custom loop (the animator encodes prompts with `encode_prompt()` inside it and calls `pipeline.pipe`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import Counter, OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol, Sequence

import numpy as np
import torch

from . import host
from .checks import check_finite
from .images import check_image_batch
from .model_files import model_file_error, parse_json, safetensors_header
from .paths import writable_path
from .tiny import is_tiny, warn_if_tiny
from .tiny.stylize import TINY_CONFIG_KEY

logger = logging.getLogger("LongForm")

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
SD15_CONFIG_DIR = ASSETS_DIR / "sd15"
TOKENIZER_DIR = ASSETS_DIR / "clip_tokenizer"
MODEL_EXTENSIONS = (".safetensors",)
TINY_COMPONENTS = ("unet", "vae", "text_encoder", "controlnet")  # the config names a tiny file may carry

# name -> (diffusers scheduler class, config overrides). The names follow ComfyUI's sampler names where they exist.
SCHEDULERS: dict[str, tuple[str, dict[str, Any]]] = {
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++"}),
    "dpmpp_2m_karras": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "use_karras_sigmas": True}),
    "ddim": ("DDIMScheduler", {}),
    "pndm": ("PNDMScheduler", {}),
    "uni_pc": ("UniPCMultistepScheduler", {}),
}
DEFAULT_SCHEDULER = "euler_a"

# SD 1.x latent -> RGB factors for cheap step previews (the community's linear approximation of the VAE decoder).
_LATENT_RGB = torch.tensor(
    [[0.3512, 0.2297, 0.3227], [0.3250, 0.4974, 0.2350], [-0.2829, 0.1762, 0.2721], [-0.2120, -0.2616, -0.7177]]
)

# Loaded models, least recently used first. One checkpoint at a time: an SD 1.5 UNet+VAE+CLIP is 2 GB in fp16.
_CHECKPOINTS: OrderedDict[tuple, "_LoadedCheckpoint"] = OrderedDict()
_CONTROLNETS: OrderedDict[tuple, Any] = OrderedDict()
_MAX_CHECKPOINTS = 1
_MAX_CONTROLNETS = 2
_LOAD_COUNTS: Counter = Counter()
_CACHE_LOCK = threading.Lock()


class PipelineExtension(Protocol):
    """Something that changes the shared pipe for one run and undoes it afterwards (see the module docstring)."""

    def attach(self, pipeline: "StylizePipeline") -> dict[str, Any]:
        """Change `pipeline.pipe` for this run; return extra keyword arguments for the diffusers call."""

    def detach(self, pipeline: "StylizePipeline") -> None:
        """Undo `attach`, leaving the pipe as it was."""


@dataclass(frozen=True)
class LoraSpec:
    """One LoRA applied to a pipeline: the file, the strength, and the adapter name it is loaded under."""

    name: str
    path: Path
    strength: float
    adapter: str


@dataclass
class _LoadedCheckpoint:
    """A checkpoint's diffusers components (shared by every pipeline built on it) and its loaded LoRA adapters."""

    components: dict[str, Any]
    tiny: bool
    adapters: dict[str, str] = field(default_factory=dict)  # file key -> adapter name
    lock: threading.RLock = field(default_factory=threading.RLock)


@dataclass
class StylizePipeline:
    """The `LF_PIPELINE` node type: a cached diffusers SD 1.5 pipe plus what this node asked for.

    `pipe` is a `StableDiffusionControlNetPipeline` (a `StableDiffusionPipeline` when loaded without a ControlNet);
    it is shared with other `StylizePipeline` objects of the same checkpoint. Use it only inside `prepared()`.
    """

    pipe: Any
    checkpoint: Path
    controlnet: Path | None
    loras: tuple[LoraSpec, ...]
    scheduler_name: str
    scheduler: Any
    device: torch.device
    dtype: torch.dtype
    tiny: bool
    _entry: _LoadedCheckpoint = field(repr=False)

    @property
    def components(self) -> dict[str, Any]:
        """The diffusers components: unet, vae, text_encoder, tokenizer, scheduler (+ controlnet when loaded)."""
        return self.pipe.components

    @property
    def vae_scale_factor(self) -> int:
        """Image pixels per latent pixel (8 for SD 1.5)."""
        return int(self.pipe.vae_scale_factor)

    @contextmanager
    def prepared(self, extensions: Sequence[PipelineExtension] = ()) -> Iterator[dict[str, Any]]:
        """Hold the pipe for one run with this object's scheduler, LoRA weights and `extensions` attached.

        Yields the extra keyword arguments the extensions want passed to `pipe(...)`. See the module docstring.
        """
        with self._entry.lock:
            self._check_base_state()
            self.pipe.scheduler = self.scheduler
            self._apply_loras()
            extra: dict[str, Any] = {}
            attached: list[PipelineExtension] = []
            try:
                for extension in extensions:
                    extra.update(extension.attach(self) or {})
                    attached.append(extension)
                yield extra
            finally:
                for extension in reversed(attached):
                    extension.detach(self)

    def encode_prompt(
        self, prompt: str | list[str], negative_prompt: str | list[str] = "", guidance: float = 7.5
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """CLIP embeddings of `prompt` (and of `negative_prompt` when `guidance` > 1). Call inside `prepared()`."""
        positive, negative = self.pipe.encode_prompt(
            prompt,
            self.device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=guidance > 1.0,
            negative_prompt=negative_prompt,
        )
        return positive, negative

    def _check_base_state(self) -> None:
        unet = self.pipe.unet
        if getattr(unet, "encoder_hid_proj", None) is not None:
            raise RuntimeError(
                "The shared SD 1.5 pipe still has an image projection (IP-Adapter) attached by an earlier run: "
                "a PipelineExtension's detach() did not undo its attach(). This is a bug in that extension."
            )

    def _apply_loras(self) -> None:
        if self.loras:
            self.pipe.enable_lora()
            self.pipe.set_adapters([l.adapter for l in self.loras], adapter_weights=[l.strength for l in self.loras])
        elif self._entry.adapters:
            self.pipe.disable_lora()


# --------------------------------------------------------------------------------------------------------- loading


def load_counts() -> dict[str, int]:
    """How many checkpoint, ControlNet and LoRA files were read from disk since start (cache misses)."""
    return dict(_LOAD_COUNTS)


def clear_cache() -> None:
    """Forget every loaded model (frees their memory once no pipeline object refers to them)."""
    with _CACHE_LOCK:
        _CHECKPOINTS.clear()
        _CONTROLNETS.clear()


def _file_key(path: Path) -> tuple:
    stat = path.stat()
    return (str(path), stat.st_size, stat.st_mtime_ns)


def detect_checkpoint_family(shapes: dict[str, tuple[int, ...]]) -> str:
    """The model family of a single-file checkpoint from its keys and shapes: "sd15" or a name to refuse."""
    keys = shapes.keys()
    if any(k.startswith(("conditioner.embedders.", "model.diffusion_model.label_emb.")) for k in keys):
        return "SDXL"
    if any(k.startswith("model.diffusion_model.joint_blocks.") for k in keys):
        return "SD 3"
    if any(k.startswith(("model.diffusion_model.double_blocks.", "double_blocks.")) for k in keys):
        return "Flux"
    if any(k.startswith("cond_stage_model.model.") for k in keys):
        return "SD 2.x"
    token_key = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
    conv_in = shapes.get("model.diffusion_model.input_blocks.0.0.weight")
    if token_key not in keys or conv_in is None or not any(k.startswith("first_stage_model.") for k in keys):
        return "an unknown layout (no original-layout SD 1.x UNet, VAE and CLIP keys)"
    if conv_in[1] != 4:
        return f"SD 1.x with {conv_in[1]} UNet input channels (inpainting or instruct-pix2pix)"
    cross = [s for k, s in shapes.items() if k.startswith("model.diffusion_model.") and k.endswith("attn2.to_k.weight")]
    if cross and cross[0][1] != shapes[token_key][1]:
        return f"a checkpoint whose cross-attention width {cross[0][1]} differs from its text encoder's"
    return "sd15"


def _config_folder(metadata: dict[str, str], path: Path, field: str) -> Path:
    """The diffusers config folder for a file: the bundled SD 1.5 configs, or a tiny file's own configs.

    A tiny file's configs are data, never paths: they are written under the fixed component names of
    TINY_COMPONENTS into ComfyUI's temp folder, in a subfolder named by the hash of the text; any other name in the
    metadata is refused.
    """
    text = metadata.get(TINY_CONFIG_KEY)
    if not text:
        return SD15_CONFIG_DIR
    configs = parse_json(text, field, path, what="config")
    if not isinstance(configs, dict) or not set(configs) <= set(TINY_COMPONENTS) \
            or not all(isinstance(config, dict) for config in configs.values()):
        raise model_file_error(field, path, f"has a '{TINY_CONFIG_KEY}' metadata entry that is not a map from the "
                               f"components {', '.join(TINY_COMPONENTS)} to their configs")
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    folder = writable_path("temp", f"longform-configs/{digest}/model_index.json", field).parent
    if not (folder / "model_index.json").exists():
        for name in TINY_COMPONENTS:
            if name in configs:
                (folder / name).mkdir(parents=True, exist_ok=True)
                (folder / name / "config.json").write_text(json.dumps(configs[name]), encoding="utf-8")
        (folder / "scheduler").mkdir(exist_ok=True)
        scheduler = (SD15_CONFIG_DIR / "scheduler" / "scheduler_config.json").read_text(encoding="utf-8")
        (folder / "scheduler" / "scheduler_config.json").write_text(scheduler, encoding="utf-8")
        (folder / "model_index.json").write_text(
            (SD15_CONFIG_DIR / "model_index.json").read_text(encoding="utf-8"), encoding="utf-8"
        )
    return folder


def _device_dtype() -> tuple[torch.device, torch.dtype]:
    device = host.torch_device()
    return device, torch.float16 if device.type == "cuda" else torch.float32


def _load_checkpoint(path: Path, device: torch.device, dtype: torch.dtype) -> _LoadedCheckpoint:
    key = (*_file_key(path), str(device), str(dtype))
    with _CACHE_LOCK:
        if key in _CHECKPOINTS:
            _CHECKPOINTS.move_to_end(key)
            return _CHECKPOINTS[key]
    shapes, metadata = safetensors_header(path, "checkpoint")
    family = detect_checkpoint_family(shapes)
    if family != "sd15":
        raise ValueError(
            f"checkpoint '{path.name}' was recognised as {family}, not Stable Diffusion 1.5: the stylizer's "
            "ControlNet and LoRAs are SD 1.5 models. Choose an SD 1.5 checkpoint in the original single-file "
            "layout (e.g. v1-5-pruned-emaonly.safetensors)."
        )
    warn_if_tiny(metadata, path)
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTokenizer

    pipe = StableDiffusionPipeline.from_single_file(
        str(path),
        config=str(_config_folder(metadata, path, "checkpoint")),
        tokenizer=CLIPTokenizer.from_pretrained(str(TOKENIZER_DIR)),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
        torch_dtype=dtype,
    )
    pipe.to(device)
    _LOAD_COUNTS["checkpoint"] += 1
    loaded = _LoadedCheckpoint(components=pipe.components, tiny=is_tiny(metadata))
    with _CACHE_LOCK:
        _CHECKPOINTS[key] = loaded
        while len(_CHECKPOINTS) > _MAX_CHECKPOINTS:
            _CHECKPOINTS.popitem(last=False)
    return loaded


def _load_controlnet(path: Path, cross_attention_dim: int, device: torch.device, dtype: torch.dtype) -> Any:
    key = (*_file_key(path), str(device), str(dtype))
    with _CACHE_LOCK:
        if key in _CONTROLNETS:
            _CONTROLNETS.move_to_end(key)
            return _CONTROLNETS[key]
    shapes, metadata = safetensors_header(path, "controlnet")
    hint = next((k for k in shapes if k.endswith("input_hint_block.0.weight")), None)
    if hint is None:
        raise ValueError(
            f"controlnet '{path.name}' is not a ControlNet single file (no input_hint_block weights). "
            "Choose a ControlNet 1.0/1.1 SD 1.5 file such as control_v11p_sd15_scribble_fp16.safetensors."
        )
    to_k = next((s for k, s in shapes.items() if k.endswith("attn2.to_k.weight")), None)
    if to_k is not None and to_k[1] != cross_attention_dim:
        raise ValueError(
            f"controlnet '{path.name}' expects {to_k[1]}-wide text embeddings but the checkpoint gives "
            f"{cross_attention_dim}: it is for another model family. Choose an SD 1.5 ControlNet."
        )
    warn_if_tiny(metadata, path)
    from diffusers import ControlNetModel

    folder = _config_folder(metadata, path, "controlnet") / "controlnet"
    controlnet = ControlNetModel.from_single_file(str(path), config=str(folder), torch_dtype=dtype).to(device)
    _LOAD_COUNTS["controlnet"] += 1
    with _CACHE_LOCK:
        _CONTROLNETS[key] = controlnet
        while len(_CONTROLNETS) > _MAX_CONTROLNETS:
            _CONTROLNETS.popitem(last=False)
    return controlnet


def _load_lora(pipe: Any, entry: _LoadedCheckpoint, name: str, path: Path) -> str:
    """Load a LoRA file into the checkpoint's UNet / text encoder once; return its adapter name."""
    file_key = _file_key(path)
    adapter = entry.adapters.get(file_key)
    if adapter is not None:
        return adapter
    adapter = "lf_" + hashlib.sha1(repr(file_key).encode()).hexdigest()[:12]
    _, metadata = safetensors_header(path, "lora")
    warn_if_tiny(metadata, path)
    from transformers.utils import logging as transformers_logging

    # transformers logs a LoRA-only text-encoder state dict as a "LOAD REPORT" listing every base weight as MISSING;
    # the base weights are already there (the tests compare the applied deltas), so only errors are shown.
    verbosity = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        pipe.load_lora_weights(str(path), adapter_name=adapter)
    except (ValueError, KeyError, RuntimeError) as error:
        raise ValueError(
            f"lora '{name}' could not be applied to this SD 1.5 checkpoint ({error}). Choose an SD 1.5 LoRA in "
            "kohya (lora_unet_*/lora_te_*) or diffusers format."
        ) from error
    finally:
        transformers_logging.set_verbosity(verbosity)
    loaded = {a for adapters in pipe.get_list_adapters().values() for a in adapters}
    if adapter not in loaded:
        raise ValueError(f"lora '{name}' matched no layer of the SD 1.5 UNet or text encoder: choose an SD 1.5 LoRA.")
    _LOAD_COUNTS["lora"] += 1
    entry.adapters[file_key] = adapter
    return adapter


def make_scheduler(name: str, base_config: dict) -> Any:
    """A fresh diffusers scheduler called `name` (a key of SCHEDULERS) on the checkpoint's noise schedule."""
    if name not in SCHEDULERS:
        raise ValueError(f"scheduler '{name}' is not known. Choose one of: {', '.join(SCHEDULERS)}.")
    import diffusers

    class_name, overrides = SCHEDULERS[name]
    return getattr(diffusers, class_name).from_config(base_config, **overrides)


def load_pipeline(
    checkpoint: str,
    controlnet: str | None,
    loras: Sequence[tuple[str, float]] = (),
    scheduler: str = DEFAULT_SCHEDULER,
) -> StylizePipeline:
    """Load (or reuse) an SD 1.5 pipe with a ControlNet and LoRAs, from the ComfyUI model folders.

    `checkpoint`, `controlnet` and the LoRA names are file names in models/checkpoints, models/controlnet and
    models/loras; `controlnet` may be None or "" for a plain text-to-image pipe. LoRA strengths are applied per run
    (see `StylizePipeline.prepared`), so a changed strength reloads nothing.
    """
    from diffusers import StableDiffusionControlNetPipeline, StableDiffusionPipeline

    checkpoint_path = host.model_path("checkpoints", checkpoint)
    device, dtype = _device_dtype()
    entry = _load_checkpoint(checkpoint_path, device, dtype)
    parts = entry.components
    controlnet_path = host.model_path("controlnet", controlnet) if controlnet else None
    common = dict(
        vae=parts["vae"],
        text_encoder=parts["text_encoder"],
        tokenizer=parts["tokenizer"],
        unet=parts["unet"],
        scheduler=parts["scheduler"],
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    if controlnet_path is not None:
        model = _load_controlnet(controlnet_path, parts["unet"].config.cross_attention_dim, device, dtype)
        pipe = StableDiffusionControlNetPipeline(controlnet=model, **common)
    else:
        pipe = StableDiffusionPipeline(**common)
    pipe.set_progress_bar_config(disable=True)  # host.progress draws the bar

    specs = []
    for index, (name, strength) in enumerate(loras):
        field_name = "lora" if index == 0 else f"lora_{index + 1}"
        if not np.isfinite(strength):
            raise ValueError(f"'{field_name}_strength' must be a finite number; got {strength}.")
        path = host.model_path("loras", name)
        with entry.lock:
            adapter = _load_lora(pipe, entry, name, path)
        if any(spec.adapter == adapter for spec in specs):
            raise ValueError(f"lora '{name}' is chosen twice: pick it once and set its strength there.")
        specs.append(LoraSpec(name=name, path=path, strength=float(strength), adapter=adapter))

    return StylizePipeline(
        pipe=pipe,
        checkpoint=checkpoint_path,
        controlnet=controlnet_path,
        loras=tuple(specs),
        scheduler_name=scheduler,
        scheduler=make_scheduler(scheduler, parts["scheduler"].config),
        device=device,
        dtype=dtype,
        tiny=entry.tiny,
        _entry=entry,
    )


# ------------------------------------------------------------------------------------------------------------ running


def latent_preview(latents: torch.Tensor):
    """A cheap RGB preview (PIL) of the first SD 1.x latent, by a linear map instead of the VAE decoder."""
    from PIL import Image

    rgb = torch.einsum("chw,cr->hwr", latents[0].float().cpu(), _LATENT_RGB)
    array = ((rgb + 1.0) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(array).resize((array.shape[1] * 8, array.shape[0] * 8), Image.NEAREST)


def _check_size(width: int, height: int) -> None:
    for field_name, value in (("width", width), ("height", height)):
        if value < 64 or value % 8:
            raise ValueError(f"'{field_name}' must be a multiple of 8 and at least 64; got {value}.")


def run(
    pipeline: StylizePipeline,
    prompt: str,
    negative_prompt: str = "",
    seed: int = 0,
    steps: int = 20,
    guidance: float = 7.5,
    width: int = 512,
    height: int = 512,
    control_image: torch.Tensor | None = None,
    controlnet_strength: float = 1.0,
    control_start: float = 0.0,
    control_end: float = 1.0,
    previews: bool = False,
    extensions: Sequence[PipelineExtension] = (),
    **pipe_kwargs: Any,
) -> torch.Tensor:
    """One diffusers call on the shared pipe, with a progress bar, interrupt checks and optional previews.

    `control_image` is an IMAGE batch (one output per control image) and is required when the pipeline has a
    ControlNet. `pipe_kwargs` go to the diffusers call as they are (e.g. `latents`, `prompt_embeds`). Returns an
    IMAGE batch [B, H, W, 3] on the CPU.
    """
    _check_size(width, height)
    if steps < 1:
        raise ValueError(f"'steps' must be at least 1; got {steps}.")
    for name, value in (("guidance", guidance), ("controlnet_strength", controlnet_strength),
                        ("control_start", control_start), ("control_end", control_end)):
        check_finite(value, name)
    has_controlnet = pipeline.controlnet is not None
    batch = 1
    call: dict[str, Any] = {}
    if has_controlnet:
        if control_image is None:
            raise ValueError("'scribble' is required: this pipeline has a ControlNet. Connect a scribble image.")
        if not 0.0 <= control_start < control_end <= 1.0:
            raise ValueError(
                f"'control_start' ({control_start}) must be below 'control_end' ({control_end}), both in 0..1."
            )
        control = check_image_batch(control_image, "scribble")
        batch = control.shape[0]
        call.update(
            image=control.permute(0, 3, 1, 2).to(pipeline.device, pipeline.dtype),
            controlnet_conditioning_scale=float(controlnet_strength),
            control_guidance_start=float(control_start),
            control_guidance_end=float(control_end),
        )
    elif control_image is not None:
        raise ValueError("This pipeline was loaded without a ControlNet: load one, or leave 'scribble' unconnected.")
    if "prompt_embeds" not in pipe_kwargs:
        call.update(prompt=[prompt] * batch, negative_prompt=[negative_prompt] * batch)
    generators = [torch.Generator("cpu").manual_seed(int(seed) + i) for i in range(batch)]

    with host.progress(steps, "stylize") as bar:

        def on_step_end(pipe, step, timestep, tensors):
            bar.update(preview_image=latent_preview(tensors["latents"]) if previews else None)
            return {}

        with pipeline.prepared(extensions) as extra:
            output = pipeline.pipe(
                num_inference_steps=int(steps),
                guidance_scale=float(guidance),
                width=int(width),
                height=int(height),
                generator=generators,
                output_type="pt",
                callback_on_step_end=on_step_end,
                **call,
                **extra,
                **pipe_kwargs,
            )
    return output.images.permute(0, 2, 3, 1).float().cpu().clamp(0.0, 1.0)


def stylize(
    pipeline: StylizePipeline,
    scribble: torch.Tensor,
    prompt: str,
    negative_prompt: str = "",
    seed: int = 0,
    steps: int = 20,
    guidance: float = 7.5,
    controlnet_strength: float = 1.0,
    control_start: float = 0.0,
    control_end: float = 1.0,
    width: int = 512,
    height: int = 512,
    previews: bool = False,
    extensions: Sequence[PipelineExtension] = (),
) -> torch.Tensor:
    """A scribble map (white lines on black) and a prompt -> an IMAGE batch, one image per scribble."""
    if pipeline.controlnet is None:
        raise ValueError("'pipeline' has no ControlNet: choose a scribble ControlNet in the pipeline loader.")
    return run(
        pipeline,
        prompt,
        negative_prompt,
        seed=seed,
        steps=steps,
        guidance=guidance,
        width=width,
        height=height,
        control_image=scribble,
        controlnet_strength=controlnet_strength,
        control_start=control_start,
        control_end=control_end,
        previews=previews,
        extensions=extensions,
    )
