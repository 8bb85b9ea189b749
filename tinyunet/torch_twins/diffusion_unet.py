"""The PyTorch twin of ``tinyunet.models.DiffusionUNet``: the same layers under the same
attribute names, and the same call, ``model(x_t, t, cond=None)``.

``t`` is one timestep per image (a tensor, array or list of N ints) or one int for all;
``cond`` holds token ids (N, S), or None for the unconditional path. The sinusoidal timestep
code is computed in float64 and then cast to the weights' dtype, as tinyunet does.
"""

import math

import torch
import torch.nn as tnn
import torch.nn.functional as TF


def norm_groups(channels, max_groups=8):
    """The largest number of groups <= max_groups that divides ``channels``."""
    return next(g for g in range(min(max_groups, channels), 0, -1) if channels % g == 0)


def timestep_embedding(t, dim, max_period=10000.0):
    """The sinusoid code (N, dim) of timesteps t (N,): sin and cos of t * max_period^(-j/half),
    in float64; an odd ``dim`` gets one trailing zero column."""
    half = dim // 2
    w = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float64) / half)
    angles = t.to(torch.float64)[:, None] * w.to(t.device)[None, :]
    code = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    return TF.pad(code, (0, dim % 2))


class TimestepMLP(tnn.Module):
    def __init__(self, dim, hidden_dim):
        super().__init__()
        self.dim = dim
        self.linear_1 = tnn.Linear(dim, hidden_dim)
        self.act = tnn.SiLU()
        self.linear_2 = tnn.Linear(hidden_dim, hidden_dim)

    def forward(self, t):
        code = timestep_embedding(t, self.dim).to(self.linear_1.weight.dtype)
        return self.linear_2(self.act(self.linear_1(code)))


