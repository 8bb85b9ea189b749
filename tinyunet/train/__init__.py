"""Training a segmentation network: the loop (``trainer.py``), its scores (``evaluate.py``) and
a whole run from one config (``config.py``).

    from tinyunet.train import TrainConfig, train
    trainer = train(TrainConfig(epochs=5), "runs/cells")
"""

from .config import LOSSES, OPTIMIZERS, TrainConfig, draw_figures, make_trainer, train
from .evaluate import evaluate, score
from .trainer import Trainer, TrainingDiverged

__all__ = ["Trainer", "TrainingDiverged", "TrainConfig", "make_trainer", "train", "draw_figures",
           "evaluate", "score", "LOSSES", "OPTIMIZERS"]
