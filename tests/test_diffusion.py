"""The diffusion U-Net and DDPM: embeddings (kernels, PyTorch, gradcheck), the timestep code,
schedules against their formulas, q_sample's moments, both samplers against an exactly known
noise predictor, the DiffusionUNet against a PyTorch twin and gradcheck, the shapes data, and
one tiny real training run: the loss falls, samples land near the data, prompts steer them."""

import json
import math

import numpy as np
import pytest

import tinyunet as tu
from tinyunet.data.shapes import (
    KINDS,
    NULL_PROMPT,
    PROMPTS,
    VOCAB,
    ShapesDataset,
    classify_shape,
    detokenize,
    draw_shape,
    tokenize,
)
from tinyunet.diffusion import DDPM, cosine_beta_schedule, to_image_range, train
from tinyunet.diffusion.cli import nearest_distances
from tinyunet.kernels.numba_cpu import embedding as numba_embedding
from tinyunet.kernels.reference import embedding as reference_embedding
from tinyunet.models.diffusion_unet import DiffusionUNet
from tinyunet.nn.embedding import Embedding, TimestepMLP
from tinyunet.ops.embedding import embedding, timestep_embedding

# ----- embedding: a gather forward, a scatter-add backward ------------------------------------


def test_embedding_kernels_agree_with_repeated_indices():
    rng = np.random.default_rng(0)
    for V, D, M in [(1, 1, 1), (5, 3, 12), (7, 16, 40)]:
        w = rng.standard_normal((V, D)).astype(np.float32)
        idx = rng.integers(0, V, size=M)                 # repeats: gradients must add up
        g = rng.standard_normal((M, D)).astype(np.float32)
        np.testing.assert_array_equal(reference_embedding.embedding(w, idx), w[idx])
        np.testing.assert_array_equal(numba_embedding.embedding(w, idx), w[idx])
        expected = np.zeros((V, D), np.float64)
        np.add.at(expected, idx, g)
        for kernels in (reference_embedding, numba_embedding):
            out = kernels.embedding_backward(g, idx, V)
            assert out.dtype == np.float32
            np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_embedding_matches_torch_with_padding_idx(torch, kernel_set):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((6, 4))
    idx = np.array([[0, 2, 2], [5, 1, 0]])
    g = rng.standard_normal((2, 3, 4))
    for pad in (None, 2):
        wt = torch.tensor(w, requires_grad=True)
        out_t = torch.nn.functional.embedding(torch.from_numpy(idx), wt, padding_idx=pad)
        out_t.backward(torch.from_numpy(g))
        ws = tu.Tensor(w, requires_grad=True)
        out = embedding(idx, ws, padding_idx=pad)
        out.backward(g)
        np.testing.assert_array_equal(out.data, out_t.detach().numpy())
        np.testing.assert_allclose(ws.grad, wt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_embedding_gradcheck_and_layer(kernel_set):
    w = tu.Tensor(np.random.default_rng(2).standard_normal((4, 3)), requires_grad=True)
    idx = np.array([[1, 1], [3, 0]])
    assert tu.gradcheck(lambda w: embedding(idx, w), (w,))
    tu.manual_seed(0)
    layer = Embedding(10, 3, padding_idx=-1)
    assert layer.padding_idx == 9 and np.all(layer.weight.data[9] == 0)
    assert layer(np.array([9, 9])).shape == (2, 3)
    assert 0.5 < layer.weight.data[:9].std() < 1.5       # N(0, 1), as PyTorch


def test_embedding_errors():
    w = np.zeros((4, 3))
    with pytest.raises(IndexError, match=r"index 4 is out of range for a table of 4 rows"):
        embedding(np.array([0, 4]), w)
    with pytest.raises(IndexError, match="index -1"):
        embedding(np.array([-1]), w)
    with pytest.raises(TypeError, match="indices must be integers, got dtype float64"):
        embedding(np.array([0.0]), w)
    with pytest.raises(ValueError, match=r"weight must be \(num_embeddings, embedding_dim\)"):
        embedding(np.array([0]), np.zeros(4))


# ----- the timestep code ---------------------------------------------------------------------


def test_timestep_embedding_is_the_sinusoid_formula():
    t = np.array([0, 1, 17, 999])
    e = timestep_embedding(t, 8, dtype=np.float64).data
    for i, ti in enumerate(t):
        for j in range(4):
            w = 10000.0 ** (-j / 4)
            assert e[i, j] == pytest.approx(math.sin(ti * w), abs=1e-12)
            assert e[i, 4 + j] == pytest.approx(math.cos(ti * w), abs=1e-12)
    assert timestep_embedding(t, 7).shape == (4, 7)                # odd: a zero column
    assert np.all(timestep_embedding(t, 7).data[:, 6] == 0)
    codes = timestep_embedding(np.arange(1000), 32).data            # every step distinct
    d = ((codes[:, None] - codes[None]) ** 2).sum(-1) + np.eye(1000)
    assert d.min() > 1e-3
    with pytest.raises(ValueError, match=r"timesteps of shape \(N,\)"):
        timestep_embedding(np.zeros((2, 2)), 8)


def test_timestep_mlp_matches_torch(torch):
    tu.manual_seed(3)
    mlp = TimestepMLP(8, 16).double()
    lin1, lin2 = torch.nn.Linear(8, 16).double(), torch.nn.Linear(16, 16).double()
    for lt, lu in ((lin1, mlp.linear_1), (lin2, mlp.linear_2)):
        lt.load_state_dict({k: torch.from_numpy(v) for k, v in lu.state_dict().items()})
    t = np.array([0, 5, 500])
    code = torch.from_numpy(timestep_embedding(t, 8, dtype=np.float64).data)
    expected = lin2(torch.nn.functional.silu(lin1(code))).detach().numpy()
    np.testing.assert_allclose(mlp(t).data, expected, rtol=1e-12, atol=1e-12)


# ----- schedules, q_sample, the loss ---------------------------------------------------------


def test_linear_schedule_values():
    d = DDPM(1000, 1e-4, 0.02, "linear")
    assert d.betas[0] == pytest.approx(1e-4) and d.betas[-1] == pytest.approx(0.02)
    np.testing.assert_allclose(np.diff(d.betas), (0.02 - 1e-4) / 999)
    np.testing.assert_allclose(d.alphas_cumprod[10], np.prod(1 - d.betas[:11]))
    assert d.alphas_cumprod_prev[0] == 1 and d.alphas_cumprod_prev[5] == d.alphas_cumprod[4]
    t = 300
    expected = d.betas[t] * (1 - d.alphas_cumprod[t - 1]) / (1 - d.alphas_cumprod[t])
    assert d.posterior_variance[t] == pytest.approx(expected)
    assert d.posterior_variance[0] == 0                         # x_0 given x_1: no noise left
    assert 3e-5 < d.alphas_cumprod[-1] < 5e-5                   # x_T is (almost) pure noise


def test_cosine_schedule_values():
    T, s = 1000, 0.008
    d = DDPM(T, schedule="cosine")
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    for t in (0, 1, 250, 500, 900):
        assert d.alphas_cumprod[t] == pytest.approx(f(t + 1) / f(0), rel=1e-9)
    assert d.betas.max() <= 0.999 and np.all(np.diff(d.alphas_cumprod) < 0)
    np.testing.assert_allclose(cosine_beta_schedule(T), d.betas)
    # cosine destroys information more slowly than linear early on
    assert d.alphas_cumprod[T // 2] > DDPM(T).alphas_cumprod[T // 2]


def test_q_sample_mean_and_variance():
    d = DDPM(1000)
    x0 = np.full((20000, 1, 1, 1), 0.7, np.float64)
    for t in (0, 100, 999):
        xt = d.q_sample(x0, np.full(len(x0), t), generator=np.random.default_rng(t)).data
        abar = d.alphas_cumprod[t]
        se = math.sqrt((1 - abar) / len(x0))
        assert abs(xt.mean() - math.sqrt(abar) * 0.7) < 5 * se
        assert xt.var() == pytest.approx(1 - abar, rel=0.05)
    # exact with given noise, differentiable in x0
    x = tu.Tensor(np.ones((2, 1, 2, 2)), requires_grad=True)
    noise = np.full((2, 1, 2, 2), 2.0)
    out = d.q_sample(x, np.array([3, 500]), noise)
    ab = d.alphas_cumprod[[3, 500]]
    np.testing.assert_allclose(out.data[:, 0, 0, 0], np.sqrt(ab) + 2 * np.sqrt(1 - ab))
    out.sum().backward()
    np.testing.assert_allclose(x.grad[:, 0, 0, 0], np.sqrt(ab))  # d x_t / d x0 = sqrt(abar)


def test_loss_is_mse_between_predicted_and_true_noise():
    d = DDPM(100)
    rng = np.random.default_rng(0)
    x0 = rng.uniform(-1, 1, (3, 1, 4, 4))
    noise, t = rng.standard_normal(x0.shape), np.array([0, 50, 99])
    seen = {}

    def model(x_t, t_, cond):
        seen.update(x_t=x_t.data, t=t_, cond=cond)
        return tu.Tensor(np.zeros(x_t.shape))

    loss = d.loss(model, x0, "prompt", t=t, noise=noise)
    assert loss.item() == pytest.approx((noise**2).mean())
    np.testing.assert_allclose(seen["x_t"], d.q_sample(x0, t, noise).data)
    assert seen["cond"] == "prompt" and list(seen["t"]) == [0, 50, 99]


def test_schedule_and_timestep_errors():
    with pytest.raises(ValueError, match="unknown schedule 'quadratic'"):
        DDPM(10, schedule="quadratic")
    with pytest.raises(ValueError, match="beta_start <= beta_end"):
        DDPM(10, beta_start=0.1, beta_end=0.01)
    with pytest.raises(ValueError, match=r"t must be 2 integers in \[0, 10\)"):
        DDPM(10).q_sample(np.zeros((2, 1, 2, 2)), np.array([0, 10]))


# ----- the samplers, against the exact noise predictor of Gaussian data ----------------------


def gaussian_oracle(d, mu, s):
    """For data x0 ~ N(mu, s^2) the best noise guess is known in closed form:
    x_t ~ N(sqrt(abar) mu, abar s^2 + 1 - abar) and
    E[eps | x_t] = sqrt(1 - abar) (x_t - sqrt(abar) mu) / (abar s^2 + 1 - abar)."""

    def model(x, t, cond=None):
        abar = d.alphas_cumprod[int(t[0])]
        eps = math.sqrt(1 - abar) * (x.data - math.sqrt(abar) * mu) / (abar * s**2 + 1 - abar)
        return tu.Tensor(eps)

    return model


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "ddim-eta1"])
def test_samplers_reproduce_a_gaussian_with_the_exact_noise_predictor(sampler):
    d, mu, s = DDPM(1000), 0.3, 0.2
    model = gaussian_oracle(d, mu, s)
    shape, gen = (4000, 1, 1, 1), np.random.default_rng(0)
    if sampler == "ddpm":
        x = d.sample(model, shape, clip_denoised=False, generator=gen).data
    else:  # every timestep: DDIM's discretisation error vanishes
        eta = 1.0 if sampler == "ddim-eta1" else 0.0
        x = d.ddim_sample(model, shape, steps=1000, eta=eta, clip_denoised=False,
                          generator=gen).data
    assert x.mean() == pytest.approx(mu, abs=0.02)
    assert x.std() == pytest.approx(s, rel=0.06)


