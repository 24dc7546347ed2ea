"""core/ddpm against an independent implementation, and the randomness and learning rate it trains and samples with.

diffusers' DDPMScheduler and DDIMScheduler are the reference: the same betas go into both, and every constant and step
must agree within float tolerance. A formula that is wrong in core/ddpm (a sigma, a coefficient, a variance) cannot
agree with a second, separately written one.
"""

import math

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from longform_pack.core.ddpm import Diffusion, TrainConfig, train
from longform_pack.core.ddpm.diffusion import beta_schedule
from longform_pack.core.ddpm.train import learning_rate_at

TIMESTEPS = 1000
# With 10 sampling steps core/ddpm visits 999, 888, ..., 0 (evenly, 111 apart): a stride diffusers can replay.
STEPS = 10
STRIDE = (TIMESTEPS - 1) // (STEPS - 1)
DIFFUSERS_PREDICTION = {"epsilon": "epsilon", "v": "v_prediction"}


def _reference(kind, diffusion: Diffusion):
    """The diffusers scheduler of `kind` on core/ddpm's own betas (float64 in, as core/ddpm computes them)."""
    betas = beta_schedule(diffusion.schedule, diffusion.timesteps).numpy()
    return kind(
        num_train_timesteps=diffusion.timesteps, trained_betas=betas, clip_sample=True, clip_sample_range=1.0,
        prediction_type=DIFFUSERS_PREDICTION[diffusion.prediction],
        **({"set_alpha_to_one": True} if kind is DDIMScheduler else {"variance_type": "fixed_small"}),
    )


