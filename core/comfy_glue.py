"""Small functions over ComfyUI's own sampling, VAE, ControlNet and model-patching code.

The second module (beside `host.py`) that touches ComfyUI: the stylize and animate families run on ComfyUI's native
MODEL / VAE / CONTROL_NET / CONDITIONING through these calls, so ComfyUI's memory manager loads, offloads and evicts
everything they use. Each function is the same call a core node makes (KSampler, VAEEncode, VAEDecode,
ControlNetApplyAdvanced), so a LongForm node fed the same inputs gives the core chain's result. `comfy.*` is imported
inside the functions: importing this module never pulls ComfyUI in.
"""

from __future__ import annotations

import hashlib
import inspect
import weakref
from typing import Any, Callable

import torch

from . import host

# Outside ComfyUI (docs, the workflow builder, tests without a host) the sampler lists are these defaults only.
DEFAULT_SAMPLER = "euler"
DEFAULT_SCHEDULER = "normal"


def sampler_names() -> list[str]:
    """ComfyUI's sampler names (`comfy.samplers.KSampler.SAMPLERS`); outside ComfyUI only the default."""
    if not host.in_comfyui():
        return [DEFAULT_SAMPLER]
    import comfy.samplers

    return list(comfy.samplers.KSampler.SAMPLERS)


def scheduler_names() -> list[str]:
    """ComfyUI's scheduler names (`comfy.samplers.KSampler.SCHEDULERS`); outside ComfyUI only the default."""
    if not host.in_comfyui():
        return [DEFAULT_SCHEDULER]
    import comfy.samplers

    return list(comfy.samplers.KSampler.SCHEDULERS)


def encode_text(clip, text: str) -> list:
    """CLIPTextEncode's CONDITIONING for `text`."""
    tokens = clip.tokenize(text)
    return clip.encode_from_tokens_scheduled(tokens)


def apply_controlnet(positive: list, negative: list, control_net, hint: torch.Tensor, strength: float,
                     start: float, end: float, vae) -> tuple[list, list]:
    """ControlNetApplyAdvanced: the CONTROL_NET with its hint IMAGE attached to both conditionings."""
    import nodes

    return nodes.ControlNetApplyAdvanced().apply_controlnet(positive, negative, control_net, hint, strength, start,
                                                            end, vae=vae)


def vae_encode(vae, image: torch.Tensor) -> torch.Tensor:
    """VAEEncode's latent samples of an IMAGE batch [B, H, W, C] (RGB channels only)."""
    return vae.encode(image[:, :, :, :3])


def vae_decode(vae, samples: torch.Tensor) -> torch.Tensor:
    """VAEDecode's IMAGE batch [B, H, W, 3] from latent samples."""
    images = vae.decode(samples)
    return images.reshape(-1, *images.shape[-3:]) if images.ndim == 5 else images


def empty_latent(batch: int, height: int, width: int) -> torch.Tensor:
    """EmptyLatentImage's latent samples for `batch` images of height x width pixels."""
    import nodes

    return nodes.EmptyLatentImage().generate(width, height, batch)[0]["samples"]


def prepare_noise(latent: torch.Tensor, seed: int) -> torch.Tensor:
    """KSampler's starting noise for `latent` and `seed`."""
    import comfy.sample

    return comfy.sample.prepare_noise(latent, seed)


def sample(model, seed: int, steps: int, cfg: float, sampler_name: str, scheduler: str, positive: list,
           negative: list, latent: torch.Tensor, denoise: float = 1.0, noise: torch.Tensor | None = None,
           callback: Callable[[int, torch.Tensor, torch.Tensor, int], None] | None = None) -> torch.Tensor:
    """KSampler (common_ksampler) on `latent` samples: the noise is KSampler's for `seed` unless `noise` is given.

    `callback(step, x0, x, total_steps)` runs after each step (ComfyUI's preview and progress callback by default).
    """
    import comfy.sample
    import comfy.utils
    import latent_preview

    latent = comfy.sample.fix_empty_latent_channels(model, latent)
    if noise is None:
        noise = comfy.sample.prepare_noise(latent, seed)
    if callback is None:
        callback = latent_preview.prepare_callback(model, steps)
    return comfy.sample.sample(model, noise, steps, cfg, sampler_name, scheduler, positive, negative, latent,
                               denoise=denoise, callback=callback, disable_pbar=not comfy.utils.PROGRESS_BAR_ENABLED,
                               seed=seed)


