"""A small training loop for a diffusion U-Net: sample a batch, noise it, regress the noise.

    for step in range(steps):
        x0, prompts = a random batch (images scaled from [0, 1] to [-1, 1])
        drop some prompts to the empty one        (so classifier-free guidance can work)
        loss = ddpm.loss(model, x0, prompts)      (mse between predicted and true noise)
        loss.backward(); AdamW step; EMA update

The learning rate warms up linearly, then follows a half cosine down to zero at the end of the
run, which is ``steps`` steps or ``time_limit`` seconds, whichever comes first (progress is the
larger of the two fractions, so a run cut by the clock still anneals). The *exponential
moving average* of the weights (``EMA``) is what gets sampled: single steps of a noisy
objective jitter the weights, and the average removes the jitter (a standard diffusion trick
that visibly sharpens samples).
"""

from __future__ import annotations

import copy
import math
import time

import numpy as np

from ..grad_mode import no_grad
from ..optim import AdamW


def to_model_range(images):
    """[0, 1] images -> [-1, 1], the range the noise schedule assumes."""
    return np.asarray(images, dtype=np.float32) * 2 - 1


def to_image_range(x):
    """[-1, 1] samples -> [0, 1] images (clipped)."""
    x = np.asarray(x.data if hasattr(x, "data") else x)
    return np.clip((x + 1) / 2, 0, 1)


class EMA:
    """``EMA(model, decay=0.999)``: a copy of the model whose weights follow
    theta_ema <- d theta_ema + (1 - d) theta after every ``update(model)``.

    The decay warms up as d_k = min(decay, (1 + k) / (10 + k)), so a short run is not
    dominated by the random initial weights.
    """

    def __init__(self, model, decay: float = 0.999):
        self.decay, self.updates = decay, 0
        self.model = copy.deepcopy(model)
        self.model.eval()

    def update(self, model) -> None:
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        self.updates += 1
        with no_grad():
            for p_ema, p in zip(self.model.parameters(), model.parameters()):
                p_ema.data *= d
                p_ema.data += (1 - d) * p.data


def train(model, ddpm, images, tokens=None, *, steps: int = 1000, batch_size: int = 64,
          lr: float = 2e-3, weight_decay: float = 0.0, warmup: int = 50,
          p_uncond: float = 0.1, uncond_token: int = 0, ema_decay: float = 0.995,
          seed: int = 0, time_limit: float | None = None, log_every: int = 0, log=print):
    """Train ``model`` to predict noise on ``images`` (n, C, H, W) in [0, 1], with prompts
    ``tokens`` (n, S) or None. Stops after ``steps`` steps or ``time_limit`` seconds.

    Returns ``{"losses": [...] per step, "seconds": float, "steps": int, "ema": EMA}``.
    """
    x_all = to_model_range(images)
    n = len(x_all)
    if tokens is not None and len(tokens) != n:
        raise ValueError(f"train: {n} images but {len(tokens)} prompts")
    rng = np.random.default_rng(seed)
    optimizer = AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    ema = EMA(model, ema_decay)
    losses, start = [], time.perf_counter()
    model.train()
    for step in range(steps):
        elapsed = time.perf_counter() - start
        progress = max(step / steps, elapsed / time_limit if time_limit else 0.0)
        if progress >= 1:
            break
        # warm up, then a half cosine to zero
        scale = min(1.0, (step + 1) / max(1, warmup)) * 0.5 * (1 + math.cos(math.pi * progress))
        for group in optimizer.param_groups:
            group["lr"] = lr * scale
        index = rng.integers(0, n, size=batch_size)
        cond = None
        if tokens is not None:
            cond = np.array(tokens[index])
            cond[rng.random(batch_size) < p_uncond] = uncond_token   # the empty prompt
        optimizer.zero_grad()
        loss = ddpm.loss(model, x_all[index], cond, generator=rng)
        loss.backward()
        optimizer.step()
        ema.update(model)
        losses.append(float(loss.item()))
        if log_every and (step + 1) % log_every == 0:
            recent = np.mean(losses[-log_every:])
            log(f"step {step + 1:5d}/{steps}  loss {recent:.4f}  "
                f"{time.perf_counter() - start:6.1f} s")
    return {"losses": losses, "seconds": time.perf_counter() - start, "steps": len(losses),
            "ema": ema}
