"""The stylizer core on the tiny SD 1.5 / ControlNet / LoRA stand-ins: determinism, ControlNet, LoRA, cache, errors."""

import json
import re
import time

import pytest
import torch

from longform_pack.core import host
from longform_pack.core import stylize as st
from longform_pack.core.model_files import safetensors_header
from longform_pack.core.tiny import stylize as tiny_stylize

CHECKPOINT = "longform-tiny-sd15.safetensors"
CONTROLNET = "longform-tiny-controlnet-scribble.safetensors"
KOHYA = tiny_stylize.KOHYA_LORA_FILENAME
PEFT = "longform-tiny-lora-diffusers.safetensors"
SIZE = dict(width=64, height=64)


@pytest.fixture(scope="module")
def scribble() -> torch.Tensor:
    """A 64x64 scribble map: a white cross on black."""
    picture = torch.zeros(1, 64, 64, 3)
    picture[:, 30:34, 8:56] = 1.0
    picture[:, 8:56, 30:34] = 1.0
    return picture


def render(pipeline, scribble, seed=1, **kwargs):
    return st.stylize(pipeline, scribble, "a pokemon", "blurry", seed=seed, steps=2, **SIZE, **kwargs)


def lora_deltas(pipeline, adapter: str) -> dict[str, torch.Tensor]:
    """Every module's weight change from one loaded adapter at strength 1 (peft's up @ down * scaling)."""
    deltas = {}
    for tower in ("unet", "text_encoder"):
        for name, module in getattr(pipeline.pipe, tower).named_modules():
            if hasattr(module, "lora_A") and adapter in module.lora_A:
                up, down = module.lora_B[adapter].weight, module.lora_A[adapter].weight
                deltas[f"{tower}.{name}"] = (up @ down * module.scaling[adapter]).detach()
    return deltas


def test_same_seed_same_image_other_seed_differs(tiny_models_dir, scribble):
    pipeline = st.load_pipeline(CHECKPOINT, CONTROLNET, [(KOHYA, 1.0)], "euler_a")
    first, again, other = render(pipeline, scribble), render(pipeline, scribble), render(pipeline, scribble, seed=2)
    assert first.shape == (1, 64, 64, 3) and first.dtype == torch.float32
    assert torch.equal(first, again)
    assert (first - other).abs().max() > 0.05


def test_controlnet_strength_zero_equals_no_controlnet(tiny_models_dir, scribble):
    with_controlnet = st.load_pipeline(CHECKPOINT, CONTROLNET, [], "dpmpp_2m")
    without = st.load_pipeline(CHECKPOINT, None, [], "dpmpp_2m")
    plain = st.run(without, "a pokemon", "blurry", seed=1, steps=2, **SIZE)
    assert torch.equal(render(with_controlnet, scribble, controlnet_strength=0.0), plain)
    assert (render(with_controlnet, scribble, controlnet_strength=1.0) - plain).abs().max() > 0.05
    # A control window that ends before the first step leaves the ControlNet out as well.
    late = render(with_controlnet, scribble, control_start=0.9, control_end=1.0)
    assert (late - plain).abs().max() < (render(with_controlnet, scribble) - plain).abs().max()


def test_lora_strength_zero_equals_no_lora_and_strength_changes_output(tiny_models_dir, scribble):
    none = render(st.load_pipeline(CHECKPOINT, CONTROLNET, [], "euler"), scribble)
    zero = render(st.load_pipeline(CHECKPOINT, CONTROLNET, [(KOHYA, 0.0)], "euler"), scribble)
    half = render(st.load_pipeline(CHECKPOINT, CONTROLNET, [(KOHYA, 0.5)], "euler"), scribble)
    full = render(st.load_pipeline(CHECKPOINT, CONTROLNET, [(KOHYA, 1.0)], "euler"), scribble)
    assert torch.equal(zero, none)
    assert (half - none).abs().max() > 0.01
    assert (full - half).abs().max() > 0.01
    # Switching back to no LoRA on the same shared pipe really switches it off.
    assert torch.equal(render(st.load_pipeline(CHECKPOINT, CONTROLNET, [], "euler"), scribble), none)


