"""Denoising diffusion: the noise schedule, the training loss, and two samplers.

**Forward process** (fixed, no learning). Over T steps, noise is mixed into a clean image x_0::

    q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)
    alpha_t = 1 - beta_t,   abar_t = alpha_0 alpha_1 ... alpha_t

and because Gaussians compose, any x_t can be drawn from x_0 in one jump (``q_sample``)::

    x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps,      eps ~ N(0, I)

By t = T - 1, abar is ~0 and x_t is pure noise. (Timesteps are 0-based: t = 0 is the first
noising step.)

**Training** (``loss``): pick t at random, noise x_0 into x_t, and ask the U-Net for the noise:
``mse(model(x_t, t), eps)``. That is the whole objective of Ho et al. (2020).

**Sampling** (``sample``, ancestral): start from x ~ N(0, I) and walk t = T-1 .. 0. The
predicted noise gives a guess of the clean image, x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) /
sqrt(abar_t), clipped to the data range [-1, 1]; the true posterior q(x_{t-1} | x_t, x_0) is
then Gaussian with

    mean = beta_t sqrt(abar_{t-1}) / (1 - abar_t) x0_hat + (1 - abar_{t-1}) sqrt(alpha_t) /
           (1 - abar_t) x_t
    var  = beta_t (1 - abar_{t-1}) / (1 - abar_t)       ("posterior"; or beta_t: "beta")

(without clipping, the mean is the paper's 1/sqrt(alpha_t) (x_t - beta_t / sqrt(1 - abar_t)
eps_hat)). **DDIM** (``ddim_sample``, Song et al. 2021) uses the same trained model but jumps
over many steps at once: from x0_hat and eps_hat it rebuilds the image at an earlier
timestep s < t directly,

    x_s = sqrt(abar_s) x0_hat + sqrt(1 - abar_s - sigma^2) eps_hat + sigma z,
    sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s),

deterministic when eta = 0, so 20-50 model calls replace 1000.

**Classifier-free guidance** (Ho & Salimans 2022): with ``guidance_scale`` w != 1 each step
runs the model with the prompt and with the empty prompt ``uncond`` and extrapolates,
eps = eps_uncond + w (eps_cond - eps_uncond): w > 1 follows the prompt more closely. The
model must have seen the empty prompt in training (``train(..., p_uncond=0.1)``).
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from ..grad_mode import no_grad
from ..ops.loss import mse_loss
from ..random import generator as global_generator
from ..tensor import Tensor

SCHEDULES = ("linear", "cosine")


def linear_beta_schedule(timesteps: int, beta_start: float = 1e-4,
                         beta_end: float = 0.02) -> np.ndarray:
    """beta_t evenly spaced from beta_start to beta_end (Ho et al. 2020)."""
    return np.linspace(beta_start, beta_end, timesteps, dtype=np.float64)


def cosine_beta_schedule(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> np.ndarray:
    """Nichol & Dhariwal (2021): abar(t) = f(t) / f(0), f(t) = cos^2((t / T + s) / (1 + s) pi/2),
    so beta_t = 1 - abar(t + 1) / abar(t), capped at ``max_beta`` (near t = T, abar -> 0).
    The noise level rises gently at both ends instead of destroying the image early."""
    steps = np.arange(timesteps + 1, dtype=np.float64) / timesteps
    f = np.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    abar = f / f[0]
    return np.minimum(1 - abar[1:] / abar[:-1], max_beta)


def _as_array(x):
    return np.asarray(x.data if isinstance(x, Tensor) else x)


@contextmanager
def _inference(model):
    """Eval mode (dropout off) and no graph while sampling; the model's mode is restored."""
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            yield
    finally:
        if hasattr(model, "train"):
            model.train(was_training)


