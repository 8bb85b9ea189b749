"""``tinyunet data check``: what training would see, and every problem named by its file."""

import re

import numpy as np
import pytest
import tifffile
from PIL import Image

from tinyunet import cli
from tinyunet.data.check import check_data, describe
from tinyunet.data.nuclei import SyntheticNuclei


def write_pair(root, name, image, mask, mask_name=None):
    for sub in ("images", "masks"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(root / "images" / f"{name}.tif", image, photometric="minisblack")
    tifffile.imwrite(root / "masks" / (mask_name or f"{name}.tif"), mask,
                     photometric="minisblack")


def nuclei_folder(root, n, seed=0, size=64):
    """``root/images/*.tif`` (16-bit) and ``root/masks/*.tif`` (16-bit instance labels)."""
    data = SyntheticNuclei(n, size=size, seed=seed, dtype="uint16")
    for i in range(n):
        image, _, labels = data[i]
        write_pair(root, f"n{i}", image[0], labels.astype(np.uint16))


def problems_of(root, **kwargs):
    reports = check_data(root, **kwargs)
    return [p for r in reports for p in r.problems], [w for r in reports for w in r.warnings]


def test_a_good_folder_reports_what_training_sees(tmp_path, capsys):
    nuclei_folder(tmp_path / "data" / "train", 3, seed=0)
    nuclei_folder(tmp_path / "data" / "val", 1, seed=1)
    (train, val) = check_data(tmp_path / "data")
    assert (train.files, train.samples, val.files) == (3, 3, 1)
    assert train.sizes == {(64, 64): 3} and train.depths == {"16-bit": 3}
    assert train.kinds == {"instances": 3} and train.objects > 20 and train.touching > 0
    assert train.problems == val.problems == []
    text = "\n".join(describe(train))
    for part in ("3 image(s)", "64x64 (x3)", "16-bit (3)", "instances (3)", "class 1:",
                 "3 samples < batch size 8", "--loss weighted_ce"):
        assert part in text, part
    assert cli.main(["data", "check", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "train: " in out and "val: " in out and "no problems" in out


def test_stacks_are_samples(tmp_path):
    data = SyntheticNuclei(3, size=32, seed=0, dtype="uint16")
    stack = np.stack([data[i][0][0] for i in range(3)])
    labels = np.stack([data[i][2] for i in range(3)]).astype(np.uint16)
    write_pair(tmp_path, "stack", stack, labels)
    (report,) = check_data(tmp_path, crop=32)
    assert (report.files, report.samples) == (1, 3) and report.problems == []


def test_each_kind_of_problem_names_its_file(tmp_path, capsys):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 4000, (48, 48), dtype=np.uint16)
    labels = np.zeros((48, 48), np.uint16)
    labels[5:20, 5:20], labels[25:40, 25:40] = 1, 2
    write_pair(tmp_path, "good", image, labels)
    write_pair(tmp_path, "alone", image, labels, mask_name="other.tif")       # unpaired
    write_pair(tmp_path, "wrongsize", image, labels[:40])
    write_pair(tmp_path, "rgbmask", image, labels)
    tifffile.imwrite(tmp_path / "masks" / "rgbmask.tif", np.zeros((48, 48, 3), np.uint8),
                     photometric="rgb")
    write_pair(tmp_path, "negative", image, labels.astype(np.int16) - 1)
    nan = image.astype(np.float32)
    nan[3, 3] = np.nan
    write_pair(tmp_path, "nan", nan, labels)
    write_pair(tmp_path, "flat", np.full((48, 48), 7, np.uint16), labels)      # warning
    write_pair(tmp_path, "empty", image, np.zeros((48, 48), np.uint16))        # warning
    saturated = image.copy()
    saturated[:10] = 65535
    write_pair(tmp_path, "saturated", saturated, labels)                       # warning
    (tmp_path / "images" / "broken.png").write_bytes(b"no png")
    Image.fromarray(labels.astype(np.uint8)).save(tmp_path / "masks" / "broken_mask.png")

    problems, warnings = problems_of(tmp_path, crop=32)
    expected = [r"images/alone.tif: no mask for it", r"masks/other.tif: a mask without an",
                r"size mismatch: .*images/wrongsize.tif is .* but .*masks/wrongsize.tif",
                r"mask .*masks/rgbmask.tif has 3 channels",
                r"mask .*masks/negative.tif has negative values",
                r"images/nan.tif: 1 pixels are NaN", r"images/broken.png: cannot be read"]
    assert len(problems) == len(expected), problems
    for pattern in expected:
        assert sum(bool(re.search(pattern, p)) for p in problems) == 1, pattern
    assert any("images/flat.tif: flat between" in w for w in warnings)
    assert any("masks/empty.tif is all background" in w for w in warnings)
    assert any("images/saturated.tif: 20.8 % of its pixels are saturated" in w
               for w in warnings)

    assert cli.main(["data", "check", str(tmp_path), "--crop", "32"]) == 1
    out = capsys.readouterr().out
    assert "7 problems:" in out and "training would stop" in out and "broken.png" in out


def test_size_problems_name_the_image_and_the_fix(tmp_path):
    rng = np.random.default_rng(0)
    labels = np.zeros((40, 56), np.uint16)
    labels[5:20, 5:20] = 1
    write_pair(tmp_path, "a", rng.integers(0, 255, (40, 56), dtype=np.uint16), labels)
    write_pair(tmp_path, "b", rng.integers(0, 255, (64, 64), dtype=np.uint16),
               np.pad(labels, ((0, 24), (0, 8))))
    (problem,), _ = problems_of(tmp_path, crop=64)
    assert "images/a.tif is 40x56 px, too small for --crop 64: use --crop 32" in problem
    (problem,), _ = problems_of(tmp_path, crop=None)
    assert "images/b.tif is 64x64 px but" in problem and "--crop 32" in problem
    assert problems_of(tmp_path, crop=None, batch_size=1)[0] == []
    # training refuses the same way, in one line, without a traceback
    code = cli.main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run"),
                     "--crop", "64", "--no-progress"])
    assert code == 2


@pytest.mark.parametrize("values,num_classes", [([0, 1, 2, 9], 3)])
def test_mask_values_that_are_not_classes(tmp_path, values, num_classes):
    image = np.zeros((16, 16), np.uint16)
    image[4:12] = 1000
    mask = np.resize(np.array(values, np.uint16), (16, 16))
    write_pair(tmp_path, "m", image, mask)
    (problem,), _ = problems_of(tmp_path, num_classes=num_classes, crop=16)
    assert "masks/m.tif has unexpected values 9" in problem
    assert problems_of(tmp_path, num_classes=2, crop=16)[0] == []   # 2 classes: labels
