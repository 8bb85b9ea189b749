"""Diffusion: the noise schedule, the DDPM and DDIM samplers, a small training loop, the
lesson's figures and the ``tinyunet diffuse`` command.

    from tinyunet.diffusion import DDPM, train
    ddpm = DDPM(timesteps=1000, schedule="linear")
    loss = ddpm.loss(model, x0, cond)            # model: tinyunet.models.DiffusionUNet
    x = ddpm.ddim_sample(model, (8, 1, 16, 16), cond, steps=50)
"""

from .ddpm import DDPM, SCHEDULES, cosine_beta_schedule, linear_beta_schedule
from .train import EMA, to_image_range, to_model_range, train

__all__ = ["DDPM", "SCHEDULES", "linear_beta_schedule", "cosine_beta_schedule", "EMA", "train",
           "to_image_range", "to_model_range"]
