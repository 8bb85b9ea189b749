"""The data package: synthetic cells, border weights, PNG folders, augmentation, the loader."""

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from tinyunet.data import (
    BrightnessContrast,
    Compose,
    DataLoader,
    ElasticDeform,
    FolderDataset,
    RandomFlip,
    RandomRot90,
    SyntheticCells,
    class_balance_weights,
    distance_transform,
    gaussian_blur,
    label_components,
    unet_weight_map,
)
from tinyunet.data.augment import (
    RandomCrop,
    cubic_upsample_matrix,
    cubic_weights,
    warp_bilinear,
    warp_nearest,
)
from tinyunet.data.files import DataError
from tinyunet.data.synthetic import boundary


def dice(a, b):
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    return 2 * (a & b).sum() / (a.sum() + b.sum())


# ---------------------------------------------------------------- synthetic cells


@pytest.mark.parametrize("num_classes", [2, 3])
def test_synthetic_shapes_dtypes_values(num_classes):
    ds = SyntheticCells(4, size=(64, 80), num_classes=num_classes, instances=True)
    assert len(ds) == 4
    for i in range(len(ds)):
        image, mask, labels = ds[i]
        assert image.shape == (1, 64, 80) and image.dtype == np.float32
        assert mask.shape == (64, 80) and mask.dtype == np.int64
        assert labels.shape == (64, 80) and labels.dtype == np.int32
        assert 0.0 <= image.min() and image.max() <= 1.0
        assert set(np.unique(mask)) <= set(range(num_classes))
        np.testing.assert_array_equal(mask > 0, labels > 0)
    assert len(SyntheticCells(2)[0]) == 2                      # no instance labels by default


def test_synthetic_is_deterministic_per_seed_and_index():
    a, b = SyntheticCells(10, size=48, seed=3), SyntheticCells(1000, size=48, seed=3)
    for x, y in zip(a[7], b[7]):                               # item 7 alone, other n
        np.testing.assert_array_equal(x, y)
    for x, y in zip(a[7], a[7]):
        np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(a[-3][0], a[7][0])
    assert not np.array_equal(a[7][0], a[6][0])
    assert not np.array_equal(a[7][0], SyntheticCells(10, size=48, seed=4)[7][0])


@pytest.mark.parametrize("target", [0.02, 0.3])
def test_synthetic_foreground_fraction_lands_near_target(target):
    ds = SyntheticCells(8, size=128, foreground=target)
    fractions = np.array([(ds[i][1] > 0).mean() for i in range(len(ds))])
    assert np.all(np.abs(fractions - target) <= 0.15 * target), fractions
    assert abs(fractions.mean() - target) <= 0.05 * target, fractions


def test_synthetic_cells_brighter_but_not_threshold_able():
    ds = SyntheticCells(8, size=96, seed=1)
    images = np.stack([ds[i][0][0] for i in range(len(ds))])
    masks = np.stack([ds[i][1] for i in range(len(ds))]).astype(bool)
    assert images[masks].mean() > images[~masks].mean() + 0.15
    best = max(dice(images > t, masks) for t in np.linspace(0, 1, 51))
    assert 0.5 < best < 0.93                                   # context is needed for > 0.9


def test_synthetic_cells_touch_and_boundary_class_separates_them():
    ds3 = SyntheticCells(6, size=96, num_classes=3, instances=True, foreground=0.35, seed=2)
    touching = 0
    for i in range(len(ds3)):
        _, mask, labels = ds3[i]
        # every pair of 4-neighbours in two different cells is boundary on both sides
        for a, b, ma, mb in ((labels[:-1], labels[1:], mask[:-1], mask[1:]),
                             (labels[:, :-1], labels[:, 1:], mask[:, :-1], mask[:, 1:])):
            contact = (a > 0) & (b > 0) & (a != b)
            touching += contact.sum()
            assert np.all(ma[contact] == 2) and np.all(mb[contact] == 2)
        np.testing.assert_array_equal(mask == 2, boundary(labels))
        assert (mask == 1).sum() > (mask == 2).sum()           # a rim, not the whole cell
    assert touching > 0                                        # cells do touch


