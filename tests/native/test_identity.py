"""LF_IdentityLock against ComfyUI's own classes: a MODEL patched through its ModelPatcher, sampled by core KSampler.

The core chain as a user builds it: CheckpointLoaderSimple (the tiny SD 1.5: 320/640 channels, 7 cross-attention
layers, context 768), CLIPTextEncode, CLIPVisionLoader (the ViT-H stand-in), LF Identity Lock, KSampler at 64x64.
"""

import json

import pytest
import torch

from longform_pack.core import ipadapter, manifest
from longform_pack.core.tiny.stylize import TINY_UNET_CONFIG

BASE = "longform-tiny-ip-adapter_sd15.safetensors"
PLUS = "longform-tiny-ip-adapter-plus_sd15.safetensors"
FACEID = "longform-tiny-ip-adapter-faceid_sd15.bin"
FACE_PACK = "models/longform_tiny"
STEPS = 3


@pytest.fixture(scope="module")
def checkpoint(comfy):
    """MODEL and CLIP of the tiny SD 1.5 checkpoint, through core CheckpointLoaderSimple."""
    model, clip, _ = comfy.nodes.CheckpointLoaderSimple().load_checkpoint(manifest.entry("sd15").tiny_filename)
    return model, clip


@pytest.fixture(scope="module")
def unet(checkpoint):
    return checkpoint[0]


@pytest.fixture(scope="module")
def clip_vision(comfy):
    """The ViT-H stand-in through core CLIPVisionLoader."""
    return comfy.nodes.CLIPVisionLoader().load_clip(manifest.entry("clip_vision_h").tiny_filename)[0]


@pytest.fixture(scope="module")
def conditioning(comfy, checkpoint):
    """Prompts encoded by core CLIPTextEncode with the checkpoint's CLIP."""
    encode = comfy.nodes.CLIPTextEncode()
    return encode.encode(checkpoint[1], "a character")[0], encode.encode(checkpoint[1], "blurry")[0]


@pytest.fixture(scope="module")
def references():
    generator = torch.Generator().manual_seed(7)
    return torch.rand(1, 48, 40, 3, generator=generator), torch.rand(1, 48, 40, 3, generator=generator)


