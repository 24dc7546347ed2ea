"""The from-scratch DDPM: schedules in closed form, the forward process, training, samplers, guidance, checkpoints,
resume after an interrupt, datasets and errors. Small networks and short runs: the quality bars are the benchmark's."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from PIL import Image

from longform_pack.core import host
from longform_pack.core.ddpm import (Diffusion, TrainConfig, cosine_beta_schedule, linear_beta_schedule, load_model,
                                     parse_conditions, sample, train)
from longform_pack.core.ddpm.sampling import guided_denoiser
from longform_pack.core.ddpm.train import save_model

# A small network and a short run: enough to check behaviour in seconds.
SMALL = TrainConfig(steps=40, batch_size=32, base_channels=8, warmup_steps=5, checkpoint_every=1000)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One short digits run, shared by the sampling tests."""
    torch.set_num_threads(1)  # small tensors: more threads only contend on a shared CPU
    return train(SMALL, folder=tmp_path_factory.mktemp("ddpm"), device="cpu")


# ------------------------------------------------------------------------------------------------------ schedules


def test_linear_schedule_closed_form():
    betas = linear_beta_schedule(1000)
    assert betas[0] == pytest.approx(1e-4) and betas[-1] == pytest.approx(0.02)
    diffusion = Diffusion("linear", 1000)
    expected = torch.cumprod(1 - betas, 0)
    assert torch.allclose(diffusion.alphas_cumprod.double(), expected, rtol=1e-5)
    # [DDPM] eq. 7: beta~_t = beta_t (1 - abar_{t-1}) / (1 - abar_t); zero at t = 0 (x_0 is then known).
    t = 500
    beta_tilde = betas[t] * (1 - expected[t - 1]) / (1 - expected[t])
    assert diffusion.posterior_variance[t].item() == pytest.approx(beta_tilde.item(), rel=1e-5)
    assert diffusion.posterior_variance[0].item() == 0.0
    assert (diffusion.posterior_variance[1:] < betas[1:].float()).all()  # beta~ < beta


def test_cosine_schedule_closed_form():
    timesteps, s = 1000, 0.008
    alphas_cumprod = torch.cumprod(1 - cosine_beta_schedule(timesteps), 0)
    for t in (0, 100, 500, 900):
        f = lambda u: math.cos((u / timesteps + s) / (1 + s) * math.pi / 2) ** 2  # noqa: E731
        assert alphas_cumprod[t].item() == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert cosine_beta_schedule(timesteps).max().item() == pytest.approx(0.999)  # clipped at the end
    with pytest.raises(ValueError, match="schedule must be one of"):
        Diffusion("quadratic")


def test_q_sample_mean_and_variance():
    diffusion = Diffusion("cosine", 1000)
    t = 300
    x0 = torch.full((200_000, 1), 0.6)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    x_t = diffusion.q_sample(x0, torch.full((len(x0),), t), noise)
    abar = diffusion.alphas_cumprod[t].item()
    assert x_t.mean().item() == pytest.approx(math.sqrt(abar) * 0.6, abs=0.005)
    assert x_t.var().item() == pytest.approx(1 - abar, rel=0.01)


# ------------------------------------------------------------------------------------------------------- training


def test_loss_falls(trained):
    assert np.mean(trained.losses[-5:]) < 0.7 * np.mean(trained.losses[:5])


def test_interrupted_run_resumes_on_the_same_loss_curve(tmp_path):
    config = dataclasses.replace(SMALL, steps=12, checkpoint_every=4)
    whole = train(config, name="whole", folder=tmp_path, device="cpu")

    def stop_at_seven(step, loss):
        if step == 7:
            host.request_interrupt()

    # The progress bar checks the interrupt once per step, after the callback.
    with pytest.raises(host.Interrupted):
        train(config, name="parts", folder=tmp_path, device="cpu", callback=stop_at_seven)
    assert (tmp_path / "parts.train.pt").exists() and not (tmp_path / "parts.safetensors").exists()
    resumed = train(config, name="parts", folder=tmp_path, device="cpu")
    assert resumed.losses == whole.losses  # bit for bit: weights, optimizer, EMA and RNG state all restored
    for key, value in whole.model.network.state_dict().items():
        assert torch.equal(value, resumed.model.network.state_dict()[key]), key


