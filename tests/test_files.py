"""Image files as microscopists have them: TIFF in every bit depth, stacks, PNG; and the
per-image percentile normalisation that turns their values into the network's input."""

import numpy as np
import pytest
import tifffile
from PIL import Image

from tinyunet.data.files import (
    DataError,
    bit_depth,
    read_image,
    read_mask,
    read_volume,
    to_nchw,
    write_labels,
    write_tiff,
)
from tinyunet.data.normalize import bitdepth_normalize, normalize, percentile_normalize

DTYPES = [np.uint8, np.uint16, np.uint32, np.int16, np.float32, np.float64]


def _random(rng, shape, dtype):
    if np.dtype(dtype).kind == "f":
        return rng.normal(100.0, 30.0, size=shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tiff_round_trips_every_bit_depth_single_and_stack(tmp_path, rng, dtype):
    image = _random(rng, (13, 17), dtype)
    write_tiff(tmp_path / "one.tif", image)
    back = read_image(tmp_path / "one.tif")
    assert back.shape == (1, 1, 13, 17) and back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back[0, 0], image)

    stack = _random(rng, (4, 13, 17), dtype)                    # 4 pages: 4 samples
    write_tiff(tmp_path / "stack.tiff", stack)
    back = read_image(tmp_path / "stack.tiff")
    assert back.shape == (4, 1, 13, 17) and back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back[:, 0], stack)


def test_tiff_axes_rgb_channels_and_volumes(tmp_path, rng):
    rgb = rng.integers(0, 256, (9, 11, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    np.testing.assert_array_equal(read_image(tmp_path / "rgb.tif")[0], rgb.transpose(2, 0, 1))

    two = rng.integers(0, 4096, (2, 9, 11), dtype=np.uint16)     # 2 channels, one sample
    tifffile.imwrite(tmp_path / "cyx.tif", two, metadata={"axes": "CYX"})
    np.testing.assert_array_equal(read_image(tmp_path / "cyx.tif"), two[None])

    volume = rng.integers(0, 4096, (5, 9, 11), dtype=np.uint16)  # ImageJ: 5 z-planes
    tifffile.imwrite(tmp_path / "zyx.tif", volume, imagej=True, metadata={"axes": "ZYX"})
    assert read_image(tmp_path / "zyx.tif").shape == (5, 1, 9, 11)   # 2-D: planes as samples
    np.testing.assert_array_equal(read_volume(tmp_path / "zyx.tif"), volume[None])  # (C, Z, ..)
    write_tiff(tmp_path / "pages.tif", volume)                  # plain pages read as Z too
    np.testing.assert_array_equal(read_volume(tmp_path / "pages.tif"), volume[None])

    zcyx = rng.integers(0, 4096, (3, 2, 9, 11), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "zcyx.tif", zcyx, imagej=True, metadata={"axes": "ZCYX"})
    np.testing.assert_array_equal(read_volume(tmp_path / "zcyx.tif"), zcyx.transpose(1, 0, 2, 3))


def test_to_nchw_orders_any_axes():
    a = np.arange(2 * 3 * 4 * 5).reshape(2, 3, 4, 5)            # T, Y, X, S
    out = to_nchw(a, "TYXS")
    assert out.shape == (2, 5, 3, 4)
    np.testing.assert_array_equal(out[1, 2], a[1, :, :, 2])
    with pytest.raises(DataError, match=r"axes 'TYS' do not describe an image of shape"):
        to_nchw(a[..., 0], "TYS")


@pytest.mark.parametrize("bits", [8, 16])
def test_png_reads_as_stored(tmp_path, rng, bits):
    dtype = np.uint8 if bits == 8 else np.uint16
    image = _random(rng, (7, 6), dtype)
    Image.fromarray(image).save(tmp_path / "a.png")
    back = read_image(tmp_path / "a.png")
    assert back.dtype == dtype
    np.testing.assert_array_equal(back[0, 0], image)


def test_masks_and_labels(tmp_path, rng):
    labels = rng.integers(0, 300, (6, 8)).astype(np.uint16)
    path = write_labels(tmp_path / "labels.tif", labels)
    assert tifffile.imread(path).dtype == np.uint16              # a 16-bit label image
    np.testing.assert_array_equal(read_mask(path), labels[None])
    many = np.arange(70_000, dtype=np.int64).reshape(350, 200)
    assert tifffile.imread(write_labels(tmp_path / "many.tif", many)).dtype == np.uint32
    write_tiff(tmp_path / "frac.tif", np.full((3, 3), 0.5, np.float32))
    with pytest.raises(DataError, match=r"frac.tif holds non-integer values"):
        read_mask(tmp_path / "frac.tif")
    (tmp_path / "broken.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(DataError, match=r"broken.tif: cannot be read as an image"):
        read_image(tmp_path / "broken.tif")


def test_bit_depth_names():
    assert [bit_depth(d) for d in (np.uint8, np.uint16, np.float32, np.int16, bool)] == [
        "8-bit", "16-bit", "32-bit float", "16-bit signed", "1-bit"]


# ---------------------------------------------------------------- normalisation


def test_percentile_normalisation_matches_a_hand_computation():
    # 1000 values 0..999: the 1st percentile (linear interpolation, NumPy's default) is
    # 0.01 * 999 = 9.99, the 99.8th 0.998 * 999 = 997.002, so x' = (x - 9.99) / 987.012
    image = np.arange(1000, dtype=np.uint16).reshape(1, 20, 50)
    out = percentile_normalize(image, 1.0, 99.8)
    assert out.dtype == np.float32 and out.shape == (1, 20, 50)
    assert out[0, 0, 0] == pytest.approx((0 - 9.99) / 987.012, rel=1e-6)
    assert out[0, 19, 49] == pytest.approx((999 - 9.99) / 987.012, rel=1e-6)
    assert out[0, 10, 0] == pytest.approx((500 - 9.99) / 987.012, rel=1e-6)
    # nothing is clipped: the brightest 0.2 % lie above 1, the darkest 1 % below 0
    assert (out > 1).sum() == 2 and (out < 0).sum() == 10


def test_percentile_normalisation_is_per_image_and_channel(rng):
    a = rng.integers(0, 4000, (2, 16, 16)).astype(np.uint16)
    a[1] = a[0] * 10 + 500                                       # channel 1: 10x brighter
    out = normalize(a, "percentile", 1.0, 99.8)
    for c in range(2):
        lo, hi = np.percentile(a[c].astype(float), [1.0, 99.8])
        np.testing.assert_allclose(out[c], (a[c] - lo) / (hi - lo), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out[0], out[1], atol=1e-5)        # the same once scaled
    np.testing.assert_array_equal(percentile_normalize(np.full((4, 4), 7)), 0.0)   # flat
    with pytest.raises(ValueError, match="need 0 <= low < high <= 100"):
        percentile_normalize(a, 50, 40)


def test_bitdepth_and_none():
    np.testing.assert_allclose(bitdepth_normalize(np.array([0, 255], np.uint8)), [0.0, 1.0])
    np.testing.assert_allclose(bitdepth_normalize(np.array([0, 65535], np.uint16)), [0, 1])
    np.testing.assert_array_equal(normalize(np.array([3.5]), "none"), [3.5])
    with pytest.raises(ValueError, match="unknown method 'zscore'"):
        normalize(np.zeros((2, 2)), "zscore")
