"""The U-Net family: parameter counts, the lesson's size traces, equality with a PyTorch twin
(outputs, loss and every parameter gradient), gradcheck, and checkpoint round trips."""

import numpy as np
import pytest

import tinyunet as tu
import tinyunet.functional as F
from tinyunet.models import Classifier, EncoderDecoder, UNet, summary, trace


def n_params(model):
    return sum(p.numel() for p in model.parameters())


def test_reference_unet_has_the_published_parameter_count(torch):
    from tinyunet.torch_twins import UNet as TorchUNet

    assert n_params(UNet()) == 1_940_834
    assert sum(p.numel() for p in TorchUNet().parameters()) == 1_940_834


def test_original_paper_trace_572_to_388():
    rows = trace(UNet(base_channels=4, padding="valid"), (1, 1, 572, 572))
    assert rows[-1].output_shape == (1, 2, 388, 388)
    bottleneck = next(r for r in rows if r.name == "bottleneck")
    assert bottleneck.output_shape[-2:] == (28, 28)
    first_rung_up = next(r for r in rows if r.name == "skip.3")  # level 3, deepest rung
    assert first_rung_up.output_shape[-2:] == (56, 56)  # 64x64 encoder map cropped to 56x56
    crops = {r.name: r.crop for r in rows if r.name.startswith("skip.")}
    assert crops == {"skip.3": "crop 64->56", "skip.2": "crop 136->104",
                     "skip.1": "crop 280->200", "skip.0": "crop 568->392"}
    text = summary(UNet(base_channels=4, padding="valid"), (1, 1, 572, 572), print_fn=None)
    assert "crop 136->104" in text


def test_every_list_is_indexed_by_level():
    """encoder.k, pool.k, ups.k, skip.k and decoder.k all belong to level k (size H / 2**k), so
    the lesson's "decoder level 2" (1-based, its s2) is level 1 here on every list."""
    rows = trace(UNet(base_channels=4, depth=3), (1, 1, 32, 32))
    size = {r.name: r.output_shape[-1] for r in rows}
    for k in range(3):
        assert size[f"encoder.{k}"] == size[f"ups.{k}"] == size[f"skip.{k}"] \
            == size[f"decoder.{k}"] == 32 // 2**k
        assert size[f"pool.{k}"] == 32 // 2 ** (k + 1)  # pool.k leaves level k
    assert [r.name for r in rows if r.layer == "MaxPool2d"] == ["pool.0", "pool.1", "pool.2"]
    model = UNet(base_channels=4, depth=3)
    for k in range(3):  # decoder.k's block ends with the channels of encoder.k: c_k = 4 * 2**k
        assert model.decoder[k].conv2.weight.shape == model.encoder[k].conv2.weight.shape


def test_lesson_concat_256_plus_128_is_384_at_half_resolution():
    rows = trace(UNet(base_channels=64, up_mode="bilinear", depth=2), (1, 1, 64, 64))
    skip = next(r for r in rows if r.name == "skip.1")  # level 1, the first rung up
    assert skip.input_channels == [256, 128]
    assert skip.output_shape == (1, 384, 32, 32)
    text = summary(UNet(base_channels=64, up_mode="bilinear", depth=2), (1, 1, 64, 64),
                   print_fn=None)
    assert "256 + 128 -> 384" in text


def test_encoder_halves_size_and_doubles_channels():
    rows = trace(UNet(base_channels=8, depth=3), (2, 1, 32, 32))
    enc = [r.output_shape for r in rows if r.name.startswith("encoder.")]
    assert enc == [(2, 8, 32, 32), (2, 16, 16, 16), (2, 32, 8, 8)]
    dec = [r.output_shape for r in rows if r.name.startswith("decoder.")]
    assert dec == [(2, 32, 8, 8), (2, 16, 16, 16), (2, 8, 32, 32)]


def test_segmenter_keeps_pixels_classifier_collapses_them():
    x = tu.randn(2, 1, 32, 32)
    assert UNet(base_channels=4, depth=2, num_classes=3)(x).shape == (2, 3, 32, 32)
    assert Classifier(base_channels=4, depth=2, num_classes=3)(x).shape == (2, 3)


