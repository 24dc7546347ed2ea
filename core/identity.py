"""IP-Adapter identity lock for the stylizer's SD 1.5 pipeline, and the identity score of generated frames.

Three variants, told apart by the shapes of the weights (never by the file name):
- base ("ip-adapter_sd15"): CLIP image embedding -> 4 tokens (`image_proj.proj`, `image_proj.norm`);
- plus ("ip-adapter-plus_sd15"): a perceiver resampler over CLIP's penultimate hidden states (`image_proj.latents`);
- faceid ("ip-adapter-faceid_sd15.bin"): an MLP from the 512-d insightface (ArcFace) embedding -> 4 tokens
  (`image_proj.proj.0/2`, `image_proj.norm`), plus a LoRA on every attention layer (`ip_adapter.{k}.to_*_lora`).

The image projection and the decoupled cross-attention processors are built by diffusers' own IP-Adapter loader
(`UNet2DConditionModel._load_ip_adapter_weights`, the engine of `pipeline.load_ip_adapter`). The pipeline-level
`load_ip_adapter` is not used: it loads the image encoder from a repository folder layout (ours is one file in
models/clip_vision), loads FaceID's LoRA with `load_lora_weights` + `set_adapters` (which would switch off the
stylizer's own LoRAs), and changes the shared, cached pipeline for good. Here the adapter is swapped in only inside
`IdentityLock.applied(pipe)`, and everything is put back on exit: a run that did not ask for the identity lock sees the
pipeline exactly as the stylizer loaded it. FaceID's LoRA is our own code: forward hooks that add `up(down(x))` to the
attention projections while the adapter is active (removed on exit; no weight is modified).

The reference embeddings reach the UNet through a forward pre-hook (`added_cond_kwargs["image_embeds"]`), so the
stylizer's own pipeline call needs no change; the hook also switches the adapter on and off by the fraction of the
sampling schedule done (`start`/`end`), looked up in `pipe.scheduler.timesteps`.
"""

from __future__ import annotations

import logging
import math
import weakref
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch

from . import host, images, tiny
from .checks import check_finite
from .encoders import CLIP_MEAN, CLIP_STD, preprocess
from .model_files import load_pickle, load_safetensors, model_file_error, parse_json
from .stylize import StylizePipeline

logger = logging.getLogger("LongForm")

IPADAPTER_FOLDER = "ipadapter"
CLIP_VISION_FOLDER = "clip_vision"
VARIANTS = ("base", "plus", "faceid")
SDXL_CROSS_ATTENTION_DIM = 2048
# Attention heads of the published CLIP vision towers by width (heads change no weight shape, so files don't say).
_CLIP_HEADS = {768: 12, 1024: 16, 1280: 16, 1664: 16}
_LORA_TARGETS = {"to_q": "to_q", "to_k": "to_k", "to_v": "to_v", "to_out": "to_out.0"}

_ADAPTER_FILES: dict[str, "AdapterFile"] = {}
_CLIP_VISION: dict[str, torch.nn.Module] = {}
# Per UNet (weakly held: a UNet dropped from the stylizer's cache frees its adapters too): adapter path -> modules.
_ATTACHED: "weakref.WeakKeyDictionary[torch.nn.Module, dict[str, _AdapterModules]]" = weakref.WeakKeyDictionary()


# ------------------------------------------------------------------------------------------------------ adapter files


@dataclass(frozen=True)
class AdapterFile:
    """An IP-Adapter file split as published: `image_proj` and the attention layers, its variant read from shapes."""

    path: Path
    variant: str
    image_proj: dict[str, torch.Tensor]
    ip_layers: dict[str, torch.Tensor]  # "{k}.to_k_ip.weight" / "{k}.to_v_ip.weight"
    lora: dict[str, torch.Tensor]  # FaceID only: "{k}.to_q_lora.down.weight", ...
    cross_attention_dim: int
    is_tiny: bool


