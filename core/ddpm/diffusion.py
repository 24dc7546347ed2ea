"""The diffusion process: beta schedules, the forward process q(x_t | x_0), the training loss and two samplers.

References, cited by equation number below:
- [DDPM] Ho, Jain & Abbeel 2020, "Denoising Diffusion Probabilistic Models", arXiv:2006.11239.
- [IDDPM] Nichol & Dhariwal 2021, "Improved Denoising Diffusion Probabilistic Models", arXiv:2102.09672.
- [DDIM] Song, Meng & Ermon 2021, "Denoising Diffusion Implicit Models", arXiv:2010.02502.
- [CFG] Ho & Salimans 2022, "Classifier-Free Diffusion Guidance", arXiv:2207.12598.
- [V] Salimans & Ho 2022, "Progressive Distillation for Fast Sampling of Diffusion Models", arXiv:2202.00512.

Guidance convention (as in [CFG] eq. 6 written with w = 1 + their w): the guided prediction is
    eps = eps_uncond + w * (eps_cond - eps_uncond),
so w = 0 is the unconditional model, w = 1 is exactly the plain conditional model (one network pass, no null pass),
and w > 1 pushes samples towards their condition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

SCHEDULES = ("linear", "cosine")
PREDICTIONS = ("epsilon", "v")
SAMPLERS = ("ddim", "ddpm")


def linear_beta_schedule(timesteps: int) -> torch.Tensor:
    """[DDPM] section 4: betas rising linearly from 1e-4 to 0.02 over 1000 steps (rescaled for other step counts
    as in [IDDPM]'s code, so that the total noise is the same). Float64, shape [timesteps]."""
    scale = 1000.0 / timesteps
    return torch.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=torch.float64)


def cosine_beta_schedule(timesteps: int, s: float = 0.008) -> torch.Tensor:
    """[IDDPM] eq. 17: alpha_bar(t) = f(t) / f(0) with f(t) = cos(((t / T + s) / (1 + s)) * pi / 2) ** 2, and
    beta_t = 1 - alpha_bar(t) / alpha_bar(t - 1), clipped at 0.999 to avoid a singularity at t = T. Float64."""
    steps = torch.arange(timesteps + 1, dtype=torch.float64) / timesteps
    f = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    alphas_cumprod = f / f[0]
    return (1 - alphas_cumprod[1:] / alphas_cumprod[:-1]).clamp(max=0.999)


def beta_schedule(name: str, timesteps: int) -> torch.Tensor:
    """The named schedule ('linear' or 'cosine') as float64 betas."""
    if name == "linear":
        return linear_beta_schedule(timesteps)
    if name == "cosine":
        return cosine_beta_schedule(timesteps)
    raise ValueError(f"schedule must be one of {SCHEDULES}; got '{name}'.")


def _gather(values: torch.Tensor, t: torch.Tensor, ndim: int) -> torch.Tensor:
    """values[t] reshaped to broadcast over an [N, ...] batch with `ndim` dimensions."""
    return values[t].reshape(-1, *([1] * (ndim - 1)))


# A guided denoiser: (x_t, t) -> the network's raw output (epsilon or v), guidance already applied.
Denoiser = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Trajectory:
    """What a sampler returns: the final x_0 in [-1, 1], and x_t with the predicted x_0 at the recorded steps."""

    images: torch.Tensor
    timesteps: list[int] = field(default_factory=list)
    noisy: list[torch.Tensor] = field(default_factory=list)
    predicted: list[torch.Tensor] = field(default_factory=list)