def test_encoder_decoder_has_no_skips_and_fewer_decoder_inputs():
    plain = EncoderDecoder(base_channels=4, depth=2)
    assert plain.config["skips"] is False
    assert plain.decoder[1].conv1.weight.shape[1] == 8  # only the upsampled map, no skip
    assert UNet(base_channels=4, depth=2).decoder[1].conv1.weight.shape[1] == 16


CONFIGS = [
    dict(up_mode="transposed", padding="same", norm=None),
    dict(up_mode="bilinear", padding="same", norm=None),
    dict(up_mode="nearest", padding="same", norm="batch"),
    dict(up_mode="transposed", padding="valid", norm=None),
    dict(up_mode="bilinear", padding="valid", norm="group"),
    dict(up_mode="transposed", padding="same", norm="group", skips=False),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(map(str, c.values())))
def test_unet_matches_pytorch_twin(torch, config):
    from tinyunet.torch_twins import twin_of

    tu.manual_seed(1)
    model = UNet(in_channels=2, num_classes=3, base_channels=4, depth=2, **config)
    twin = twin_of(model)
    size = 44 if config["padding"] == "valid" else 20
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, size, size)).astype(np.float32)

    out = model(tu.Tensor(x))
    out_t = twin(torch.from_numpy(x))
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), rtol=1e-4, atol=1e-5)

    target = rng.integers(0, 3, size=out.shape[:1] + out.shape[2:])
    loss = F.cross_entropy(out, target)
    loss_t = torch.nn.functional.cross_entropy(out_t, torch.from_numpy(target))
    np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=1e-5)
    loss.backward()
    loss_t.backward()
    twin_params = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, twin_params[name].grad.numpy(), rtol=1e-3,
                                   atol=1e-5, err_msg=name)


def test_tiny_unet_passes_float64_gradcheck():
    tu.manual_seed(0)
    model = UNet(in_channels=1, num_classes=2, base_channels=2, depth=1).double()
    x = tu.Tensor(np.random.default_rng(0).standard_normal((1, 1, 4, 4)), requires_grad=True)
    params = list(model.parameters())

    def f(x, *weights):
        return model(x)

    assert tu.gradcheck(f, (x, *params), atol=1e-5, rtol=1e-3)


def test_checkpoint_round_trip_gives_identical_outputs_and_training(tmp_path):
    tu.manual_seed(0)
    model = UNet(base_channels=4, depth=2)
    x = tu.randn(2, 1, 16, 16)
    target = np.random.default_rng(0).integers(0, 2, (2, 16, 16))
    opt = tu.optim.Adam(model.parameters(), lr=1e-2)

    def step(m, o):
        o.zero_grad()
        loss = F.cross_entropy(m(x), target)
        loss.backward()
        o.step()
        return loss.item()

    step(model, opt)
    path = tmp_path / "ck.safetensors"
    tu.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
             "config": model.config}, path)

    blob = tu.load(path)
    clone = UNet(**blob["config"])
    clone.load_state_dict(blob["model"])
    clone_opt = tu.optim.Adam(clone.parameters(), lr=1e-2)
    clone_opt.load_state_dict(blob["optimizer"])
    np.testing.assert_array_equal(clone(x).data, model(x).data)
    for _ in range(2):
        assert step(clone, clone_opt) == step(model, opt)
    for (name, a), (_, b) in zip(model.named_parameters(), clone.named_parameters()):
        np.testing.assert_array_equal(a.data, b.data, err_msg=name)


def test_loading_into_a_mismatched_model_names_the_keys():
    small, big = UNet(base_channels=4, depth=2), UNet(base_channels=8, depth=2)
    with pytest.raises(Exception, match=r"(?s)encoder\.0\.conv1\.weight.*\(8, 1, 3, 3\)"):
        big.load_state_dict(small.state_dict())
    deeper = UNet(base_channels=4, depth=3)
    with pytest.raises(Exception, match="encoder.2"):
        deeper.load_state_dict(small.state_dict())


def test_bad_configuration_errors():
    with pytest.raises(ValueError, match="up_mode"):
        UNet(up_mode="pixelshuffle")
    with pytest.raises(ValueError, match="padding"):
        UNet(padding="full")
    with pytest.raises(ValueError, match="norm"):
        UNet(norm="layer")


def test_same_padding_unet_names_the_divisibility_it_needs():
    with pytest.raises(ValueError, match=r"divisible by 2\*\*depth = 4; got \(20, 18\)"):
        UNet(base_channels=2, depth=2)(tu.zeros(1, 1, 20, 18))