def detect_variant(image_proj: dict[str, torch.Tensor], path: Path | str = "") -> str:
    """'base', 'plus' or 'faceid' from the keys and shapes of `image_proj`; ValueError for anything else."""
    if "latents" in image_proj and "proj_in.weight" in image_proj:
        return "plus"
    if "perceiver_resampler.proj_in.weight" in image_proj:
        raise ValueError(
            f"IP-Adapter file '{Path(path).name}' is FaceID Plus (a resampler over face + CLIP features), which this "
            "pack does not support. Use ip-adapter-faceid_sd15.bin, ip-adapter_sd15 or ip-adapter-plus_sd15."
        )
    if {"proj.0.weight", "proj.2.weight", "norm.weight"} <= image_proj.keys():
        return "faceid"
    if "proj.weight" in image_proj and "norm.weight" in image_proj:
        return "base"
    raise ValueError(
        f"IP-Adapter file '{Path(path).name}' has an image projection this pack does not know "
        f"(keys: {', '.join(sorted(image_proj)[:6])}...). Supported: ip-adapter_sd15, ip-adapter-plus_sd15, "
        "ip-adapter-faceid_sd15."
    )


def _projection_width(variant: str, image_proj: dict[str, torch.Tensor]) -> int:
    """The width of the tokens the image projection makes (= the UNet's cross-attention width it was trained for)."""
    if variant == "plus":
        return int(image_proj["proj_out.weight"].shape[0])
    return int(image_proj["norm.weight"].shape[0])


def _read_state(path: Path) -> tuple[dict, dict, dict[str, str]]:
    if path.suffix == ".safetensors":
        state, metadata = load_safetensors(path, "ipadapter")
        image_proj = {k.removeprefix("image_proj."): v for k, v in state.items() if k.startswith("image_proj.")}
        layers = {k.removeprefix("ip_adapter."): v for k, v in state.items() if k.startswith("ip_adapter.")}
        return image_proj, layers, metadata
    if path.suffix in (".bin", ".pt", ".pth"):
        data = load_pickle(path, "ipadapter")
        if not isinstance(data, dict):
            return {}, {}, {}
        metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
        return dict(data.get("image_proj", {})), dict(data.get("ip_adapter", {})), metadata
    raise ValueError(f"'ipadapter': '{path.name}' is neither .safetensors nor .bin. Choose an IP-Adapter weights file.")


def read_adapter(name: str) -> AdapterFile:
    """Load (cached) the IP-Adapter file `name` from models/ipadapter and tell its variant from the shapes."""
    path = host.model_path(IPADAPTER_FOLDER, name)
    key = str(path)
    if key not in _ADAPTER_FILES:
        image_proj, layers, metadata = _read_state(path)
        if not image_proj or not layers:
            raise ValueError(
                f"'ipadapter': '{name}' is not an IP-Adapter file (no image_proj.* and ip_adapter.* weights). "
                "Choose ip-adapter_sd15, ip-adapter-plus_sd15 or ip-adapter-faceid_sd15."
            )
        variant = detect_variant(image_proj, path)
        ip_keys = [k for k in layers if k.endswith(".to_k_ip.weight")]
        if not ip_keys:
            raise ValueError(f"'ipadapter': '{name}' has no to_k_ip layers: it is not a usable IP-Adapter file.")
        cross = int(layers[ip_keys[0]].shape[1])
        tiny.warn_if_tiny(metadata, path)
        _ADAPTER_FILES[key] = AdapterFile(
            path=path,
            variant=variant,
            image_proj=image_proj,
            ip_layers={k: v for k, v in layers.items() if "_ip." in k},
            lora={k: v for k, v in layers.items() if "_lora." in k},
            cross_attention_dim=cross,
            is_tiny=tiny.is_tiny(metadata),
        )
    return _ADAPTER_FILES[key]


def attention_layout(unet_config: dict) -> list[tuple[int, int, int | None]]:
    """(index, hidden size, cross-attention dim or None for self-attention) of every attention processor of an SD UNet
    built from `unet_config`, in the order the published IP-Adapter files count them (diffusers' `attn_processors`)."""
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel

    with init_empty_weights():
        unet = UNet2DConditionModel(**unet_config)
    return _layout_of(unet)