def with_attn1_patch(model, patch: Callable[..., Any]):
    """A clone of the MODEL with `patch` added to every self-attention (attn1) of its transformer blocks.

    The input model is left as it was: ModelPatcher.clone shares the weights and copies the patch lists.
    """
    patched = model.clone()
    patched.set_model_attn1_patch(patch)
    return patched


def tensor_digest(tensor: torch.Tensor) -> str:
    """sha256 of a tensor's dtype, shape and bytes (read where it lies; a GPU tensor is copied to the CPU)."""
    data = tensor.detach().to("cpu").contiguous()
    digest = hashlib.sha256(f"{data.dtype} {tuple(data.shape)}".encode())
    digest.update(data.reshape(-1).view(torch.uint8).numpy())
    return digest.hexdigest()[:24]


# A module's weights never change while it lives (ComfyUI patches them in place only with the originals kept in a
# patcher's backup): each is digested once per load, not per run (about 3 s a GB here: docs/animate.md).
_module_digests: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def module_digest(module: torch.nn.Module | None, originals: dict | None = None, prefix: str = "") -> str | None:
    """sha256 of every parameter and buffer of `module` (names, dtypes, shapes, bytes), computed once per module.

    A weight that ComfyUI has patched in place (a LoRA, once the model sampled) is read from the patcher's backup
    `originals` (keyed by `prefix` + name): the patches are fingerprinted apart, so the digest is the loaded file's.
    """
    if module is None:
        return None
    if module not in _module_digests:
        digest = hashlib.sha256()
        for name, tensor in module.state_dict(keep_vars=True).items():
            original = (originals or {}).get(prefix + name)
            digest.update(f"{name}={tensor_digest(original.weight if original is not None else tensor)};".encode())
        _module_digests[module] = digest.hexdigest()[:24]
    return _module_digests[module]


def describe(value: Any, depth: int = 6) -> Any:
    """A JSON-able summary of a patch for fingerprints, from what decides the output only.

    An object that offers `resume_key()` (the pack's own patches) is described by what that returns: its explicit
    settings and content. Other objects by their public attributes (a few levels deep), never their private ones
    (`_name`: caches that fill while sampling); tensors and modules by a digest of their content; functions by name.
    """
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, torch.Tensor):
        return tensor_digest(value)
    if isinstance(value, torch.nn.Module):
        return [type(value).__name__, module_digest(value)]
    if callable(getattr(value, "resume_key", None)):
        return [type(value).__name__, describe(value.resume_key(), depth)]
    if depth == 0:
        return type(value).__name__
    if isinstance(value, dict):
        return {str(key): describe(item, depth - 1) for key, item in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [describe(item, depth - 1) for item in value]
    if inspect.isroutine(value):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    if hasattr(value, "__dict__"):
        public = {name: item for name, item in vars(value).items() if not name.startswith("_")}
        return [type(value).__name__, {name: describe(item, depth - 1) for name, item in sorted(public.items())}]
    return getattr(value, "__qualname__", type(value).__name__)


def fingerprint(model, vae, control_net=None) -> tuple:
    """What identifies the models of a streamed run for resuming it, from content and explicit settings only: the
    MODEL's class and weights digest, its weight patches (LoRA deltas digested, with their strengths), object patches
    (e.g. a replaced model_sampling) and attention patches (an identity lock's adapter weights, reference, weight and
    window), the VAE's and the ControlNet's weights digests."""
    backup = getattr(model, "backup", {})
    patches = sorted((key, describe(entries)) for key, entries in model.patches.items())
    control = getattr(control_net, "control_model", None)
    return (type(model.model).__name__, module_digest(model.model.diffusion_model, backup, "diffusion_model."),
            patches, describe(getattr(model, "object_patches", {})),
            describe(model.model_options.get("transformer_options", {})),
            module_digest(vae.first_stage_model), module_digest(control))
