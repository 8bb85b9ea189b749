"""The run's figures: they are written, and the takeaway under each says what the numbers say."""

import numpy as np

import tinyunet as tu
from tinyunet import plots
from tinyunet.models import UNet


def _history(train, val):
    return [{"epoch": e + 1, "train_loss": 1.0, "val_loss": 1.0, "train_dice": t, "val_dice": v}
            for e, (t, v) in enumerate(zip(train, val))]


def test_the_curves_takeaway_names_the_last_validation_dice_and_overfitting():
    close = plots._curves_takeaway(_history([0.5, 0.90], [0.5, 0.89]))
    assert close.startswith("validation Dice 0.890 at epoch 2 (training 0.900)")
    assert "no sign of overfitting" in close
    assert "starting to overfit" in plots._curves_takeaway(_history([0.99], [0.80]))
    assert plots._curves_takeaway([]) == "no validation Dice recorded"


def test_both_figures_are_written(tmp_path):
    tu.manual_seed(0)
    model = UNet(in_channels=1, num_classes=2, base_channels=4, depth=2, padding="same")
    rng = np.random.default_rng(0)
    images = [rng.standard_normal((1, 16, 16)).astype(np.float32) for _ in range(2)]
    masks = [rng.integers(0, 2, (16, 16)) for _ in range(2)]
    for path in (plots.plot_curves(_history([0.4, 0.6], [0.4, 0.5]), tmp_path / "c.png", "CE"),
                 plots.plot_predictions(model, images, masks, tmp_path / "p.png"),
                 plots.plot_predictions(model, images, masks, tmp_path / "d.png",
                                        dice=lambda pred, mask: float((pred == mask).mean()))):
        assert path.stat().st_size > 1000 and path.read_bytes()[:4] == b"\x89PNG"
