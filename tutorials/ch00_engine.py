# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 0. One step through the engine
#
# Before the U-Net, the machine it runs on. This chapter follows one tiny network, a 3x3
# convolution, a ReLU, a 2x2 max-pool and a cross-entropy loss, through one forward and one
# backward pass, and stops at every layer of tinyunet on the way: the `Tensor` you hold, the
# `Function` that records what made it, the op that checks the arguments, and the reference
# kernel whose loops are the formula. At each stop it prints the numbers. At the end one
# gradient is checked twice, by hand from the formula and by finite differences.
#
# | stop | file | what it does |
# | --- | --- | --- |
# | `Tensor` | [tensor.py](../tinyunet/tensor.py#Tensor) | an array, its `.grad`, and the node that made it |
# | `Function` | [function.py](../tinyunet/function.py#Function.apply) | runs `forward`, records a `Node` for the backward |
# | op | [ops/conv.py](../tinyunet/ops/conv.py#Conv2d) | forward and backward side by side |
# | kernel | [kernels/reference/conv.py](../tinyunet/kernels/reference/conv.py#conv2d) | the loops that read as the formula |
# | engine | [autograd.py](../tinyunet/autograd.py#backward) | walks the graph backwards, summing gradients |

# %%
import numpy as np
from bookkit import show

import tinyunet as tu
import tinyunet.functional as F
from tinyunet.autograd import topological_order
from tinyunet.kernels.reference import conv as reference_conv

tu.set_kernels("reference")  # every spatial op through the readable loops in this chapter
rng = np.random.default_rng(0)
np.set_printoptions(precision=3, suppress=True)

# %% [markdown]
# ## Stop 1: a Tensor
#
# A `Tensor` is a NumPy array (`.data`) plus what autograd needs: `.requires_grad`, a `.grad`
# that starts empty, and `._node`, the record of the op that made it. Tensors we create
# ourselves have no node: they are *leaves*, where gradients end up. We work in float64 so the
# finite-difference check at the end is exact to many digits.

# %%
x = tu.Tensor(rng.normal(size=(1, 1, 6, 6)), requires_grad=True)   # one 6x6 image
w = tu.Tensor(rng.normal(size=(2, 1, 3, 3)) * 0.5, requires_grad=True)  # 2 filters, 3x3
b = tu.Tensor(np.array([0.1, -0.1]), requires_grad=True)
target = np.array([[[0, 1], [1, 0]]])  # one class per pooled pixel: (N, H, W) = (1, 2, 2)
print("x:", x.shape, x.dtype, "grad:", x.grad, "node:", x._node, "leaf:", x.is_leaf)
print(x.data[0, 0])

# %% [markdown]
# ## Stop 2: the convolution, from the op down to the loops
#
# `F.conv2d` checks the arguments and calls `Conv2d.apply`. [`Function.apply`](../tinyunet/function.py#Function.apply)
# unwraps the Tensors to arrays, calls [`Conv2d.forward`](../tinyunet/ops/conv.py#Conv2d.forward),
# wraps the result in a new Tensor and, because an input needs a gradient, gives it a `Node`:
# the Function class, the `ctx` the forward filled, and the input Tensors.

# %%
y = F.conv2d(x, w, b)
node = y._node
print("y:", y.shape, "made by", node.fn.__name__, "from", [t.shape for t in node.inputs])
print("saved for backward:", [None if a is None else a.shape for a in node.ctx.saved_tensors],
      "stride", node.ctx.stride, "padding", node.ctx.padding)

# %% [markdown]
# `Conv2d.forward` hands the loops to the selected kernel set. The reference kernel
# [`conv2d`](../tinyunet/kernels/reference/conv.py#conv2d) is the formula written as loops,
#
#     y[n, co, oh, ow] = b[co] + sum_{ci, kh, kw} w[co, ci, kh, kw] * x[n, ci, oh + kh, ow + kw]
#
# (stride 1, no padding). Call it directly on the arrays, and compute one output by hand:

# %%
direct = reference_conv.conv2d(x.data, w.data, b.data, (1, 1), (0, 0), (1, 1))
by_hand = b.data[1] + (w.data[1, 0] * x.data[0, 0, 2:5, 1:4]).sum()  # y[0, 1, 2, 1]
print("kernel == op:", np.array_equal(direct, y.data))
print(f"y[0, 1, 2, 1]: op {y.data[0, 1, 2, 1]:.6f}, by hand {by_hand:.6f}")
print(y.data[0, 0])