class Diffusion(nn.Module):
    """The schedule's constants as float32 buffers (computed in float64), q_sample, the loss, and the samplers."""

    def __init__(self, schedule: str = "cosine", timesteps: int = 1000, prediction: str = "epsilon"):
        super().__init__()
        if prediction not in PREDICTIONS:
            raise ValueError(f"prediction must be one of {PREDICTIONS}; got '{prediction}'.")
        if timesteps < 2:
            raise ValueError(f"timesteps must be at least 2; got {timesteps}.")
        self.schedule, self.timesteps, self.prediction = schedule, timesteps, prediction
        betas = beta_schedule(schedule, timesteps)
        alphas = 1.0 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])
        constants = {
            "betas": betas,
            "alphas_cumprod": alphas_cumprod,
            "alphas_cumprod_prev": alphas_cumprod_prev,
            "sqrt_alphas_cumprod": alphas_cumprod.sqrt(),
            "sqrt_one_minus_alphas_cumprod": (1 - alphas_cumprod).sqrt(),
            # [DDPM] eq. 7: the variance of the posterior q(x_{t-1} | x_t, x_0).
            "posterior_variance": betas * (1 - alphas_cumprod_prev) / (1 - alphas_cumprod),
        }
        for name, value in constants.items():
            self.register_buffer(name, value.float(), persistent=False)

    # ------------------------------------------------------------------------------------------------ training

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """[DDPM] eq. 4: x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, eps ~ N(0, I)."""
        return (
            _gather(self.sqrt_alphas_cumprod, t, x0.ndim) * x0
            + _gather(self.sqrt_one_minus_alphas_cumprod, t, x0.ndim) * noise
        )

    def target(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """What the network learns to predict: eps ([DDPM] eq. 14), or v = sqrt(a) eps - sqrt(1 - a) x_0 ([V] 4.2)."""
        if self.prediction == "epsilon":
            return noise
        return (
            _gather(self.sqrt_alphas_cumprod, t, x0.ndim) * noise
            - _gather(self.sqrt_one_minus_alphas_cumprod, t, x0.ndim) * x0
        )

    def loss(self, network: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], x0: torch.Tensor,
             t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """[DDPM] eq. 14 (the "simple" loss): mean squared error between the network's output and its target."""
        prediction = network(self.q_sample(x0, t, noise), t)
        return torch.mean((prediction - self.target(x0, t, noise)) ** 2)

    # ------------------------------------------------------------------------------------------------ sampling

    def split_output(self, output: torch.Tensor, x_t: torch.Tensor, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The network's output as (predicted x_0, predicted eps), for either objective."""
        a = self.alphas_cumprod[t]
        if self.prediction == "epsilon":
            eps = output
            x0 = (x_t - (1 - a).sqrt() * eps) / a.sqrt()  # [DDPM] eq. 15 solved for x_0
        else:
            x0 = a.sqrt() * x_t - (1 - a).sqrt() * output  # [V] appendix D
            eps = (1 - a).sqrt() * x_t + a.sqrt() * output
        return x0, eps

    def ddpm_step(self, output: torch.Tensor, t: int, prev_t: int, x_t: torch.Tensor,
                  generator: torch.Generator | None, clip: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """One ancestral step x_t -> x_{prev_t} ([DDPM] algorithm 2, with steps skipped as in [IDDPM] section 4).

        Returns (x_prev, predicted x_0). With prev_t = t - 1 this is exactly [DDPM]'s sampler.
        """
        # 1. alphas over the (possibly skipped) interval prev_t..t: a respaced beta_t = 1 - abar_t / abar_prev.
        abar_t = self.alphas_cumprod[t]
        abar_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else torch.ones_like(abar_t)
        alpha_t = abar_t / abar_prev
        beta_t = 1 - alpha_t

        # 2. predicted x_0 from the network's output ([DDPM] eq. 15), 3. clipped to the data range.
        x0, _ = self.split_output(output, x_t, t)
        if clip:
            x0 = x0.clamp(-1, 1)

        # 4. coefficients of the posterior mean mu~_t(x_t, x_0) ([DDPM] eq. 7).
        coef_x0 = abar_prev.sqrt() * beta_t / (1 - abar_t)
        coef_xt = alpha_t.sqrt() * (1 - abar_prev) / (1 - abar_t)

        # 5. the posterior mean.
        mean = coef_x0 * x0 + coef_xt * x_t

        # 6. add noise with the posterior variance beta~_t ([DDPM] eq. 7, sigma_t^2 = beta~_t), none at the last step.
        if prev_t < 0:
            return mean, x0
        variance = beta_t * (1 - abar_prev) / (1 - abar_t)
        noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype).to(x_t.device)
        return mean + variance.sqrt() * noise, x0

    def ddim_step(self, output: torch.Tensor, t: int, prev_t: int, x_t: torch.Tensor, eta: float,
                  generator: torch.Generator | None, clip: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """One DDIM step x_t -> x_{prev_t} ([DDIM] eq. 12); eta = 0 is deterministic, eta = 1 is DDPM-like.

        Returns (x_prev, predicted x_0).
        """
        # 1. alphas at t and at the previous timestep (abar = 1 past the end: a clean image).
        abar_t = self.alphas_cumprod[t]
        abar_prev = self.alphas_cumprod[prev_t] if prev_t >= 0 else torch.ones_like(abar_t)

        # 2. predicted x_0 ("predicted x_0" term of [DDIM] eq. 12), 3. clipped; eps recomputed to match the clip.
        x0, eps = self.split_output(output, x_t, t)
        if clip:
            x0 = x0.clamp(-1, 1)
            eps = (x_t - abar_t.sqrt() * x0) / (1 - abar_t).sqrt()

        # 4. sigma_t(eta) ([DDIM] eq. 16).
        sigma = eta * ((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)).sqrt()

        # 5. "direction pointing to x_t" ([DDIM] eq. 12).
        direction = (1 - abar_prev - sigma**2).clamp(min=0).sqrt() * eps

        # 6. x_{t-1} = sqrt(abar_prev) x_0 + direction + sigma z.
        x_prev = abar_prev.sqrt() * x0 + direction
        if eta > 0 and prev_t >= 0:
            noise = torch.randn(x_t.shape, generator=generator, dtype=x_t.dtype).to(x_t.device)
            x_prev = x_prev + sigma * noise
        return x_prev, x0

    def sampling_timesteps(self, steps: int) -> list[int]:
        """`steps` timesteps spread evenly from T - 1 down to 0 (any count from 1 to T)."""
        if not 1 <= steps <= self.timesteps:
            raise ValueError(f"steps must be between 1 and {self.timesteps} (the training timesteps); got {steps}.")
        if steps == 1:
            return [self.timesteps - 1]
        return torch.linspace(self.timesteps - 1, 0, steps, dtype=torch.float64).round().long().tolist()

    @torch.no_grad()
    def sample(self, denoiser: Denoiser, shape: tuple[int, ...], sampler: str = "ddim", steps: int = 50,
               eta: float = 0.0, generator: torch.Generator | None = None, device: torch.device | str = "cpu",
               record: set[int] | None = None, on_step: Callable[[], None] | None = None) -> Trajectory:
        """Run a sampler from pure noise. `record` holds the indices (0..steps-1) of the steps whose x_t and
        predicted x_0 are kept in the returned Trajectory; `on_step` is called after every step (progress)."""
        if sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}; got '{sampler}'.")
        if eta < 0:
            raise ValueError(f"eta must be 0 or more; got {eta}.")
        timesteps = self.sampling_timesteps(steps)
        x = torch.randn(shape, generator=generator).to(device)
        trajectory = Trajectory(images=x)
        for index, t in enumerate(timesteps):
            prev_t = timesteps[index + 1] if index + 1 < len(timesteps) else -1
            output = denoiser(x, torch.full((shape[0],), t, device=device, dtype=torch.long))
            if sampler == "ddpm":
                x_next, x0 = self.ddpm_step(output, t, prev_t, x, generator)
            else:
                x_next, x0 = self.ddim_step(output, t, prev_t, x, eta, generator)
            if record is not None and index in record:
                trajectory.timesteps.append(t)
                trajectory.noisy.append(x.detach().cpu())
                trajectory.predicted.append(x0.detach().cpu())
            x = x_next
            if on_step is not None:
                on_step()
        trajectory.images = x.clamp(-1, 1)
        return trajectory
