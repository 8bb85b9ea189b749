"""Attention: the one-Function scaled dot-product attention against its composition from basic
ops and against PyTorch (values and gradients), float64 gradcheck, errors; the self- and
cross-attention layers against PyTorch twins with copied weights."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinyunet as tu
from tinyunet.nn.attention import CrossAttention2d, SelfAttention2d
from tinyunet.ops.attention import attention_reference, scaled_dot_product_attention


def _qkv(rng, batch, L, S, E, Ev, dtype=np.float64):
    q = rng.standard_normal(batch + (L, E)).astype(dtype)
    k = rng.standard_normal(batch + (S, E)).astype(dtype)
    v = rng.standard_normal(batch + (S, Ev)).astype(dtype)
    return q, k, v


def _grads(fn, arrays, upstream):
    ts = [tu.Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*ts)
    out.backward(upstream)
    return out.data, [t.grad for t in ts]


@settings(max_examples=15)
@given(batch=st.sampled_from([(), (2,), (2, 3)]), L=st.integers(1, 6), S=st.integers(1, 6),
       E=st.integers(1, 5), Ev=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_fused_attention_matches_composed_ops_and_torch(torch, batch, L, S, E, Ev, seed):
    rng = np.random.default_rng(seed)
    q, k, v = _qkv(rng, batch, L, S, E, Ev)
    g = rng.standard_normal(batch + (L, Ev))
    out, grads = _grads(scaled_dot_product_attention, (q, k, v), g)
    out_ref, grads_ref = _grads(attention_reference, (q, k, v), g)
    np.testing.assert_allclose(out, out_ref, rtol=1e-10, atol=1e-12)
    for a, b in zip(grads, grads_ref):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)

    qt, kt, vt = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    out_t = torch.nn.functional.scaled_dot_product_attention(qt, kt, vt)
    out_t.backward(torch.from_numpy(g))
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, t in zip(grads, (qt, kt, vt)):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("kind", ["bool", "float"])
def test_masks_and_broadcast_batch_match_torch(torch, kind):
    rng = np.random.default_rng(1)
    q = rng.standard_normal((2, 3, 4, 5))           # (N, heads, L, E)
    k = rng.standard_normal((1, 3, 6, 5))           # batch broadcast from 1
    v = rng.standard_normal((2, 1, 6, 2))           # heads broadcast from 1
    if kind == "bool":
        mask = rng.random((2, 1, 4, 6)) < 0.7
        mask[..., 0] = True                          # no row entirely masked
    else:
        mask = rng.standard_normal((4, 6))
    g = rng.standard_normal((2, 3, 4, 2))
    scale = 0.3
    fused = lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
    out, grads = _grads(fused, (q, k, v), g)
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    out_t = torch.nn.functional.scaled_dot_product_attention(*ts, attn_mask=torch.tensor(mask),
                                                             scale=scale)
    out_t.backward(torch.from_numpy(g))
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    for a, t in zip(grads, ts):
        assert a.shape == t.shape                    # broadcast dims summed back
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-9, atol=1e-11)
    composed = lambda q, k, v: attention_reference(q, k, v, attn_mask=mask, scale=scale)
    np.testing.assert_allclose(composed(q, k, v).data, out, rtol=1e-10, atol=1e-12)


def test_attention_rows_are_convex_combinations_of_values():
    rng = np.random.default_rng(2)
    q, k, v = _qkv(rng, (3,), 5, 7, 4, 3)
    out = scaled_dot_product_attention(q, k, v).data
    assert np.all(out <= v.max(axis=1, keepdims=True) + 1e-12)
    assert np.all(out >= v.min(axis=1, keepdims=True) - 1e-12)
    # a query that matches one key far better than the others copies that key's value
    k2 = np.eye(4)[None] * 50.0
    v2 = rng.standard_normal((1, 4, 3))
    out2 = scaled_dot_product_attention(np.eye(4)[None] * 50.0, k2, v2, scale=1.0).data
    np.testing.assert_allclose(out2, v2, atol=1e-9)


def test_float32_stays_float32_and_large_scores_do_not_overflow():
    rng = np.random.default_rng(3)
    q, k, v = _qkv(rng, (2,), 3, 4, 8, 2, dtype=np.float32)
    out = scaled_dot_product_attention(q * 1e4, k, v)
    assert out.dtype == np.float32 and np.isfinite(out.data).all()


@pytest.mark.parametrize("mask", [None, "bool"])
def test_attention_gradcheck_float64(mask):
    rng = np.random.default_rng(4)
    q, k, v = (tu.Tensor(a, requires_grad=True) for a in _qkv(rng, (2,), 3, 4, 2, 3))
    m = None if mask is None else np.array([[True, False, True, True]] * 3)
    assert tu.gradcheck(lambda q, k, v: scaled_dot_product_attention(q, k, v, attn_mask=m),
                        (q, k, v))


def test_attention_errors_name_the_shapes():
    q, k, v = np.zeros((2, 3, 4)), np.zeros((2, 5, 4)), np.zeros((2, 5, 6))
    with pytest.raises(ValueError, match=r"query \(2, 3, 4\) and key \(2, 5, 3\)"):
        scaled_dot_product_attention(q, np.zeros((2, 5, 3)), v)
    with pytest.raises(ValueError, match=r"key \(2, 5, 4\) and value \(2, 4, 6\)"):
        scaled_dot_product_attention(q, k, np.zeros((2, 4, 6)))
    with pytest.raises(ValueError, match="do not broadcast"):
        scaled_dot_product_attention(q, np.zeros((3, 5, 4)), np.zeros((3, 5, 6)))
    with pytest.raises(ValueError, match=r"attn_mask \(4, 4\)"):
        scaled_dot_product_attention(q, k, v, attn_mask=np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="query must be"):
        scaled_dot_product_attention(np.zeros(4), k, v)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes, options", [
    (((4, 3, 8), (4, 6, 8), (4, 6, 8)), dict(is_causal=True)),
    (((2, 4, 6, 8), (2, 4, 3, 8), (2, 4, 3, 5)), dict(is_causal=True, scale=0.3)),
    (((4, 3, 8), (4, 4, 6, 8), (4, 4, 6, 8)), {}),                      # query broadcasts
    (((2, 4, 3, 8), (2, 2, 6, 8), (2, 2, 6, 8)), dict(enable_gqa=True)),
    (((2, 6, 3, 8), (2, 2, 5, 8), (2, 2, 5, 4)), dict(enable_gqa=True, is_causal=True)),
    (((4, 4, 3, 8), (4, 4, 6, 8), (4, 4, 6, 8)), dict(attn_mask="float")),  # mask has a grad
])
def test_attention_options_match_torch(torch, dtype, shapes, options):
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s).astype(dtype) for s in shapes]
    options = dict(options)
    if options.pop("attn_mask", None):
        arrays.append(rng.standard_normal((3, 6)).astype(dtype))
    ours = [tu.Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    mask = {} if len(arrays) == 3 else {"attn_mask": ours[3]}
    y = scaled_dot_product_attention(*ours[:3], **mask, **options)
    mask = {} if len(arrays) == 3 else {"attn_mask": theirs[3]}
    ty = torch.nn.functional.scaled_dot_product_attention(*theirs[:3], **mask, **options)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=tol, atol=tol)
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(g)
    ty.backward(torch.tensor(g))
    for a, t in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.grad, t.grad.numpy(), rtol=tol, atol=tol)


def test_causal_attention_never_looks_ahead():
    rng = np.random.default_rng(0)
    q, k, v = rng.standard_normal((5, 4)), rng.standard_normal((5, 4)), rng.standard_normal((5, 3))
    y = scaled_dot_product_attention(q, k, v, is_causal=True).data
    v2 = v.copy()
    v2[3:] += 100.0  # the future changes ...
    y2 = scaled_dot_product_attention(q, k, v2, is_causal=True).data
    np.testing.assert_array_equal(y[:3], y2[:3])  # ... and the first three outputs do not


def test_attention_dropout_and_gqa_gradcheck():
    rng = np.random.default_rng(0)
    q = tu.Tensor(rng.standard_normal((1, 4, 3, 2)), requires_grad=True)
    k = tu.Tensor(rng.standard_normal((1, 2, 4, 2)), requires_grad=True)
    v = tu.Tensor(rng.standard_normal((1, 2, 4, 3)), requires_grad=True)

    def fn(q, k, v):
        tu.manual_seed(0)  # the same dropout mask at every evaluation
        return scaled_dot_product_attention(q, k, v, dropout_p=0.4, enable_gqa=True)

    assert tu.gradcheck(fn, (q, k, v))
    tu.manual_seed(1)
    P_drop = scaled_dot_product_attention(np.zeros((1, 1000, 2)), np.zeros((1, 4, 2)),
                                          np.eye(4)[None], dropout_p=0.25).data
    # every weight is 1/4 before dropout: after it, 0 or (1/4) / (1 - 0.25) = 1/3
    assert set(np.round(np.unique(P_drop), 12)) == {0.0, round(1 / 3, 12)}
    assert abs((P_drop == 0).mean() - 0.25) < 0.03


def test_attention_option_errors():
    q = np.zeros((2, 4, 3, 8))
    with pytest.raises(ValueError, match="not both"):
        scaled_dot_product_attention(q, q, q, attn_mask=np.ones((3, 3), bool), is_causal=True)
    with pytest.raises(ValueError, match=r"heads \(dim -3\) must be a multiple"):
        scaled_dot_product_attention(q, np.zeros((2, 3, 3, 8)), np.zeros((2, 3, 3, 8)),
                                     enable_gqa=True)
    with pytest.raises(ValueError, match="pass enable_gqa=True"):
        scaled_dot_product_attention(q, np.zeros((2, 2, 3, 8)), np.zeros((2, 2, 3, 8)))
    with pytest.raises(ValueError, match=r"dropout_p must be in \[0, 1\], got 1.5"):
        scaled_dot_product_attention(q, q, q, dropout_p=1.5)


# ----- the layers ---------------------------------------------------------------------------

@pytest.mark.parametrize("cross,heads", [(False, 1), (False, 2), (True, 1), (True, 4)])
def test_attention_layers_match_pytorch_twin(torch, cross, heads):
    tu.manual_seed(0)
    C, D = 8, 6
    layer = CrossAttention2d(C, D, heads) if cross else SelfAttention2d(C, heads)
    from tinyunet.torch_twins.diffusion_unet import CrossAttention2d as TwinAttention

    twin = TwinAttention(C, D if cross else C, heads).double()   # (context None: self)
    twin.load_state_dict({k: torch.from_numpy(v.astype(np.float64))
                          for k, v in layer.state_dict().items()})
    layer.double()
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, C, 3, 4))
    ctx = rng.standard_normal((2, 5, D))
    xt, ct = torch.tensor(x, requires_grad=True), torch.tensor(ctx, requires_grad=True)
    xs, cs = tu.Tensor(x, requires_grad=True), tu.Tensor(ctx, requires_grad=True)
    out = layer(xs, cs) if cross else layer(xs)
    out_t = twin(xt, ct) if cross else twin(xt)
    np.testing.assert_allclose(out.data, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    out_t.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xs.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-11)
    if cross:
        np.testing.assert_allclose(cs.grad, ct.grad.numpy(), rtol=1e-9, atol=1e-11)
    twin_params = dict(twin.named_parameters())
    for name, p in layer.named_parameters():
        np.testing.assert_allclose(p.grad, twin_params[name].grad.numpy(), rtol=1e-9,
                                   atol=1e-11, err_msg=name)


def test_attention_layers_gradcheck_float64():
    tu.manual_seed(1)
    rng = np.random.default_rng(6)
    cross = CrossAttention2d(4, 3, num_heads=2).double()
    x = tu.Tensor(rng.standard_normal((1, 4, 2, 2)), requires_grad=True)
    ctx = tu.Tensor(rng.standard_normal((1, 3, 3)), requires_grad=True)
    params = list(cross.parameters())
    assert tu.gradcheck(lambda x, c, *w: cross(x, c), (x, ctx, *params))
    selfattn = SelfAttention2d(4, num_heads=1).double()
    params = list(selfattn.parameters())
    assert tu.gradcheck(lambda x, *w: selfattn(x), (x, *params))


def test_self_attention_mixes_distant_pixels_a_conv_cannot_reach():
    tu.manual_seed(2)
    layer = SelfAttention2d(4)
    x = np.zeros((1, 4, 8, 8), np.float32)
    x[0, :, 0, 0] = 1.0                               # one bright corner pixel
    moved = x.copy()
    moved[0, :, 0, 0] = -1.0
    # the opposite corner's output changes: attention is global
    a, b = layer(x).data[0, :, 7, 7], layer(moved).data[0, :, 7, 7]
    assert np.abs(a - b).max() > 1e-4


def test_attention_layer_errors():
    with pytest.raises(ValueError, match=r"channels \(6\) must be divisible by num_heads \(4\)"):
        SelfAttention2d(6, num_heads=4)
    layer = CrossAttention2d(4, 3)
    with pytest.raises(ValueError, match=r"expected an input \(N, 4, H, W\), got shape"):
        layer(np.zeros((1, 5, 2, 2), np.float32), np.zeros((1, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"context must be \(N=1, S, 3\), got shape \(1, 2, 5\)"):
        layer(np.zeros((1, 4, 2, 2), np.float32), np.zeros((1, 2, 5), np.float32))