def test_resume_with_other_settings_is_refused(tmp_path):
    train(dataclasses.replace(SMALL, steps=3), name="run", folder=tmp_path, device="cpu")
    with pytest.raises(ValueError, match="another config.*batch_size"):
        train(dataclasses.replace(SMALL, steps=3, batch_size=16), name="run", folder=tmp_path, device="cpu")
    more = train(dataclasses.replace(SMALL, steps=5), name="run", folder=tmp_path, device="cpu")  # more steps: fine
    assert len(more.losses) == 5


def test_folder_dataset_with_one_subfolder_per_label(tmp_path, monkeypatch):
    monkeypatch.setenv(host.INPUT_DIR_ENV, str(tmp_path))
    rng = np.random.default_rng(0)
    for label in ("circle", "square"):
        (tmp_path / "shapes" / label).mkdir(parents=True)
        for index in range(3):
            pixels = rng.integers(0, 255, (20, 20), dtype=np.uint8)
            Image.fromarray(pixels, "L").save(tmp_path / "shapes" / label / f"{index}.png")
    config = dataclasses.replace(SMALL, dataset="shapes", image_size=8, steps=2)
    result = train(config, folder=tmp_path / "models", device="cpu")
    assert result.model.config.class_names == ["circle", "square"] and result.model.config.channels == 1
    images = sample(result.model, ["square", "circle"], steps=2, device="cpu").images
    assert images.shape == (2, 1, 8, 8)


def test_text_conditioning_through_a_probe_encoder(tiny_models_dir, tmp_path):
    from longform_pack.core.ddpm.train import probe_text_embedder

    spec = {"kind": "clip", "filename": "longform-tiny-clip.safetensors"}
    config = dataclasses.replace(SMALL, steps=2, conditioning="text", text_encoder=spec)
    result = train(config, name="text", folder=tmp_path, text_embedder=probe_text_embedder(spec), device="cpu")
    assert result.model.config.text_dim > 0
    prompts = ["a handwritten seven", "7"]
    images = sample(result.model, prompts, guidance=2.0, steps=3, device="cpu").images
    assert images.shape == (2, 1, 8, 8)
    reloaded = load_model(result.path, text_embedder=probe_text_embedder(result.model.config.text_encoder))
    assert torch.equal(sample(reloaded, prompts, guidance=2.0, steps=3, device="cpu").images, images)
    with pytest.raises(ValueError, match="no text encoder is attached"):
        sample(load_model(result.path), prompts, steps=2, device="cpu")


# ------------------------------------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("sampler, eta", [("ddpm", 0.0), ("ddim", 0.0), ("ddim", 0.5)])
def test_samplers_are_deterministic_for_a_seed(trained, sampler, eta):
    labels = ["3", "1", "4", "1"]
    first = sample(trained.model, labels, sampler=sampler, steps=10, eta=eta, seed=5, device="cpu")
    again = sample(trained.model, labels, sampler=sampler, steps=10, eta=eta, seed=5, device="cpu")
    other = sample(trained.model, labels, sampler=sampler, steps=10, eta=eta, seed=6, device="cpu")
    assert torch.equal(first.images, again.images)
    assert not torch.equal(first.images, other.images)
    assert first.images.shape == (4, 1, 8, 8) and 0 <= first.images.min() and first.images.max() <= 1


def test_guidance_one_is_the_plain_conditional_model(trained):
    model = trained.model
    labels = ["2", "5", "9"]
    guided = sample(model, labels, guidance=1.0, sampler="ddim", steps=8, seed=3, device="cpu").images
    cond = model.embed(labels)
    keep = torch.zeros(len(labels), dtype=torch.bool)
    plain = model.diffusion.sample(lambda x, t: model.network(x, t, cond, keep), (3, 1, 8, 8), steps=8,
                                   generator=torch.Generator().manual_seed(3))
    assert torch.equal(guided, ((plain.images + 1) / 2).clamp(0, 1))


def test_guided_output_is_the_cfg_combination(trained):
    model = trained.model
    cond = model.embed(["0", "8"])
    x, t = torch.randn(2, 1, 8, 8), torch.tensor([500, 500])
    keep = torch.zeros(2, dtype=torch.bool)
    conditional, unconditional = model.network(x, t, cond, keep), model.network(x, t, cond, ~keep)
    for w in (0.0, 3.0):
        expected = unconditional + w * (conditional - unconditional)
        assert torch.allclose(guided_denoiser(model, cond, w)(x, t), expected, atol=1e-5)