def test_synthetic_rejects_bad_arguments():
    with pytest.raises(ValueError, match="num_classes must be 2"):
        SyntheticCells(2, num_classes=4)
    with pytest.raises(ValueError, match="foreground is a fraction"):
        SyntheticCells(2, foreground=1.5)
    with pytest.raises(ValueError, match=r"SyntheticCells: size must be an int or \(H, W\) of "
                                         r"at least 8 pixels, got \(4, 16\)"):
        SyntheticCells(2, size=(4, 16))
    with pytest.raises(ValueError, match="n must be >= 0, got -1"):
        SyntheticCells(-1)
    with pytest.raises(IndexError, match="index 2 out of range for 2 items"):
        SyntheticCells(2, size=32)[2]


def test_gaussian_blur_of_a_delta_is_the_outer_product_kernel():
    image = np.zeros((21, 23))
    image[10, 11] = 1.0
    out = gaussian_blur(image, 1.5)
    x = np.arange(-10, 11)[:, None], np.arange(-11, 12)[None, :]
    g = np.exp(-(x[0] ** 2 + x[1] ** 2) / (2 * 1.5**2))
    g[np.maximum(abs(x[0]), abs(x[1])) > 5] = 0                # the kernel stops at 3 sigma
    np.testing.assert_allclose(out, g / g.sum(), atol=1e-12)
    np.testing.assert_allclose(gaussian_blur(np.full((9, 9), 0.3), 2.0), 0.3)   # reflect


# ---------------------------------------------------------------- border weights


def test_distance_transform_matches_brute_force(rng):
    for _ in range(5):
        mask = rng.random((13, 17)) < 0.1
        mask[rng.integers(13), rng.integers(17)] = True
        ys, xs = np.nonzero(mask)
        yy, xx = np.mgrid[:13, :17]
        ref = np.sqrt(((yy[..., None] - ys) ** 2 + (xx[..., None] - xs) ** 2).min(-1))
        np.testing.assert_allclose(distance_transform(mask), ref)
    assert np.isinf(distance_transform(np.zeros((3, 4), bool))).all()


def test_label_components_matches_flood_fill(rng):
    mask = rng.random((20, 24)) < 0.5
    labels = label_components(mask)
    # reference: a plain breadth-first flood fill from each unlabelled pixel, row-major
    ref = np.zeros(mask.shape, int)
    k = 0
    for y, x in zip(*np.nonzero(mask)):
        if ref[y, x]:
            continue
        k += 1
        ref[y, x], queue = k, [(y, x)]
        while queue:
            cy, cx = queue.pop()
            for ny, nx in ((cy - 1, cx), (cy + 1, cx), (cy, cx - 1), (cy, cx + 1)):
                if 0 <= ny < 20 and 0 <= nx < 24 and mask[ny, nx] and not ref[ny, nx]:
                    ref[ny, nx] = k
                    queue.append((ny, nx))
    np.testing.assert_array_equal(labels, ref)


def test_class_balance_weights_give_each_class_equal_total():
    mask = np.zeros((10, 10), int)
    mask[:2] = 1
    w = class_balance_weights(mask)
    assert w[mask == 0].sum() == pytest.approx(w[mask == 1].sum())
    assert w.mean() == pytest.approx(1.0)
    assert w[0, 0] / w[9, 9] == pytest.approx(4.0)             # 20 vs 80 pixels


def _two_cells(gap):
    """Two 10x10 squares side by side, ``gap`` background columns apart, in a 40x64 image."""
    labels = np.zeros((40, 64), np.int32)
    labels[15:25, 10:20] = 1
    labels[15:25, 20 + gap:30 + gap] = 2
    return labels


def test_border_weights_peak_in_the_gap_and_equal_wc_far_away():
    labels = _two_cells(gap=2)
    w = unet_weight_map(labels)
    w_c = class_balance_weights(labels > 0)
    # in the gap, d1 + d2 = 2 + 1 = 3 at column 20 (one px from cell 1, two from cell 2)
    expected = w_c[20, 20] + 10 * np.exp(-(3.0**2) / (2 * 5.0**2))
    assert w[20, 20] == pytest.approx(expected, rel=1e-5)
    border = w - w_c                                            # the w0 exp(...) term
    y, x = np.unravel_index(np.argmax(border), border.shape)
    assert 15 <= y < 25 and 19 <= x <= 22                       # peaks at the gap
    assert border[15:25, 20:22].min() > 0.8 * 10
    np.testing.assert_allclose(w[:3, 50:], w_c[:3, 50:], atol=1e-4)   # far from both
    # a lone cell has no second neighbour: w = w_c exactly
    lone = np.where(labels == 1, 1, 0).astype(np.int32)
    np.testing.assert_allclose(unet_weight_map(lone), class_balance_weights(lone > 0), rtol=1e-6)


