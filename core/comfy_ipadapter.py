"""ComfyUI glue for the identity lock: a patched clone of a MODEL, the adapter's module under ComfyUI's memory manager.

The maths lives in core/ipadapter.py; here are only the calls into ComfyUI (ModelPatcher, model_sampling, optimized
attention, the device policy). Imports of comfy.* stay inside the functions, so importing this module is free.
"""

from __future__ import annotations

import torch

from . import ipadapter


def comfy_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, extra_options: dict) -> torch.Tensor:
    """ComfyUI's optimized attention, called as its own CrossAttention calls it (same precision, same options), so a
    step outside the lock's window gives the unpatched model's numbers bit for bit."""
    from comfy.ldm.modules.attention import optimized_attention

    return optimized_attention(q, k, v, heads, attn_precision=extra_options.get("attn_precision"),
                               transformer_options=extra_options)


def layout(model) -> list[ipadapter.Attn2Layer]:
    """The cross-attention layers of a MODEL's UNet, numbered as the IP-Adapter files count them."""
    return ipadapter.attn2_layout(model.get_model_object("diffusion_model"))


def lock_model(model, adapter: ipadapter.AdapterFile, cond: torch.Tensor, uncond: torch.Tensor, weight: float,
               start_at: float, end_at: float):
    """A clone of `model` (a ComfyUI ModelPatcher) with the IP-Adapter in every cross-attention layer.

    The input is never changed. Weight 0 returns `model` itself. The adapter's module is wrapped in a ModelPatcher
    that the patches declare through `models()`: ComfyUI loads it with the UNet, in the UNet's compute dtype, and
    unloads it with everything else. FaceID's LoRA becomes weight patches on the clone (ComfyUI applies them when it
    loads the weights)."""
    import comfy.model_patcher

    if weight == 0:
        return model
    layers = layout(model)
    ipadapter.check_adapter_fits(adapter, layers)
    patched = model.clone()
    sampling = patched.get_model_object("model_sampling")
    dtype = getattr(patched.model, "manual_cast_dtype", None) or patched.model_dtype()
    module = ipadapter.IPAdapterModel(adapter).to(dtype=dtype)
    managed = comfy.model_patcher.ModelPatcher(module, load_device=patched.load_device,
                                               offload_device=patched.offload_device)
    lock = ipadapter.IdentityConditioning(
        model=module, cond=cond, uncond=uncond, weight=float(weight),
        sigma_start=float(sampling.percent_to_sigma(start_at)), sigma_end=float(sampling.percent_to_sigma(end_at)),
        managed=(managed,),
    )
    existing = patched.model_options["transformer_options"].get("patches_replace", {}).get("attn2", {})
    for layer in layers:
        # ComfyUI looks a replacement up by (block, index, transformer) first, then by (block, index): chain whichever
        # is there now, and take the pair key (as IPAdapter_plus does) unless a triple-keyed patch would shadow it.
        triple = (layer.block, layer.index, layer.transformer_index)
        key = triple if layer.transformer_index or triple in existing else triple[:2]
        previous = existing.get(triple, existing.get(triple[:2]))
        patched.set_model_attn2_replace(ipadapter.IPAttention(lock, layer.ip_key, comfy_attention, previous), *key)
    if adapter.lora:
        patched.add_patches({key: (delta,) for key, delta in ipadapter.lora_deltas(adapter, layers).items()}, 1.0)
    return patched