def test_ddim_with_few_steps_is_the_predicted_linear_map():
    """With Gaussian data every deterministic DDIM step is linear in z = x_t - a_t mu
    (a = sqrt(abar), sigma = sqrt(1 - abar)): z_s = z_t (a_t a_s s^2 + sigma_t sigma_s) /
    (a_t^2 s^2 + sigma_t^2), so 20 steps map x_T to mu + C (x_T - a_T mu) with a known C
    (a little below s: few large steps shrink the spread, which is DDIM's known bias)."""
    d, mu, s = DDPM(1000), 0.3, 0.2
    x = d.ddim_sample(gaussian_oracle(d, mu, s), (50, 1, 1, 1), steps=20, clip_denoised=False,
                      generator=np.random.default_rng(0)).data
    x_T = np.random.default_rng(0).standard_normal((50, 1, 1, 1))   # the sampler's first draw
    taus = d.ddim_timesteps(20)
    a = np.sqrt(np.concatenate([[1.0], d.alphas_cumprod[taus]]))     # a_{-1} = 1: clean
    sig = np.sqrt(1 - a**2)
    C = np.prod([(a[i] * a[i - 1] * s**2 + sig[i] * sig[i - 1]) / (a[i] ** 2 * s**2 + sig[i] ** 2)
                 for i in range(len(taus), 0, -1)])
    np.testing.assert_allclose(x, mu + C * (x_T - a[-1] * mu), rtol=1e-5, atol=1e-6)
    assert 0.5 * s < C < s


