"""Embedding layers: a learned lookup table for tokens, and the timestep code of a diffusion
model followed by its small MLP.

``Embedding(V, D)``         a (V, D) table; token i becomes row i (``torch.nn.Embedding``).
``SinusoidalTimeEmbedding`` timestep t -> [sin(t w_j), cos(t w_j)] (no parameters; the math is
                            in ``tinyunet.ops.embedding.timestep_embedding``).
``TimestepMLP``             that code through Linear -> SiLU -> Linear: the vector every
                            residual block of a diffusion U-Net adds to its features, so each
                            block knows how much noise it is looking at.
"""

from __future__ import annotations

import numpy as np

from ..ops.embedding import embedding, timestep_embedding
from ..tensor import Tensor
from . import init
from .activation import SiLU
from .linear import Linear
from .module import Module, Parameter, _empty


class Embedding(Module):
    """``Embedding(num_embeddings, embedding_dim, padding_idx=None, max_norm=None,
    norm_type=2.0, scale_grad_by_freq=False, sparse=False, _weight=None, _freeze=False)``:
    weight (V, D) drawn from N(0, 1) as in PyTorch (or ``_weight``, frozen by ``_freeze``);
    the ``padding_idx`` row starts at zero and is never trained. The other options are
    ``ops.embedding.embedding``'s (``sparse=True`` is refused there)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm=None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight=None, _freeze: bool = False, device=None,
                 dtype=None):
        super().__init__()
        if sparse:
            raise NotImplementedError("Embedding: sparse=True is not supported (tinyunet has "
                                      "no sparse tensors)")
        if num_embeddings < 1 or embedding_dim < 1:
            raise ValueError(f"Embedding: num_embeddings ({num_embeddings}) and embedding_dim "
                             f"({embedding_dim}) must be positive")
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within "
                                 f"[-{num_embeddings}, {num_embeddings})")
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx, self.max_norm, self.norm_type = padding_idx, max_norm, norm_type
        self.scale_grad_by_freq, self.sparse = scale_grad_by_freq, sparse
        if _weight is None:
            self.weight = Parameter(_empty((num_embeddings, embedding_dim), device, dtype))
            self.reset_parameters()
        else:
            data = _weight.data if isinstance(_weight, Tensor) else np.asarray(_weight)
            if tuple(data.shape) != (num_embeddings, embedding_dim):
                raise ValueError(f"Embedding: _weight has shape {tuple(data.shape)}, expected "
                                 f"({num_embeddings}, {embedding_dim})")
            self.weight = Parameter(data)
        self.weight.requires_grad = not _freeze

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight.data[self.padding_idx] = 0

    def forward(self, indices):
        return embedding(indices, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                         self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class SinusoidalTimeEmbedding(Module):
    """Timesteps (N,) -> their sinusoidal code (N, dim); fixed, nothing to learn."""

    def __init__(self, dim: int, max_period: float = 10000.0):
        super().__init__()
        self.dim, self.max_period = dim, max_period

    def forward(self, t, dtype=np.float32):
        return timestep_embedding(t, self.dim, self.max_period, dtype)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, max_period={self.max_period}"


class TimestepMLP(Module):
    """Timesteps (N,) -> sinusoid (N, dim) -> Linear -> SiLU -> Linear -> (N, hidden_dim).

    ``hidden_dim`` defaults to 4 * dim, as in the DDPM U-Net. The attribute names follow
    diffusers' ``TimestepEmbedding`` (``linear_1``, ``act``, ``linear_2``).
    """

    def __init__(self, dim: int, hidden_dim: int | None = None, max_period: float = 10000.0):
        super().__init__()
        hidden_dim = 4 * dim if hidden_dim is None else hidden_dim
        self.dim, self.hidden_dim = dim, hidden_dim
        self.sinusoid = SinusoidalTimeEmbedding(dim, max_period)
        self.linear_1 = Linear(dim, hidden_dim)
        self.act = SiLU()
        self.linear_2 = Linear(hidden_dim, hidden_dim)

    def forward(self, t):
        code = self.sinusoid(t, dtype=self.linear_1.weight.dtype)  # float64 models stay float64
        return self.linear_2(self.act(self.linear_1(code)))
