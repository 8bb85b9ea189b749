"""Task 1.3: the engine's backward walk: topological order, gradients summed over paths."""

import numpy as np
import pytest
from graded_checks import assert_close

from tinyunet.autograd import topological_order
from tinyunet.gradcheck import gradcheck
from tinyunet.tensor import Tensor


def _random_graph(rng):
    """A random DAG of + - * over two leaves that need grad and one that does not."""
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    leaves = [Tensor(rng.standard_normal(shape), requires_grad=True),
              Tensor(rng.standard_normal(shape), requires_grad=True),
              Tensor(rng.standard_normal(shape))]
    nodes = list(leaves)
    for _ in range(int(rng.integers(6, 14))):
        a, b = (nodes[int(i)] for i in rng.integers(0, len(nodes), size=2))
        nodes.append([a + b, a - b, a * b][int(rng.integers(3))])
    root = nodes[-1]
    for n in nodes[len(leaves):-1]:
        if rng.random() < 0.5:
            root = root + n  # more shared subgraphs: several paths into one node
    return leaves, root


@pytest.mark.task("1.3", points=2)
@pytest.mark.parametrize("case", range(3))
def test_topological_order(case, rng):
    leaves, root = _random_graph(rng)
    order = topological_order(root)
    ids = [id(t) for t in order]
    assert len(ids) == len(set(ids)), "a tensor appears twice in the order"
    assert order and order[-1] is root, "the root must come last (after everything it uses)"
    position = {id(t): i for i, t in enumerate(order)}
    for t in order:
        assert t.requires_grad, "a tensor that needs no gradient is in the order"
        for parent in (t._node.inputs if t._node is not None else ()):
            if parent.requires_grad:
                assert id(parent) in position, "an input of a listed tensor is missing"
                assert position[id(parent)] < position[id(t)], "a tensor comes before its input"
    assert id(leaves[2]) not in position


@pytest.mark.task("1.3", points=2)
def test_paths_into_a_tensor_are_summed(rng):
    """y = x*x + 3x and the diamond z = (2x)(3x): every use of x adds its own path."""
    x = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    g = rng.standard_normal((3, 4))
    (x * x + x * 3.0).backward(g)
    assert_close(x.grad, g * (2 * x.data + 3), "dL/dx of x*x + 3x")
    x.grad = None
    ((x * 2.0) * (x * 3.0)).backward(g)
    assert_close(x.grad, g * 12 * x.data, "dL/dx of (2x)(3x)")


@pytest.mark.task("1.3", points=1)
def test_leaf_gradients_accumulate_across_backward_calls(rng):
    x = Tensor(rng.standard_normal((2, 3)), requires_grad=True)
    g1, g2 = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    (x * 2.0).backward(g1)
    (x * 5.0).backward(g2)
    assert_close(x.grad, 2 * g1 + 5 * g2, "x.grad after two backward calls (no zero_grad)")


@pytest.mark.task("1.3", points=2)
def test_gradcheck_with_broadcasting(rng):
    a = Tensor(rng.standard_normal((int(rng.integers(2, 4)), 1, 3)), requires_grad=True)
    b = Tensor(rng.standard_normal((3,)), requires_grad=True)
    gradcheck(lambda a, b: ((a * b + a) / (b * b + 1.0)).sum(), (a, b),
              seed=int(rng.integers(2**31)))


@pytest.mark.task("1.3", points=1)
def test_a_deep_graph_needs_no_recursion(rng):
    """3000 ops in a chain: a recursive walk would hit Python's recursion limit."""
    x = Tensor(rng.standard_normal((2,)), requires_grad=True)
    y, c = x, rng.uniform(0.5, 1.5)
    for _ in range(3000):
        y = y + x * c
    y.backward(np.ones(2))
    assert_close(x.grad, np.full(2, 1 + 3000 * c), "dy/dx of a 3000-op chain", rtol=1e-9)