def test_border_weights_on_touching_cells_and_background_only():
    labels = _two_cells(gap=0)
    w = unet_weight_map(labels)
    w_c = class_balance_weights(labels > 0)
    # on the contact line d1 = 0 (inside cell 1) and d2 = 1 (cell 2 is the next column)
    assert w[20, 19] == pytest.approx(w_c[20, 19] + 10 * np.exp(-1 / 50), rel=1e-5)
    assert w[20, 19] > w[20, 12] + 5                          # far less inside the cell
    w_bg = unet_weight_map(labels, background_only=True)
    np.testing.assert_allclose(w_bg[labels > 0], w_c[labels > 0], rtol=1e-6)


def test_border_weights_match_the_formula_on_synthetic_cells():
    _, _, labels = SyntheticCells(1, size=48, instances=True, foreground=0.3, seed=5)[0]
    w = unet_weight_map(labels, w0=10, sigma=5)
    d = np.sort([distance_transform(labels == k) for k in range(1, labels.max() + 1)], axis=0)
    ref = class_balance_weights(labels > 0) + 10 * np.exp(-((d[0] + d[1]) ** 2) / 50)
    np.testing.assert_allclose(w, ref, atol=1e-3)              # windowed d: error < 4e-4


# ---------------------------------------------------------------- folder of PNGs


