"""The diffusion U-Net: the segmentation U-Net's shape, with the noise level and the prompt
threaded through it (Ho, Jain & Abbeel 2020; Rombach et al. 2022 for the cross-attention).

The task is image in, image out, like segmentation: given a noisy image x_t and its timestep t,
predict the noise that was added. Two conditioning signals are added to the familiar U:

* **time**: t -> sinusoid -> MLP -> t_emb, projected to a scale and a shift *in every residual
  block*, so each block knows whether it is removing coarse noise (large t) or refining detail
  (small t);
* **prompt** (optional, ``num_tokens``): token ids -> Embedding -> context (N, S, D), read by
  *cross-attention* layers, where every pixel can look at the words. The mean of the token
  embeddings is also added to t_emb (``pooled_prompt``, as Imagen and SDXL do), so every
  residual block gets the gist of the prompt along with the noise level (a tiny model trained
  for 400 steps on the shapes drew its prompt in ~58 % of samples with it, ~43 % without).

::

    conv_in
    down:   [ResBlock (+ self-attn + cross-attn) -> save s_k -> stride-2 conv]  per level
    middle: ResBlock -> self-attn (+ cross-attn) -> ResBlock
    up:     [nearest 2x + conv -> cat([h, s_k], dim=1) -> ResBlock (+ attn)]    per level
    GroupNorm -> SiLU -> conv_out: one predicted noise value per input pixel

Level k has ``base_channels * channel_mults[k]`` channels at size H / 2^k; ``attention_levels``
lists the levels that get attention (low resolutions: self-attention costs (HW)^2). The skips
are concatenations, as in the 2015 U-Net.
"""

from __future__ import annotations

import numpy as np

from .. import nn
from ..nn.attention import CrossAttention2d, SelfAttention2d, norm_groups
from ..nn.embedding import Embedding, TimestepMLP
from ..ops.activation import silu
from ..ops.concat import cat
from ..tensor import Tensor