def test_samplers_land_on_a_single_data_point_and_report_each_step():
    d = DDPM(50)
    target = np.array([0.5, -0.25, 0.0, 1.0], np.float32).reshape(1, 1, 2, 2)

    def model(x, t, cond=None):               # data = one point: eps is exactly determined
        abar = d.alphas_cumprod[int(t[0])]
        return tu.Tensor((x.data - math.sqrt(abar) * target) / math.sqrt(1 - abar))

    steps = []
    x = d.sample(model, (3, 1, 2, 2), callback=lambda t, x, x0: steps.append(t))
    assert steps == list(range(49, -1, -1))
    np.testing.assert_allclose(x.data, np.repeat(target, 3, 0), atol=1e-5)
    x = d.ddim_sample(model, (3, 1, 2, 2), steps=5)
    np.testing.assert_allclose(x.data, np.repeat(target, 3, 0), atol=1e-5)
    assert list(d.ddim_timesteps(5)) == [0, 12, 24, 37, 49]


def test_classifier_free_guidance_extrapolates_from_the_empty_prompt():
    d = DDPM(10)
    model = lambda x, t, cond: tu.Tensor(np.broadcast_to(
        np.asarray(cond, np.float32)[:, :1, None, None], x.shape).copy())
    x = np.zeros((2, 1, 2, 2), np.float32)
    cond, uncond = np.array([[3], [5]]), np.array([[1], [1]])
    eps = d.predict_noise(model, x, 4, cond, guidance_scale=3.0, uncond=uncond)
    np.testing.assert_allclose(eps[:, 0, 0, 0], [1 + 3 * (3 - 1), 1 + 3 * (5 - 1)])
    with pytest.raises(ValueError, match="needs the empty prompt"):
        d.predict_noise(model, x, 4, cond, guidance_scale=2.0)


