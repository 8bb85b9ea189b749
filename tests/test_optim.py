"""Optimizers and schedulers against torch.optim: identical trajectories in float64 on the
same problem, checkpoints that resume exactly, and the same learning-rate schedules."""

import numpy as np
import pytest

import tinyunet as tu
import tinyunet.optim as optim
import tinyunet.optim.lr_scheduler as lr_scheduler
from tinyunet.nn import Parameter

STEPS = 10
_rng = np.random.default_rng(0)
A, B = _rng.standard_normal((5, 3)), _rng.standard_normal((5, 2))
C, D = _rng.standard_normal(4), _rng.uniform(0.5, 2.0, 4)
W0, V0 = _rng.standard_normal((3, 2)), _rng.standard_normal(4)


def quadratic(to_tensor):
    """A quadratic bowl in two parameters, 0.5 |A W - B|^2 + sum d (v - c)^2, written with
    either framework's tensors (``to_tensor`` lifts the constants)."""
    a, b, c, d = map(to_tensor, (A, B, C, D))
    return lambda W, v: 0.5 * ((a @ W - b) ** 2).sum() + (d * (v - c) ** 2).sum()


def trajectory(optimizer, params, loss, steps=STEPS):
    """Parameter values after each of ``steps`` optimizer steps."""
    path = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss(*params).backward()
        optimizer.step()
        path.append([np.array(p.detach().numpy()) for p in params])
    return path


def ours_and_torch_params(torch):
    ours = [Parameter(W0.copy()), Parameter(V0.copy())]
    theirs = [torch.tensor(W0, requires_grad=True), torch.tensor(V0, requires_grad=True)]
    return ours, theirs


OPTIMIZERS = [
    pytest.param(lambda o, p: o.SGD(p, lr=0.05), id="sgd"),
    pytest.param(lambda o, p: o.SGD(p, lr=0.05, momentum=0.9), id="sgd-momentum"),
    pytest.param(lambda o, p: o.SGD(p, lr=0.05, momentum=0.9, dampening=0.3),
                 id="sgd-dampening"),
    pytest.param(lambda o, p: o.SGD(p, lr=0.05, momentum=0.9, nesterov=True), id="sgd-nesterov"),
    pytest.param(lambda o, p: o.SGD(p, lr=0.05, momentum=0.5, weight_decay=0.1),
                 id="sgd-weight_decay"),
    pytest.param(lambda o, p: o.SGD(p, lr=0.01, maximize=True), id="sgd-maximize"),
    pytest.param(lambda o, p: o.SGD([{"params": p[:1], "lr": 0.1}, {"params": p[1:]}],
                                    lr=0.02, momentum=0.9), id="sgd-param-groups"),
    pytest.param(lambda o, p: o.Adam(p, lr=0.1), id="adam"),
    pytest.param(lambda o, p: o.Adam(p, lr=0.1, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
                 id="adam-weight_decay"),
    pytest.param(lambda o, p: o.Adam(p, lr=0.1, amsgrad=True), id="adam-amsgrad"),
    pytest.param(lambda o, p: o.AdamW(p, lr=0.1), id="adamw"),
    pytest.param(lambda o, p: o.AdamW(p, lr=0.1, weight_decay=0.5, amsgrad=True),
                 id="adamw-amsgrad"),
]


@pytest.mark.parametrize("make", OPTIMIZERS)
def test_trajectory_matches_torch(torch, make):
    ours, theirs = ours_and_torch_params(torch)
    our_path = trajectory(make(optim, ours), ours, quadratic(tu.Tensor))
    their_path = trajectory(make(torch.optim, theirs), theirs, quadratic(torch.from_numpy))
    assert not np.allclose(our_path[-1][0], W0)  # it moved
    for step, (a, b) in enumerate(zip(our_path, their_path)):
        for p_ours, p_theirs in zip(a, b):
            np.testing.assert_allclose(p_ours, p_theirs, rtol=0, atol=1e-10,
                                       err_msg=f"after step {step + 1}")


@pytest.mark.parametrize("make", [OPTIMIZERS[3], OPTIMIZERS[9], OPTIMIZERS[11]])
def test_state_dict_round_trip_continues_identically(make):
    loss = quadratic(tu.Tensor)
    params = [Parameter(W0.copy()), Parameter(V0.copy())]
    optimizer = make(optim, params)
    trajectory(optimizer, params, loss, steps=4)
    state = optimizer.state_dict()
    saved = [p.data.copy() for p in params]
    expected = trajectory(optimizer, params, loss, steps=4)  # uninterrupted

    for entry in state["state"].values():  # plain arrays and numbers: a file can hold them
        assert all(isinstance(v, (np.ndarray, int, float)) for v in entry.values())
    resumed_params = [Parameter(a) for a in saved]
    resumed = make(optim, resumed_params)
    for group in resumed.param_groups:
        group["lr"] = 123.0  # overwritten by the loaded hyper-parameters
    resumed.load_state_dict(state)
    got = trajectory(resumed, resumed_params, loss, steps=4)
    for a, b in zip(got, expected):
        for p_got, p_expected in zip(a, b):
            np.testing.assert_array_equal(p_got, p_expected)


def test_load_state_dict_checks_groups_and_shapes():
    params = [Parameter(W0.copy()), Parameter(V0.copy())]
    optimizer = optim.SGD(params, lr=0.1, momentum=0.9)
    trajectory(optimizer, params, quadratic(tu.Tensor), steps=1)
    state = optimizer.state_dict()
    with pytest.raises(ValueError, match="parameter group 0 .* has 2 parameters, but the "
                                         "optimizer's has 1"):
        optim.SGD([Parameter(W0)], lr=0.1).load_state_dict(state)
    swapped = optim.SGD([Parameter(V0), Parameter(W0)], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match=r"'momentum_buffer' has shape \(3, 2\) but its "
                                         r"parameter has shape \(4,\)"):
        swapped.load_state_dict(state)


def test_zero_grad_and_argument_errors():
    p = Parameter(np.ones(3))
    optimizer = optim.SGD([p], lr=0.1)
    (p * p).sum().backward()
    optimizer.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, np.zeros(3))
    optimizer.zero_grad()
    assert p.grad is None
    optimizer.step()  # parameters without a gradient are left alone
    np.testing.assert_array_equal(p.data, np.ones(3))
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