class DDPM:
    """``DDPM(timesteps=1000, beta_start=1e-4, beta_end=0.02, schedule="linear")``.

    Holds the schedule as float64 arrays indexed by t: ``betas``, ``alphas``,
    ``alphas_cumprod`` (abar_t), ``alphas_cumprod_prev`` (abar_{t-1}, with abar_{-1} = 1),
    ``posterior_variance``. The model is any callable ``model(x_t, t, cond) -> eps_hat`` (a
    :class:`~tinyunet.models.DiffusionUNet`); images live in [-1, 1].
    """

    def __init__(self, timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
                 schedule: str = "linear"):
        if timesteps < 1:
            raise ValueError(f"DDPM: timesteps must be positive, got {timesteps}")
        if schedule == "linear":
            if not 0 < beta_start <= beta_end < 1:
                raise ValueError(f"DDPM: need 0 < beta_start <= beta_end < 1, got beta_start="
                                 f"{beta_start}, beta_end={beta_end}")
            betas = linear_beta_schedule(timesteps, beta_start, beta_end)
        elif schedule == "cosine":
            betas = cosine_beta_schedule(timesteps)
        else:
            raise ValueError(f"DDPM: unknown schedule {schedule!r}; choose from {SCHEDULES}")
        self.timesteps, self.schedule = timesteps, schedule
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(self.alphas)
        self.alphas_cumprod_prev = np.concatenate([[1.0], self.alphas_cumprod[:-1]])
        self.posterior_variance = (betas * (1 - self.alphas_cumprod_prev)
                                   / (1 - self.alphas_cumprod))

    def __repr__(self) -> str:
        return f"DDPM(timesteps={self.timesteps}, schedule={self.schedule!r})"

    # ----- the forward process and the loss ---------------------------------------------------
    def _coef(self, values, t, like):
        """values[t] shaped (N, 1, 1, ...) to broadcast over a batch like ``like``."""
        return values[t].reshape((-1,) + (1,) * (like.ndim - 1)).astype(like.dtype)

    def _check_t(self, t, n):
        t = np.asarray(_as_array(t), dtype=np.int64)
        t = np.full(n, t) if t.ndim == 0 else t
        if t.shape != (n,) or t.min() < 0 or t.max() >= self.timesteps:
            raise ValueError(f"DDPM: t must be {n} integers in [0, {self.timesteps}), got "
                             f"shape {t.shape}, values {t.min()}..{t.max()}")
        return t

    def q_sample(self, x0, t, noise=None, generator=None):
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise, per image (t has shape (N,)).

        ``x0`` may be a Tensor (the result is then differentiable in it) or an array;
        ``noise`` defaults to a fresh N(0, I) draw."""
        x = _as_array(x0)
        t = self._check_t(t, x.shape[0])
        if noise is None:
            noise = (generator or global_generator()).standard_normal(x.shape).astype(x.dtype)
        noise = _as_array(noise)
        if noise.shape != x.shape:
            raise ValueError(f"q_sample: noise has shape {noise.shape} but x0 has shape "
                             f"{x.shape}")
        mean = self._coef(np.sqrt(self.alphas_cumprod), t, x)
        std = self._coef(np.sqrt(1 - self.alphas_cumprod), t, x)
        return Tensor._lift(x0) * mean + noise * std

    def loss(self, model, x0, cond=None, t=None, noise=None, generator=None) -> Tensor:
        """The simple DDPM objective: mean over pixels of (model(x_t, t, cond) - noise)^2,
        with t uniform in [0, T) and noise ~ N(0, I) unless given."""
        x = _as_array(x0)
        gen = generator or global_generator()
        if t is None:
            t = gen.integers(0, self.timesteps, size=x.shape[0])
        t = self._check_t(t, x.shape[0])
        if noise is None:
            noise = gen.standard_normal(x.shape).astype(x.dtype)
        x_t = self.q_sample(x, t, noise)
        return mse_loss(model(x_t, t, cond), Tensor(_as_array(noise)))

    # ----- sampling ---------------------------------------------------------------------------
    def predict_noise(self, model, x, t, cond=None, guidance_scale=1.0, uncond=None):
        """eps_hat for a batch x (array) at one timestep t, with classifier-free guidance when
        ``guidance_scale != 1`` (both passes share one batch of 2N)."""
        n = x.shape[0]
        ts = np.full(n, t, dtype=np.int64)
        if guidance_scale == 1.0 or cond is None:
            return model(Tensor(x), ts, cond).data
        if uncond is None:
            raise ValueError("DDPM: guidance_scale != 1 needs the empty prompt, uncond=")
        both = np.concatenate([_as_array(cond), _as_array(uncond)])
        eps = model(Tensor(np.concatenate([x, x])), np.concatenate([ts, ts]), both).data
        eps_cond, eps_uncond = eps[:n], eps[n:]
        return eps_uncond + guidance_scale * (eps_cond - eps_uncond)

    def _x0_hat(self, x, eps, t, clip):
        """The clean image implied by x_t and eps_hat (inverting q_sample), clipped if asked."""
        abar = self.alphas_cumprod[t]
        x0 = (x - math.sqrt(1 - abar) * eps) / math.sqrt(abar)
        return np.clip(x0, -1.0, 1.0) if clip else x0

    def _start(self, shape, cond, generator):
        gen = generator or global_generator()
        if cond is not None and _as_array(cond).shape[0] != shape[0]:
            raise ValueError(f"DDPM: cond has {_as_array(cond).shape[0]} prompts for a batch "
                             f"of {shape[0]} (shape {tuple(shape)})")
        return gen, gen.standard_normal(shape).astype(np.float32)

    def sample(self, model, shape, cond=None, *, guidance_scale=1.0, uncond=None,
               variance="posterior", clip_denoised=True, generator=None, callback=None):
        """Ancestral sampling, T model calls: x_T ~ N(0, I), then x_{t-1} ~ p(x_{t-1} | x_t).

        ``callback(t, x_t, x0_hat)`` (arrays) is called after every step, with the new
        x_{t-1} and the model's current guess of the clean image. Returns x_0 as a Tensor.
        """
        if variance not in ("posterior", "beta"):
            raise ValueError(f"sample: variance must be 'posterior' or 'beta', got {variance!r}")
        gen, x = self._start(shape, cond, generator)
        var = self.posterior_variance if variance == "posterior" else self.betas
        with _inference(model):
            for t in reversed(range(self.timesteps)):
                eps = self.predict_noise(model, x, t, cond, guidance_scale, uncond)
                x0 = self._x0_hat(x, eps, t, clip_denoised)
                abar, abar_prev = self.alphas_cumprod[t], self.alphas_cumprod_prev[t]
                mean = (self.betas[t] * math.sqrt(abar_prev) / (1 - abar) * x0
                        + (1 - abar_prev) * math.sqrt(self.alphas[t]) / (1 - abar) * x)
                noise = gen.standard_normal(shape) if t > 0 else 0.0  # the last step is the mean
                x = (mean + math.sqrt(var[t]) * noise).astype(np.float32)
                if callback is not None:
                    callback(t, x, x0)
        return Tensor(x)

    def ddim_timesteps(self, steps: int) -> np.ndarray:
        """``steps`` timesteps evenly spread over [0, T - 1], increasing."""
        if not 1 <= steps <= self.timesteps:
            raise ValueError(f"ddim: steps must be in [1, {self.timesteps}], got {steps}")
        return np.unique(np.round(np.linspace(0, self.timesteps - 1, steps)).astype(np.int64))

    def ddim_sample(self, model, shape, cond=None, steps: int = 50, eta: float = 0.0, *,
                    guidance_scale=1.0, uncond=None, clip_denoised=True, generator=None,
                    callback=None):
        """DDIM sampling with ``steps`` model calls; eta = 0 is deterministic given x_T,
        eta = 1 adds DDPM-like noise. ``callback(t, x_t, x0_hat)`` as in ``sample``."""
        gen, x = self._start(shape, cond, generator)
        taus = self.ddim_timesteps(steps)
        with _inference(model):
            for i in reversed(range(len(taus))):
                t = int(taus[i])
                eps = self.predict_noise(model, x, t, cond, guidance_scale, uncond)
                abar = self.alphas_cumprod[t]
                abar_prev = self.alphas_cumprod[taus[i - 1]] if i > 0 else 1.0
                x0 = self._x0_hat(x, eps, t, clip_denoised)
                if clip_denoised:  # the noise that, with the clipped x0, gives back x_t
                    eps = (x - math.sqrt(abar) * x0) / math.sqrt(1 - abar)
                sigma = eta * math.sqrt((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev))
                x = math.sqrt(abar_prev) * x0 + math.sqrt(1 - abar_prev - sigma**2) * eps
                if sigma > 0:
                    x = x + sigma * gen.standard_normal(shape)
                x = x.astype(np.float32)
                if callback is not None:
                    callback(t, x, x0)
        return Tensor(x)