# ----- the DiffusionUNet ---------------------------------------------------------------------


def wake(model, seed=0):
    """Give every all-zero parameter (the zero-initialised last layers, the norms' shifts)
    random values: a fresh DiffusionUNet outputs exactly 0, which would make every gradient
    upstream of its output conv 0 as well and the comparisons below vacuous."""
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        if not p.data.any():
            p.data[...] = rng.uniform(-0.3, 0.3, p.shape)
    return model


@pytest.mark.parametrize("config", [
    dict(channel_mults=(1, 2), attention_levels=(1,), num_tokens=6, num_heads=2),
    dict(channel_mults=(1, 2), attention_levels=(0,), num_tokens=5, pooled_prompt=False),
    dict(channel_mults=(1, 1, 2), attention_levels=(0,), num_tokens=None, mid_attention=False),
], ids=["cross-attention", "cross-attention-only", "unconditional"])
def test_diffusion_unet_matches_pytorch_twin(torch, config):
    from tinyunet.torch_twins import twin_of

    tu.manual_seed(4)
    model = wake(DiffusionUNet(in_channels=2, base_channels=4, **config).double())
    twin = twin_of(model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 8, 8))
    t = np.array([3, 700])
    cond = rng.integers(0, 6, (2, 3)) if config["num_tokens"] else None
    xs, xt = tu.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, out_t = model(xs, t, cond), twin(xt, t, cond)
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), rtol=1e-9, atol=1e-11)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    out_t.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-8, atol=1e-10)
    twin_params = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, twin_params[name].grad.numpy(), rtol=1e-8,
                                   atol=1e-10, err_msg=name)