# ----- schedulers ---------------------------------------------------------------------------

SCHEDULERS = [
    pytest.param(lambda s, o: s.StepLR(o, step_size=3, gamma=0.5), id="step"),
    pytest.param(lambda s, o: s.StepLR(o, step_size=1, gamma=0.9), id="step-every-epoch"),
    pytest.param(lambda s, o: s.CosineAnnealingLR(o, T_max=7, eta_min=0.01), id="cosine-past-T"),
    pytest.param(lambda s, o: s.CosineAnnealingLR(o, T_max=20), id="cosine"),
]


def lr_history(param, optim_module, scheduler_module, make, epochs=20, resume_at=None):
    """get_last_lr() of two parameter groups at each epoch; optionally checkpoint the
    optimizer and scheduler at ``resume_at`` and continue with fresh, reloaded ones."""

    def build(param):
        optimizer = optim_module.SGD([{"params": [param]}, {"params": [], "lr": 0.2}], lr=0.5,
                                     momentum=0.9)
        return optimizer, make(scheduler_module, optimizer)

    optimizer, scheduler = build(param)
    history = []
    for epoch in range(epochs):
        if epoch == resume_at:
            states = optimizer.state_dict(), scheduler.state_dict()
            optimizer, scheduler = build(param)
            optimizer.load_state_dict(states[0])
            scheduler.load_state_dict(states[1])
        history.append(scheduler.get_last_lr())
        optimizer.step()
        scheduler.step()
    return history


@pytest.mark.parametrize("make", SCHEDULERS)
def test_scheduler_lrs_equal_torch(torch, make):
    expected = lr_history(torch.ones(2, requires_grad=True), torch.optim,
                          torch.optim.lr_scheduler, make)
    param = Parameter(np.ones(2))
    assert lr_history(param, optim, lr_scheduler, make) == expected
    assert lr_history(param, optim, lr_scheduler, make, resume_at=8) == expected
    assert len({lrs[0] for lrs in expected}) > 5  # the schedule really moves


def test_scheduler_resume_needs_initial_lr():
    optimizer = optim.SGD([Parameter(np.ones(2))], lr=0.1)
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(optimizer, step_size=2, last_epoch=5)