# %% [markdown]
# ## Stops 3 and 4: ReLU and max-pool
#
# [`ReLU.forward`](../tinyunet/ops/activation.py#ReLU) keeps `max(x, 0)` and saves its output
# (where it is zero, the gradient will be zero). [`MaxPool2d`](../tinyunet/ops/pool.py#MaxPool2d)
# keeps the largest value of each 2x2 window and saves *which* one won
# ([`max_pool2d`](../tinyunet/kernels/reference/pool.py#max_pool2d), the loops); the backward
# ([`max_pool2d_backward`](../tinyunet/kernels/reference/pool.py#max_pool2d_backward)) sends the
# window's whole gradient to that winner.

# %%
r = F.relu(y)
p = F.max_pool2d(r, 2)
print("relu zeroed", int((r.data == 0).sum()), "of", r.data.size, "values")
print("pooled:", p.shape, "made by", p._node.fn.__name__)
print(p.data[0])

# %% [markdown]
# ## Stop 5: the loss
#
# The pooled map has two channels, read as two class logits per pixel. Cross-entropy is the
# mean over the 4 pixels of `-log softmax(z)[true class]`
# ([`CrossEntropy`](../tinyunet/ops/cross_entropy.py#CrossEntropy)):

# %%
loss = F.cross_entropy(p, target)
z = p.data[0]  # (2 classes, 2, 2)
log_softmax = z - np.log(np.exp(z).sum(axis=0))
by_hand_loss = -np.mean([log_softmax[target[0, i, j], i, j] for i in range(2) for j in range(2)])
print(f"loss {loss.item():.6f}, by hand {by_hand_loss:.6f}")

# %% [markdown]
# ## The backward walk, one stop at a time
#
# `loss.backward()` asks [`autograd.backward`](../tinyunet/autograd.py#backward) to visit the
# recorded nodes from the loss back to the leaves, each after every path into it is summed
# ([`topological_order`](../tinyunet/autograd.py#topological_order)). Here is the order:

# %%
order = [t for t in reversed(topological_order(loss))]
print(" -> ".join(t._node.fn.__name__ if t._node else f"leaf{t.shape}" for t in order))

# %% [markdown]
# The engine calls each node's `backward(ctx, grad)`. We make the same calls by hand, so every
# gradient on the way is visible. Cross-entropy's is `(softmax - onehot) / 4`; max-pool puts
# it on the four winners; ReLU zeroes it where the conv's output was negative; and
# [`Conv2d.backward`](../tinyunet/ops/conv.py#Conv2d.backward) gives three gradients: the
# input's (a *transposed* convolution of the gradient: the adjoint pair), the weight's
# ([`conv2d_grad_weight`](../tinyunet/kernels/reference/conv.py#conv2d_grad_weight)) and the
# bias's (a sum).

# %%
(g_p,) = loss._node.fn.backward(loss._node.ctx, np.float64(1.0))  # dL/dL = 1
g_r = p._node.fn.backward(p._node.ctx, g_p)
g_y = r._node.fn.backward(r._node.ctx, g_r)
g_x, g_w, g_b = y._node.fn.backward(y._node.ctx, g_y)
softmax = np.exp(log_softmax)
onehot = np.stack([target[0] == 0, target[0] == 1])
print("dL/dpooled:\n", g_p[0], "\n(softmax - onehot) / 4:\n", (softmax - onehot) / 4)
print("dL/drelu, channel 0 (non-zero only at the pool winners):\n", g_r[0, 0])
print("dL/dw[0]:\n", g_w[0, 0])

# %% [markdown]
# Now the engine does the same walk by itself and leaves the gradients in the leaves' `.grad`:

# %%
loss.backward()
print("w.grad == our walk:", np.allclose(w.grad, g_w), " x.grad == our walk:",
      np.allclose(x.grad, g_x), " b.grad:", b.grad)

# %% [markdown]
# ## One gradient, checked twice
#
# Take `dL/dw[0, 0, 1, 1]`. Differentiating the conv's formula by `w[co, ci, kh, kw]` leaves
# the input under that tap, weighted by the output gradient:
#
#     dL/dw[0, 0, 1, 1] = sum_{oh, ow} dL/dy[0, 0, oh, ow] * x[0, 0, oh + 1, ow + 1]
#
# And by finite differences: nudge that one weight by plus and minus `eps`, run the forward
# again, and take `(L+ - L-) / (2 eps)`.

# %%
hand = float((g_y[0, 0] * x.data[0, 0, 1:5, 1:5]).sum())


def loss_at(weight):
    out = F.max_pool2d(F.relu(F.conv2d(x.data, weight, b.data)), 2)
    return F.cross_entropy(out, target).item()


