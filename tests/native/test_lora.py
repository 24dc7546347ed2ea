"""LF Load LoRA on ComfyUI's real MODEL and CLIP: every module of the pack's LoRAs applies, in both formats."""

import pytest
import torch
from safetensors.torch import load_file

from longform_pack.core import manifest
from longform_pack.core.tiny import stylize as tiny_stylize
from longform_pack.nodes.stylize import LF_LoraLoader

PEFT = manifest.entry("lora_pokemon").tiny_filename
KOHYA = tiny_stylize.KOHYA_LORA_FILENAME
MODULES = 4 * 2 * len(tiny_stylize.TINY_UNET_ATTN2) + 4 * tiny_stylize.TINY_TEXT_CONFIG["num_hidden_layers"]
# One cross-attention projection of each model, under ComfyUI's weight names and the diffusers module names.
UNET_WEIGHT = "diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"
UNET_MODULE = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"
CLIP_WEIGHT = "clip_l.transformer.text_model.encoder.layers.0.self_attn.q_proj.weight"
CLIP_MODULE = "text_model.encoder.layers.0.self_attn.q_proj"


@pytest.fixture(scope="module")
def checkpoint(comfy):
    return comfy.nodes.CheckpointLoaderSimple().load_checkpoint(manifest.entry("sd15").tiny_filename)


def patched_weight(patcher, key: str) -> torch.Tensor:
    """The weight `key` as ComfyUI writes it when it loads the patched model; the shared model is restored after."""
    patcher.patch_weight_to_device(key)
    try:
        return patcher.model.state_dict()[key].detach().float().clone()
    finally:
        patcher.unpatch_model()


def sample(comfy, model, clip, vae) -> torch.Tensor:
    (positive,) = comfy.nodes.CLIPTextEncode().encode(clip, "a pokemon")
    (negative,) = comfy.nodes.CLIPTextEncode().encode(clip, "")
    (latent,) = comfy.nodes.EmptyLatentImage().generate(64, 64, 1)
    (out,) = comfy.nodes.KSampler().sample(model, 3, 2, 5.0, "euler", "normal", positive, negative, latent)
    return out["samples"]


@pytest.mark.parametrize("name", [PEFT, KOHYA])
def test_every_module_applies_and_core_loraloader_drops_the_peft_unet_half(comfy, checkpoint, name):
    model, clip, _ = checkpoint
    patched_model, patched_clip, report = LF_LoraLoader().load_lora(model, clip, name, 1.0, 1.0)
    assert report == f"applied {MODULES} of {MODULES} LoRA modules"
    assert len(patched_model.patches) == 4 * 2 * len(tiny_stylize.TINY_UNET_ATTN2)
    assert len(patched_clip.patcher.patches) == 4 * tiny_stylize.TINY_TEXT_CONFIG["num_hidden_layers"]
    assert not model.patches and not clip.patcher.patches  # the inputs were cloned, not patched
    core_model, _ = comfy.nodes.LoraLoader().load_lora(model, clip, name, 1.0, 1.0)
    # Why the pack has its own loader (ComfyUI 0.3.64): core Load LoRA places no UNet module of a PEFT file.
    assert len(core_model.patches) == (0 if name == PEFT else len(patched_model.patches))


@pytest.mark.parametrize("name", [PEFT, KOHYA])
def test_patched_weight_is_w_plus_scaled_up_down(comfy, checkpoint, name):
    """Against a hand computation from the file's own tensors: W + strength * alpha / rank * up @ down."""
    model, clip, _ = checkpoint
    strength_model, strength_clip = 0.7, -1.3
    patched_model, patched_clip, _ = LF_LoraLoader().load_lora(model, clip, name, strength_model, strength_clip)
    state = load_file(str(comfy.base / "models" / "loras" / name))
    for patcher, weight_key, module, strength in (
        (patched_model, UNET_WEIGHT, f"unet.{UNET_MODULE}", strength_model),
        (patched_clip.patcher, CLIP_WEIGHT, f"text_encoder.{CLIP_MODULE}", strength_clip),
    ):
        if name == KOHYA:
            prefix = ("lora_unet_" if module.startswith("unet.") else "lora_te_") + module.partition(".")[2].replace(".", "_")
            up, down = state[f"{prefix}.lora_up.weight"], state[f"{prefix}.lora_down.weight"]
            scale = state[f"{prefix}.alpha"].item() / down.shape[0]
        else:
            up, down, scale = state[f"{module}.lora_B.weight"], state[f"{module}.lora_A.weight"], 1.0
        original = patcher.model.state_dict()[weight_key].detach().float()
        expected = original + strength * scale * (up.float() @ down.float())
        torch.testing.assert_close(patched_weight(patcher, weight_key), expected, rtol=1e-3, atol=1e-3)
        assert not torch.equal(patcher.model.state_dict()[weight_key].float(), expected)  # unpatched again


def test_strength_changes_the_image_and_both_formats_agree(comfy, checkpoint):
    model, clip, vae = checkpoint
    loader = LF_LoraLoader()
    unchanged_model, unchanged_clip, report = loader.load_lora(model, clip, PEFT, 0.0, 0.0)
    assert unchanged_model is model and unchanged_clip is clip and "not applied" in report
    plain = sample(comfy, model, clip, vae)
    peft = sample(comfy, *LF_LoraLoader().load_lora(model, clip, PEFT, 1.0, 1.0)[:2], vae)
    kohya = sample(comfy, *LF_LoraLoader().load_lora(model, clip, KOHYA, 1.0, 1.0)[:2], vae)
    assert (peft - plain).abs().mean() > 1e-3
    torch.testing.assert_close(peft, kohya, rtol=1e-3, atol=1e-3)


def test_modules_the_model_lacks_are_reported_not_dropped(comfy, checkpoint, tmp_path):
    from safetensors.torch import save_file

    model, clip, _ = checkpoint
    state = load_file(str(comfy.base / "models" / "loras" / PEFT))
    state["unet.down_blocks.3.attentions.0.transformer_blocks.0.attn2.to_q.lora_A.weight"] = torch.ones(4, 1280)
    state["unet.down_blocks.3.attentions.0.transformer_blocks.0.attn2.to_q.lora_B.weight"] = torch.ones(1280, 4)
    state["unet.some_scale"] = torch.ones(1)
    save_file(state, str(comfy.base / "models" / "loras" / "lf-test-extra.safetensors"))
    try:
        _, _, report = LF_LoraLoader().load_lora(model, clip, "lf-test-extra.safetensors", 1.0, 1.0)
    finally:
        (comfy.base / "models" / "loras" / "lf-test-extra.safetensors").unlink()
    assert report.splitlines() == [
        f"applied {MODULES} of {MODULES + 1} LoRA modules",
        "1 not in this model: unet.down_blocks.3.attentions.0.transformer_blocks.0.attn2.to_q",
        "1 not LoRA weights: unet.some_scale",
    ]