def test_diffusion_unet_gradcheck_float64():
    tu.manual_seed(5)
    model = wake(DiffusionUNet(1, 2, (1, 2), (1,), num_tokens=4, context_dim=3).double())
    rng = np.random.default_rng(1)
    x = tu.Tensor(rng.standard_normal((1, 1, 4, 4)), requires_grad=True)
    cond = np.array([[1, 3]])
    # one weight of every kind of layer (the twin test above compares every gradient):
    # finite differences cost two forward passes per checked tensor and direction
    named = dict(model.named_parameters())
    checked = [named[k] for k in (
        "time_mlp.linear_1.weight", "token_embedding.weight", "prompt_proj.weight",
        "down.0.res.time_proj.weight", "down.0.res.norm2.weight", "down.1.attn.to_q.weight",
        "down.1.cross.to_k.weight", "mid.cross.to_out.bias", "upsample.0.conv.weight",
        "up.1.res.skip.weight")]
    assert tu.gradcheck(lambda x, *w: model(x, np.array([7]), cond), (x, *checked),
                        directions=2)


def test_diffusion_unet_starts_at_zero_and_conditioning_changes_the_output():
    tu.manual_seed(6)
    model = DiffusionUNet(1, 4, (1, 2), (1,), num_tokens=6)
    x = np.random.default_rng(2).standard_normal((2, 1, 8, 8)).astype(np.float32)
    assert not model(x, np.array([10, 10]), np.array([[1, 3], [1, 3]])).data.any()
    wake(model)
    a = model(x, np.array([10, 10]), np.array([[1, 3], [1, 3]])).data
    assert a.shape == x.shape and a.dtype == np.float32
    b = model(x, np.array([900, 900]), np.array([[1, 3], [1, 3]])).data
    c = model(x, 10, np.array([[2, 5], [2, 5]])).data
    assert np.abs(a - b).max() > 1e-4 and np.abs(a - c).max() > 1e-4
    with pytest.raises(ValueError, match="divisible by 2; got"):
        model(np.zeros((1, 1, 7, 8), np.float32), 0)
    with pytest.raises(ValueError, match=r"expected x of shape \(N, 1, H, W\)"):
        model(np.zeros((1, 3, 8, 8), np.float32), 0)
    with pytest.raises(ValueError, match=r"t must be one timestep per image, shape \(1,\)"):
        model(np.zeros((1, 1, 8, 8), np.float32), np.array([1, 2]))
    with pytest.raises(ValueError, match="built without num_tokens"):
        DiffusionUNet(1, 4, (1, 2), (1,))(x, 0, np.array([[1, 3], [1, 3]]))
    with pytest.raises(ValueError, match=r"levels \[2\] do not exist"):
        DiffusionUNet(1, 4, (1, 2), (2,))


# ----- the data --------------------------------------------------------------------------------


def test_shapes_dataset_is_deterministic_balanced_and_readable():
    ds = ShapesDataset(60, 16, seed=3)
    images, tokens = ds.arrays()
    assert images.shape == (60, 1, 16, 16) and images.dtype == np.float32
    assert images.min() >= 0 and images.max() <= 1
    np.testing.assert_array_equal(ShapesDataset(60, 16, seed=3)[7][0], images[7])
    assert not np.array_equal(ShapesDataset(60, 16, seed=4)[7][0], images[7])
    prompts = [detokenize(t) for t in tokens]
    assert all(prompts.count(p) == 10 for p in PROMPTS)
    # the geometry classifier reads every clean shape back (it judges the samples below)
    assert [classify_shape(im) for im in images] == prompts
    assert classify_shape(np.zeros((16, 16))) is None
    # area against the formula: square e^2, circle pi e^2 / 4, triangle e^2 / 2
    for kind, factor in zip(KINDS, (math.pi / 4, 1.0, 0.5)):
        assert draw_shape(kind, 20.0, (16, 16), 32).sum() == pytest.approx(factor * 400, rel=0.02)
    assert list(tokenize("big square")) == [2, 4] and VOCAB[0] == "<null>"
    assert detokenize(tokenize(NULL_PROMPT)) == NULL_PROMPT
    with pytest.raises(ValueError, match="'huge circle' is not a prompt"):
        tokenize("huge circle")


