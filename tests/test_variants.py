"""The U-Net family: each variant is the U-Net with one part replaced. For each: the part does
what its paper's formula says, the rest is the U-Net's (same state_dict keys), a PyTorch twin
with copied weights gives the same outputs and gradients, float64 gradcheck passes, a short
run on synthetic cells learns, and ``summary`` marks the part that differs."""

import numpy as np
import pytest

import tinyunet as tu
import tinyunet.functional as F
from tinyunet.models import (
    FAMILY,
    AttentionUNet,
    ResidualUNet,
    UNet,
    UNetPlusPlus,
    summary,
    trace,
)
from tinyunet.models.attention_unet import AttentionGate
from tinyunet.models.residual_unet import ResidualUnit
from tinyunet.models.unetpp import deep_supervision_loss

VARIANTS = [AttentionUNet, ResidualUNet, UNetPlusPlus]


# ----- the skeleton is shared ------------------------------------------------------------------
@pytest.mark.parametrize("cls, extra", [(AttentionUNet, r".gate."), (ResidualUNet, ".shortcut")])
def test_a_variant_keeps_every_unet_weight_and_adds_only_its_part(cls, extra):
    plain, variant = UNet(base_channels=4, depth=3).state_dict(), \
        cls(base_channels=4, depth=3).state_dict()
    assert set(plain) <= set(variant)
    added = set(variant) - set(plain)
    assert added and all(extra in k for k in added)
    for k in plain:
        assert plain[k].shape == variant[k].shape, k


def test_unetpp_shares_the_encoder_bottleneck_and_head_and_replaces_the_way_up():
    plain, nested = UNet(base_channels=4, depth=3), UNetPlusPlus(base_channels=4, depth=3)
    shared = set(plain.state_dict()) & set(nested.state_dict())
    assert {k.split(".")[0] for k in shared} == {"encoder", "bottleneck", "head"}
    assert {k.split(".")[0] for k in set(nested.state_dict()) - shared} == {
        f"{kind}_{i}_{j}" for j in range(1, 4) for i in range(4 - j) for kind in ("up", "x")}


