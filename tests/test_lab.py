"""The lesson's claims, as numbers: each experiment on small, fast settings, and its pieces.

The training experiments run tiny models (base 4, 16-32 px, tens of steps); what they assert
is the direction of each claim, which holds with margin at those settings (seeded).
"""

import argparse
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinyunet as tu
from tinyunet import nn
from tinyunet.lab import EXPERIMENTS, run
from tinyunet.lab.blur import blur
from tinyunet.lab.boundary import boundary_f1, edge_sharpness
from tinyunet.lab.checkerboard import checkerboard, unet_with
from tinyunet.lab.cli import add_lab_parser
from tinyunet.lab.imbalance import all_background_curve, imbalance, lesson_case
from tinyunet.lab.overlap import (
    coverage_map_1d,
    coverage_map_2d,
    coverage_summary,
    input_gradient_map,
    interior,
)
from tinyunet.lab.phase_gain import (
    measured_phase_gains,
    phase_gain_spread,
    phase_gains,
    transposed_phase_gains,
)
from tinyunet.lab.shapes import shapes
from tinyunet.lab.skips import skips
from tinyunet.lab.spectrum import UPSAMPLERS, make_upsampler, nyquist_share, uniform_weights_
from tinyunet.lab.trace import trace
from tinyunet.nn.upsample import SubPixelUpsample

# ----- checkerboard: coverage -----------------------------------------------------------------


def test_coverage_of_the_lesson_kernels():
    k3 = coverage_summary(3, 2)
    assert k3["period_1d"] == [2, 1]  # alternates 2, 1
    assert k3["values_2d"] == [1, 2, 4] and k3["max_over_min_2d"] == 4.0
    for k in (4, 2):
        assert coverage_summary(k, 2)["uniform"]
    inner = interior(coverage_map_1d(3, 2), 3, 2)
    assert set(inner[::2]) | set(inner[1::2]) == {1.0, 2.0}
    assert len(set(inner[::2])) == 1 and len(set(inner[1::2])) == 1  # strictly alternating