# ----- one tiny real run ---------------------------------------------------------------------

SIZE, SAMPLES_PER_PROMPT, TRAIN_STEPS, GUIDANCE = 16, 12, 400, 3.0


@pytest.fixture(scope="module")
def tiny_run():
    """A small conditional model trained briefly on 16x16 shapes, and DDIM samples from it."""
    tu.manual_seed(0)
    images, tokens = ShapesDataset(600, SIZE, seed=0).arrays()
    model = DiffusionUNet(1, 16, (1, 2), (1,), num_tokens=len(VOCAB))
    ddpm = DDPM(1000)
    run = train(model, ddpm, images, tokens, steps=TRAIN_STEPS, batch_size=16, lr=4e-3, seed=0)
    cond = np.repeat(np.stack([tokenize(p) for p in PROMPTS]), SAMPLES_PER_PROMPT, axis=0)
    uncond = np.repeat(tokenize(NULL_PROMPT)[None], len(cond), axis=0)
    x = ddpm.ddim_sample(run["ema"].model, (len(cond), 1, SIZE, SIZE), cond, steps=20,
                         guidance_scale=GUIDANCE, uncond=uncond,
                         generator=np.random.default_rng(1))
    return dict(images=images, losses=run["losses"], samples=to_image_range(x))


def test_tiny_run_loss_falls(tiny_run):
    losses = tiny_run["losses"]
    assert len(losses) == TRAIN_STEPS and np.isfinite(losses).all()
    assert np.mean(losses[-50:]) < 0.3 * np.mean(losses[:10])


def test_tiny_run_samples_are_closer_to_the_data_than_noise_is(tiny_run):
    samples, images = tiny_run["samples"], tiny_run["images"]
    noise = to_image_range(np.random.default_rng(2).standard_normal(samples.shape))
    ratio = nearest_distances(samples, images).mean() / nearest_distances(noise, images).mean()
    assert ratio < 0.6, f"samples are {ratio:.2f}x as far from the data as noise"


def test_tiny_run_prompts_change_what_is_drawn(tiny_run):
    read = [classify_shape(s) for s in tiny_run["samples"]]
    wanted = [p for p in PROMPTS for _ in range(SAMPLES_PER_PROMPT)]
    hits = sum(r == w for r, w in zip(read, wanted))
    # chance is 1/6 (12 of 72); twice that, 24, has P(Binomial(72, 1/6) >= 24) ~ 1e-3
    assert hits >= 2 * len(wanted) // len(PROMPTS), \
        f"the classifier agrees with {hits}/{len(wanted)} prompts: {read}"


def test_diffuse_command_writes_the_pictures(tmp_path, capsys):
    import argparse

    from tinyunet.diffusion.cli import add_diffuse_parser

    parser = argparse.ArgumentParser()
    add_diffuse_parser(parser.add_subparsers())
    args = parser.parse_args(["diffuse", "--out", str(tmp_path), "--train-images", "24",
                              "--base-channels", "4", "--channel-mults", "1,2",
                              "--attention-levels", "1", "--timesteps", "20", "--steps", "3",
                              "--batch-size", "4", "--samples-per-prompt", "1",
                              "--sample-steps", "4"])
    assert args.run(args) == 0
    for name in ("denoising.png", "samples.png", "loss.png", "model.safetensors"):
        assert (tmp_path / name).stat().st_size > 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["train_steps"] == 3 and 0 <= metrics["prompt_accuracy"] <= 1
    blob = tu.load(tmp_path / "model.safetensors")
    clone = DiffusionUNet(**blob["config"])
    clone.load_state_dict(blob["model"])
    assert "prompt" in capsys.readouterr().out
