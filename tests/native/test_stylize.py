"""LF Stylize on ComfyUI's own MODEL, VAE and CONTROL_NET: the same image as the core chain, the input model
untouched, errors that name the field."""

import pytest
import torch

import tiny_comfy
from tiny_comfy import inference_mode  # noqa: F401 (an autouse fixture: nodes run as the server runs them)

SIZE = 64


@pytest.fixture(scope="module")
def models(comfy):
    torch.set_num_threads(1)
    return dict(model=tiny_comfy.model(), vae=tiny_comfy.vae(), control_net=tiny_comfy.control_net(),
                positive=tiny_comfy.conditioning(1, 20), negative=tiny_comfy.conditioning(1, 21))


@pytest.fixture(scope="module")
def scribble():
    image = torch.zeros(2, SIZE, SIZE, 3)
    image[0, 20:44, 30:34] = 1.0
    image[1, 10:14, 8:56] = 1.0
    return image


SETTINGS = dict(seed=5, steps=4, cfg=6.0, sampler_name="euler_ancestral", scheduler="karras",
                controlnet_strength=0.9, control_start=0.0, control_end=0.8, width=SIZE, height=SIZE)


def core_chain(comfy, models, scribble):
    """EmptyLatentImage -> ControlNetApplyAdvanced -> KSampler -> VAEDecode, ComfyUI's own nodes."""
    nodes = comfy.nodes
    positive, negative = nodes.ControlNetApplyAdvanced().apply_controlnet(
        models["positive"], models["negative"], models["control_net"], scribble, SETTINGS["controlnet_strength"],
        SETTINGS["control_start"], SETTINGS["control_end"], vae=models["vae"])
    (latent,) = nodes.EmptyLatentImage().generate(SIZE, SIZE, scribble.shape[0])
    (samples,) = nodes.KSampler().sample(models["model"], SETTINGS["seed"], SETTINGS["steps"], SETTINGS["cfg"],
                                         SETTINGS["sampler_name"], SETTINGS["scheduler"], positive, negative, latent)
    return nodes.VAEDecode().decode(models["vae"], samples)[0], samples["samples"]


def stylize(pack, models, scribble, **changes):
    return pack.nodes.stylize.LF_Stylize().render(
        models["model"], models["vae"], models["control_net"], scribble, positive=models["positive"],
        negative=models["negative"], **{**SETTINGS, **changes})


def test_lf_stylize_equals_the_core_chain_bit_for_bit(comfy, pack, models, scribble):
    expected_image, expected_latent = core_chain(comfy, models, scribble)
    image, latent = stylize(pack, models, scribble)
    assert image.shape == (2, SIZE, SIZE, 3)
    assert torch.equal(latent["samples"], expected_latent)
    assert torch.equal(image, expected_image)
    assert not torch.equal(image[0], image[1])  # one image per scribble


def test_settings_reach_the_sampler(pack, models, scribble):
    reference, _ = stylize(pack, models, scribble)
    for change in ({"seed": 6}, {"controlnet_strength": 0.0}, {"cfg": 2.0}, {"sampler_name": "euler"}):
        assert not torch.equal(stylize(pack, models, scribble, **change)[0], reference), change


def test_the_input_model_is_left_as_it_was(comfy, pack, models, scribble):
    options = repr(models["model"].model_options)
    before, _ = core_chain(comfy, models, scribble)
    stylize(pack, models, scribble)
    assert repr(models["model"].model_options) == options
    assert torch.equal(core_chain(comfy, models, scribble)[0], before)


def test_missing_conditioning_and_bad_sizes_name_the_field(pack, models, scribble):
    node = pack.nodes.stylize.LF_Stylize()
    with pytest.raises(ValueError, match="'positive' is not connected and there is no 'clip'"):
        node.render(models["model"], models["vae"], models["control_net"], scribble, **SETTINGS)
    with pytest.raises(ValueError, match="'width' is 60; give a multiple of 8 from 64 to 2048"):
        stylize(pack, models, scribble, width=60)
    with pytest.raises(ValueError, match="'control_start'"):
        stylize(pack, models, scribble, control_start=0.9)