def _write(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_folder_reads_8_bit_grayscale_and_binary_255_masks(tmp_path, rng):
    images = rng.integers(0, 256, size=(3, 12, 10), dtype=np.uint8)
    masks = rng.integers(0, 2, size=(3, 12, 10), dtype=np.uint8) * 255
    for i in range(3):
        _write(tmp_path / "images" / f"im{i}.png", images[i])
        _write(tmp_path / "masks" / f"im{i}.png", masks[i])
    ds = FolderDataset(tmp_path, normalize="bitdepth")
    assert len(ds) == 3 and ds.names == ["im0.png", "im1.png", "im2.png"]
    image, mask = ds[1]
    assert image.shape == (1, 12, 10) and image.dtype == np.float32
    np.testing.assert_allclose(image[0], images[1] / 255.0, rtol=1e-6)
    assert mask.dtype == np.int64
    np.testing.assert_array_equal(mask, masks[1] // 255)


def test_folder_reads_16_bit_images_and_masks_and_rgb(tmp_path, rng):
    image16 = rng.integers(0, 65536, size=(9, 11), dtype=np.uint16)
    _write(tmp_path / "images" / "a.png", image16)
    _write(tmp_path / "masks" / "a.png", (rng.random((9, 11)) < 0.5).astype(np.uint16) * 65535)
    rgb = rng.integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    _write(tmp_path / "images" / "b.png", rgb)
    _write(tmp_path / "masks" / "b.png", rng.integers(0, 3, size=(9, 11), dtype=np.uint8))
    ds = FolderDataset(tmp_path, num_classes=3, normalize="bitdepth")
    image, mask = ds[0]
    np.testing.assert_allclose(image[0], image16 / 65535.0, rtol=1e-6)
    assert set(np.unique(mask)) == {0, 1}
    image, mask = ds[1]
    assert image.shape == (3, 9, 11)
    np.testing.assert_allclose(image, rgb.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert set(np.unique(mask)) <= {0, 1, 2}


def test_folder_applies_transform(tmp_path, rng):
    _write(tmp_path / "images" / "a.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    _write(tmp_path / "masks" / "a.png", np.eye(8, dtype=np.uint8))
    flip = lambda image, mask, rng: (image[:, :, ::-1], mask[:, ::-1])
    _, mask = FolderDataset(tmp_path, transform=flip)[0]
    np.testing.assert_array_equal(mask, np.eye(8)[:, ::-1])


def test_folder_errors_name_the_files(tmp_path):
    with pytest.raises(DataError, match="images is not a folder"):
        FolderDataset(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(DataError, match=r"no image files \(.png, .tif, .tiff\)"):
        FolderDataset(tmp_path)

    blank = np.zeros((6, 5), np.uint8)
    _write(tmp_path / "images" / "a.png", blank)
    _write(tmp_path / "images" / "b.png", blank)
    _write(tmp_path / "masks" / "a.png", blank)
    _write(tmp_path / "masks" / "c.png", blank)
    for missing in (r"images/b.png: no mask for it", r"masks/c.png: a mask without an image"):
        with pytest.raises(DataError, match=missing):     # both problems in one message
            FolderDataset(tmp_path)

    (tmp_path / "masks" / "c.png").rename(tmp_path / "masks" / "b.png")
    _write(tmp_path / "masks" / "b.png", np.zeros((6, 7), np.uint8))
    sizes = (r"size mismatch: .*b.png is \(pages, H, W\) = \(1, 6, 5\) but .*b.png is "
             r"\(1, 6, 7\)")
    with pytest.raises(DataError, match=sizes):
        FolderDataset(tmp_path)

    _write(tmp_path / "masks" / "b.png", np.array([[0, 1, 7, 7, 200]] * 6, np.uint8))
    values = r"mask .*b.png has unexpected values 7, 200 \(all its values: 0, 1, 7, 200\)"
    with pytest.raises(DataError, match=values):
        FolderDataset(tmp_path, num_classes=3)
    FolderDataset(tmp_path, num_classes=201)                   # the same values are fine here
    _, mask, labels = FolderDataset(tmp_path, instances=True)[1]   # 2 classes: instance labels
    np.testing.assert_array_equal(labels[0], [0, 1, 7, 7, 200])
    np.testing.assert_array_equal(mask[0], [0, 1, 1, 1, 1])

    _write(tmp_path / "masks" / "b.png", np.zeros((6, 5, 3), np.uint8))
    with pytest.raises(DataError, match="b.png has 3 channels; masks must be single-channel"):
        FolderDataset(tmp_path)


# ---------------------------------------------------------------- augmentation


def _pair(rng, shape=(9, 12), classes=3):
    """A mask and a 2-channel image whose first channel *is* the mask: alignment is checkable."""
    mask = rng.integers(0, classes, size=shape)
    image = np.stack([mask.astype(np.float32), rng.random(shape, dtype=np.float32)])
    return image, mask


def test_random_flip_is_exact_and_moves_image_and_mask_together(rng):
    image, mask = _pair(rng)
    seen = set()
    for seed in range(30):
        out_image, out_mask = RandomFlip()(image, mask, np.random.default_rng(seed))
        np.testing.assert_array_equal(out_image[0], out_mask)
        matches = [(fx, fy) for fx in (0, 1) for fy in (0, 1)
                   if np.array_equal(out_image, image[:, ::(-1 if fy else 1), ::(-1 if fx else 1)])]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_random_rot90_is_exact_and_moves_image_and_mask_together(rng):
    image, mask = _pair(rng, shape=(8, 8))
    seen = set()
    for seed in range(30):
        out_image, out_mask = RandomRot90()(image, mask, np.random.default_rng(seed))
        np.testing.assert_array_equal(out_image[0], out_mask)
        ks = [k for k in range(4) if np.array_equal(out_image, np.rot90(image, k, axes=(1, 2)))]
        assert len(ks) == 1
        seen.add(ks[0])
    assert seen == {0, 1, 2, 3}


def test_brightness_contrast_is_affine_and_leaves_the_mask(rng):
    image, mask = _pair(rng)
    image = image * 0.5 + 0.25
    out, out_mask = BrightnessContrast(0.1, 0.3, clip=False)(image, mask, np.random.default_rng(1))
    assert out_mask is mask
    for c in range(2):                                          # out = a * image + b per channel
        a, b = np.polyfit(image[c].ravel(), out[c].ravel(), 1)
        np.testing.assert_allclose(out[c], a * image[c] + b, atol=1e-5)
        assert 0.7 <= a <= 1.3 and a != pytest.approx(1.0)
    clipped, _ = BrightnessContrast(0.5, 0.9)(image, mask, np.random.default_rng(2))
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0


def test_cubic_upsampling_interpolates_the_nodes():
    t = np.linspace(0, 1, 11)
    np.testing.assert_allclose(cubic_weights(t).sum(1), 1.0)
    R = cubic_upsample_matrix(129, 3)                           # nodes on pixels 0, 64, 128
    np.testing.assert_allclose(R[[0, 64, 128]], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(R.sum(1), 1.0)
    np.testing.assert_allclose(R @ np.array([0.0, 1.0, 2.0]), np.linspace(0, 2, 129), atol=1e-12)


def test_warp_bilinear_identity_and_integer_shift(rng):
    image = rng.random((2, 7, 9))
    yy, xx = np.mgrid[:7, :9].astype(float)
    np.testing.assert_array_equal(warp_bilinear(image, yy, xx), image)
    np.testing.assert_allclose(warp_bilinear(image, yy, xx + 1)[:, :, :-1], image[:, :, 1:])
    half = warp_bilinear(image, yy, xx + 0.5)[:, :, :-1]
    np.testing.assert_allclose(half, (image[:, :, 1:] + image[:, :, :-1]) / 2)


def test_the_teaching_warps_match_scipy(rng):
    """ElasticDeform samples with SciPy's map_coordinates; warp_bilinear and warp_nearest
    write the same sampling out (mirrored borders, far outside the image too)."""
    image = rng.random((2, 9, 12))
    ys, xs = rng.uniform(-20, 30, (2, 9, 12))
    ref = np.stack([ndimage.map_coordinates(c, [ys, xs], order=1, mode="mirror") for c in image])
    np.testing.assert_allclose(warp_bilinear(image, ys, xs), ref, atol=1e-12)
    mask = rng.integers(0, 5, (9, 12))
    np.testing.assert_array_equal(warp_nearest(mask, ys, xs),
                                  ndimage.map_coordinates(mask, [ys, xs], order=0, mode="mirror"))


def test_augmentations_move_a_tuple_of_masks_together(rng):
    image, mask = _pair(rng, shape=(16, 16))
    weight = rng.random((16, 16))
    for t in (RandomFlip(), RandomRot90(), RandomCrop(8), ElasticDeform()):
        for seed in range(3):
            out_image, (out_mask, out_double, out_weight) = t(
                image, (mask, 2 * mask, weight), np.random.default_rng(seed))
            ref_image, ref_weight = t(image, weight, np.random.default_rng(seed))
            np.testing.assert_array_equal(out_double, 2 * out_mask)
            np.testing.assert_array_equal(out_weight, ref_weight)
            np.testing.assert_array_equal(out_image, ref_image)


def test_elastic_deform_keeps_classes_and_alignment():
    _, mask = SyntheticCells(1, size=64, foreground=0.3)[0]
    image = mask[None].astype(np.float32)                       # the image *is* the mask
    for seed in range(3):
        out_image, out_mask = ElasticDeform()(image, mask, np.random.default_rng(seed))
        assert out_mask.dtype == mask.dtype and set(np.unique(out_mask)) <= {0, 1}
        assert dice(out_image[0] > 0.5, out_mask) >= 0.95
        assert dice(out_mask, mask) < 0.95                      # it did move the cells
    # multi-class masks stay within their classes
    _, mask3 = SyntheticCells(1, size=48, num_classes=3)[0]
    _, out3 = ElasticDeform()(mask3[None].astype(np.float32), mask3, np.random.default_rng(0))
    assert set(np.unique(out3)) <= {0, 1, 2}
    # sigma = 0: no displacement, the identity
    out_image, out_mask = ElasticDeform(sigma=0.0)(image, mask, np.random.default_rng(0))
    np.testing.assert_array_equal(out_image, image)
    np.testing.assert_array_equal(out_mask, mask)


def test_elastic_displacement_is_smooth_with_node_std_sigma():
    deform = ElasticDeform(sigma=10.0)
    nodes = []
    for seed in range(100):
        dy, dx = deform.displacement((33, 33), np.random.default_rng(seed))
        nodes += [dy[::16, ::16], dx[::16, ::16]]               # the 3x3 grid's nodes
        assert np.abs(np.diff(dy, axis=0)).max() < 6.0          # smooth: no tearing
    assert np.std(nodes) == pytest.approx(10.0, rel=0.1)


def test_compose_applies_in_order_with_one_rng(rng):
    image, mask = _pair(rng, shape=(8, 8))
    both = Compose([RandomFlip(), RandomRot90()])(image, mask, np.random.default_rng(5))
    r = np.random.default_rng(5)
    step = RandomRot90()(*RandomFlip()(image, mask, r), r)
    for a, b in zip(both, step):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- loader


class Numbered:
    """Item i is an image filled with i and a mask filled with i: batches show their indices."""

    def __init__(self, n, shape=(1, 2, 3)):
        self.n, self.shape = n, shape

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return (np.full(self.shape, i, np.float32), np.full(self.shape[1:], i, np.int64))


def _indices(batches):
    return [b[1][:, 0, 0].tolist() for b in batches]


def test_loader_batches_in_order_with_last_partial_or_dropped():
    loader = DataLoader(Numbered(10), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and _indices(batches) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    images, masks = batches[0]
    assert images.shape == (4, 1, 2, 3) and images.dtype == np.float32
    assert masks.shape == (4, 2, 3) and masks.dtype == np.int64
    dropped = DataLoader(Numbered(10), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and _indices(dropped) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_loader_shuffles_by_seed_and_epoch():
    order = lambda seed, epoch: DataLoader(Numbered(20), 5, shuffle=True, seed=seed).order(epoch)
    a = DataLoader(Numbered(20), batch_size=5, shuffle=True, seed=1)
    epoch0, epoch1 = sum(_indices(a), []), sum(_indices(a), [])
    assert sorted(epoch0) == list(range(20)) and sorted(epoch1) == list(range(20))
    assert epoch0 != epoch1 and epoch0 != list(range(20))
    assert epoch0 == order(1, 0).tolist() and epoch1 == order(1, 1).tolist()
    assert order(2, 0).tolist() != epoch0
    a.set_epoch(0)
    assert sum(_indices(a), []) == epoch0


def test_loader_resumes_mid_epoch_with_the_same_augmented_batches():
    make = lambda: DataLoader(SyntheticCells(6, size=32), batch_size=2, shuffle=True, seed=7,
                              transform=Compose([RandomFlip(), ElasticDeform()]))
    a = make()
    list(a)                                                     # epoch 0
    it = iter(a)
    next(it)                                                    # one batch of epoch 1
    state = a.state_dict()
    rest = list(it)
    b = make()
    b.load_state_dict(state)
    resumed = list(b)
    assert len(resumed) == len(rest) == 2
    for x, y in zip(resumed, rest):
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    assert a.state_dict()["epoch"] == b.state_dict()["epoch"] == 2
    with pytest.raises(ValueError, match="saved batch_size=2 but this loader has batch_size=3"):
        DataLoader(Numbered(6), batch_size=3).load_state_dict(state)


def test_loader_stacks_extra_entries_and_reports_bad_batches():
    ds = SyntheticCells(3, size=24, instances=True)
    images, masks, labels = next(iter(DataLoader(ds, batch_size=3)))
    assert images.shape == (3, 1, 24, 24) and labels.shape == (3, 24, 24)
    # a transform moves every extra entry (here the instance labels) with the image
    flipped = DataLoader(ds, batch_size=3, transform=Compose([RandomFlip(p=1.0), RandomRot90()]))
    images, masks, labels = next(iter(flipped))
    for image, mask, label in zip(images, masks, labels):
        np.testing.assert_array_equal(mask, label > 0)
        assert any(np.array_equal(image, np.rot90(ds[i][0][:, ::-1, ::-1], k, axes=(1, 2)))
                   for i in range(3) for k in range(4))

    class Ragged(Numbered):
        def __getitem__(self, i):
            image, mask = super().__getitem__(i)
            return (image, mask) if i != 2 else (image[:, :1], mask[:1])

    shapes = r"item 0 has shape \(1, 2, 3\) but item 2 has \(1, 1, 3\)"
    with pytest.raises(ValueError, match=shapes):
        next(iter(DataLoader(Ragged(4), batch_size=4)))
