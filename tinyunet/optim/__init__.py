"""Optimizers, as ``torch.optim``: SGD (momentum, dampening, Nesterov, weight decay), Adam,
AdamW. Schedulers are in ``tinyunet.optim.lr_scheduler``.

The training loop is PyTorch's::

    optimizer = tu.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for x, y in batches:
        optimizer.zero_grad()          # gradients accumulate, so clear last step's first
        loss_fn(model(x), y).backward()
        optimizer.step()               # p <- p - lr * (direction computed from p.grad)

Each update reads ``p.grad`` and changes ``p.data`` in place (the Parameter objects, which the
model holds, stay the same). Per-parameter state (momentum buffers, Adam's moments) lives in
``optimizer.state[p]``; ``state_dict()`` returns it as plain arrays and numbers, with
parameters numbered in order, so a checkpoint can resume training exactly.

One file each: ``optimizer.py`` (the base class), ``sgd.py``, ``adam.py``, ``lr_scheduler.py``.
"""

from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