def test_kohya_and_diffusers_loras_change_the_same_layers(tiny_models_dir, scribble):
    kohya = st.load_pipeline(CHECKPOINT, CONTROLNET, [(KOHYA, 1.0)], "ddim")
    peft = st.load_pipeline(CHECKPOINT, CONTROLNET, [(PEFT, 1.0)], "ddim")
    kohya_deltas, peft_deltas = lora_deltas(kohya, kohya.loras[0].adapter), lora_deltas(peft, peft.loras[0].adapter)
    assert kohya_deltas.keys() == peft_deltas.keys()
    assert any(k.startswith("unet.") for k in kohya_deltas) and any(k.startswith("text_encoder.") for k in kohya_deltas)
    for name, delta in kohya_deltas.items():
        assert delta.abs().max() > 0
        torch.testing.assert_close(delta, peft_deltas[name], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(render(kohya, scribble), render(peft, scribble), rtol=0, atol=1e-4)


def test_two_loras_mix(tiny_models_dir, scribble):
    one = render(st.load_pipeline(CHECKPOINT, CONTROLNET, [(KOHYA, 0.5)], "euler"), scribble)
    both = render(st.load_pipeline(CHECKPOINT, CONTROLNET, [(KOHYA, 0.5), (PEFT, 0.5)], "euler"), scribble)
    full = render(st.load_pipeline(CHECKPOINT, CONTROLNET, [(KOHYA, 1.0)], "euler"), scribble)
    # The two files hold the same update, so 0.5 + 0.5 of them is the whole of one.
    torch.testing.assert_close(both, full, rtol=0, atol=1e-4)
    assert (both - one).abs().max() > 0.01
    with pytest.raises(ValueError, match="chosen twice"):
        st.load_pipeline(CHECKPOINT, CONTROLNET, [(KOHYA, 0.5), (KOHYA, 1.0)], "euler")


def test_cached_second_load_skips_loading(tiny_models_dir):
    st.clear_cache()
    before = st.load_counts()
    start = time.perf_counter()
    st.load_pipeline(CHECKPOINT, CONTROLNET, [(KOHYA, 1.0)], "euler_a")
    cold = time.perf_counter() - start
    after_cold = st.load_counts()
    assert {k: after_cold.get(k, 0) - before.get(k, 0) for k in ("checkpoint", "controlnet", "lora")} == {
        "checkpoint": 1,
        "controlnet": 1,
        "lora": 1,
    }
    start = time.perf_counter()
    st.load_pipeline(CHECKPOINT, CONTROLNET, [(KOHYA, 0.3)], "uni_pc")  # new strength and scheduler: no reload
    warm = time.perf_counter() - start
    assert st.load_counts() == after_cold
    assert warm < cold / 3


@pytest.mark.parametrize("scheduler", sorted(st.SCHEDULERS))
def test_every_scheduler_runs(tiny_models_dir, scribble, scheduler):
    pipeline = st.load_pipeline(CHECKPOINT, CONTROLNET, [], scheduler)
    assert type(pipeline.scheduler).__name__ == st.SCHEDULERS[scheduler][0]
    image = render(pipeline, scribble)
    assert torch.isfinite(image).all() and image.std() > 0


def test_unknown_scheduler_and_bad_inputs_are_named(tiny_models_dir, scribble):
    with pytest.raises(ValueError, match="scheduler 'lms_x'"):
        st.load_pipeline(CHECKPOINT, CONTROLNET, [], "lms_x")
    pipeline = st.load_pipeline(CHECKPOINT, CONTROLNET, [], "euler")
    with pytest.raises(ValueError, match="'width' must be a multiple of 8"):
        st.stylize(pipeline, scribble, "x", width=60, height=64, steps=1)
    with pytest.raises(ValueError, match="'control_start'"):
        render(pipeline, scribble, control_start=0.8, control_end=0.2)


def test_missing_file_names_manifest_entry(tiny_models_dir):
    with pytest.raises(FileNotFoundError, match=r"'sd15'.*install\.py --models stylize"):
        st.load_pipeline("v1-5-pruned-emaonly.safetensors", CONTROLNET, [], "euler")
    with pytest.raises(FileNotFoundError, match="controlnet_scribble"):
        st.load_pipeline(CHECKPOINT, "control_v11p_sd15_scribble_fp16.safetensors", [], "euler")


def _write_fake_checkpoint(path, keys: dict[str, tuple[int, ...]]) -> None:
    from safetensors.torch import save_file

    save_file({key: torch.zeros(shape) for key, shape in keys.items()}, str(path))


def test_sdxl_and_other_families_refused_by_name(tiny_models_dir):
    folder = tiny_models_dir / "checkpoints"
    sdxl = {
        "model.diffusion_model.input_blocks.0.0.weight": (8, 4, 3, 3),
        "model.diffusion_model.label_emb.0.0.weight": (8, 16),
        "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight": (16, 8),
        "conditioner.embedders.1.model.ln_final.weight": (8,),
        "first_stage_model.encoder.conv_in.weight": (8, 3, 3, 3),
    }
    sd2 = {
        "model.diffusion_model.input_blocks.0.0.weight": (8, 4, 3, 3),
        "cond_stage_model.model.ln_final.weight": (8,),
        "first_stage_model.encoder.conv_in.weight": (8, 3, 3, 3),
    }
    cases = (
        ("fake-sdxl.safetensors", sdxl, "SDXL"),
        ("fake-sd2.safetensors", sd2, "SD 2.x"),
        ("fake-other.safetensors", {"encoder.weight": (4, 4)}, "an unknown layout"),
    )
    for name, keys, family in cases:
        _write_fake_checkpoint(folder / name, keys)
        with pytest.raises(ValueError, match=re.escape(f"'{name}' was recognised as {family}")):
            st.load_pipeline(name, CONTROLNET, [], "euler")
    shapes, _ = safetensors_header(folder / CHECKPOINT, "checkpoint")
    assert st.detect_checkpoint_family(shapes) == "sd15"


def test_interrupt_stops_between_steps_and_leaves_pipe_clean(tiny_models_dir, scribble):
    pipeline = st.load_pipeline(CHECKPOINT, CONTROLNET, [(KOHYA, 0.7)], "euler")
    reference = render(pipeline, scribble)
    restored: list[str] = []

    class SwapAttention:
        """A real extension: plain attention processors for one run, the originals put back afterwards."""

        def attach(self, pipe_object):
            from diffusers.models.attention_processor import AttnProcessor

            self.saved = pipe_object.pipe.unet.attn_processors
            pipe_object.pipe.unet.set_attn_processor(AttnProcessor())
            return {}

        def detach(self, pipe_object):
            pipe_object.pipe.unet.set_attn_processor(self.saved)
            restored.append("detached")

    unet_calls = []
    hook = pipeline.pipe.unet.register_forward_hook(lambda *args: unet_calls.append(1))
    host.request_interrupt()  # seen at the first step's end
    try:
        with pytest.raises(host.Interrupted):
            render(pipeline, scribble, extensions=[SwapAttention()])
    finally:
        hook.remove()
        host.clear_interrupt()
    assert len(unet_calls) == 1 and restored == ["detached"]
    swapped = render(pipeline, scribble, extensions=[SwapAttention()])
    torch.testing.assert_close(swapped, reference, rtol=0, atol=1e-4)
    assert torch.equal(render(pipeline, scribble), reference)


def test_leftover_image_projection_is_refused(tiny_models_dir, scribble):
    pipeline = st.load_pipeline(CHECKPOINT, CONTROLNET, [], "euler")
    pipeline.pipe.unet.encoder_hid_proj = torch.nn.Identity()
    try:
        with pytest.raises(RuntimeError, match="IP-Adapter"):
            render(pipeline, scribble)
    finally:
        pipeline.pipe.unet.encoder_hid_proj = None


def test_prompt_encoding_and_latent_preview(tiny_models_dir):
    pipeline = st.load_pipeline(CHECKPOINT, CONTROLNET, [], "euler")
    with pipeline.prepared():
        positive, negative = pipeline.encode_prompt("a photo of a cat", "blurry", guidance=7.0)
    width = tiny_stylize.TINY_TEXT_CONFIG["hidden_size"]
    assert positive.shape == negative.shape == (1, 77, width)
    assert not torch.equal(positive, negative)
    preview = st.latent_preview(torch.randn(1, 4, 8, 8))
    assert preview.size == (64, 64)


def test_bundled_sd15_configs_build_the_real_architecture():
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    def config(name):
        return json.loads((st.SD15_CONFIG_DIR / name / "config.json").read_text())

    with init_empty_weights():
        counts = {
            "unet": UNet2DConditionModel.from_config(config("unet")),
            "vae": AutoencoderKL.from_config(config("vae")),
            "controlnet": ControlNetModel.from_config(config("controlnet")),
            "text_encoder": CLIPTextModel(CLIPTextConfig(**config("text_encoder"))),
        }
        counts = {name: sum(p.numel() for p in model.parameters()) for name, model in counts.items()}
    # Parameter counts of SD 1.5 (UNet 860M, VAE 84M, CLIP ViT-L/14 text 123M) and ControlNet 1.1 (361M).
    assert counts == {"unet": 859520964, "vae": 83653863, "controlnet": 361279120, "text_encoder": 123060480}


def test_lora_for_another_model_is_refused_and_leaves_the_pipe_usable(tiny_models_dir, scribble):
    from safetensors.torch import save_file

    layer = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k"
    # An SDXL-sized LoRA: its down matrix reads 2048-wide text embeddings, the SD 1.5 UNet's layer does not.
    save_file(
        {f"{layer}.lora_down.weight": torch.randn(4, 2048), f"{layer}.lora_up.weight": torch.randn(32, 4)},
        str(tiny_models_dir / "loras" / "fake-sdxl-lora.safetensors"),
    )
    reference = render(st.load_pipeline(CHECKPOINT, CONTROLNET, [], "euler"), scribble)
    with pytest.raises(ValueError, match="lora 'fake-sdxl-lora.safetensors' could not be applied"):
        st.load_pipeline(CHECKPOINT, CONTROLNET, [("fake-sdxl-lora.safetensors", 1.0)], "euler")
    assert torch.equal(render(st.load_pipeline(CHECKPOINT, CONTROLNET, [], "euler"), scribble), reference)


def test_tiny_files_round_trip_through_the_original_layout_bit_exactly(tiny_models_dir):
    """The builders' diffusers -> LDM key maps are the inverse of diffusers' single-file loaders."""
    st.clear_cache()  # a fresh load: the cached UNet may carry LoRA layers from other tests
    pipeline = st.load_pipeline(CHECKPOINT, CONTROLNET, [], "euler")
    built = {**tiny_stylize.tiny_sd15_components(), "controlnet": tiny_stylize.tiny_controlnet()}
    for name, model in built.items():
        expected, loaded = model.state_dict(), getattr(pipeline.pipe, name).state_dict()
        assert expected.keys() == loaded.keys(), name
        assert all(torch.equal(expected[k], loaded[k]) for k in expected), name
    # The zero-convs really are random: otherwise the ControlNet tests above could pass with a do-nothing ControlNet.
    assert (pipeline.pipe.controlnet.controlnet_mid_block.weight != 0).float().mean() > 0.99