def _layout_of(unet) -> list[tuple[int, int, int | None]]:
    layout = []
    for index, name in enumerate(unet.attn_processors):
        attention = unet.get_submodule(name.removesuffix(".processor"))
        cross = None if name.endswith("attn1.processor") else int(attention.to_k.in_features)
        layout.append((index, int(attention.to_q.out_features), cross))
    return layout


def check_adapter_fits(adapter: AdapterFile, unet) -> None:
    """Raise ValueError when the adapter was made for another UNet (SDXL, or another layer layout)."""
    unet_cross = int(unet.config.cross_attention_dim)
    widths = {adapter.cross_attention_dim, _projection_width(adapter.variant, adapter.image_proj)}
    if SDXL_CROSS_ATTENTION_DIM in widths and unet_cross != SDXL_CROSS_ATTENTION_DIM:
        raise ValueError(
            f"'ipadapter': '{adapter.path.name}' is an SDXL IP-Adapter (cross-attention width "
            f"{SDXL_CROSS_ATTENTION_DIM}) but the stylizer's checkpoint is SD 1.5 (width {unet_cross}). Use an SD 1.5 "
            "IP-Adapter: ip-adapter_sd15.safetensors, ip-adapter-plus_sd15.safetensors or ip-adapter-faceid_sd15.bin."
        )
    if widths != {unet_cross}:
        raise ValueError(
            f"'ipadapter': '{adapter.path.name}' makes tokens {sorted(widths)} wide but the checkpoint's UNet "
            f"cross-attention is {unet_cross} wide: the adapter was made for another base model."
        )
    for index, hidden, cross in _layout_of(unet):
        if cross is None:
            continue
        weight = adapter.ip_layers.get(f"{index}.to_k_ip.weight")
        if weight is None or tuple(weight.shape) != (hidden, cross):
            found = None if weight is None else tuple(weight.shape)
            raise ValueError(
                f"'ipadapter': '{adapter.path.name}' does not fit the checkpoint's UNet: attention layer {index} needs "
                f"to_k_ip of shape {(hidden, cross)}, the file has {found}. Use an IP-Adapter made for this base model."
            )


# ------------------------------------------------------------------------------------------------------ CLIP vision


