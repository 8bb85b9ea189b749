"""The differentiable ops, one family per file, each a ``Function`` with forward and backward
side by side. ``tinyunet.functional`` is the PyTorch-shaped facade over them."""
