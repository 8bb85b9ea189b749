"""A ``torch.nn.functional``-shaped facade over ``tinyunet.ops``: ``import tinyunet.functional as F``.

Every name here is a thin re-export; the code (forward and backward side by side) lives in
the op's own file under ``tinyunet/ops/``.
"""

from .ops.activation import leaky_relu, log_softmax, relu, sigmoid, silu, softmax, tanh

__all__ = ["relu", "leaky_relu", "sigmoid", "silu", "tanh", "softmax", "log_softmax"]
