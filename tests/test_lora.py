"""LoRA key formats renamed to the kohya names ComfyUI maps (core/lora.py; applied through ComfyUI in tests/native)."""

import pytest
import torch

from longform_pack.core import lora
from longform_pack.core.tiny import stylize as tiny_stylize

UNET_MODULE = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k"


@pytest.mark.parametrize(
    "module, expected",
    [
        (f"unet.{UNET_MODULE}", f"lora_unet_{UNET_MODULE.replace('.', '_')}"),
        (f"unet.base_model.model.{UNET_MODULE}", f"lora_unet_{UNET_MODULE.replace('.', '_')}"),
        ("unet.mid_block.attentions.0.transformer_blocks.0.attn1.processor.to_out.0",
         "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_out_0"),
        ("text_encoder.text_model.encoder.layers.3.self_attn.q_proj", "lora_te_text_model_encoder_layers_3_self_attn_q_proj"),
        ("text_encoder.encoder.layers.3.mlp.fc1", "lora_te_text_model_encoder_layers_3_mlp_fc1"),
        ("lora_unet_input_blocks_1_1_proj_in", "lora_unet_input_blocks_1_1_proj_in"),
    ],
)
def test_module_names_become_kohya_names(module, expected):
    assert lora.kohya_module_name(module) == expected


@pytest.mark.parametrize(
    "up, down", [(".lora_B.weight", ".lora_A.weight"), ("_lora.up.weight", "_lora.down.weight"),
                 (".lora.up.weight", ".lora.down.weight"), (".lora_linear_layer.up.weight", ".lora_linear_layer.down.weight")],
)
def test_every_pair_format_keeps_its_tensors_and_alpha(up, down):
    up_w, down_w, alpha = torch.randn(8, 2), torch.randn(2, 6), torch.tensor(1.0)
    module = f"unet.{UNET_MODULE}"
    converted = lora.to_kohya({module + up: up_w, module + down: down_w, module + ".alpha": alpha, "stray": alpha})
    name = lora.kohya_module_name(module)
    assert converted.tensors.keys() == {f"{name}.lora_up.weight", f"{name}.lora_down.weight", f"{name}.alpha"}
    assert converted.tensors[f"{name}.lora_up.weight"] is up_w and converted.tensors[f"{name}.lora_down.weight"] is down_w
    assert converted.sources == {name: module} and converted.unrecognised == ["stray"]


def test_a_layer_spelled_twice_is_refused():
    pair = {".lora_B.weight": torch.ones(4, 1), ".lora_A.weight": torch.ones(1, 4)}
    state = {f"unet.{UNET_MODULE}{k}": v for k, v in pair.items()}
    state |= {f"unet.base_model.model.{UNET_MODULE}{k}": v for k, v in pair.items()}
    with pytest.raises(ValueError, match="both adapt"):
        lora.to_kohya(state)


def test_the_packs_two_tiny_loras_name_the_same_modules(tiny_models_dir):
    peft = lora.load(tiny_models_dir / "loras" / "longform-tiny-lora-diffusers.safetensors")
    kohya = lora.load(tiny_models_dir / "loras" / tiny_stylize.KOHYA_LORA_FILENAME)
    assert peft.sources.keys() == kohya.sources.keys() and not peft.unrecognised and not kohya.unrecognised
    assert len(peft.sources) == 4 * 2 * len(tiny_stylize.TINY_UNET_ATTN2) + 4 * tiny_stylize.TINY_TEXT_CONFIG["num_hidden_layers"]


def test_a_file_without_lora_weights_is_refused(tmp_path):
    from safetensors.torch import save_file

    save_file({"model.diffusion_model.out.2.weight": torch.ones(1)}, str(tmp_path / "not-a-lora.safetensors"))
    with pytest.raises(ValueError, match="lora_name: 'not-a-lora.safetensors' holds no LoRA weights"):
        lora.load(tmp_path / "not-a-lora.safetensors")


def test_report_names_what_was_not_placed():
    text = lora.report(3, 5, ["unet.a", "unet.b"], ["junk"])
    assert text.splitlines() == ["applied 3 of 5 LoRA modules", "2 not in this model: unet.a, unet.b", "1 not LoRA weights: junk"]
    assert lora.report(5, 5, [], []) == "applied 5 of 5 LoRA modules"