def face_picture(size: int = 96) -> torch.Tensor:
    """A cartoon face (skin-coloured oval with eyes on blue): what the tiny insightface detector fires on."""
    from PIL import Image, ImageDraw

    from longform_pack.core import images

    picture = Image.new("RGB", (size, size), (60, 80, 160))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((size // 4, size // 6, 3 * size // 4, 5 * size // 6), fill=(225, 180, 150))
    return images.from_pil(picture)


def sample(comfy, model, conditioning, seed: int = 5, cfg: float = 5.0) -> torch.Tensor:
    """Core KSampler at 64x64 (8x8 latent), euler, CFG 5."""
    positive, negative = conditioning
    latent = {"samples": torch.zeros(1, 4, 8, 8)}
    return comfy.nodes.KSampler().sample(model, seed, STEPS, cfg, "euler", "normal", positive, negative, latent)[0]["samples"]


def lock(pack, model, reference, ipadapter_name=BASE, weight=1.0, start_at=0.0, end_at=1.0, clip_vision=None,
         insightface="none"):
    node = pack.NODE_CLASS_MAPPINGS["LF_IdentityLock"]()
    return node.lock(model, reference, ipadapter_name, weight, start_at, end_at, clip_vision=clip_vision,
                     insightface=insightface)


def test_layout_of_comfyui_unet_matches_the_published_numbering(unet):
    layers = ipadapter.attn2_layout(unet.get_model_object("diffusion_model"))
    assert [(layer.block, layer.index) for layer in layers] == [
        ("input", 1), ("input", 3), ("output", 0), ("output", 1), ("output", 2), ("output", 3), ("middle", 0)]
    assert [(layer.ip_key, layer.hidden, layer.cross) for layer in layers] == ipadapter.layout_from_config(
        TINY_UNET_CONFIG)


def test_locked_differs_weight_zero_is_bit_identical_input_never_mutated(comfy, pack, unet, clip_vision, conditioning,
                                                                         references):
    bare = sample(comfy, unet, conditioning)
    options_before = repr(unet.model_options)
    patches_before = dict(unet.patches)
    locked, info = lock(pack, unet, references[0], clip_vision=clip_vision)
    assert locked is not unet and "base IP-Adapter" in info
    with_lock = sample(comfy, locked, conditioning)
    assert (with_lock - bare).abs().max() > 1e-3
    assert torch.equal(sample(comfy, locked, conditioning), with_lock)  # deterministic
    zero, info = lock(pack, unet, references[0], weight=0.0, clip_vision=clip_vision)
    assert zero is unet and "weight 0" in info
    assert torch.equal(sample(comfy, zero, conditioning), bare)
    # The input MODEL is as it was: same options, same weight patches, same samples bit for bit.
    assert repr(unet.model_options) == options_before and dict(unet.patches) == patches_before
    assert torch.equal(sample(comfy, unet, conditioning), bare)
    other = sample(comfy, lock(pack, unet, references[1], clip_vision=clip_vision)[0], conditioning)
    assert (other - with_lock).abs().max() > 1e-4


def test_the_conditional_half_gets_the_reference(comfy, pack, unet, clip_vision, conditioning, references):
    """At CFG 1 ComfyUI runs only the conditional half (cond_or_uncond == [0]): the reference must still matter there,
    which fails if the reference and unconditional tokens are swapped (base's unconditional features are zeros)."""
    first, second = (lock(pack, unet, reference, clip_vision=clip_vision)[0] for reference in references)
    assert (sample(comfy, first, conditioning, cfg=1.0) - sample(comfy, second, conditioning, cfg=1.0)).abs().max() > 1e-3


def test_plus_detected_from_shapes_and_window_excluding_every_step_is_unpatched(comfy, pack, unet, clip_vision,
                                                                               conditioning, references):
    import shutil

    ipadapter_dir = comfy.base / "models" / "ipadapter"
    shutil.copy(ipadapter_dir / PLUS, ipadapter_dir / "ip-adapter_sd15_really_plus.safetensors")
    bare = sample(comfy, unet, conditioning)
    plus, info = lock(pack, unet, references[0], "ip-adapter_sd15_really_plus.safetensors", clip_vision=clip_vision)
    assert info.startswith("plus IP-Adapter")
    full = sample(comfy, plus, conditioning)
    assert (full - bare).abs().max() > 1e-3
    # The window [0.6, 0.9] of sampling falls between the 2nd and 3rd of 3 "normal" steps: no step lies in it.
    sampling = unet.get_model_object("model_sampling")
    sigmas = comfy.samplers.calculate_sigmas(sampling, "normal", STEPS)[:-1].tolist()
    low, high = sampling.percent_to_sigma(0.9), sampling.percent_to_sigma(0.6)
    assert not any(low <= sigma <= high for sigma in sigmas), sigmas
    never = lock(pack, unet, references[0], PLUS, start_at=0.6, end_at=0.9, clip_vision=clip_vision)[0]
    assert torch.equal(sample(comfy, never, conditioning), bare)
    late = sample(comfy, lock(pack, unet, references[0], PLUS, start_at=0.5, clip_vision=clip_vision)[0], conditioning)
    assert (late - bare).abs().max() > 1e-4 and (late - full).abs().max() > 1e-4


def test_faceid_on_the_cpu_provider_with_its_lora_as_weight_patches(comfy, pack, unet, conditioning):
    from longform_pack.core import faces

    assert faces.providers() == ["CPUExecutionProvider"]  # ComfyUI runs on the CPU here (--cpu)
    locked, info = lock(pack, unet, face_picture(), FACEID, insightface=FACE_PACK)
    assert info.startswith("faceid IP-Adapter")
    assert info.splitlines()[-1] == "faces: insightface on onnxruntime CPUExecutionProvider"  # no GPU: no warning
    assert len(locked.patches) == 14 * 4 and not unet.patches  # LoRA on q, k, v, out of every attention layer
    assert (sample(comfy, locked, conditioning) - sample(comfy, unet, conditioning)).abs().max() > 1e-3
    with pytest.raises(ValueError, match="No face found"):
        lock(pack, unet, torch.full((1, 64, 64, 3), 0.3), FACEID, insightface=FACE_PACK)


def test_faceid_lora_patches_a_processor_of_each_kind_to_w_plus_up_down(comfy, unet):
    """Through ComfyUI's own loading (the weight patches applied as the model goes to its device): every patched
    attention weight of a self-attention (attn1, processor 2n) and a cross-attention (attn2, processor 2n + 1) equals
    W + s·up·down, with s = 1 (the lock's LoRA strength) and up, down read straight from the file."""
    from longform_pack.core import comfy_ipadapter

    path = comfy.base / "models" / "ipadapter" / FACEID
    lora = torch.load(path, weights_only=True)["ip_adapter"]
    layer = ipadapter.attn2_layout(unet.get_model_object("diffusion_model"))[-1]
    original = {key: value.clone() for key, value in unet.model.state_dict().items()}
    cond = torch.randn(1, 512, generator=torch.Generator().manual_seed(3))
    locked = comfy_ipadapter.lock_model(unet, ipadapter.read_adapter(path), cond, torch.zeros_like(cond), 1.0, 0.0, 1.0)
    comfy.model_management.load_models_gpu([locked])
    try:
        patched = locked.model.state_dict()
        for attention, processor in (("attn1", 2 * layer.number), ("attn2", 2 * layer.number + 1)):
            for name, target in (("to_q", "to_q"), ("to_k", "to_k"), ("to_v", "to_v"), ("to_out", "to_out.0")):
                key = f"diffusion_model.{layer.path}.{attention}.{target}.weight"
                delta = lora[f"{processor}.{name}_lora.up.weight"].double() @ \
                    lora[f"{processor}.{name}_lora.down.weight"].double()
                assert delta.abs().max() > 1e-3, key  # a LoRA that changes nothing would prove nothing
                torch.testing.assert_close(patched[key].double(), original[key].double() + delta, rtol=1e-5,
                                           atol=1e-6, msg=key)
    finally:
        comfy.model_management.unload_all_models()  # puts the shared UNet's own weights back
    assert all(torch.equal(unet.model.state_dict()[key], value) for key, value in original.items())


def test_composes_with_lora_and_another_attn2_patch_in_either_order(comfy, pack, unet, clip_vision, conditioning,
                                                                    references):
    generator = torch.Generator().manual_seed(9)
    key = "diffusion_model.middle_block.1.proj_in.weight"
    delta = torch.randn(unet.model.state_dict()[key].shape, generator=generator) * 0.5

    def with_lora(model):
        clone = model.clone()
        clone.add_patches({key: (delta,)}, 1.0)
        return clone

    def with_attn2_patch(model):  # a context-scaling attn2 patch, the other kind of cross-attention patch
        clone = model.clone()
        clone.set_model_attn2_patch(lambda n, context, value, extra: (n, context * 1.5, value * 1.5))
        return clone

    def locked(model):
        return lock(pack, model, references[0], clip_vision=clip_vision)[0]

    bare, lock_only = sample(comfy, unet, conditioning), sample(comfy, locked(unet), conditioning)
    for other in (with_lora, with_attn2_patch):
        other_only = sample(comfy, other(unet), conditioning)
        assert (other_only - bare).abs().max() > 1e-3, f"{other.__name__} changes nothing: the test would be empty"
        lock_after = sample(comfy, locked(other(unet)), conditioning)
        lock_before = sample(comfy, other(locked(unet)), conditioning)
        assert torch.equal(lock_after, lock_before), other.__name__
        assert (lock_after - other_only).abs().max() > 1e-3 and (lock_after - lock_only).abs().max() > 1e-3
    # Two identity locks chain: the second adds to the first instead of replacing it.
    double = lock(pack, locked(unet), references[1], clip_vision=clip_vision)[0]
    single_second = lock(pack, unet, references[1], clip_vision=clip_vision)[0]
    twice = sample(comfy, double, conditioning)
    assert (twice - lock_only).abs().max() > 1e-3 and (twice - sample(comfy, single_second, conditioning)).abs().max() > 1e-3


def test_adapter_module_is_loaded_and_unloaded_by_comfyui(comfy, pack, unet, clip_vision, conditioning, references):
    mm = comfy.model_management
    locked, _ = lock(pack, unet, references[0], clip_vision=clip_vision)
    sample(comfy, locked, conditioning)

    def adapters_loaded():
        return [m for m in mm.current_loaded_models if isinstance(m.model.model, ipadapter.IPAdapterModel)]

    assert adapters_loaded(), "the IP-Adapter module did not go through ComfyUI's load_models_gpu"
    mm.unload_all_models()
    assert adapters_loaded() == []


def test_errors_name_the_field(comfy, pack, unet, clip_vision, references):
    with pytest.raises(ValueError, match="'clip_vision' must be a CLIP_VISION"):
        lock(pack, unet, references[0])
    with pytest.raises(ValueError, match="start_at"):
        lock(pack, unet, references[0], start_at=0.8, end_at=0.2, clip_vision=clip_vision)
    with pytest.raises(ValueError, match="'reference' must be an IMAGE"):
        lock(pack, unet, "face.png", clip_vision=clip_vision)
    with pytest.raises(FileNotFoundError, match="ipadapter_sd15"):
        lock(pack, unet, references[0], "ip-adapter_sd15.safetensors", clip_vision=clip_vision)


def test_identity_score_node_with_core_clip_vision(comfy, pack, clip_vision, references):
    node = pack.NODE_CLASS_MAPPINGS["LF_IdentityScore"]()
    frames = torch.cat([references[1], references[0]])
    plot, summary, mean, low = node.score(frames, references[0], "clip_vision input", "none", clip_vision=clip_vision)
    assert plot.shape[-1] == 3 and "CLIP identity" in summary
    from longform_pack.core import clip_vision as vision

    embeds = vision.image_embeds(clip_vision, torch.cat([references[0], references[1]]))
    expected = torch.nn.functional.cosine_similarity(embeds[1], embeds[0], dim=0).item()
    assert low == pytest.approx(expected, abs=1e-4) and mean == pytest.approx((1 + expected) / 2, abs=1e-4)
    with pytest.raises(ValueError, match="no CLIP_VISION is connected"):
        node.score(frames, references[0], "clip_vision input", "none")


def test_clip_report_scores_identity_with_core_clip_vision(pack, clip_vision, references):
    from longform_pack.core import clip_vision as vision
    from longform_pack.core.schedule import parse_schedule

    schedule = parse_schedule('"0": "a sunny forest", "1": "a stormy night"', 2, fps=2.0)
    frames = torch.cat([references[1], references[0]])
    node = pack.NODE_CLASS_MAPPINGS["LF_ClipReport"]()
    _, text = node.report(frames, schedule, "longform-tiny-clip.safetensors", references[0], "", clip_vision=clip_vision)
    identity = json.loads(text)["identity"]
    embeds = vision.image_embeds(clip_vision, torch.cat([references[0], references[1]]))
    other = torch.nn.functional.cosine_similarity(embeds[1], embeds[0], dim=0).item()
    assert identity["clip"] == pytest.approx([other, 1.0], abs=1e-4)
