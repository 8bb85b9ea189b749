"""Checkpoints: safetensors round trips, PyTorch interop, atomic writes, clear errors."""

import json
import os
import re
from types import SimpleNamespace

import numpy as np
import pytest
import safetensors
import safetensors.numpy
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinyunet as tu
from tinyunet import io


def assert_same(a, b, where="obj"):
    """Deep equality with types: arrays by dtype, shape and bits; tuples stay tuples."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def checkpoint(rng):
    """A training checkpoint shaped like the real thing: model, optimizer, progress."""
    return {
        "model": {
            "conv.weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
            "conv.bias": np.zeros(4, dtype=np.float32),
            "bn.num_batches_tracked": np.array(12, dtype=np.int64),
        },
        "optim": {
            "state": {0: {"momentum_buffer": rng.standard_normal((4, 3, 3, 3))}, 1: {}},
            "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "name": None}],
        },
        "epoch": 7,
        "done": False,
        "history": [0.5, 0.25, float("nan"), float("inf")],
        "note": "unet, base 16",
        "empty": {},
        "mask": np.array([[True, False]]),
    }


# --- round trips -------------------------------------------------------------------------------


def test_nested_checkpoint_round_trips(tmp_path, rng):
    obj = checkpoint(rng)
    io.save(obj, tmp_path / "ckpt.safetensors")
    assert_same(io.load(tmp_path / "ckpt.safetensors"), obj)


def test_arrays_are_tensors_under_dotted_paths_and_the_rest_is_json(tmp_path, rng):
    path = tmp_path / "ckpt.safetensors"
    io.save(checkpoint(rng), path)
    names = set(safetensors.numpy.load_file(path))
    assert names == {
        "model.conv.weight",
        "model.conv.bias",
        "model.bn.num_batches_tracked",
        "optim.state.0.momentum_buffer",
        "mask",
    }
    with safetensors.safe_open(path, framework="np") as f:
        tree = json.loads(f.metadata()[io.TREE_KEY])
    assert tree["epoch"] == 7 and tree["note"] == "unet, base 16"
    assert tree["model"]["conv.weight"] == {"__tensor__": "model.conv.weight"}


def test_tensor_like_leaves_are_saved_by_their_data(tmp_path):
    weight = np.arange(6, dtype=np.float32).reshape(2, 3)
    param = SimpleNamespace(data=weight, grad=np.ones_like(weight))  # a Parameter, duck-typed
    tensor = tu.Tensor(weight * 2, requires_grad=True)
    obj = {"w": param, "t": tensor, "step": np.int64(3), "loss": np.float32(0.5)}
    io.save(obj, tmp_path / "p.st")
    loaded = io.load(tmp_path / "p.st")
    assert_same(loaded, {"w": weight, "t": weight * 2, "step": 3, "loss": 0.5})
    loaded["w"] += 1  # loaded arrays are ordinary, writable ndarrays (an optimizer updates them)


def test_keys_that_look_like_tags_ints_and_big_ints_round_trip(tmp_path):
    obj = {
        "odd": {"__tensor__": "not a tensor", "__int__": 5},
        "lonely": {"__tuple__": [1, 2]},
        "by_index": {0: "a", 7: np.ones(2)},
        "big": [2**53 + 1, -(2**100), 2**53],
        "text": "__tensor__",
    }
    io.save(obj, tmp_path / "tags.st")
    assert_same(io.load(tmp_path / "tags.st"), obj)


@pytest.mark.parametrize("bit_generator", [np.random.PCG64, np.random.MT19937])
def test_numpy_rng_state_round_trips(tmp_path, bit_generator):
    generator = np.random.Generator(bit_generator(2024))
    generator.random(10)  # move away from the seed
    io.save({"rng": generator.bit_generator.state}, tmp_path / "rng.st")
    raw = (tmp_path / "rng.st").read_bytes()
    if bit_generator is np.random.PCG64:  # 128-bit ints are stored as strings, not JSON numbers
        assert b"__int__" in raw

    restored = np.random.Generator(bit_generator())
    restored.bit_generator.state = io.load(tmp_path / "rng.st")["rng"]
    np.testing.assert_array_equal(restored.random(20), generator.random(20))
    np.testing.assert_array_equal(restored.integers(0, 2**62, 5), generator.integers(0, 2**62, 5))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=4) | st.integers(-5, 5), inner, max_size=3)
        | st.tuples(inner, inner)
    ),
    max_leaves=8,
)
small_arrays = hnp.arrays(
    st.sampled_from([np.float32, np.float64, np.int32, np.uint8, np.bool_]),
    hnp.array_shapes(min_dims=0, max_dims=3, max_side=3),
)


@given(
    st.dictionaries(
        st.text(alphabet="abc.", min_size=1, max_size=3), json_values | small_arrays, max_size=4
    )
)
def test_round_trip_property(tmp_path_factory, obj):
    path = tmp_path_factory.mktemp("prop") / "obj.st"
    try:
        io.save(obj, path)
    except ValueError as err:  # "a.b" next to {"a": {"b": ...}}: two arrays, one name
        assert "same tensor name" in str(err)
        return
    assert_same(io.load(path), obj)


# --- PyTorch interop ---------------------------------------------------------------------------


def test_state_dict_loads_into_torch_unchanged(tmp_path, torch, rng):
    state = {
        "weight": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "bias": rng.standard_normal(4).astype(np.float32),
    }
    io.save(state, tmp_path / "conv.safetensors")

    from safetensors.torch import load_file

    tensors = load_file(tmp_path / "conv.safetensors")
    conv = torch.nn.Conv2d(3, 4, 3)
    conv.load_state_dict(tensors)  # strict: same names, shapes and dtypes
    for name, array in state.items():
        np.testing.assert_array_equal(conv.state_dict()[name].numpy(), array)


def test_a_file_written_by_torch_loads_flat(tmp_path, torch):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    expected = {name: t.numpy() for name, t in model.state_dict().items()}
    save_file(model.state_dict(), tmp_path / "torch.safetensors")
    loaded = io.load(tmp_path / "torch.safetensors")
    assert_same(dict(sorted(loaded.items())), dict(sorted(expected.items())))


def test_metadata_is_visible_to_any_reader(tmp_path):
    path = tmp_path / "m.st"
    io.save({"x": np.ones(1)}, path, metadata={"format": "pt", "arch": "unet"})
    assert io.read_metadata(path) == {"format": "pt", "arch": "unet"}
    with safetensors.safe_open(path, framework="np") as f:
        assert f.metadata()["arch"] == "unet"


# --- atomic writes -----------------------------------------------------------------------------


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_a_failed_write_leaves_the_old_file_intact(tmp_path, monkeypatch, failing):
    path = tmp_path / "ckpt.safetensors"
    io.save({"w": np.zeros(3), "epoch": 1}, path)
    before = path.read_bytes()

    def crash(*args):
        raise OSError(f"simulated crash in os.{failing}")

    monkeypatch.setattr(io.os, failing, crash)
    with pytest.raises(OSError, match="simulated crash"):
        io.save({"w": np.ones(1000), "epoch": 2}, path)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]  # no temporary file left behind
    assert io.load(path)["epoch"] == 1


def test_an_unsavable_leaf_fails_before_touching_the_file(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    io.save({"epoch": 1}, path)
    with pytest.raises(TypeError, match=r"'optim\.hook'.*builtins\.object"):
        io.save({"epoch": 2, "optim": {"hook": object()}}, path)
    assert io.load(path) == {"epoch": 1}


# --- errors ------------------------------------------------------------------------------------


def test_missing_file_is_named(tmp_path):
    missing = tmp_path / "nope.safetensors"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        io.load(missing)
    with pytest.raises(FileNotFoundError, match="no_dir"):
        io.save({"x": 1}, tmp_path / "no_dir" / "x.st")


def test_truncated_or_garbage_files_are_rejected_clearly(tmp_path, rng):
    path = tmp_path / "ckpt.safetensors"
    io.save(checkpoint(rng), path)
    data = path.read_bytes()
    header_length = int.from_bytes(data[:8], "little")
    cuts = [0, 4, 8, 8 + header_length // 2, 8 + header_length + 10, len(data) - 1]
    bad_contents = [data[:cut] for cut in cuts] + [b"garbage that is not a checkpoint" * 3]
    for content in bad_contents:
        path.write_bytes(content)
        with pytest.raises(ValueError, match="is not a valid safetensors checkpoint") as info:
            io.load(path)
        assert str(path) in str(info.value)


def test_a_tree_pointing_at_a_missing_tensor_is_rejected(tmp_path):
    path = tmp_path / "bad_tree.st"
    tree = json.dumps({"w": {"__tensor__": "w"}, "v": {"__tensor__": "missing"}})
    safetensors.numpy.save_file({"w": np.ones(2)}, path, metadata={io.TREE_KEY: tree})
    with pytest.raises(ValueError, match=r"bad_tree\.st.*tree is corrupt.*missing"):
        io.load(path)


def test_bad_objects_are_named(tmp_path):
    with pytest.raises(ValueError, match="same tensor name 'a.b'"):
        io.save({"a.b": np.ones(1), "a": {"b": np.ones(1)}}, tmp_path / "x.st")
    with pytest.raises(TypeError, match=r"'names' has dtype <U1"):
        io.save({"names": np.array(["a", "b"])}, tmp_path / "x.st")
    with pytest.raises(TypeError, match="expected a dict"):
        io.save([np.ones(1)], tmp_path / "x.st")
    with pytest.raises(TypeError, match=r"keys must be str or int, got 1\.5"):
        io.save({"d": {1.5: 0}}, tmp_path / "x.st")
    with pytest.raises(ValueError, match="reserved"):
        io.save({"x": 1}, tmp_path / "x.st", metadata={io.TREE_KEY: "mine"})
    with pytest.raises(TypeError, match="metadata must map str to str"):
        io.save({"x": 1}, tmp_path / "x.st", metadata={"epoch": 3})
    assert not (tmp_path / "x.st").exists()