class ResBlock(nn.Module):
    """GroupNorm -> SiLU -> conv3x3 -> GroupNorm, then the time embedding as a per-channel
    scale and shift, -> SiLU -> dropout -> conv3x3, and + the input (through a 1x1 conv when
    the channel count changes)::

        h = conv1(silu(norm1(x)))
        scale, shift = time_proj(silu(t_emb))            (N, C_out) each
        h = conv2(dropout(silu(norm2(h) * (1 + scale) + shift)))
        y = skip(x) + h

    The time enters *after* the norm ("scale-shift norm", Dhariwal & Nichol 2021): a shift
    added before a GroupNorm would be subtracted again by it, completely so when a group holds
    a single channel.
    """

    def __init__(self, in_channels: int, out_channels: int, time_dim: int, max_groups: int = 8,
                 dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(norm_groups(in_channels, max_groups), in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, 2 * out_channels)
        self.norm2 = nn.GroupNorm(norm_groups(out_channels, max_groups), out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = (nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels
                     else nn.Identity())

    def forward(self, x, t_emb):
        h = self.conv1(silu(self.norm1(x)))
        N, C = h.shape[:2]
        film = self.time_proj(silu(t_emb)).reshape(N, 2 * C, 1, 1)   # same at every pixel
        scale, shift = film[:, :C], film[:, C:]
        h = self.norm2(h) * (scale + 1) + shift
        h = self.conv2(self.dropout(silu(h)))
        return self.skip(x) + h


class Level(nn.Module):
    """One rung of the U: a ResBlock, then self-attention and cross-attention if enabled."""

    def __init__(self, in_channels, out_channels, time_dim, attention, context_dim, num_heads,
                 max_groups, dropout):
        super().__init__()
        self.res = ResBlock(in_channels, out_channels, time_dim, max_groups, dropout)
        self.attn = SelfAttention2d(out_channels, num_heads, max_groups) \
            if attention else None
        self.cross = CrossAttention2d(out_channels, context_dim, num_heads,
                                                   max_groups) \
            if attention and context_dim else None

    def forward(self, x, t_emb, context=None):
        x = self.res(x, t_emb)
        if self.attn is not None:
            x = self.attn(x)
        if self.cross is not None and context is not None:
            x = self.cross(x, context)
        return x


class Upsample(nn.Module):
    """Nearest-neighbour 2x, then a 3x3 conv (no checkerboard artefacts, see the lesson)."""

    def __init__(self, channels: int):
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(self.up(x))


class DiffusionUNet(nn.Module):
    """``DiffusionUNet(in_channels, base_channels, channel_mults, attention_levels,
    num_tokens=None, ...)``; ``model(x_t, t, cond=None)`` predicts the noise in x_t.

    Args:
        in_channels: image channels (the output has as many, unless ``out_channels``).
        base_channels: channels at level 0; level k has ``base_channels * channel_mults[k]``.
        channel_mults: one factor per level; the image is halved between levels, so its
            sides must be divisible by 2^(levels - 1).
        attention_levels: levels (0 = full resolution) with self- (and cross-) attention.
        num_tokens: size of the prompt vocabulary; None makes an unconditional model.
        context_dim: width of the token embeddings (default 4 * base_channels).
        num_heads: attention heads. mid_attention: attention in the middle block.
        pooled_prompt: also add the mean token embedding (projected) to the time embedding.
        max_groups: GroupNorm groups (fewer when they do not divide the channels).
        dropout: in every ResBlock, before its second conv.

    ``t`` is an int array (N,) (or one int for all); ``cond`` token ids (N, S). A conditional
    model called with ``cond=None`` skips its cross-attention: the unconditional path.
    """

    def __init__(self, in_channels: int = 1, base_channels: int = 32,
                 channel_mults=(1, 2, 2), attention_levels=(1, 2), num_tokens: int | None = None,
                 context_dim: int | None = None, num_heads: int = 1, mid_attention: bool = True,
                 pooled_prompt: bool = True, out_channels: int | None = None,
                 max_groups: int = 8, dropout: float = 0.0):
        super().__init__()
        L = len(channel_mults)
        if L < 1 or any(m < 1 for m in channel_mults):
            raise ValueError(f"channel_mults must be a non-empty list of positive ints, got "
                             f"{channel_mults}")
        bad = [k for k in attention_levels if not 0 <= k < L]
        if bad:
            raise ValueError(f"attention_levels {tuple(attention_levels)}: levels {bad} do not "
                             f"exist (there are {L} levels, 0..{L - 1})")
        time_dim = 4 * base_channels
        context_dim = (context_dim or time_dim) if num_tokens else None
        self.config = dict(in_channels=in_channels, base_channels=base_channels,
                           channel_mults=tuple(channel_mults),
                           attention_levels=tuple(attention_levels), num_tokens=num_tokens,
                           context_dim=context_dim, num_heads=num_heads,
                           mid_attention=mid_attention, pooled_prompt=pooled_prompt,
                           out_channels=out_channels,
                           max_groups=max_groups, dropout=dropout)
        c = [base_channels * m for m in channel_mults]
        level = lambda cin, cout, attn: Level(cin, cout, time_dim, attn, context_dim, num_heads,
                                              max_groups, dropout)

        self.time_mlp = TimestepMLP(base_channels, time_dim)
        self.token_embedding = Embedding(num_tokens, context_dim) if num_tokens else None
        self.prompt_proj = (nn.Linear(context_dim, time_dim) if num_tokens and pooled_prompt
                            else None)
        self.conv_in = nn.Conv2d(in_channels, c[0], 3, padding=1)

        self.down, self.downsample = nn.ModuleList(), nn.ModuleList()
        for k in range(L):
            self.down.append(level(c[k - 1] if k else c[0], c[k], k in attention_levels))
            if k < L - 1:
                self.downsample.append(nn.Conv2d(c[k], c[k], 3, stride=2, padding=1))

        self.mid = level(c[-1], c[-1], mid_attention)
        self.mid_res = ResBlock(c[-1], c[-1], time_dim, max_groups, dropout)

        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for k in reversed(range(L)):
            below = c[k + 1] if k < L - 1 else c[-1]     # channels arriving from below
            if k < L - 1:
                self.upsample.append(Upsample(below))
            self.up.append(level(below + c[k], c[k], k in attention_levels))

        self.norm_out = nn.GroupNorm(norm_groups(c[0], max_groups), c[0])
        self.conv_out = nn.Conv2d(c[0], out_channels or in_channels, 3, padding=1)
        self._zero_last_layers()

    def _zero_last_layers(self) -> None:
        """Zero the last layer of every residual branch (each ResBlock's conv2, each attention's
        to_out) and the output conv, as in DDPM: every block starts as the identity and the
        model as "predict zero noise", and training grows each branch from there (it learns
        measurably faster than with the default initialisation)."""
        layers = [self.conv_out]
        for module in self.modules():
            if isinstance(module, ResBlock):
                layers.append(module.conv2)
            elif isinstance(module, CrossAttention2d):    # SelfAttention2d included
                layers.append(module.to_out)
        for layer in layers:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def _check(self, x, t, cond):
        cfg, L = self.config, len(self.config["channel_mults"])
        if x.ndim != 4 or x.shape[1] != cfg["in_channels"]:
            raise ValueError(f"DiffusionUNet: expected x of shape (N, {cfg['in_channels']}, H, "
                             f"W), got {tuple(x.shape)}")
        f = 2 ** (L - 1)
        if x.shape[2] % f or x.shape[3] % f:
            raise ValueError(f"DiffusionUNet: with {L} levels the image is halved {L - 1} times,"
                             f" so H and W must be divisible by {f}; got {x.shape[2:]}")
        t = np.asarray(t.data if isinstance(t, Tensor) else t)
        t = np.full(x.shape[0], t) if t.ndim == 0 else t
        if t.shape != (x.shape[0],):
            raise ValueError(f"DiffusionUNet: t must be one timestep per image, shape "
                             f"({x.shape[0]},), got {t.shape}")
        if cond is not None:
            if self.token_embedding is None:
                raise ValueError("DiffusionUNet: got a prompt (cond) but the model was built "
                                 "without num_tokens (unconditional)")
            shape = tuple(cond.shape)
            if len(shape) != 2 or shape[0] != x.shape[0]:
                raise ValueError(f"DiffusionUNet: cond must be token ids of shape (N="
                                 f"{x.shape[0]}, S), got {shape}")
        return t

    def forward(self, x, t, cond=None):
        x = Tensor._lift(x)
        t = self._check(x, t, cond)
        t_emb = self.time_mlp(t)                                   # (N, 4 base)
        context = None
        if cond is not None:
            context = self.token_embedding(cond)                   # (N, S, D): for cross-attn
            if self.prompt_proj is not None:                       # the gist, for every block
                t_emb = t_emb + self.prompt_proj(context.mean(dim=1))

        h = self.conv_in(x)
        skips = []
        for k, level in enumerate(self.down):
            h = level(h, t_emb, context)
            skips.append(h)                       # s_k: this resolution's detail, for later
            if k < len(self.downsample):
                h = self.downsample[k](h)
        h = self.mid_res(self.mid(h, t_emb, context), t_emb)
        for i, level in enumerate(self.up):
            k = len(self.up) - 1 - i
            if i > 0:
                h = self.upsample[i - 1](h)
            h = level(cat([h, skips[k]], dim=1), t_emb, context)   # the U's rung
        return self.conv_out(silu(self.norm_out(h)))
