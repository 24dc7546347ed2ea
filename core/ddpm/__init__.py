"""A conditional DDPM written from scratch (torch + einops): UNet, schedules, samplers, training and pictures.

The whole API in a few lines:

    from core.ddpm import TrainConfig, train, sample, load_model
    result = train(TrainConfig(), name="digits")   # the digits recipe: about 2.5 min on 2 CPU cores
    samples = sample(result.model, ["3"] * 8 + ["7"] * 8, guidance=3.0, sampler="ddim", steps=50, seed=0)
    samples.images  # [16, 1, 8, 8] in 0..1, in the order of the labels given
"""

from .diffusion import Diffusion, cosine_beta_schedule, linear_beta_schedule
from .model import ModelConfig, UNet
from .sampling import Samples, animation_frames, grid_image, parse_conditions, sample, save_animation, strip_image
from .train import DDPMModel, TrainConfig, TrainResult, load_model, loss_curve_image, save_model, train

__all__ = [
    "DDPMModel", "Diffusion", "ModelConfig", "Samples", "TrainConfig", "TrainResult", "UNet", "animation_frames",
    "cosine_beta_schedule", "grid_image", "linear_beta_schedule", "load_model", "loss_curve_image",
    "parse_conditions", "sample", "save_animation", "save_model", "strip_image", "train",
]
