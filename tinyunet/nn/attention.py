"""Attention layers for feature maps: self-attention over the pixels, and cross-attention from
the pixels to a sequence of token embeddings (a prompt).

A feature map (N, C, H, W) is read as N sequences of H*W tokens of C features each. Then::

    h        = GroupNorm(x) as tokens         (N, HW, C)
    q        = h W_q                          (N, HW, C)   what each pixel is looking for
    k, v     = c W_k, c W_v                   (N, S, C)    c = h (self) or the prompt (cross)
    out      = attention(q, k, v) W_o + b_o   (N, HW, C)   see tinyunet.ops.attention
    y        = x + out as a map               (N, C, H, W) residual: starts near the identity

With ``num_heads`` > 1 the C features are split into heads of C / num_heads, each attending
on its own (one may look at the shape word, another at the size word), then concatenated.
Self-attention costs (HW)^2 per image, which is why a diffusion U-Net uses it only at its low
resolutions; cross-attention costs HW * S.

Names follow diffusers (``norm``, ``to_q``, ``to_k``, ``to_v``, ``to_out``); q, k and v have no
bias, as in Stable Diffusion's attention.
"""

from __future__ import annotations

from ..ops.attention import scaled_dot_product_attention
from .linear import Linear
from .module import Module
from .norm import GroupNorm


def norm_groups(channels: int, max_groups: int = 8) -> int:
    """The largest number of groups <= max_groups that divides ``channels``."""
    return next(g for g in range(min(max_groups, channels), 0, -1) if channels % g == 0)


class CrossAttention2d(Module):
    """``CrossAttention2d(channels, context_dim, num_heads=1)``: pixels of x (N, C, H, W)
    attend to ``context`` (N, S, context_dim); returns x + the attended values."""

    def __init__(self, channels: int, context_dim: int, num_heads: int = 1,
                 max_groups: int = 8):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"{type(self).__name__}: channels ({channels}) must be divisible "
                             f"by num_heads ({num_heads})")
        self.channels, self.context_dim, self.num_heads = channels, context_dim, num_heads
        self.norm = GroupNorm(norm_groups(channels, max_groups), channels)
        self.to_q = Linear(channels, channels, bias=False)
        self.to_k = Linear(context_dim, channels, bias=False)
        self.to_v = Linear(context_dim, channels, bias=False)
        self.to_out = Linear(channels, channels)

    def _split_heads(self, t):
        """(N, L, C) -> (N, heads, L, C / heads)."""
        N, L, C = t.shape
        return t.reshape(N, L, self.num_heads, C // self.num_heads).permute(0, 2, 1, 3)

    def attend(self, tokens, context):
        """to_out(attention(tokens W_q, context W_k, context W_v)): (N, L, C) -> (N, L, C)."""
        q = self._split_heads(self.to_q(tokens))
        k = self._split_heads(self.to_k(context))
        v = self._split_heads(self.to_v(context))
        out = scaled_dot_product_attention(q, k, v)                   # (N, heads, L, d)
        N, _, L, _ = out.shape
        return self.to_out(out.permute(0, 2, 1, 3).reshape(N, L, self.channels))

    def _check(self, x):
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"{type(self).__name__}: expected an input (N, {self.channels}, H, "
                             f"W), got shape {tuple(x.shape)}")

    def forward(self, x, context):
        self._check(x)
        if context.ndim != 3 or context.shape[0] != x.shape[0] \
                or context.shape[2] != self.context_dim:
            raise ValueError(f"{type(self).__name__}: context must be (N={x.shape[0]}, S, "
                             f"{self.context_dim}), got shape {tuple(context.shape)}")
        N, C, H, W = x.shape
        tokens = self.norm(x).reshape(N, C, H * W).transpose(1, 2)      # one token per pixel
        out = self.attend(tokens, context)
        return x + out.transpose(1, 2).reshape(N, C, H, W)

    def extra_repr(self) -> str:
        return f"{self.channels}, context_dim={self.context_dim}, num_heads={self.num_heads}"


class SelfAttention2d(CrossAttention2d):
    """``SelfAttention2d(channels, num_heads=1)``: every pixel of x (N, C, H, W) attends to
    every pixel; returns x + the attended values."""

    def __init__(self, channels: int, num_heads: int = 1, max_groups: int = 8):
        super().__init__(channels, channels, num_heads, max_groups)

    def forward(self, x):
        self._check(x)
        N, C, H, W = x.shape
        tokens = self.norm(x).reshape(N, C, H * W).transpose(1, 2)
        out = self.attend(tokens, tokens)
        return x + out.transpose(1, 2).reshape(N, C, H, W)

    def extra_repr(self) -> str:
        return f"{self.channels}, num_heads={self.num_heads}"