# ----- attention gates ------------------------------------------------------------------------
def test_the_gate_computes_the_papers_formula():
    """alpha = sigmoid(psi^T ReLU(W_x^T x + W_g^T g + b_g) + b_psi), pixel by pixel."""
    tu.manual_seed(0)
    gate = AttentionGate(x_channels=3, g_channels=5, inter_channels=2)
    rng = np.random.default_rng(0)
    x, g = rng.standard_normal((2, 3, 4, 4)), rng.standard_normal((2, 5, 4, 4))
    W_x, W_g = gate.W_x.weight.data[:, :, 0, 0], gate.W_g.weight.data[:, :, 0, 0]
    psi = gate.psi.weight.data[0, :, 0, 0]
    hidden = np.maximum(np.einsum("fc,nchw->nfhw", W_x, x) + np.einsum("fc,nchw->nfhw", W_g, g)
                        + gate.W_g.bias.data[:, None, None], 0)
    q = np.einsum("f,nfhw->nhw", psi, hidden) + gate.psi.bias.data[0]
    alpha = gate(tu.Tensor(x.astype(np.float32)), tu.Tensor(g.astype(np.float32)))
    assert gate.W_x.bias is None  # b_g is the sum's one bias
    np.testing.assert_allclose(alpha.data[:, 0], 1 / (1 + np.exp(-q)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("config", [dict(), dict(padding="valid", up_mode="bilinear")],
                         ids=["same-transposed", "valid-bilinear"])
def test_gates_forced_open_compute_exactly_the_plain_unet(config):
    """alpha = 1 everywhere (q = 50 at every pixel: sigmoid(50) is 1.0 in float32): the
    gated skip passes s through untouched and the network is the U-Net, bit for bit."""
    tu.manual_seed(0)
    gated, plain = AttentionUNet(base_channels=4, depth=2, **config), \
        UNet(base_channels=4, depth=2, **config)
    shared = {k: v for k, v in gated.state_dict().items() if ".gate." not in k}
    plain.load_state_dict(shared)  # strict: exactly the U-Net's weights, shared
    x = tu.randn(2, 1, *((44, 44) if config else (16, 16)))

    out, alphas = gated(x, return_attention=True)
    assert all(0 < a.data.min() and a.data.max() < 1 for a in alphas)  # gates at work ...
    assert np.abs(out.data - plain(x).data).max() > 1e-4  # ... change the answer

    for skip in gated.skip:
        skip.gate.psi.weight.data[...] = 0
        skip.gate.psi.bias.data[...] = 50.0
    out, alphas = gated(x, return_attention=True)
    assert all((a.data == 1).all() for a in alphas)
    np.testing.assert_array_equal(out.data, plain(x).data)


def test_return_attention_gives_one_map_per_level():
    model = AttentionUNet(base_channels=4, depth=3)
    logits, alphas = model(tu.randn(2, 1, 32, 32), return_attention=True)
    assert logits.shape == (2, 2, 32, 32)
    assert [a.shape for a in alphas] == [(2, 1, 32, 32), (2, 1, 16, 16), (2, 1, 8, 8)]
    assert model(tu.randn(2, 1, 32, 32)).shape == (2, 2, 32, 32)  # logits alone by default


def test_attention_without_skips_is_refused():
    with pytest.raises(ValueError, match="skips=False leaves nothing to gate"):
        AttentionUNet(skips=False)


# ----- residual units -------------------------------------------------------------------------
def test_a_residual_unit_is_f_plus_the_identity_or_a_projection():
    tu.manual_seed(0)
    x = tu.randn(2, 4, 8, 8)
    same = ResidualUnit(4, 4)
    assert isinstance(same.shortcut, tu.nn.Identity)
    for conv in (same.conv1, same.conv2):  # F = 0: what is left is the identity
        conv.weight.data[...] = 0
        conv.bias.data[...] = 0
    np.testing.assert_array_equal(same(x).data, x.data)

    wider = ResidualUnit(4, 6)
    assert wider.shortcut.weight.shape == (6, 4, 1, 1)
    f = super(ResidualUnit, wider).forward(x)  # the ConvBlock's F(x)
    np.testing.assert_allclose((wider(x) - f).data, wider.shortcut(x).data, atol=1e-6)


def test_a_valid_residual_unit_crops_its_shortcut():
    y = ResidualUnit(2, 3, padding=0)(tu.randn(1, 2, 12, 10))
    assert y.shape == (1, 3, 8, 6)


# ----- U-Net++ --------------------------------------------------------------------------------
def test_unetpp_node_channels_follow_the_dense_formula():
    """x^{i,j} sees j maps of c_i from its row and U(x^{i+1,j-1}): j c_i + c_i channels in."""
    model = UNetPlusPlus(base_channels=4, depth=3)
    c = [4, 8, 16, 32]
    for j in range(1, 4):
        for i in range(4 - j):
            assert model.node("x", i, j).conv1.weight.shape[:2] == (c[i], j * c[i] + c[i])
    rows = {r.name: r for r in trace(model, (1, 1, 16, 16))}
    assert rows["skip_0_3"].channels == "4 + 4 + 4 + 4 -> 16"


def test_pruning_runs_only_the_first_k_columns_and_matches_that_head():
    tu.manual_seed(0)
    model = UNetPlusPlus(base_channels=4, depth=3, deep_supervision=True)
    x = tu.randn(2, 1, 16, 16)
    heads = model(x, all_heads=True)
    assert len(heads) == 3
    np.testing.assert_array_equal(model(x).data, heads[2].data)
    for k in (1, 2):
        np.testing.assert_array_equal(model(x, prune=k).data, heads[k - 1].data)
        names = {r.name for r in trace(model, (1, 1, 16, 16), prune=k)}
        nodes = {n for n in names if n.startswith("x_")}
        assert nodes == {f"x_{i}_{j}" for j in range(1, k + 1) for i in range(k + 1 - j)}
        assert f"encoder.{k}" in names and f"encoder.{k + 1}" not in names
        assert "bottleneck" not in names


def test_unetpp_refuses_what_it_cannot_do():
    with pytest.raises(ValueError, match="need deep_supervision=True"):
        UNetPlusPlus(base_channels=2, depth=2)(tu.zeros(1, 1, 8, 8), prune=1)
    with pytest.raises(ValueError, match=r"prune must be in 1\.\.2, got 3"):
        UNetPlusPlus(base_channels=2, depth=2, deep_supervision=True)(tu.zeros(1, 1, 8, 8),
                                                                      prune=3)
    with pytest.raises(NotImplementedError, match="padding='valid'"):
        UNetPlusPlus(padding="valid")
    with pytest.raises(ValueError, match=r"UNetPlusPlus\(depth=2\).*got \(8, 6\)"):
        UNetPlusPlus(base_channels=2, depth=2)(tu.zeros(1, 1, 8, 6))


# ----- against the PyTorch twins --------------------------------------------------------------
TWIN_CASES = [
    (AttentionUNet, dict(up_mode="transposed", padding="same", norm=None)),
    (AttentionUNet, dict(up_mode="bilinear", padding="valid", norm="group")),
    (AttentionUNet, dict(up_mode="nearest", padding="same", norm="batch")),
    (ResidualUNet, dict(up_mode="transposed", padding="same", norm=None)),
    (ResidualUNet, dict(up_mode="bilinear", padding="valid", norm="batch")),
    (ResidualUNet, dict(up_mode="transposed", padding="same", norm="group", skips=False)),
    (UNetPlusPlus, dict(up_mode="transposed", norm=None)),
    (UNetPlusPlus, dict(up_mode="bilinear", norm="batch", deep_supervision=True)),
]


@pytest.mark.parametrize("cls, config", TWIN_CASES,
                         ids=lambda v: v.__name__ if isinstance(v, type) else
                         "-".join(map(str, v.values())))
def test_variant_matches_its_pytorch_twin(torch, cls, config):
    from tinyunet.torch_twins import twin_of

    tu.manual_seed(1)
    model = cls(in_channels=2, num_classes=3, base_channels=4, depth=2, **config)
    twin = twin_of(model)
    size = 44 if config.get("padding") == "valid" else 20
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, size, size)).astype(np.float32)
    kwargs = dict(all_heads=True) if config.get("deep_supervision") else {}

    outs, outs_t = model(tu.Tensor(x), **kwargs), twin(torch.from_numpy(x), **kwargs)
    outs, outs_t = (outs, outs_t) if kwargs else ([outs], [outs_t])
    for out, out_t in zip(outs, outs_t, strict=True):
        np.testing.assert_allclose(out.data, out_t.detach().numpy(), rtol=1e-4, atol=1e-5)
    if cls is AttentionUNet:
        for skip, skip_t in zip(model.skip, twin.skip, strict=True):
            np.testing.assert_allclose(skip.alpha.data, skip_t.alpha.numpy(), rtol=1e-4,
                                       atol=1e-6)

    target = rng.integers(0, 3, size=outs[0].shape[:1] + outs[0].shape[2:])
    loss = deep_supervision_loss(F.cross_entropy)(outs, target)
    loss_t = sum(torch.nn.functional.cross_entropy(o, torch.from_numpy(target))
                 for o in outs_t) / len(outs_t)
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-5)
    loss.backward()
    loss_t.backward()
    twin_params = dict(twin.named_parameters())
    assert twin_params.keys() == dict(model.named_parameters()).keys()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, twin_params[name].grad.numpy(), rtol=1e-3,
                                   atol=1e-5, err_msg=name)