def clip_vision_config(state: dict[str, torch.Tensor], metadata: dict[str, str], path: Path | str = "") -> dict:
    """The CLIPVisionConfig fields: from the file's metadata when it has them (tiny files), else from the shapes."""
    if "config" in metadata:
        config = parse_json(metadata["config"], "clip_vision", path, what="config")
        if not isinstance(config, dict):
            raise model_file_error("clip_vision", path, "has a config in its metadata that is not a JSON object")
        return config
    hidden = int(state["vision_model.embeddings.class_embedding"].shape[0])
    patch = int(state["vision_model.embeddings.patch_embedding.weight"].shape[-1])
    positions = int(state["vision_model.embeddings.position_embedding.weight"].shape[0])
    layers = 1 + max(int(k.split(".")[3]) for k in state if k.startswith("vision_model.encoder.layers."))
    return {
        "hidden_size": hidden,
        "intermediate_size": int(state["vision_model.encoder.layers.0.mlp.fc1.weight"].shape[0]),
        "num_hidden_layers": layers,
        "num_attention_heads": _CLIP_HEADS.get(hidden, max(1, hidden // 64)),
        "image_size": patch * round(math.sqrt(positions - 1)),
        "patch_size": patch,
        "projection_dim": int(state["visual_projection.weight"].shape[0]),
        # OpenAI's ViT-L/14 was trained with quick_gelu; the LAION ViT-H/14 and bigG (IP-Adapter's) with gelu.
        "hidden_act": "quick_gelu" if hidden == 1024 else "gelu",
    }


def load_clip_vision(name: str) -> torch.nn.Module:
    """The cached CLIPVisionModelWithProjection of the single file `name` in models/clip_vision (transformers layout)."""
    path = host.model_path(CLIP_VISION_FOLDER, name)
    device = host.torch_device()
    key = f"{path}|{device}"
    if key not in _CLIP_VISION:
        from accelerate import init_empty_weights
        from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

        loaded, metadata = load_safetensors(path, "clip_vision")
        # Files saved from a bare CLIPVisionTransformer lack the "vision_model." prefix that the model class uses.
        state = {
            key if key.startswith(("vision_model.", "visual_projection.")) else f"vision_model.{key}": value
            for key, value in loaded.items()
        }
        if "vision_model.embeddings.class_embedding" not in state or "visual_projection.weight" not in state:
            raise ValueError(
                f"'clip_vision': '{name}' is not a CLIP vision encoder with projection in the transformers layout "
                "(vision_model.*, visual_projection.weight). Use CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors "
                "(manifest entry 'clip_vision_h')."
            )
        with init_empty_weights(include_buffers=False):
            model = CLIPVisionModelWithProjection(CLIPVisionConfig(**clip_vision_config(state, metadata, path)))
        model.load_state_dict(state, strict=True, assign=True)
        tiny.warn_if_tiny(metadata, path)
        _CLIP_VISION[key] = model.eval().requires_grad_(False).to(device)
    return _CLIP_VISION[key]


def clip_pixels(batch: torch.Tensor, encoder: torch.nn.Module) -> torch.Tensor:
    """An IMAGE batch as `encoder`'s input: CLIP's preprocessing (the probe's), on the encoder's device."""
    size = int(encoder.config.image_size)
    return preprocess(batch, size, size, CLIP_MEAN, CLIP_STD).to(device=encoder.device, dtype=encoder.dtype)


@torch.no_grad()
def clip_image_embeds(encoder: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """[B, projection_dim] CLIP image embeddings of an IMAGE batch (the base IP-Adapter's input)."""
    return encoder(pixel_values=clip_pixels(batch, encoder)).image_embeds.float().cpu()


@torch.no_grad()
def clip_penultimate(encoder: torch.nn.Module, pixels: torch.Tensor) -> torch.Tensor:
    """[B, tokens, hidden] penultimate hidden states of CLIP-normalised pixels (IP-Adapter Plus's input)."""
    return encoder(pixel_values=pixels, output_hidden_states=True).hidden_states[-2].float().cpu()


# ------------------------------------------------------------------------------------------------ attaching to the UNet


@dataclass
class _AdapterModules:
    """The IP-Adapter's modules for one UNet, built once and swapped in on demand."""

    processors: dict[str, object]  # cross-attention processor name -> IPAdapterAttnProcessor2_0
    projection: torch.nn.Module  # MultiIPAdapterImageProjection
    lora: dict[str, torch.nn.Sequential] = field(default_factory=dict)  # module path -> Sequential(down, up)


def _build_modules(unet, adapter: AdapterFile) -> _AdapterModules:
    from diffusers.models.attention_processor import IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0

    original = dict(unet.attn_processors)
    saved_projection, saved_type = unet.encoder_hid_proj, unet.config.encoder_hid_dim_type
    try:
        unet._load_ip_adapter_weights(
            [{"image_proj": adapter.image_proj, "ip_adapter": adapter.ip_layers}], low_cpu_mem_usage=False
        )
        processors = {
            name: processor
            for name, processor in unet.attn_processors.items()
            if isinstance(processor, (IPAdapterAttnProcessor, IPAdapterAttnProcessor2_0))
        }
        projection = unet.encoder_hid_proj
    finally:
        # The projection first: Plus's resampler has attention layers of its own that set_attn_processor would count.
        unet.encoder_hid_proj = saved_projection
        unet.config.encoder_hid_dim_type = saved_type
        unet.set_attn_processor(dict(original))  # it empties the dict it is given
    modules = _AdapterModules(processors=processors, projection=projection)
    names = list(original)
    for key, down in adapter.lora.items():
        index, target, part = key.split(".")[0], key.split(".")[1].removesuffix("_lora"), key.split(".")[2]
        if part != "down":
            continue
        up = adapter.lora[f"{index}.{target}_lora.up.weight"]
        path = f"{names[int(index)].removesuffix('.processor')}.{_LORA_TARGETS[target]}"
        layer = torch.nn.Sequential(
            torch.nn.Linear(down.shape[1], down.shape[0], bias=False), torch.nn.Linear(up.shape[1], up.shape[0], bias=False)
        )
        layer[0].weight.data.copy_(down)
        layer[1].weight.data.copy_(up)
        modules.lora[path] = layer.to(device=unet.device, dtype=unet.dtype).requires_grad_(False)
    return modules


def _modules_for(unet, adapter: AdapterFile) -> _AdapterModules:
    per_unet = _ATTACHED.setdefault(unet, {})
    if str(adapter.path) not in per_unet:
        check_adapter_fits(adapter, unet)
        per_unet[str(adapter.path)] = _build_modules(unet, adapter)
    return per_unet[str(adapter.path)]


def step_fraction(timesteps: torch.Tensor, timestep: torch.Tensor | float) -> float:
    """How far into the sampling schedule `timestep` is: its index in `timesteps` over their count (0 = first step)."""
    value = float(timestep.flatten()[0]) if isinstance(timestep, torch.Tensor) else float(timestep)
    schedule = timesteps.detach().float().cpu().flatten()
    if schedule.numel() == 0:
        return 0.0
    index = int(torch.argmin((schedule - value).abs()))  # first exact match; nearest if the scheduler shifted it
    return index / schedule.numel()


@dataclass
class IdentityLock:
    """An IP-Adapter and a reference's embeddings, ready to condition a pipeline inside `applied(pipe)`.

    `positive`/`negative` are [num_images, ...] embeddings of the reference (negative = what CFG's unconditional half
    sees: zeros for base and FaceID, CLIP's features of a black picture for Plus). The adapter acts with `weight` on
    the steps whose fraction of the schedule is in [start, end).
    """

    adapter: AdapterFile
    positive: torch.Tensor
    negative: torch.Tensor
    weight: float
    start: float = 0.0
    end: float = 1.0
    _exit: ExitStack | None = field(default=None, repr=False, compare=False)

    @property
    def variant(self) -> str:
        """'base', 'plus' or 'faceid'."""
        return self.adapter.variant

    def is_active(self, fraction: float) -> bool:
        """True when the adapter acts at this fraction of the schedule."""
        return self.weight != 0 and self.start <= fraction < self.end

    def embeds_for(self, batch: int, guidance: bool) -> torch.Tensor:
        """The `image_embeds` tensor for a UNet batch: [batch, num_images, ...], unconditional half first under CFG."""
        if guidance:
            if batch % 2:
                raise ValueError(f"Classifier-free guidance with an odd UNet batch ({batch}): cannot split it in halves.")
            half = batch // 2
            return torch.cat([self.negative.unsqueeze(0).expand(half, *self.negative.shape),
                              self.positive.unsqueeze(0).expand(half, *self.positive.shape)])
        return self.positive.unsqueeze(0).expand(batch, *self.positive.shape)

    def _before_unet(self, pipe, modules: _AdapterModules, lora_on: list[bool], unet, args, kwargs):
        sample = args[0] if args else kwargs["sample"]
        timestep = args[1] if len(args) > 1 else kwargs["timestep"]
        active = self.is_active(step_fraction(pipe.scheduler.timesteps, timestep))
        for processor in modules.processors.values():
            processor.scale = [self.weight if active else 0.0]
        lora_on[0] = active
        embeds = self.embeds_for(sample.shape[0], bool(getattr(pipe, "do_classifier_free_guidance", False)))
        added = dict(kwargs.get("added_cond_kwargs") or {})
        added["image_embeds"] = [embeds.to(device=sample.device, dtype=unet.dtype)]
        kwargs["added_cond_kwargs"] = added
        return args, kwargs

    def attach(self, pipeline) -> dict:
        """`PipelineExtension.attach` (core.stylize): swap the adapter into `pipeline.pipe` for one run.

        No extra call arguments: the reference reaches the UNet through a forward pre-hook."""
        if self._exit is not None:
            raise RuntimeError("This identity lock is already attached: detach() it before attaching it again.")
        stack = ExitStack()
        stack.enter_context(self.applied(pipeline.pipe))
        self._exit = stack
        return {}

    def detach(self, pipeline) -> None:
        """`PipelineExtension.detach`: put the pipe back exactly as `attach` found it."""
        stack, self._exit = self._exit, None
        if stack is not None:
            stack.close()

    @contextmanager
    def applied(self, pipe) -> Iterator[None]:
        """Condition `pipe` (a diffusers SD 1.5 pipeline) on the reference while inside; restore it exactly on exit.

        Weight 0 attaches nothing, so it is the bare pipeline by construction.
        """
        if self.weight == 0:
            yield
            return
        unet = pipe.unet
        modules = _modules_for(unet, self.adapter)
        saved = dict(unet.attn_processors)
        saved_projection, saved_type = unet.encoder_hid_proj, unet.config.encoder_hid_dim_type
        lora_on = [False]
        handles = []
        try:
            unet.set_attn_processor({name: modules.processors.get(name, proc) for name, proc in saved.items()})
            unet.encoder_hid_proj = modules.projection
            unet.config.encoder_hid_dim_type = "ip_image_proj"
            handles.append(
                unet.register_forward_pre_hook(partial(self._before_unet, pipe, modules, lora_on), with_kwargs=True)
            )
            for path, layer in modules.lora.items():
                handles.append(unet.get_submodule(path).register_forward_hook(partial(_add_lora, layer, lora_on)))
            yield
        finally:
            for handle in handles:
                handle.remove()
            unet.encoder_hid_proj = saved_projection
            unet.config.encoder_hid_dim_type = saved_type
            unet.set_attn_processor(dict(saved))  # it empties the dict it is given


def _add_lora(layer: torch.nn.Sequential, lora_on: list[bool], module, inputs, output):
    """Forward hook: FaceID's LoRA delta on an attention projection, only while the adapter is active."""
    if not lora_on[0]:
        return output
    return output + layer(inputs[0].to(layer[0].weight.dtype)).to(output.dtype)


@dataclass
class IdentityLockedPipeline(StylizePipeline):
    """The stylizer's `LF_PIPELINE` with an identity lock: every run through `prepared()` (the stylizer's `run`, the
    animator's loop) attaches the lock first and detaches it after. The shared diffusers pipe itself is unchanged."""

    lock: IdentityLock | None = None

    @contextmanager
    def prepared(self, extensions: Sequence = ()) -> Iterator[dict]:
        """`StylizePipeline.prepared` with this pipeline's identity lock ahead of `extensions`."""
        with super().prepared((self.lock, *extensions) if self.lock is not None else tuple(extensions)) as extra:
            yield extra


def _check_pipeline(pipeline) -> None:
    if not isinstance(pipeline, StylizePipeline):
        raise ValueError(
            f"'pipeline' must be an LF_PIPELINE (from the LongForm pipeline loader); got {type(pipeline).__name__}."
        )
    if isinstance(pipeline, IdentityLockedPipeline) and pipeline.lock is not None:
        raise ValueError(
            "'pipeline' already has an identity lock: use one LF_IdentityLock per pipeline (give it several reference "
            "images as one batch instead of chaining locks)."
        )


def lock_pipeline(pipeline: StylizePipeline, lock: IdentityLock) -> StylizePipeline:
    """`pipeline` with `lock` attached to its runs; weight 0 returns `pipeline` itself (no IP-Adapter at all)."""
    _check_pipeline(pipeline)
    if lock.weight == 0:
        return pipeline
    fields_now = {f.name: getattr(pipeline, f.name) for f in fields(StylizePipeline)}
    return IdentityLockedPipeline(**fields_now, lock=lock)


def prepare_identity(
    unet,
    adapter_name: str,
    reference: torch.Tensor,
    weight: float = 0.8,
    start: float = 0.0,
    end: float = 1.0,
    clip_vision_name: str = "",
    insightface_pack: str = "",
) -> IdentityLock:
    """Read the adapter, check it fits `unet`, embed the reference and return the lock (nothing is attached yet).

    `reference` is an IMAGE batch: several pictures give several sets of image tokens side by side. Base and Plus need
    `clip_vision_name` (models/clip_vision); FaceID needs `insightface_pack` (models/insightface, a folder).
    """
    if not isinstance(reference, torch.Tensor):
        raise ValueError(
            f"'reference' must be an IMAGE (a [batch, height, width, channels] tensor); got {type(reference).__name__}. "
            "Connect a Load Image node (or any IMAGE output) to it."
        )
    reference = images.check_image_batch(reference, "reference")
    weight, start, end = (check_finite(value, name) for name, value in (("weight", weight), ("start", start),
                                                                         ("end", end)))
    if not 0.0 <= start < end <= 1.0:
        raise ValueError(
            f"'start' and 'end' must satisfy 0 <= start < end <= 1 (fractions of the sampling steps); got start={start}, "
            f"end={end}. Example: start 0.0, end 1.0 for every step."
        )
    if weight < 0:
        raise ValueError(f"'weight' must be 0 or more; got {weight}. 0 turns the identity lock off, 1 is full strength.")
    adapter = read_adapter(adapter_name)
    check_adapter_fits(adapter, unet)
    if adapter.variant == "faceid":
        if not insightface_pack:
            raise ValueError("'insightface' must name an insightface pack (models/insightface/models/buffalo_l) for FaceID.")
        from .faces import face_embeddings

        positive = face_embeddings(reference, insightface_pack, "reference")
        expected = int(adapter.image_proj["proj.0.weight"].shape[1])
        if positive.shape[-1] != expected:
            raise ValueError(f"insightface pack '{insightface_pack}' gives {positive.shape[-1]}-d face embeddings; "
                             f"the FaceID adapter expects {expected}.")
        negative = torch.zeros_like(positive)
    else:
        encoder = load_clip_vision(clip_vision_name)
        if adapter.variant == "base":
            expected = int(adapter.image_proj["proj.weight"].shape[1])
            found = int(encoder.config.projection_dim)
        else:
            expected = int(adapter.image_proj["proj_in.weight"].shape[1])
            found = int(encoder.config.hidden_size)
        if expected != found:
            raise ValueError(
                f"'clip_vision': '{clip_vision_name}' gives {found}-wide features but '{adapter_name}' expects "
                f"{expected}: SD 1.5 IP-Adapters need CLIP ViT-H/14 (manifest entry 'clip_vision_h')."
            )
        if adapter.variant == "base":
            positive = clip_image_embeds(encoder, reference)
            negative = torch.zeros_like(positive)
        else:
            pixels = clip_pixels(reference, encoder)
            positive = clip_penultimate(encoder, pixels)
            negative = clip_penultimate(encoder, torch.zeros_like(pixels))
    _modules_for(unet, adapter)  # build once now, so the first sampling step does not pay for it
    return IdentityLock(adapter=adapter, positive=positive, negative=negative, weight=float(weight), start=start, end=end)


def lock_identity(pipeline: StylizePipeline, adapter_name: str, reference: torch.Tensor, weight: float = 0.8,
                  start: float = 0.0, end: float = 1.0, clip_vision_name: str = "",
                  insightface_pack: str = "") -> tuple[StylizePipeline, IdentityLock]:
    """`prepare_identity` on `pipeline`'s UNet, then `lock_pipeline`: the locked pipeline and the lock."""
    _check_pipeline(pipeline)
    lock = prepare_identity(pipeline.pipe.unet, adapter_name, reference, weight, start, end,
                            clip_vision_name=clip_vision_name, insightface_pack=insightface_pack)
    return lock_pipeline(pipeline, lock), lock


# ------------------------------------------------------------------------------------------------------ identity score


@dataclass(frozen=True)
class IdentityScores:
    """Per-frame cosine similarities to the reference (frame order kept); `face` is None without a face pack and
    NaN for frames where no face was found."""

    clip: list[float]
    face: list[float] | None = None

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
        return "\n".join(lines)

    def as_dict(self) -> dict:
        """Plain numbers for JSON (NaN face scores become None)."""
        stats = self.face_stats()
        return {
            "clip": self.clip,
            "clip_mean": self.clip_mean,
            "clip_min": self.clip_min,
            "face": None if self.face is None else [None if math.isnan(v) else v for v in self.face],
            "face_mean": None if stats is None else stats[0],
            "face_min": None if stats is None else stats[1],
        }


def _cosine_to_reference(frames: torch.Tensor, reference: torch.Tensor) -> list[float]:
    """Cosine of each frame vector with the mean of the (unit) reference vectors."""
    target = torch.nn.functional.normalize(reference.float(), dim=-1).mean(0)
    target = torch.nn.functional.normalize(target, dim=0)
    return torch.nn.functional.normalize(frames.float(), dim=-1).matmul(target).clamp(-1, 1).tolist()


def _image_embedder(clip_vision_name: str, probe_encoder: str):
    """A function IMAGE batch -> [B, D] CLIP image embeddings, from models/clip_vision or the probe's models/encoders."""
    if bool(clip_vision_name) == bool(probe_encoder):
        raise ValueError(
            "Choose exactly one image encoder for the identity score: 'clip_vision' (a file in models/clip_vision, "
            f"e.g. the IP-Adapter's ViT-H) or a probe CLIP in models/encoders; got clip_vision='{clip_vision_name}', "
            f"probe encoder='{probe_encoder}'."
        )
    if clip_vision_name:
        encoder = load_clip_vision(clip_vision_name)
        return lambda batch: clip_image_embeds(encoder, batch)
    from .encoders import load_encoder

    probe = load_encoder("clip", probe_encoder)
    return lambda batch: probe.encode_images(batch).vectors


def identity_scores(
    frames: torch.Tensor,
    reference: torch.Tensor,
    clip_vision_name: str = "",
    probe_encoder: str = "",
    insightface_pack: str = "",
) -> IdentityScores:
    """Per frame, the cosine of its CLIP image embedding with the reference's, and of its largest face's insightface
    embedding when `insightface_pack` is given (NaN where no face is found). Several reference pictures are averaged.

    The CLIP embeddings come from `clip_vision_name` (models/clip_vision) or `probe_encoder` (a CLIP in
    models/encoders, the probe's); give exactly one.
    """
    frames = images.check_image_batch(frames, "frames")
    reference = images.check_image_batch(reference, "reference")
    embed = _image_embedder(clip_vision_name, probe_encoder)
    reference_clip = embed(reference)
    frame_clip = []
    with host.progress(frames.shape[0], "identity score") as bar:
        for chunk in frames.split(8):
            frame_clip.append(embed(chunk))
            bar.update(chunk.shape[0])
    clip = _cosine_to_reference(torch.cat(frame_clip), reference_clip)
    face = None
    if insightface_pack:
        from .faces import analyse, face_embeddings, to_uint8

        hint = "Use a reference with a visible face, or set the face pack to none to score with CLIP only."
        reference_face = face_embeddings(reference, insightface_pack, "reference", hint)
        face = []
        with host.progress(frames.shape[0], "face identity") as bar:
            for picture in to_uint8(frames, "frames"):
                found = analyse(picture, insightface_pack)
                vector = None if found is None else torch.from_numpy(found.embedding)[None]
                face.append(math.nan if vector is None else _cosine_to_reference(vector, reference_face)[0])
                bar.update()
    return IdentityScores(clip=clip, face=face)


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
