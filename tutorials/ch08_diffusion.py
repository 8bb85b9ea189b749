# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8. The diffusion U-Net: noise in, noise out
#
# A diffusion model generates an image by starting from pure noise and removing a little at a
# time. The network's job at each step: given a noisy image, predict the noise that was added.
# Image in, image of the same size out: exactly the shape U-Net was built for. Segmentation
# maps pixels to labels; denoising maps pixels to noise.
#
# Two things are added to the segmentation U-Net ([`DiffusionUNet`](../tinyunet/models/diffusion_unet.py#DiffusionUNet)):
# the *timestep* `t`, embedded and added inside every block
# ([`ResBlock`](../tinyunet/models/diffusion_unet.py#ResBlock)), so the network knows how much
# noise to expect; and, for text-to-image, cross-attention to a prompt. The schedule, the loss
# and the samplers are in [`DDPM`](../tinyunet/diffusion/ddpm.py#DDPM).

# %%
import numpy as np
from bookkit import fast_or_full, interact, show

import tinyunet as tu
from tinyunet.data.shapes import ShapesDataset
from tinyunet.diffusion import DDPM, to_image_range, to_model_range, train
from tinyunet.models import DiffusionUNet

tu.manual_seed(0)
data = ShapesDataset(fast_or_full(600, 3000), size=16, seed=0)
images = np.stack([data[i][0] for i in range(len(data))])  # (n, 1, 16, 16) in [0, 1]
held_out = np.stack([ShapesDataset(16, 16, seed=1)[i][0] for i in range(16)])
model = DiffusionUNet(in_channels=1, base_channels=16, channel_mults=(1, 2),
                      attention_levels=(), mid_attention=False)
ddpm = DDPM(timesteps=1000, schedule="linear")
n_params = sum(p.numel() for p in model.parameters())
print(f"{n_params:,} parameters; {len(images)} training images of 16 x 16")

# %% [markdown]
# ## Same shape in and out, and the timestep changes the answer

# %%
x_t = tu.randn(2, 1, 16, 16)
with tu.no_grad():
    eps_hat = model(x_t, np.array([10, 900]))
print("in", x_t.shape, "-> out", eps_hat.shape)

# %% [markdown]
# ## The forward process: noise mixed in, by a fixed schedule
#
# `x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps` ([`q_sample`](../tinyunet/diffusion/ddpm.py#DDPM.q_sample)):
# at t = 0 the image is almost clean, by t = 999 the signal's weight `sqrt(abar_t)` is below
# one percent.

# %%
x0 = to_model_range(held_out[:1])
noise = np.random.default_rng(0).standard_normal(x0.shape).astype(np.float32)
ts = [0, 100, 250, 500, 750, 999]
noisy = {t: ddpm.q_sample(x0, np.array([t]), noise).data[0, 0] for t in ts}
for t in ts:
    print(f"t = {t:>3}: signal weight sqrt(abar_t) = {np.sqrt(ddpm.alphas_cumprod[t]):.4f}")

# %% [markdown]
# ## Training: predict the noise
#
# The whole objective ([`DDPM.loss`](../tinyunet/diffusion/ddpm.py#DDPM.loss)): pick t at
# random, noise an image to x_t, and ask the U-Net for the noise, `mse(model(x_t, t), eps)`.
# Before training the model's output layer is zero (it predicts no noise at all); we score how
# well its guess of the clean image, `x0_hat = (x_t - sqrt(1 - abar_t) eps_hat) / sqrt(abar_t)`,
# matches held-out images at t = 500, before and after.


# %%
def clean_guess_error(t=500):
    x0 = to_model_range(held_out)
    eps = np.random.default_rng(1).standard_normal(x0.shape).astype(np.float32)
    x = ddpm.q_sample(x0, np.full(len(x0), t), eps).data
    model.eval()
    with tu.no_grad():
        e = model(tu.Tensor(x), np.full(len(x0), t)).data
    model.train()
    abar = ddpm.alphas_cumprod[t]
    return float(np.mean(((x - np.sqrt(1 - abar) * e) / np.sqrt(abar) - x0) ** 2))


