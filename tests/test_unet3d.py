"""UNet3D: the paper's layout and sizes (132x132x116 -> 44x44x28, actually run), equality with
its PyTorch twin (outputs, loss, every parameter gradient), gradcheck, the size check before
the first conv, and a short training run on synthetic cell volumes that learns."""

import numpy as np
import pytest

import tinyunet as tu
import tinyunet.functional as F
from tinyunet.data import SyntheticCellVolumes
from tinyunet.metrics import dice
from tinyunet.models import UNet3D
from tinyunet.optim import Adam


def test_the_papers_layout_and_sizes():
    """Çiçek et al. 2016, Fig. 1: in -> 32 -> 64 at the first level (the channels double before
    each pool), 256 -> 512 at the bottom, up-convolutions that keep 512 channels, 512 + 256 =
    768 into the deepest decoder level. At base 2 the same layout maps the paper's
    132x132x116 tile to 44x44x28."""
    paper = UNet3D(in_channels=3, num_classes=3)
    assert paper.config == dict(in_channels=3, num_classes=3, base_channels=32, depth=3,
                                padding="valid", norm="batch", skips=True)
    assert paper.encoder[0].conv1.weight.shape == (32, 3, 3, 3, 3)
    assert paper.encoder[0].conv2.weight.shape == (64, 32, 3, 3, 3)
    assert paper.bottleneck.conv2.weight.shape == (512, 256, 3, 3, 3)
    assert paper.ups[2].weight.shape == (512, 512, 2, 2, 2)  # ups.k arrives at level k
    assert paper.decoder[2].conv1.weight.shape == (256, 768, 3, 3, 3)
    assert paper.decoder[0].conv1.weight.shape == (64, 128 + 64, 3, 3, 3)
    assert paper.head.weight.shape == (3, 64, 1, 1, 1)
    # The paper counts 19,069,955 parameters: the same network without BatchNorm has 896 more,
    # exactly the biases of its three up-convolutions (512 + 256 + 128)
    plain = UNet3D(in_channels=3, num_classes=3, norm=None)
    assert sum(p.numel() for p in plain.parameters()) == 19_069_955 + 896
    assert sum(u.bias.numel() for u in plain.ups) == 896

    tu.manual_seed(0)
    small = UNet3D(in_channels=1, num_classes=3, base_channels=2)
    with tu.no_grad():
        y = small(tu.zeros(1, 1, 132, 132, 116))
    assert y.shape == (1, 3, 44, 44, 28)


def test_a_bad_size_fails_before_the_first_conv(monkeypatch):
    model = UNet3D(base_channels=1, depth=2)

    def first_conv_runs(*args, **kwargs):
        raise AssertionError("the first conv ran on an illegal size")

    monkeypatch.setattr(model.encoder[0].conv1, "forward", first_conv_runs)
    with pytest.raises(ValueError, match=r"UNet3D\(depth=2\): input size \(44, 45, 52\) is "
                       r"not legal for a depth-2 U-Net .* nearest legal sizes are "
                       r"\(44, 44, 52\) \(below\) and \(44, 48, 52\) \(above\)"):
        model(tu.zeros(1, 1, 44, 45, 52))
    with pytest.raises(ValueError, match=r"divisible by 2\*\*depth = 4; got \(8, 8, 6\)"):
        UNet3D(base_channels=1, depth=2, padding="same")(tu.zeros(1, 1, 8, 8, 6))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config, size", [
    (dict(padding="valid", norm="batch"), (44, 44, 52)),
    (dict(padding="same", norm=None), (8, 12, 8)),
    (dict(padding="same", norm="group"), (4, 8, 8)),
], ids=["valid-batch", "same", "same-group"])
def test_matches_pytorch_twin(torch, config, size, dtype):
    """Outputs, loss and every parameter gradient, the same to 1e-9 in float64. In float32
    each framework's gradients are held to the float64 ones instead of to each other: their
    roundings differ, and through BatchNorm's statistics and the pools' near-ties such
    differences grow to a few percent of a small entry in PyTorch's float32 gradients."""
    from tinyunet.torch_twins import twin_of

    def run(dtype):
        tu.manual_seed(1)
        model = UNet3D(in_channels=2, num_classes=3, base_channels=2, depth=2, **config)
        model = model.double() if dtype == np.float64 else model
        twin = twin_of(model)
        rng = np.random.default_rng(0)
        x = rng.standard_normal((2, 2, *size)).astype(dtype)
        out, out_t = model(tu.Tensor(x)), twin(torch.from_numpy(x))
        target = rng.integers(0, 3, size=out.shape[:1] + out.shape[2:])
        loss = F.cross_entropy(out, target)
        loss_t = torch.nn.functional.cross_entropy(out_t, torch.from_numpy(target))
        loss.backward()
        loss_t.backward()
        twin_params = dict(twin.named_parameters())
        grads = {n: (p.grad, twin_params[n].grad.numpy()) for n, p in model.named_parameters()}
        return (out.data, out_t.detach().numpy()), (loss.item(), loss_t.item()), grads

    (out, out_t), (loss, loss_t), grads = run(dtype)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(out, out_t, rtol=tol, atol=tol)
    np.testing.assert_allclose(loss, loss_t, rtol=tol)
    exact = grads if dtype == np.float64 else run(np.float64)[2]
    floor = max(np.abs(truth).max() for truth, _ in exact.values())  # some true gradients are 0
    for name, (ours, theirs) in grads.items():
        truth = exact[name][0]
        np.testing.assert_allclose(ours, truth, rtol=tol, atol=tol * floor, err_msg=name)
        if dtype == np.float64:  # the twins agree, gradient for gradient
            np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-12, err_msg=name)


