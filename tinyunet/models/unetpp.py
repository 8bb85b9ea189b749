"""U-Net++ (Zhou et al. 2018): the U-Net with its skips redesigned as nested, dense paths.

What changes: the way up. In the U-Net the encoder map of level i crosses to the decoder in one
jump; U-Net++ fills the space between them with a grid of nodes. Node x^{i,j} (level i, column
j) sees every node to its left on its own row and the upsampled node below-left::

    x^{i,0}  = the encoder (x^{depth,0} the bottleneck)
    x^{i,j}  = H([x^{i,0}, ..., x^{i,j-1}, U(x^{i+1,j-1})])     for j >= 1, i + j <= depth

H is the U-Net's ``ConvBlock``, U its up-sampler and [...] a concatenation (``DenseSkip``), so
the semantic gap each skip bridges is small. Keep only the grid's outer edge, each x^{i,depth-i}
fed by x^{i,0} and the node below alone, and it is the U-Net again.

Deep supervision (``deep_supervision=True``) puts a 1x1 head on every x^{0,j}, j = 1..depth
(``head_j``; x^{0,depth} keeps the U-Net's ``head``). Each is a whole segmenter of depth j, so
at inference the grid can be pruned: ``model(x, prune=k)`` computes only the nodes with
i + j <= k (the first k columns, the encoder down to level k) and answers with ``head_k``:
cheaper, a little less accurate. ``model(x, all_heads=True)`` returns every head's logits
[y^1, ..., y^k], to train with ``deep_supervision_loss``.

Side by side with ``unet.py`` the lines that differ are ``build_up_path`` (the grid replaces
``ups``/``skip``/``decoder``) and ``forward`` (the walk through the grid); the encoder,
pools, bottleneck and head are the U-Net's. Nodes are named by the math: ``x_0_2`` is x^{0,2},
``up_0_2`` and ``skip_0_2`` the U and the concatenation that feed it.
"""

from __future__ import annotations

from .. import nn
from ..ops.concat import cat
from .unet import UNet


class DenseSkip(nn.Module):
    """``cat([x^{i,0}, ..., x^{i,j-1}, U(x^{i+1,j-1})], dim=1)``: the row so far, then below."""

    def forward(self, *maps):
        return cat(list(maps), dim=1)


class UNetPlusPlus(UNet):
    """U-Net++; see the module docstring. Arguments as ``UNet`` (no ``skips``: the grid is all
    skips; 'same' padding only), plus ``deep_supervision``."""

    changes = "nested dense skips: x^{i,j} = H([x^{i,0}, ..., x^{i,j-1}, U(x^{i+1,j-1})])"
    changed_stages = ("up_*", "skip_*", "x_*", "head_*")

    def __init__(self, in_channels: int = 1, num_classes: int = 2, base_channels: int = 16,
                 depth: int = 4, padding: str = "same", up_mode: str = "transposed",
                 norm: str | None = None, deep_supervision: bool = False):
        if padding != "same":
            raise NotImplementedError(
                f"UNetPlusPlus: padding={padding!r} is not supported ('same' only: with 'valid' "
                "every node of the grid would need its own crop)")
        super().__init__(in_channels, num_classes, base_channels, depth, padding, up_mode,
                         norm=norm)
        self.config = dict(in_channels=in_channels, num_classes=num_classes,
                           base_channels=base_channels, depth=depth, padding=padding,
                           up_mode=up_mode, norm=norm, deep_supervision=deep_supervision)
        for j in range(1, depth if deep_supervision else 1):
            self.add_module(f"head_{j}", nn.Conv2d(self.channels[0], num_classes, 1))

    def build_up_path(self):
        c, depth = self.channels, self.config["depth"]
        for j in range(1, depth + 1):  # column by column, in the order forward runs them
            for i in range(depth + 1 - j):
                self.add_module(f"up_{i}_{j}", self.make_up(i))
                self.add_module(f"skip_{i}_{j}", DenseSkip())
                self.add_module(f"x_{i}_{j}", self.make_block(j * c[i] + self.up_channels(i), c[i]))

    def node(self, kind: str, i: int, j: int) -> nn.Module:
        """``node("x", 0, 2)`` is the block computing x^{0,2}; "up", "skip" feed it."""
        return getattr(self, f"{kind}_{i}_{j}")

    def head_of(self, j: int) -> nn.Module:
        return self.head if j == self.config["depth"] else getattr(self, f"head_{j}")

    def forward(self, x, prune: int | None = None, all_heads: bool = False):
        depth = self.config["depth"]
        k = depth if prune is None else prune
        if not 1 <= k <= depth:
            raise ValueError(f"UNetPlusPlus(depth={depth}): prune must be in 1..{depth}, got {k}")
        if (k < depth or all_heads) and not self.config["deep_supervision"]:
            raise ValueError("UNetPlusPlus: prune and all_heads need deep_supervision=True (only "
                             "then does every column have a head trained to segment)")
        self.check_size(x)
        X = {}  # X[i, j] = x^{i,j}
        for i in range(k + 1):  # down the encoder, only as deep as column k reaches
            h = x if i == 0 else self.pool[i - 1](X[i - 1, 0])
            X[i, 0] = self.encoder[i](h) if i < depth else self.bottleneck(h)
        for j in range(1, k + 1):  # then column by column: i + j <= k
            for i in range(k + 1 - j):
                below = self.node("up", i, j)(X[i + 1, j - 1])
                stacked = self.node("skip", i, j)(*(X[i, m] for m in range(j)), below)
                X[i, j] = self.node("x", i, j)(stacked)
        if all_heads:
            return [self.head_of(j)(X[0, j]) for j in range(1, k + 1)]
        return self.head_of(k)(X[0, k])


def deep_supervision_loss(loss_fn):
    """``loss(outputs, target)`` = the mean of ``loss_fn`` over a list of heads' logits (the
    paper's deep supervision: every head is trained to segment)."""

    def loss(outputs, target):
        total = loss_fn(outputs[0], target)
        for out in outputs[1:]:
            total = total + loss_fn(out, target)
        return total / len(outputs)

    return loss