error_before = clean_guess_error()
result = train(model, ddpm, images, steps=fast_or_full(60, 1500), batch_size=16, lr=2e-3,
               warmup=10, seed=0)
error_after = clean_guess_error()
losses = result["losses"]
print(f"{result['steps']} steps in {result['seconds']:.0f} s; loss {np.mean(losses[:10]):.3f} "
      f"-> {np.mean(losses[-10:]):.3f}")
print(f"clean-image guess at t = 500, mean squared error: {error_before:.3f} before, "
      f"{error_after:.3f} after")

# %% [markdown]
# ## Generating: from pure noise, one denoising step at a time
#
# DDIM ([`ddim_sample`](../tinyunet/diffusion/ddpm.py#DDPM.ddim_sample)) walks from x_999 (pure
# noise) down to x_0 in 20 model calls. We keep the model's guess of the clean image at each
# step. (In fast mode the model trained for seconds and draws blobs; `make book` trains it for
# longer.)

# %%
frames = {}
sample = ddpm.ddim_sample(model, (4, 1, 16, 16), steps=20, generator=np.random.default_rng(2),
                          callback=lambda t, x, x0_hat: frames.setdefault(int(t), x0_hat.copy()))
sample = to_image_range(sample.data)
steps = sorted(frames, reverse=True)
print("sampler steps:", steps[:4], "...", steps[-2:], " samples", sample.shape)


# %%
def draw_step(ax, step):
    t = steps[step]
    ax.imshow(to_image_range(frames[t][0, 0]), cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"step {step + 1}/{len(steps)} (t = {t}): guess of x_0", fontsize=9)
    ax.set_xlabel("column (pixel)")
    ax.set_ylabel("row (pixel)")


interact(draw_step, title="one sample, denoising step by step",
         step=[0, len(steps) // 4, len(steps) // 2, len(steps) - 1])

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig = plt.figure(figsize=(14, 6.4), layout="constrained")
top, bottom = fig.subfigures(2, 1)
ax = top.subplots(1, len(ts))
for a, t in zip(ax, ts):
    a.imshow(to_image_range(noisy[t]), cmap="gray", vmin=0, vmax=1)
    a.set_title(f"t = {t}", fontsize=10)
    a.set_xticks([])
    a.set_yticks([])
top.suptitle("forward: a held-out image noised by the fixed schedule (x_t)")
show_steps = steps[:: max(1, len(steps) // 5)][:5] + [steps[-1]]
ax = bottom.subplots(1, len(show_steps) + 1, width_ratios=[1] * len(show_steps) + [1.8])
for a, t in zip(ax, show_steps):
    a.imshow(to_image_range(frames[t][0, 0]), cmap="gray", vmin=0, vmax=1)
    a.set_title(f"t = {t}", fontsize=10)
    a.set_xticks([])
    a.set_yticks([])
ax[-1].plot(losses, lw=0.8)
ax[-1].set_xlabel("training step")
ax[-1].set_ylabel("noise-prediction MSE")
ax[-1].set_title("training loss")
bottom.suptitle("backward: the U-Net's guess of the clean image while sampling from pure noise")
show(fig, "The same image-in, image-out U-Net, asked for the noise instead of a mask, turns "
          "pure noise into an image one step at a time.")

# %% [markdown]
# ## What this chapter showed, as asserts

# %%
assert eps_hat.shape == x_t.shape == (2, 1, 16, 16)
assert np.sqrt(ddpm.alphas_cumprod[999]) < 0.01 and np.sqrt(ddpm.alphas_cumprod[0]) > 0.99
assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
assert error_after < 0.5 * error_before
assert sample.shape == (4, 1, 16, 16) and len(steps) == 20
print("chapter 8: all asserts hold")