@given(k=st.integers(1, 9), s=st.integers(1, 5))
def test_interior_is_uniform_exactly_when_the_stride_divides_the_kernel(k, s):
    summary = coverage_summary(k, s)
    assert summary["uniform"] == (k % s == 0)
    # and each phase p is covered ceil((k - p) / s) times, in 1-D and (as a product) in 2-D
    assert summary["period_1d"] == [-(-(k - p) // s) for p in range(s)]
    inner_2d = interior(coverage_map_2d(k, s), k, s)
    counts = {a * b for a in summary["period_1d"] for b in summary["period_1d"]}
    assert set(np.unique(inner_2d).astype(int)) == counts


def test_the_input_gradient_of_a_stride_2_kernel_3_conv_is_the_same_checkerboard():
    grad = input_gradient_map(3, 2)
    assert sorted(set(np.unique(grad))) == [1.0, 2.0, 4.0]
    np.testing.assert_array_equal(grad[::2, ::2], 4.0)  # the same 4-2-1 tiling as coverage
    np.testing.assert_array_equal(input_gradient_map(4, 2)[1:-1, 1:-1], 4.0)  # even: uniform


# ----- checkerboard: phase gains ---------------------------------------------------------------


@pytest.mark.parametrize("k, p, op", [(2, 0, 0), (3, 1, 1), (4, 1, 0), (5, 2, 1)])
def test_phase_gains_formula_matches_a_measurement(k, p, op):
    tu.manual_seed(k)
    layer = nn.ConvTranspose2d(3, 2, k, stride=2, padding=p, output_padding=op)
    formula = phase_gains(layer)
    measured = measured_phase_gains(layer, 3)
    # padding p shifts which output phase the taps of residue a land on: a -> (a - p) mod 2
    np.testing.assert_allclose(measured, np.roll(formula, -p, axis=(2, 3)), atol=1e-12)


def test_subpixel_phase_gains_formula_matches_a_measurement():
    tu.manual_seed(0)
    layer = SubPixelUpsample(3, 2, icnr=False)
    np.testing.assert_allclose(measured_phase_gains(layer, 3), phase_gains(layer), atol=1e-12)


def test_spread_is_zero_exactly_when_a_constant_input_gives_a_constant_output():
    rng = np.random.default_rng(0)
    balanced = rng.standard_normal((1, 1, 4, 4))
    for a in range(2):
        for b in range(2):  # shift one tap of each phase so that every phase gain is 1
            balanced[0, 0, a, b] += 1.0 - transposed_phase_gains(balanced, 2)[0, 0, a, b]
    for weight, constant in ((balanced, True), (rng.standard_normal((1, 1, 4, 4)), False)):
        layer = nn.ConvTranspose2d(1, 1, 4, stride=2, padding=1, bias=False).double()
        layer.weight.data[...] = weight
        y = layer(np.ones((1, 1, 8, 8))).data[0, 0, 2:-2, 2:-2]
        assert (np.ptp(y) < 1e-12) == constant
        assert (phase_gain_spread(phase_gains(layer)) < 1e-12) == constant


def test_resizes_and_icnr_have_zero_spread_random_transposed_convs_do_not():
    tu.manual_seed(0)
    for name in ("nearest", "bilinear", "resize_conv", "subpixel_icnr"):
        assert phase_gain_spread(phase_gains(make_upsampler(name, 4, 4), 4)) < 1e-12
    for name in ("subpixel", "tconv_k2s2", "tconv_k4s2", "tconv_k3s2"):
        assert phase_gain_spread(phase_gains(make_upsampler(name, 4, 4), 4)) > 0.5


# ----- checkerboard: the Nyquist share ---------------------------------------------------------


def test_nyquist_share_separates_smooth_from_checkerboard():
    C = 4
    shares = {name: nyquist_share(uniform_weights_(make_upsampler(name, C, C)), C, size=16,
                                  bandwidth=2) for name in UPSAMPLERS}
    assert shares["bilinear"] < 1e-4
    assert shares["nearest"] < 0.02  # a small leak beside Nyquist, none at it
    assert shares["tconv_k3s2"] > 0.1  # constant kernel: only coverage differs, and it shows
    assert shares["tconv_k4s2"] < 0.01 and shares["tconv_k2s2"] < 0.01


def test_nyquist_share_of_a_pure_checkerboard_is_one():
    class Checkerboard(nn.Module):  # nearest upsampling times (-1)^(i + j)
        def forward(self, x):
            y = tu.functional.interpolate(x, scale_factor=2).data
            i, j = np.indices(y.shape[-2:])
            return tu.Tensor(y * (-1.0) ** (i + j))

    assert nyquist_share(Checkerboard(), 2, size=16, bandwidth=2) > 0.99


def test_checkerboard_experiment_numbers():
    n = checkerboard(size=16, base_channels=4, depth=2, steps=20, batch_size=4, n_train=16,
                     seeds=3, channels=4, probe_size=16, bandwidth=2, track_every=10,
                     trained=("resize_conv", "subpixel_icnr", "tconv_k3s2")).numbers
    assert n["coverage"]["k3s2"]["max_over_min_2d"] == 4.0
    assert n["coverage"]["k4s2"]["uniform"] and n["coverage"]["k2s2"]["uniform"]
    assert n["coverage_property"]["uniform_iff_stride_divides_kernel"]
    assert n["input_gradient_k3s2"]["values"] == [1.0, 2.0, 4.0]
    ny = n["nyquist_share"]
    # coverage decides with constant kernels ...
    assert ny["tconv_k3s2"]["uniform_kernel"] > 0.1
    assert ny["tconv_k4s2"]["uniform_kernel"] < 0.01
    # ... but random taps put a checkerboard into every learned upsampler, coverage or not
    for name in ("subpixel", "tconv_k2s2", "tconv_k4s2", "tconv_k3s2"):
        assert ny[name]["random_init_mean"] > 0.3
    for name in ("nearest", "resize_conv", "subpixel_icnr"):
        assert ny[name]["random_init_mean"] < 0.05
    assert ny["bilinear"]["random_init_mean"] < 1e-4
    assert ny["nearest"]["trained"] is None and ny["bilinear"]["trained"] is None  # no weights
    spread = n["phase_gain_spread"]
    assert max(max(layers) for layers in spread["resize_conv"]["per_layer"]) < 1e-9
    assert spread["subpixel_icnr"]["initial"] == 0.0
    assert spread["subpixel_icnr"]["final"] > 1e-3  # learned weights bring it back
    assert ny["subpixel_icnr"]["trained"] > ny["subpixel_icnr"]["random_init_mean"]
    assert spread["tconv_k3s2"]["initial"] > 1.0
    assert n["icnr_max_error"]["icnr"] < 1e-12 and n["icnr_max_error"]["tiled_wrong"] > 0.1


def test_unet_with_swaps_the_upsamplers_and_keeps_the_shapes():
    tu.manual_seed(0)
    for name in ("bilinear", "subpixel_icnr", "tconv_k3s2"):
        model = unet_with(name, 4, 2)
        assert model(np.zeros((1, 1, 16, 16), np.float32)).shape == (1, 2, 16, 16)
    assert isinstance(unet_with("subpixel", 4, 2).ups[0], SubPixelUpsample)


# ----- blur, skips, imbalance ----------------------------------------------------------------


def test_boundary_measures():
    mask = np.zeros((8, 8), np.int64)
    mask[2:6, 2:6] = 1
    assert edge_sharpness(mask.astype(float), mask) == 1.0
    assert edge_sharpness(np.full((8, 8), 0.5), mask) == 0.0
    assert boundary_f1(mask, mask) == 1.0
    assert boundary_f1(np.zeros_like(mask), mask) == 0.0
    shifted = np.roll(mask, 1, axis=1)
    assert boundary_f1(shifted, mask, tolerance=1) == 1.0
    assert boundary_f1(np.roll(mask, 3, axis=1), mask, tolerance=1) < 0.6


def test_blur_sharpness_falls_as_the_bottleneck_deepens():
    rows = blur(size=32, depths=(1, 2, 3, 4), base_channels=4, steps=100, batch_size=8,
                lr=1e-2, n_train=32, n_test=8).numbers["per_depth"]
    sharpness = [r["edge_sharpness"] for r in rows]
    assert all(a > b for a, b in zip(sharpness, sharpness[1:])), sharpness
    assert rows[0]["dice"] > rows[-1]["dice"] + 0.3
    assert [r["bottleneck"] for r in rows] == [16, 8, 4, 2]


def test_skips_win():
    outcome = skips(size=32, depth=2, base_channels=4, steps=60, n_train=32, n_test=8)
    n = outcome.numbers
    on, off = n["skips_on"], n["skips_off"]
    bars = outcome.draw().axes[-1]  # the figure draws all three scores, edge sharpness too
    assert [t.get_text() for t in bars.get_xticklabels()] == ["Dice", "boundary F1",
                                                              "edge sharpness"]
    assert on["dice"] > off["dice"] + 0.05
    assert on["boundary_f1"] > off["boundary_f1"] + 0.05
    assert on["edge_sharpness"] > off["edge_sharpness"]


def test_the_lesson_case_and_the_all_background_curve():
    assert lesson_case() == {"pixels": 100, "tumor_pixels": 4, "pixel_accuracy": 0.96,
                             "dice": 0.0}
    curve = all_background_curve(20)
    np.testing.assert_allclose(curve["pixel_accuracy"], 1 - np.array(curve["tumor_fraction"]))
    assert curve["dice"] == [0.0] * len(curve["dice"])
    assert curve["tumor_fraction"] == sorted(curve["tumor_fraction"])


def test_imbalance_cross_entropy_finds_nothing_where_dice_finds_cells():
    n = imbalance(size=32, base_channels=4, steps=60, n_train=32, n_test=16,
                  norms=(None,)).numbers
    t = n["training"]["no_norm"]
    assert 0.01 < n["true_foreground"] < 0.02
    assert t["cross_entropy"]["predicted_foreground"] < 0.001  # it finds nothing ...
    assert t["cross_entropy"]["dice"] < 0.05
    assert t["cross_entropy"]["pixel_accuracy"] > 0.97  # ... while its accuracy looks fine
    assert t["dice"]["predicted_foreground"] > 0.005 and t["dice"]["dice"] > 0.1
    assert n["all_background_on_test"]["dice"] == 0.0


# ----- shapes, trace ---------------------------------------------------------------------------


def test_shapes_one_label_per_image_one_per_pixel():
    n = shapes(size=32, depth=2, base_channels=4, steps=0, n_train=2).numbers
    assert n["input_shape"] == [1, 1, 32, 32]
    assert n["classifier_output_shape"] == [1, 2]
    assert n["segmenter_output_shape"] == [1, 2, 32, 32]
    assert n["segmenter_values_per_image"] == 2 * 32 * 32
    assert sum(n["classifier_probabilities"]) == pytest.approx(1.0, abs=1e-6)


def test_trace_halves_down_and_doubles_up():
    n = trace(size=32, depth=3, base_channels=4).numbers
    assert n["encoder"] == [{"size": 32, "channels": 4}, {"size": 16, "channels": 8},
                            {"size": 8, "channels": 16}]
    assert n["bottleneck"] == {"size": 4, "channels": 32}
    assert n["decoder"] == [{"size": 8, "channels": 16}, {"size": 16, "channels": 8},
                            {"size": 32, "channels": 4}]
    assert n["output_shape"] == [1, 2, 32, 32]
    assert (n["input_positions"], n["bottleneck_positions"]) == (1024, 16)


# ----- the registry, run() and the command line ----------------------------------------------


def test_registry_and_settings_errors():
    assert list(EXPERIMENTS) == ["shapes", "trace", "checkerboard", "blur", "skips", "imbalance"]
    with pytest.raises(TypeError, match=r"unknown setting\(s\) \['depht'\]"):
        trace(depht=3)
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        run("nope", "unused")


def test_full_settings_only_change_known_settings():
    import sys

    for name, fn in EXPERIMENTS.items():
        module = sys.modules[fn.__module__]
        assert set(module.FULL) <= set(module.DEFAULT), name


def test_run_writes_the_figure_and_the_numbers(tmp_path):
    numbers = run("trace", tmp_path / "out")
    assert json.loads((tmp_path / "out" / "trace.json").read_text()) == numbers
    png = (tmp_path / "out" / "trace.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_cli_lists_the_experiments_and_runs_one(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="tinyunet")
    add_lab_parser(parser.add_subparsers())
    with pytest.raises(SystemExit):
        parser.parse_args(["lab", "--help"])
    help_text = capsys.readouterr().out
    for name in EXPERIMENTS:
        assert name in help_text
    args = parser.parse_args(["lab", "trace", "--out", str(tmp_path), "--seed", "3"])
    assert args.run(args) == 0
    assert json.loads((tmp_path / "trace.json").read_text())["seed"] == 3
    assert "bottleneck_positions: 256" in capsys.readouterr().out
    args = parser.parse_args(["lab", "trace", "--out", str(tmp_path), "--set", "depth=2",
                              "--set", "size=64"])
    assert args.run(args) == 0
    assert json.loads((tmp_path / "trace.json").read_text())["bottleneck"]["size"] == 16
    args = parser.parse_args(["lab", "trace", "--out", str(tmp_path), "--set", "dpth=2"])
    with pytest.raises(SystemExit, match=r"unknown setting\(s\) \['dpth'\]"):
        args.run(args)