eps = 1e-6
w_plus, w_minus = w.data.copy(), w.data.copy()
w_plus[0, 0, 1, 1] += eps
w_minus[0, 0, 1, 1] -= eps
numeric = (loss_at(w_plus) - loss_at(w_minus)) / (2 * eps)
print(f"engine {w.grad[0, 0, 1, 1]:.10f}\nhand   {hand:.10f}\nfinite {numeric:.10f}")

# %% [markdown]
# [`tu.gradcheck`](../tinyunet/gradcheck.py#gradcheck) does that for every entry of every input
# at once (it would name the element that disagrees):

# %%
chain = lambda x_, w_, b_: F.cross_entropy(F.max_pool2d(F.relu(F.conv2d(x_, w_, b_)), 2),
                                           target)
fresh = [tu.Tensor(t.data.copy(), requires_grad=True) for t in (x, w, b)]
print("gradcheck:", tu.gradcheck(chain, fresh))

# %% [markdown]
# ## The figure: forward on top, backward below
#
# Each column is one stop (channel 0). The bottom row is the gradient the backward walk left
# there: it has the shape of the tensor above it, max-pool let only the four window winners
# through, and ReLU blocked the positions where the conv's output was negative.

# %%
import matplotlib.pyplot as plt  # noqa: E402

fig, ax = plt.subplots(2, 4, figsize=(12, 6), layout="constrained")
stops = [("input x", x.data[0, 0], g_x[0, 0]), ("conv y, channel 0", y.data[0, 0], g_y[0, 0]),
         ("relu(y), channel 0", r.data[0, 0], g_r[0, 0]),
         ("max-pool, channel 0", p.data[0, 0], g_p[0, 0])]
for j, (name, value, grad) in enumerate(stops):
    for i, (array, label, cmap) in enumerate(((value, "value", "viridis"),
                                               (grad, "dL/d" + name.split()[0], "RdBu_r"))):
        lim = np.abs(array).max() or 1.0
        im = ax[i, j].imshow(array, cmap=cmap, vmin=-lim if i else array.min(),
                             vmax=lim if i else array.max())
        ax[i, j].set_title(f"{name if i == 0 else label} {array.shape}", fontsize=10)
        ax[i, j].set_xlabel("column (pixel)")
        ax[i, j].set_ylabel("row (pixel)")
        fig.colorbar(im, ax=ax[i, j], shrink=0.8, label=label)
fig.suptitle(f"forward (top) and backward (bottom) of conv -> ReLU -> max-pool -> "
             f"cross-entropy; loss = {loss.item():.4f}")
show(fig, "Backward retraces forward stop by stop: max-pool passes gradient only to its "
          "winners and ReLU blocks it where the conv was negative.")

# %% [markdown]
# The same numbers come out of the fast kernels (numba), which the tests hold to these loops.
# The fast [`conv2d`](../tinyunet/kernels/numba_cpu/conv.py#conv2d) has the reference
# kernel's signature and picks an algorithm per layer (im2col and one matrix product, a
# direct 3x3 loop, or Winograd); the tests compare all of them with the loops above and with
# PyTorch.

# %%
tu.set_kernels("numba")
fast = F.conv2d(x.data, w.data, b.data).data
print("numba == reference:", np.allclose(fast, y.data, atol=1e-12))

# %% [markdown]
# ## What this chapter showed, as asserts
#
# A chapter is a test: these lines fail the book's build if the numbers above stop holding.

# %%
assert x.is_leaf and y._node.fn.__name__ == "Conv2d" and p._node.fn.__name__ == "MaxPool2d"
assert np.array_equal(direct, y.data) and np.isclose(by_hand, y.data[0, 1, 2, 1])
assert y.shape == (1, 2, 4, 4) and p.shape == (1, 2, 2, 2)
assert np.isclose(loss.item(), by_hand_loss)
assert np.allclose(g_p[0], (softmax - onehot) / 4)
assert (g_r[0, 0] != 0).sum() <= 4  # one winner per 2x2 window
assert np.all(g_y[r.data == 0] == 0)  # ReLU blocks where it output zero
assert np.allclose(w.grad, g_w) and np.allclose(x.grad, g_x)
assert np.allclose(b.grad, g_y.sum(axis=(0, 2, 3)))
assert abs(hand - w.grad[0, 0, 1, 1]) < 1e-12
assert abs(numeric - w.grad[0, 0, 1, 1]) < 1e-7
assert np.allclose(fast, y.data, atol=1e-12)
print("chapter 0: all asserts hold")
