"""The autograd engine: the backward walk over the recorded graph.

Each Tensor produced by an op remembers a node (``function.Node``): which ``Function`` made it,
the ``ctx`` its forward filled, and the input Tensors. ``backward`` visits the nodes from the
output back to the leaves in reverse topological order, so a node's gradient is complete (every
path into it summed) before it is pushed further. The order is found with an explicit stack,
not recursion, so a graph thousands of ops deep needs no recursion limit.

Gradients *accumulate* into leaves' ``.grad``, as in PyTorch: call ``zero_grad()`` (or set
``.grad = None``) between steps. After a backward the graph's saved arrays are freed, so a
second backward through it raises instead of silently adding the same gradients again; pass
``retain_graph=True`` to keep it.
"""

from __future__ import annotations

from .broadcast import unbroadcast


def topological_order(root) -> list:
    """Tensors that lead to ``root`` and need grad, each after all of its inputs."""
    # BEGIN SOLUTION task=1.3 hint="use an explicit stack: a deep graph must not recurse"
    order, visited = [], set()
    stack = [(root, False)]
    while stack:
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in visited:
            continue
        visited.add(id(tensor))
        stack.append((tensor, True))
        if tensor._node is not None:
            for parent in tensor._node.inputs:
                if parent.requires_grad and id(parent) not in visited:
                    stack.append((parent, False))
    return order
    # END SOLUTION


def backward(root, grad, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf), weighted by ``grad``, into every leaf's ``.grad``."""
    grads = {id(root): grad}
    order = topological_order(root)
    while order:  # popped, not iterated: a finished tensor (and its array) is freed at once
        tensor = order.pop()
        key = id(tensor)
        if grads.get(key) is None:
            continue
        node = tensor._node
        if node is None:  # a leaf: this is where gradients are kept
            g = grads.pop(key)
            # BEGIN SOLUTION task=1.3 hint="a leaf keeps its gradient in .grad: accumulate"
            tensor.grad = g.copy() if tensor.grad is None else tensor.grad + g
            # END SOLUTION
            continue
        if node.ctx is None:
            raise RuntimeError(
                "Trying to backward through the graph a second time: its saved arrays were "
                "freed by the first backward. Pass retain_graph=True to the first call if you "
                "really mean to, and remember that gradients accumulate (zero_grad between steps)."
            )
        # The engine keeps no reference to what a backward may be done with before it returns:
        # the gradient is popped as it is handed over, the output tensor let go (its consumers
        # are done), and the ctx told whether this is its last use (no retain_graph), when a
        # backward may drop saved arrays once read. Each is then freed as soon as it can be.
        del tensor
        node.ctx.last_use = not retain_graph
        input_grads = node.fn.backward(node.ctx, grads.pop(key))
        if not isinstance(input_grads, tuple):
            input_grads = (input_grads,)
        if len(input_grads) != len(node.inputs):
            raise RuntimeError(
                f"{node.fn.__name__}.backward returned {len(input_grads)} gradients for "
                f"{len(node.inputs)} inputs"
            )
        for parent, gp in zip(node.inputs, input_grads):
            if gp is None or not parent.requires_grad:
                continue
            gp = unbroadcast(gp, parent.shape).astype(parent.dtype, copy=False)
            key = id(parent)
            # BEGIN SOLUTION task=1.3 hint="a tensor used twice receives the sum of both paths"
            grads[key] = gp if key not in grads else grads[key] + gp
            # END SOLUTION
        input_grads = gp = parent = None  # the dict holds what is still to come: let go
        if not retain_graph:
            node.ctx, node.inputs = None, ()
