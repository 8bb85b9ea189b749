"""size_plan: the papers' sizes, the closed form of the legal sizes, agreement with the models'
actual shapes, the table, and errors that name the nearest legal sizes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyunet as tu
from tinyunet.models import UNet, size_plan
from tinyunet.models.size_plan import legal_size


def test_the_papers_sizes():
    plan = size_plan(572, depth=4)  # Ronneberger et al. 2015, Fig. 1
    assert plan.output == 388
    assert [lv.down for lv in plan.levels] == [(572, 568), (284, 280), (140, 136), (68, 64)]
    assert plan.bottleneck == (32, 28)
    assert [lv.up for lv in plan.levels] == [(392, 388), (200, 196), (104, 100), (56, 52)]
    assert [lv.crop for lv in plan.levels] == [176, 80, 32, 8]  # 568 -> 392: 88 per side
    plan3d = size_plan((132, 132, 116), depth=3, dims=3)  # Çiçek et al. 2016, Fig. 1
    assert plan3d.output == (44, 44, 28)
    assert plan3d.bottleneck == ((13, 13, 11), (9, 9, 7))
    assert size_plan(132, depth=3, dims=3).output == 44  # an int stays an int


def test_same_padding_keeps_the_size_and_needs_multiples_of_2_to_the_depth():
    plan = size_plan((64, 48), depth=3, padding="same")
    assert plan.output == (64, 48) and plan.bottleneck == ((8, 6), (8, 6))
    assert all(lv.crop == (0, 0) for lv in plan.levels)
    with pytest.raises(ValueError, match=r"divisible by 2\*\*depth = 8; got \(64, 44\); the "
                       r"nearest legal sizes are \(64, 40\) \(below\) and \(64, 48\) \(above\)"):
        size_plan((64, 44), depth=3, padding="same")


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_the_closed_form_of_the_legal_valid_sizes(depth):
    """The module docstring's formula: n = 2**D b + 2**(D+3) - 4, b >= 4 (b >= 3 for D = 1)."""
    b_min = 3 if depth == 1 else 4
    formula = {2**depth * b + 2 ** (depth + 3) - 4 for b in range(b_min, 40)}
    limit = 2**depth * 40 + 2 ** (depth + 3) - 4
    legal = set()
    for n in range(1, limit):
        try:
            size_plan(n, depth)
            legal.add(n)
        except ValueError:
            pass
    assert legal == formula


@pytest.mark.parametrize("size, depth, message", [
    (571, 4, r"input size 571 is not legal for a depth-4 U-Net with 'valid' convolutions: at "
             r"level 0 the 2x max-pool meets an odd size 567; the nearest legal sizes are 556 "
             r"\(below\) and 572 \(above\)"),
    (100, 4, r"there is no legal size below it; the nearest above is 188"),
    ((132, 133, 116), 3, r"axis 1: at level 0 the 2x max-pool meets an odd size 129; the nearest "
                         r"legal sizes are \(132, 132, 116\) \(below\) and \(132, 140, 116\)"),
])
def test_an_illegal_size_names_the_nearest_legal_ones(size, depth, message):
    dims = len(size) if isinstance(size, tuple) else 2
    with pytest.raises(ValueError, match=message):
        size_plan(size, depth, dims=dims)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"input size \(64, 64\) has 2 axes but dims=3"):
        size_plan((64, 64), dims=3)
    with pytest.raises(ValueError, match="padding must be 'same' or 'valid'"):
        size_plan(64, padding="full")


@settings(max_examples=6)
@given(depth=st.integers(1, 3), b=st.integers(4, 6), extra=st.integers(0, 1))
def test_the_plan_matches_the_unets_shapes(depth, b, extra):
    """A 'valid' UNet's output on a legal size is the plan's; one voxel more fails before the
    first conv with the plan's message."""
    n = 2**depth * b + 2 ** (depth + 3) - 4
    model = UNet(base_channels=1, depth=depth, padding="valid")
    with tu.no_grad():
        if extra:
            with pytest.raises(ValueError, match=rf"UNet\(depth={depth}\): input size \({n}, "
                               rf"{n + 1}\) is not legal .* nearest legal sizes are \({n}, "
                               rf"{n}\) \(below\)"):
                model(tu.zeros(1, 1, n, n + 1))
        else:
            assert model(tu.zeros(1, 1, n, n)).shape[2:] == size_plan((n, n), depth).output


def test_the_table():
    text = str(size_plan(572, depth=4))
    assert text.splitlines()[0] == ("U-Net size plan: input 572, depth 4, 'valid' "
                                    "convolutions, 2-D")
    assert "572 -> 568" in text and "| 88 " in text and "392 -> 388" in text
    assert text.splitlines()[-2].startswith("4 ") and "(bottleneck)" in text
    assert text.splitlines()[-1] == "output 388"
    assert np.all([" | " in line for line in text.splitlines()[1:-1]])


def test_legal_size_keeps_a_legal_size_and_moves_up_to_the_next():
    assert legal_size(572) == 572 and legal_size(570) == 572 and legal_size(128, 3) == 132
    assert legal_size(100, 4, "same") == 112 and legal_size(128, 4, "same") == 128