class CrossAttention2d(tnn.Module):
    """Pixels of x (N, C, H, W) attend to ``context`` (N, S, D), or to each other when the
    context is None; returns x + the attended values."""

    def __init__(self, channels, context_dim, num_heads=1, max_groups=8):
        super().__init__()
        self.channels, self.num_heads = channels, num_heads
        self.norm = tnn.GroupNorm(norm_groups(channels, max_groups), channels)
        self.to_q = tnn.Linear(channels, channels, bias=False)
        self.to_k = tnn.Linear(context_dim, channels, bias=False)
        self.to_v = tnn.Linear(context_dim, channels, bias=False)
        self.to_out = tnn.Linear(channels, channels)

    def _split_heads(self, t):
        N, L, C = t.shape
        return t.reshape(N, L, self.num_heads, C // self.num_heads).permute(0, 2, 1, 3)

    def forward(self, x, context=None):
        N, C, H, W = x.shape
        tokens = self.norm(x).reshape(N, C, H * W).transpose(1, 2)
        context = tokens if context is None else context
        out = TF.scaled_dot_product_attention(self._split_heads(self.to_q(tokens)),
                                              self._split_heads(self.to_k(context)),
                                              self._split_heads(self.to_v(context)))
        out = self.to_out(out.permute(0, 2, 1, 3).reshape(N, H * W, C))
        return x + out.transpose(1, 2).reshape(N, C, H, W)


class ResBlock(tnn.Module):
    def __init__(self, in_channels, out_channels, time_dim, max_groups=8, dropout=0.0):
        super().__init__()
        self.norm1 = tnn.GroupNorm(norm_groups(in_channels, max_groups), in_channels)
        self.conv1 = tnn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_proj = tnn.Linear(time_dim, 2 * out_channels)
        self.norm2 = tnn.GroupNorm(norm_groups(out_channels, max_groups), out_channels)
        self.dropout = tnn.Dropout(dropout)
        self.conv2 = tnn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = (tnn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels
                     else tnn.Identity())

    def forward(self, x, t_emb):
        h = self.conv1(TF.silu(self.norm1(x)))
        scale, shift = self.time_proj(TF.silu(t_emb))[:, :, None, None].chunk(2, dim=1)
        h = self.norm2(h) * (scale + 1) + shift
        return self.skip(x) + self.conv2(self.dropout(TF.silu(h)))


class Level(tnn.Module):
    def __init__(self, in_channels, out_channels, time_dim, attention, context_dim, num_heads,
                 max_groups, dropout):
        super().__init__()
        self.res = ResBlock(in_channels, out_channels, time_dim, max_groups, dropout)
        self.attn = (CrossAttention2d(out_channels, out_channels, num_heads, max_groups)
                     if attention else None)
        self.cross = (CrossAttention2d(out_channels, context_dim, num_heads, max_groups)
                      if attention and context_dim else None)

    def forward(self, x, t_emb, context=None):
        x = self.res(x, t_emb)
        if self.attn is not None:
            x = self.attn(x)
        if self.cross is not None and context is not None:
            x = self.cross(x, context)
        return x


class Upsample(tnn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = tnn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(TF.interpolate(x, scale_factor=2, mode="nearest"))


class DiffusionUNet(tnn.Module):
    def __init__(self, in_channels=1, base_channels=32, channel_mults=(1, 2, 2),
                 attention_levels=(1, 2), num_tokens=None, context_dim=None, num_heads=1,
                 mid_attention=True, pooled_prompt=True, out_channels=None, max_groups=8,
                 dropout=0.0):
        super().__init__()
        L, time_dim = len(channel_mults), 4 * base_channels
        context_dim = (context_dim or time_dim) if num_tokens else None
        c = [base_channels * m for m in channel_mults]

        def level(cin, cout, attention):
            return Level(cin, cout, time_dim, attention, context_dim, num_heads, max_groups,
                         dropout)

        self.time_mlp = TimestepMLP(base_channels, time_dim)
        self.token_embedding = tnn.Embedding(num_tokens, context_dim) if num_tokens else None
        self.prompt_proj = (tnn.Linear(context_dim, time_dim) if num_tokens and pooled_prompt
                            else None)
        self.conv_in = tnn.Conv2d(in_channels, c[0], 3, padding=1)
        self.down = tnn.ModuleList(level(c[k - 1] if k else c[0], c[k], k in attention_levels)
                                   for k in range(L))
        self.downsample = tnn.ModuleList(tnn.Conv2d(c[k], c[k], 3, stride=2, padding=1)
                                         for k in range(L - 1))
        self.mid = level(c[-1], c[-1], mid_attention)
        self.mid_res = ResBlock(c[-1], c[-1], time_dim, max_groups, dropout)
        below = [c[k + 1] if k < L - 1 else c[-1] for k in range(L)]
        self.upsample = tnn.ModuleList(Upsample(below[k]) for k in reversed(range(L - 1)))
        self.up = tnn.ModuleList(level(below[k] + c[k], c[k], k in attention_levels)
                                 for k in reversed(range(L)))
        self.norm_out = tnn.GroupNorm(norm_groups(c[0], max_groups), c[0])
        self.conv_out = tnn.Conv2d(c[0], out_channels or in_channels, 3, padding=1)

    def forward(self, x, t, cond=None):
        t = torch.as_tensor(t, device=x.device)
        t = t.expand(x.shape[0]) if t.ndim == 0 else t
        t_emb = self.time_mlp(t)
        context = None
        if cond is not None:
            context = self.token_embedding(torch.as_tensor(cond, device=x.device))
            if self.prompt_proj is not None:
                t_emb = t_emb + self.prompt_proj(context.mean(dim=1))
        h, skips = self.conv_in(x), []
        for k, level in enumerate(self.down):
            h = level(h, t_emb, context)
            skips.append(h)
            if k < len(self.downsample):
                h = self.downsample[k](h)
        h = self.mid_res(self.mid(h, t_emb, context), t_emb)
        for i, level in enumerate(self.up):
            if i > 0:
                h = self.upsample[i - 1](h)
            h = level(torch.cat([h, skips[len(self.up) - 1 - i]], dim=1), t_emb, context)
        return self.conv_out(TF.silu(self.norm_out(h)))