def test_images_follow_the_order_of_the_labels(trained):
    labels = parse_conditions("7 x 2\n0\n\n3")
    assert labels == ["7", "7", "0", "3"]
    batch = sample(trained.model, labels, steps=4, seed=1, device="cpu")
    assert batch.conditions == labels
    # Image i depends on label i only (same seed: same noise per position): changing the last label changes the last
    # image and no other.
    changed = sample(trained.model, labels[:3] + ["8"], steps=4, seed=1, device="cpu").images
    assert torch.equal(batch.images[:3], changed[:3]) and not torch.equal(batch.images[3], changed[3])


def test_checkpoint_round_trip(trained, tmp_path):
    path = save_model(trained.model, tmp_path / "digits.safetensors")
    loaded = load_model(path)
    assert loaded.config == trained.model.config
    kwargs = dict(guidance=3.0, sampler="ddim", steps=6, seed=2, device="cpu")
    assert torch.equal(sample(loaded, ["4", "2"], **kwargs).images, sample(trained.model, ["4", "2"], **kwargs).images)


# --------------------------------------------------------------------------------------------------------- errors


def test_user_mistakes_are_clear_errors(trained, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"unknown label\(s\) \['eleven'\].*knows"):
        sample(trained.model, ["3", "eleven"], steps=2, device="cpu")
    with pytest.raises(ValueError, match="image_size 6 is not supported.*multiple of 4"):
        train(dataclasses.replace(SMALL, image_size=6), folder=tmp_path, device="cpu")
    with pytest.raises(ValueError, match="labels is empty"):
        parse_conditions("\n  \n")
    with pytest.raises(ValueError, match="steps must be between 1 and 1000"):
        sample(trained.model, ["1"], steps=0, device="cpu")
    monkeypatch.setenv(host.INPUT_DIR_ENV, str(tmp_path))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="has no subfolders"):
        train(dataclasses.replace(SMALL, dataset="empty"), folder=tmp_path, device="cpu")
    (tmp_path / "empty" / "cats").mkdir()
    with pytest.raises(ValueError, match="'cats' holds no images"):
        train(dataclasses.replace(SMALL, dataset="empty"), folder=tmp_path, device="cpu")
    with pytest.raises(FileNotFoundError, match="one subfolder per label"):
        train(dataclasses.replace(SMALL, dataset="nowhere"), folder=tmp_path, device="cpu")


def test_a_checkpoint_from_another_config_is_refused(trained, tmp_path):
    from safetensors.torch import load_file, safe_open, save_file

    path = save_model(trained.model, tmp_path / "digits.safetensors")
    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    wider = dataclasses.replace(SMALL, base_channels=16, steps=1)
    other = train(wider, folder=tmp_path / "other", device="cpu")
    save_file(load_file(str(save_model(other.model, tmp_path / "wide.safetensors"))), str(tmp_path / "mixed.safetensors"),
              metadata=metadata)  # wide weights under the small model's config
    with pytest.raises(ValueError, match="from another config than its metadata says"):
        load_model(tmp_path / "mixed.safetensors")
    save_file({"x": torch.zeros(1)}, str(tmp_path / "foreign.safetensors"))
    with pytest.raises(ValueError, match="not a LongForm DDPM checkpoint"):
        load_model(tmp_path / "foreign.safetensors")


def test_a_half_precision_network_samples_close_to_fp32(trained):
    """Inside ComfyUI on a GPU the host may give the network fp16/bf16 (its dtype policy); the sampler's maths stays
    fp32. bf16 runs on the CPU, so the same path is checked here against the fp32 network."""
    import copy

    labels = ["3", "7"]
    reference = sample(trained.model, labels, steps=4, seed=2, device="cpu").images
    half = copy.copy(trained.model)
    half.network = copy.deepcopy(trained.model.network).to(torch.bfloat16)
    images = sample(half, labels, steps=4, seed=2, device="cpu").images
    assert images.dtype == torch.float32 and torch.isfinite(images).all()
    assert (images - reference).abs().mean() < 0.05