# ----- float64 gradcheck ----------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: AttentionUNet(base_channels=2, depth=1),
    lambda: ResidualUNet(base_channels=2, depth=1, padding="valid"),
    lambda: UNetPlusPlus(base_channels=2, depth=2, deep_supervision=True),
], ids=["attention", "residual-valid", "unetpp-deep"])
def test_tiny_variant_passes_float64_gradcheck(make):
    tu.manual_seed(0)
    model = make().double()
    size = 20 if model.config["padding"] == "valid" else 4  # valid: 20 -> 4 out
    x = tu.Tensor(np.random.default_rng(0).standard_normal((1, 1, size, size)),
                  requires_grad=True)
    params = list(model.parameters())

    def f(x, *weights):
        if isinstance(model, UNetPlusPlus):  # every head, so every weight has a gradient
            return tu.cat(model(x, all_heads=True), dim=1)
        return model(x)

    assert tu.gradcheck(f, (x, *params), atol=1e-5, rtol=1e-3)


# ----- they learn -----------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["attention", "residual", "unetpp"])
def test_a_short_run_of_each_variant_learns_and_reloads(name, tmp_path):
    """60 steps of ``tinyunet.train`` with ``model=name`` on 32x32 crops of synthetic cells;
    the checkpoint rebuilds the variant with ``load_model``."""
    from tinyunet.predict import load_model
    from tinyunet.train import TrainConfig, make_trainer

    config = TrainConfig(model=name, train_images=16, val_images=4, image_size=64, crop=32,
                         base_channels=4, depth=2, batch_size=8, lr=1e-2, epochs=3,
                         steps_per_epoch=20)
    trainer = make_trainer(config, tmp_path, progress=False)
    assert type(trainer.model) is FAMILY[name]
    result = trainer.fit()
    history = result["history"]
    assert history[-1]["train_loss"] < 0.75 * history[0]["train_loss"]
    # chance: calling every pixel a cell scores 2p / (1 + p), below 0.5 for p = 15-35 % cells
    assert result["val_dice"] > 0.75 and result["val_pixel_accuracy"] > 0.85

    reloaded = load_model(tmp_path / "last.safetensors")
    assert type(reloaded) is FAMILY[name]
    x = tu.randn(1, 1, 32, 32)
    np.testing.assert_array_equal(reloaded(x).data, trainer.model.eval()(x).data)


