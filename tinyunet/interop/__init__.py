"""Across to PyTorch and back.

:func:`export_torch` turns a tinyunet checkpoint into a folder PyTorch uses without tinyunet:
the ``state_dict`` (safetensors, PyTorch's keys and layouts), the architecture (JSON), the
network as a plain-PyTorch ``model.py`` (generated from :mod:`tinyunet.torch_twins`), the
optimizer in PyTorch's format, and, for a segmentation run, ``train_ddp.py`` and the run's
data, to continue training under ``torchrun`` on as many processes and machines as there are.
:func:`import_torch` brings a PyTorch ``state_dict`` back as a tinyunet checkpoint.

The command line: ``tinyunet export --torch CHECKPOINT OUT`` and ``tinyunet import --torch
STATE_DICT --arch ARCH.json OUT``.
"""

from .export import export_torch
from .importer import import_torch

__all__ = ["export_torch", "import_torch"]
