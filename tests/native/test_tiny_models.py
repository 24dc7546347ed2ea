"""The tiny stand-ins load through ComfyUI's own loaders (as SD 1.5 files, as Wan 2.2 5B files), with no key left
behind, and sample."""

import logging
import re

import pytest
import torch

from longform_pack.core import manifest
from longform_pack.core.tiny import clip_vision as tiny_clip_vision
from longform_pack.core.tiny import stylize as tiny_stylize
from longform_pack.core.tiny import wan as tiny_wan

# Every line ComfyUI logs about a key it could not place (some at debug level), in its loaders of 0.3.64.
KEY_TROUBLE = re.compile(r"missing|unexpected|left ?over|not loaded", re.IGNORECASE)
# The released SD 1.5 checkpoint has no CLIP text projection either; ComfyUI expects that and says so at debug level.
SD15_AS_RELEASED = "clip missing: ['clip_l.logit_scale', 'clip_l.transformer.text_projection.weight']"


def tiny_name(model_id: str) -> str:
    return manifest.entry(model_id).tiny_filename


@pytest.fixture
def key_lines(caplog):
    """The log lines in which ComfyUI reports keys it could not load."""
    caplog.set_level(logging.DEBUG)
    return lambda: [
        r.getMessage()[:200] for r in caplog.records
        if KEY_TROUBLE.search(r.getMessage()) and r.getMessage() != SD15_AS_RELEASED
    ]


@pytest.fixture(scope="module")
def checkpoint(comfy):
    return comfy.nodes.CheckpointLoaderSimple().load_checkpoint(tiny_name("sd15"))


def test_checkpoint_loads_as_sd15_with_every_key_placed(comfy, key_lines):
    model, clip, vae = comfy.nodes.CheckpointLoaderSimple().load_checkpoint(tiny_name("sd15"))
    assert key_lines() == []
    assert type(model.model.model_config).__name__ == "SD15"
    unet = model.model.model_config.unet_config
    for field in ("model_channels", "context_dim", "num_res_blocks", "in_channels", "out_channels"):
        expected = tiny_stylize.TINY_UNET_CONFIG[field]
        assert unet[field] == (expected if field != "num_res_blocks" else [expected] * 2), field
    assert list(unet["channel_mult"]) == tiny_stylize.TINY_UNET_CONFIG["channel_mult"]
    attn2 = [name for name, _ in model.model.diffusion_model.named_modules() if name.endswith(".attn2")]
    assert len(attn2) == len(tiny_stylize.TINY_UNET_ATTN2)


def test_controlnet_loads_with_every_key_placed(comfy, key_lines):
    (control_net,) = comfy.nodes.ControlNetLoader().load_controlnet(tiny_name("controlnet_scribble"))
    assert key_lines() == []
    assert type(control_net).__name__ == "ControlNet"


def test_kohya_lora_loads_fully_with_core_loralloader(comfy, checkpoint, key_lines):
    model, clip, _ = checkpoint
    patched_model, patched_clip = comfy.nodes.LoraLoader().load_lora(
        model, clip, tiny_stylize.KOHYA_LORA_FILENAME, 1.0, 1.0
    )
    assert key_lines() == []
    # Every lora_up/lora_down pair became a patch: 4 projections x 2 attentions x 7 transformer blocks in the UNet,
    # 4 x 12 layers in CLIP-L.
    assert len(patched_model.patches) == 4 * 2 * len(tiny_stylize.TINY_UNET_ATTN2)
    assert len(patched_clip.patcher.patches) == 4 * tiny_stylize.TINY_TEXT_CONFIG["num_hidden_layers"]


def test_clip_vision_loads_as_vit_h(comfy, key_lines):
    (clip_vision,) = comfy.nodes.CLIPVisionLoader().load_clip(tiny_name("clip_vision_h"))
    assert key_lines() == []
    output = clip_vision.encode_image(torch.rand(1, 64, 64, 3))
    assert output["image_embeds"].shape == (1, tiny_clip_vision.CLIP_VISION_PROJECTION)
    assert output["penultimate_hidden_states"].shape == (1, 257, tiny_clip_vision.CLIP_VISION_WIDTH)
    assert torch.isfinite(output["penultimate_hidden_states"]).all()


def test_ksampler_with_controlnet_and_lora_at_64px(comfy, checkpoint):
    model, clip, vae = checkpoint
    model, clip = comfy.nodes.LoraLoader().load_lora(model, clip, tiny_stylize.KOHYA_LORA_FILENAME, 1.0, 1.0)
    (positive,) = comfy.nodes.CLIPTextEncode().encode(clip, "a pokemon, bright colours")
    (negative,) = comfy.nodes.CLIPTextEncode().encode(clip, "blurry")
    (control_net,) = comfy.nodes.ControlNetLoader().load_controlnet(tiny_name("controlnet_scribble"))
    scribble = torch.zeros(1, 64, 64, 3)
    scribble[:, 16:48, 30:34] = 1.0
    positive, negative = comfy.nodes.ControlNetApplyAdvanced().apply_controlnet(
        positive, negative, control_net, scribble, 1.0, 0.0, 1.0
    )
    (latent,) = comfy.nodes.EmptyLatentImage().generate(64, 64, 1)
    (sampled,) = comfy.nodes.KSampler().sample(model, 7, 3, 7.0, "euler", "normal", positive, negative, latent)
    (image,) = comfy.nodes.VAEDecode().decode(vae, sampled)
    assert sampled["samples"].shape == (1, 4, 8, 8)
    assert image.shape == (1, 64, 64, 3)
    assert torch.isfinite(image).all() and image.std() > 0


def test_wan_dit_loads_through_unetloader_as_wan22_5b_with_every_key_placed(comfy, key_lines):
    (model,) = comfy.nodes.UNETLoader().load_unet(tiny_name("wan22_ti2v_5b"), "default")
    assert key_lines() == []
    assert type(model.model.model_config).__name__ == "WAN22_T2V"  # what ComfyUI calls Wan 2.2 5B
    parameters = sum(p.numel() for p in model.model.diffusion_model.parameters())
    assert parameters == sum(t.numel() for t in tiny_wan.wan22_dit_state_dict().values())
    assert 0.9e6 < parameters < 1.0e6
    assert model.model.diffusion_model.num_heads == tiny_wan.WAN22_TINY_DIT["dim"] // 128


def test_wan_vae_loads_through_vaeloader_as_the_wan22_vae_with_every_key_placed(comfy, key_lines):
    (vae,) = comfy.nodes.VAELoader().load_vae(tiny_name("wan22_vae"))
    assert key_lines() == []
    assert type(vae.first_stage_model).__module__ == "comfy.ldm.wan.vae2_2" and vae.latent_channels == 48
    assert sum(p.numel() for p in vae.first_stage_model.parameters()) == 704_688_668