def test_deep_supervision_trains_every_column_so_pruned_unetpp_still_segments():
    from tinyunet.data import SyntheticCells
    from tinyunet.metrics import dice

    tu.manual_seed(0)
    cells = SyntheticCells(24, size=32, seed=0)
    images = np.stack([cells[i][0] for i in range(24)])
    masks = np.stack([cells[i][1] for i in range(24)])
    model = UNetPlusPlus(base_channels=4, depth=2, deep_supervision=True)
    loss_fn = deep_supervision_loss(F.dice_ce_loss)
    opt = tu.optim.Adam(model.parameters(), lr=1e-2)
    for step in range(60):
        batch = slice(8 * (step % 2), 8 * (step % 2) + 8)  # the first 16 images train
        opt.zero_grad()
        loss = loss_fn(model(tu.Tensor(images[batch]), all_heads=True), masks[batch])
        loss.backward()
        opt.step()
    model.eval()
    held_out = tu.Tensor(images[16:])
    for k in (1, 2):
        pred = model(held_out, prune=k).data.argmax(1)
        assert dice(pred, masks[16:]) > 0.7, k


# ----- summary marks the part that differs ----------------------------------------------------
@pytest.mark.parametrize("cls", VARIANTS, ids=lambda c: c.__name__)
def test_summary_marks_the_changed_part_and_says_what_it_is(cls):
    text = summary(cls(base_channels=4, depth=2), (1, 1, 16, 16), print_fn=None)
    lines = text.splitlines()
    rows = lines[3:lines.index("-" * 104, 2)]  # between the header (+ input) and the total
    marked = {line[2:].split()[0] for line in rows if line.startswith("* ")}
    plain = {line[2:].split()[0] for line in rows if line.startswith("  ")}
    assert marked and plain >= {"encoder.0", "pool.0", "head"} - marked
    expected = {"AttentionUNet": {"skip.0", "skip.1"},
                "ResidualUNet": {"encoder.0", "encoder.1", "bottleneck", "decoder.0",
                                 "decoder.1"},
                "UNetPlusPlus": {f"{kind}_{i}_{j}" for j in (1, 2) for i in range(3 - j)
                                 for kind in ("up", "skip", "x")}}[cls.__name__]
    assert marked == expected
    assert text.splitlines()[-1] == f"* changed from the plain U-Net ({cls.__name__}): " \
                                    f"{cls.changes}"


def test_the_plain_unets_summary_marks_nothing():
    text = summary(UNet(base_channels=4, depth=2), (1, 1, 16, 16), print_fn=None)
    assert not any(line.startswith("*") for line in text.splitlines())