def _network_output(shape, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """An x_t and a network output of unit scale, large enough that some predicted x_0 are clipped."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)


def _fake_denoiser(x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """A fixed stand-in for a network: depends on x and t, so every step sees a different output."""
    return 0.6 * x + 0.3 * torch.sin(t.float() / 97.0).reshape(-1, 1, 1, 1) + 0.1 * torch.cos(3 * x)


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
def test_schedule_constants_equal_diffusers(schedule):
    from diffusers.schedulers.scheduling_ddpm import betas_for_alpha_bar

    diffusion = Diffusion(schedule, TIMESTEPS)
    # diffusers' own schedules (not ours passed in): linear 1e-4..0.02 and squaredcos_cap_v2 = [IDDPM] cosine.
    name = {"linear": "linear", "cosine": "squaredcos_cap_v2"}[schedule]
    own = DDPMScheduler(num_train_timesteps=TIMESTEPS, beta_schedule=name, beta_start=1e-4, beta_end=0.02)
    assert torch.allclose(diffusion.betas, own.betas, rtol=1e-5, atol=1e-8)
    assert torch.allclose(diffusion.alphas_cumprod, own.alphas_cumprod, rtol=1e-5, atol=1e-7)
    if schedule == "cosine":
        assert torch.allclose(diffusion.betas.double(), betas_for_alpha_bar(TIMESTEPS).double(), rtol=1e-5)
    # [DDPM] eq. 7's posterior variance, against diffusers' variance for a one-step interval t -> t - 1.
    own.set_timesteps(timesteps=list(range(TIMESTEPS - 1, -1, -1)))
    for t in (1, 2, 10, 300, 700, 999):  # diffusers works in float32: 1e-4 relative error near t = 1
        assert diffusion.posterior_variance[t].item() == pytest.approx(own._get_variance(t).item(), rel=1e-3)


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
@pytest.mark.parametrize("t, prev_t", [(999, 888), (555, 444), (111, 0), (1, 0), (500, 499), (0, -1)])
def test_ddpm_step_mean_and_variance_equal_diffusers(prediction, t, prev_t):
    diffusion = Diffusion("cosine", TIMESTEPS, prediction)
    reference = _reference(DDPMScheduler, diffusion)
    reference.set_timesteps(timesteps=[t, prev_t] if prev_t >= 0 else [t])
    x_t, output = _network_output((4, 1, 8, 8), seed=t)
    results = {}
    for seed in (1, 2):  # two noise draws separate the mean from the standard deviation
        ours, _ = diffusion.ddpm_step(output, t, prev_t, x_t, torch.Generator().manual_seed(seed))
        theirs = reference.step(output, t, x_t, generator=torch.Generator().manual_seed(seed)).prev_sample
        noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(seed))
        results[seed] = ours, theirs, noise
    (ours_1, theirs_1, noise_1), (ours_2, theirs_2, noise_2) = results[1], results[2]
    if prev_t < 0:  # the last step returns the posterior mean, no noise (diffusers adds 1e-10 * noise)
        assert torch.allclose(ours_1, ours_2)
        assert torch.allclose(ours_1, theirs_1, atol=1e-5)
        return
    ours_std = (ours_1 - ours_2) / (noise_1 - noise_2)
    theirs_std = (theirs_1 - theirs_2) / (noise_1 - noise_2)
    assert torch.allclose(ours_std, theirs_std, rtol=1e-3)
    variance = reference._get_variance(t).item()
    assert ours_std.mean().item() ** 2 == pytest.approx(variance, rel=1e-3)
    assert torch.allclose(ours_1 - ours_std * noise_1, theirs_1 - theirs_std * noise_1, atol=1e-5)  # the means


@pytest.mark.parametrize("prediction", ["epsilon", "v"])
@pytest.mark.parametrize("eta", [0.0, 1.0, 0.5])
@pytest.mark.parametrize("t, prev_t", [(999, 888), (555, 444), (111, 0), (0, -111)])
def test_ddim_step_equals_diffusers(prediction, eta, t, prev_t):
    diffusion = Diffusion("cosine", TIMESTEPS, prediction)
    reference = _reference(DDIMScheduler, diffusion)
    reference.set_timesteps(TIMESTEPS // (t - prev_t))  # diffusers steps back by num_train_timesteps // this
    x_t, output = _network_output((4, 1, 8, 8), seed=t + 7)
    ours, _ = diffusion.ddim_step(output, t, max(prev_t, -1), x_t, eta, torch.Generator().manual_seed(3))
    noise = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(3))
    theirs = reference.step(output, t, x_t, eta=eta, use_clipped_model_output=True, variance_noise=noise).prev_sample
    assert torch.allclose(ours, theirs, atol=2e-5), (ours - theirs).abs().max()
    # [DDIM] eq. 16 written out: sigma(eta) = eta sqrt((1 - a_prev) / (1 - a_t)) sqrt(1 - a_t / a_prev).
    if prev_t >= 0:
        a_t, a_prev = diffusion.alphas_cumprod[t].item(), diffusion.alphas_cumprod[prev_t].item()
        sigma = eta * math.sqrt((1 - a_prev) / (1 - a_t) * (1 - a_t / a_prev))
        assert eta * math.sqrt(reference._get_variance(t, prev_t).item()) == pytest.approx(sigma, rel=1e-4)


@pytest.mark.parametrize("sampler, eta", [("ddim", 0.0), ("ddim", 1.0), ("ddpm", 0.0)])
def test_whole_sampling_run_equals_diffusers(sampler, eta):
    """The sampler loop end to end: same start noise, same timesteps, same per-step noise, same result."""
    diffusion = Diffusion("linear", TIMESTEPS)
    shape = (3, 1, 8, 8)
    ours = diffusion.sample(_fake_denoiser, shape, sampler=sampler, steps=STEPS, eta=eta,
                            generator=torch.Generator().manual_seed(11))
    timesteps = list(range(TIMESTEPS - 1, -1, -STRIDE))
    assert diffusion.sampling_timesteps(STEPS) == timesteps
    generator = torch.Generator().manual_seed(11)
    x = torch.randn(shape, generator=generator)
    if sampler == "ddpm":
        reference = _reference(DDPMScheduler, diffusion)
        reference.set_timesteps(timesteps=timesteps)
    else:
        reference = _reference(DDIMScheduler, diffusion)
        reference.set_timesteps(TIMESTEPS // STRIDE)
    for index, t in enumerate(timesteps):
        output = _fake_denoiser(x, torch.full((shape[0],), t))
        if sampler == "ddpm":
            x = reference.step(output, t, x, generator=generator).prev_sample
        else:
            last = index == len(timesteps) - 1
            noise = torch.zeros(shape) if last or eta == 0 else torch.randn(shape, generator=generator)
            x = reference.step(output, t, x, eta=eta, use_clipped_model_output=True, variance_noise=noise).prev_sample
    assert torch.allclose(ours.images, x.clamp(-1, 1), atol=1e-4), (ours.images - x.clamp(-1, 1)).abs().max()


# --------------------------------------------------------------------------------------------- noise, learning rate


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_sampling_starts_from_unit_gaussian_noise(sampler):
    """The x_T a sampler starts from is N(0, I): mean 0, variance 1, and Gaussian (not uniform) tails."""
    diffusion = Diffusion("cosine", TIMESTEPS)
    trajectory = diffusion.sample(_fake_denoiser, (64, 1, 32, 32), sampler=sampler, steps=2,
                                  generator=torch.Generator().manual_seed(5), record={0})
    start = trajectory.noisy[0].flatten().double()  # 65,536 draws: standard errors of 0.004 (mean), 0.006 (var)
    assert start.mean().item() == pytest.approx(0.0, abs=0.02)
    assert start.var().item() == pytest.approx(1.0, abs=0.03)
    assert (start.abs() > 2).double().mean().item() == pytest.approx(0.0455, abs=0.005)  # P(|z| > 2) for N(0, 1)


class _RecordingAdamW(torch.optim.AdamW):
    """AdamW that notes the learning rate of every step it takes."""

    rates: list[float] = []

    def step(self, closure=None):
        _RecordingAdamW.rates.append(self.param_groups[0]["lr"])
        return super().step(closure)


def test_training_follows_the_learning_rate_schedule_and_unit_noise(tmp_path, monkeypatch):
    """Each optimizer step uses the schedule's rate: linear warm-up to the peak, then cosine down to a tenth."""
    from longform_pack.core.ddpm import diffusion as diffusion_module

    config = TrainConfig(steps=14, batch_size=64, base_channels=8, warmup_steps=4, learning_rate=1e-3,
                         checkpoint_every=1000)
    noises = []
    real_loss = diffusion_module.Diffusion.loss

    def recording_loss(self, network, x0, t, noise):
        noises.append(noise.detach().clone())
        return real_loss(self, network, x0, t, noise)

    _RecordingAdamW.rates = []
    monkeypatch.setattr(torch.optim, "AdamW", _RecordingAdamW)
    monkeypatch.setattr(diffusion_module.Diffusion, "loss", recording_loss)
    torch.set_num_threads(1)
    train(config, folder=tmp_path, device="cpu")

    peak, warmup, steps = 1e-3, 4, 14
    expected = [peak * (s + 1) / warmup for s in range(warmup)]  # written out here, independently of learning_rate_at
    expected += [peak * (0.1 + 0.45 * (1 + math.cos(math.pi * (s - warmup) / (steps - warmup))))
                 for s in range(warmup, steps)]
    assert _RecordingAdamW.rates == pytest.approx(expected, rel=1e-9)
    assert _RecordingAdamW.rates[warmup] == pytest.approx(peak) and _RecordingAdamW.rates[-1] > 0.1 * peak
    assert [learning_rate_at(config, s) for s in range(steps)] == pytest.approx(expected, rel=1e-9)

    drawn = torch.cat([n.flatten() for n in noises]).double()  # 14 x 64 x 64 = 57,344 draws
    assert len(noises) == steps
    assert drawn.mean().item() == pytest.approx(0.0, abs=0.02) and drawn.var().item() == pytest.approx(1.0, abs=0.03)