def test_tiny_unet3d_passes_float64_gradcheck():
    tu.manual_seed(0)
    model = UNet3D(base_channels=1, depth=1, padding="same", norm=None).double()
    x = tu.Tensor(np.random.default_rng(0).standard_normal((1, 1, 2, 4, 2)), requires_grad=True)
    params = list(model.parameters())

    def f(x, *weights):
        return model(x)

    assert tu.gradcheck(f, (x, *params), atol=1e-5, rtol=1e-3)


def foreground_dice(model, volumes, masks):
    """Mean foreground Dice over the volumes. Dice sums over every voxel of a sample, so each
    volume's voxels are laid out as one (D*H, W) image for ``metrics.dice``."""
    model.eval()
    with tu.no_grad():
        pred = model(tu.Tensor(volumes)).data.argmax(axis=1)
    model.train()
    N, W = masks.shape[0], masks.shape[-1]
    return dice(pred.reshape(N, -1, W), masks.reshape(N, -1, W), num_classes=2,
                ignore_background=True)


def test_training_on_synthetic_cell_volumes_learns():
    tu.manual_seed(0)
    model = UNet3D(base_channels=4, depth=2, padding="same", norm="batch")
    train, val = SyntheticCellVolumes(50, size=16, seed=0), SyntheticCellVolumes(4, 16, seed=1)
    volumes, masks = (np.stack(a) for a in zip(*(val[i] for i in range(len(val)))))
    before = foreground_dice(model, volumes, masks)
    optimizer = Adam(model.parameters(), lr=0.01)
    losses = []
    for step in range(25):
        x, y = (np.stack(a) for a in zip(train[2 * step], train[2 * step + 1]))
        optimizer.zero_grad()
        loss = F.cross_entropy(model(tu.Tensor(x)), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    after = foreground_dice(model, volumes, masks)
    assert np.mean(losses[-5:]) < 0.5 * losses[0], losses
    assert before < 0.5 and after > 0.7 and after > before + 0.3, (before, after)


def test_synthetic_cell_volumes():
    data = SyntheticCellVolumes(3, size=(12, 16, 20), seed=2, num_classes=3, foreground=0.2)
    volume, mask = data[1]
    assert volume.shape == (1, 12, 16, 20) and volume.dtype == np.float32
    assert mask.shape == (12, 16, 20) and mask.dtype == np.int64
    assert 0.0 <= volume.min() and volume.max() <= 1.0
    assert set(np.unique(mask)) == {0, 1, 2} and (mask > 0).mean() >= 0.2
    assert volume[0][mask > 0].mean() > volume[0][mask == 0].mean() + 0.2  # cells are brighter
    np.testing.assert_array_equal(data[1][0], volume)  # item i is the same every time
    assert not np.array_equal(data[0][1], mask)
    with pytest.raises(ValueError, match=r"size must be an int or \(D, H, W\) of at least 8"):
        SyntheticCellVolumes(1, size=(4, 16, 16))
    with pytest.raises(IndexError, match="index 3 out of range for 3 items"):
        data[3]


def test_summary_command_traces_the_3d_unet(capsys):
    """``tinyunet summary --model unet3d``: the input gets three spatial axes, every stage is
    marked as changed (the dimension), and a bad size is named with the nearest legal ones."""
    from tinyunet import cli

    assert cli.main(["summary", "--model", "unet3d", "--base-channels", "2", "--depth", "2",
                     "--size", "44"]) == 0
    text = capsys.readouterr().out
    assert "(1, 1, 44, 44, 44)" in text and "* ups.1         ConvTranspose3d" in text
    assert "16 + 8 -> 24" in text and "* changed from the plain U-Net (UNet3D)" in text
    with pytest.raises(SystemExit, match=r"UNet3D\(depth=2\): input size \(45, 45, 45\) .* axes "
                       r"0, 1, 2: at level 0 the 2x max-pool meets an odd size 41; the nearest "
                       r"legal sizes are \(44, 44, 44\) \(below\) and \(48, 48, 48\) \(above\)"):
        cli.main(["summary", "--model", "unet3d", "--base-channels", "2", "--depth", "2",
                  "--size", "45"])
