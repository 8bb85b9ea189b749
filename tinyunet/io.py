"""Checkpoints: nested dicts of arrays and plain values, saved in the safetensors format.

Why safetensors and never pickle: loading a pickle runs whatever code the file asks for, while
a safetensors file is a JSON header plus raw bytes, so loading one can only produce arrays. It is
also what PyTorch and the Hugging Face hub use: a tinyunet ``state_dict()`` saved by itself opens
with ``safetensors.torch.load_file`` and loads into the equivalent torch module unchanged.

A safetensors file is::

    8 bytes   N, the header's length (little-endian u64)
    N bytes   JSON: {tensor name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}
    the rest  every tensor's raw bytes, back to back

A checkpoint maps onto it like this::

    {"model": {"conv.weight": W, "conv.bias": b},    ->  tensors "model.conv.weight",
     "optim": {"state": {0: {"momentum": m}},                 "model.conv.bias",
               "lr": 0.1},                                    "optim.state.0.momentum"
     "epoch": 7}

Arrays (and Tensors/Parameters, by their ``.data``) become tensors named by the dotted path to
them. Everything else (numbers, strings, bools, None, lists, tuples, dicts) stays in one JSON
document, the *tree*, stored as the metadata entry ``"tinyunet"``, where each array is a stub
``{"__tensor__": name}``. ``load`` rebuilds the exact structure from the tree, so a key that
itself contains dots (``"conv.weight"``) stays one key. A file without a tree (written by another
tool) loads as its flat ``{name: array}`` dict.

The tree tags what plain JSON cannot say, each as an object with a single key:

    {"__tensor__": name}            an array, stored as the tensor ``name``
    {"__int__": "3402823669..."}    an int beyond 2**53, as a string so no JSON reader rounds it
                                    (NumPy's RNG state holds 128-bit ints)
    {"__tuple__": [...]}            a tuple (a bare JSON list comes back as a list)
    {"__items__": [[key, v], ...]}  a dict with int keys (optimizer state is keyed by index),
                                    or with a key that looks like one of these tags

Writes are atomic: the bytes go to a temporary file in the same directory, are flushed to disk,
and only then renamed over the target, so a crash mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import errno
import json
import os
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import safetensors.numpy

from .backend import is_gpu_array

TREE_KEY = "tinyunet"
TAGS = ("__tensor__", "__int__", "__tuple__", "__items__")
JSON_EXACT_INT = 2**53  # beyond this a JSON reader that uses doubles (JavaScript) rounds ints

# What safetensors can store from NumPy (it has no strings, objects or complex128).
DTYPES = tuple(
    np.dtype(name)
    for name in "bool int8 uint8 int16 uint16 int32 uint32 int64 uint64 "
    "float16 float32 float64 complex64".split()
)


def save(obj, path, metadata=None):
    """Write the dict ``obj`` (nested dicts/lists of arrays and JSON values) to ``path``.

    ``metadata``: optional extra ``{str: str}`` entries for the file's ``__metadata__``, visible
    to any safetensors reader (``read_metadata`` returns them). The key ``"tinyunet"`` is taken.
    """
    if not isinstance(obj, Mapping):
        raise TypeError(f"save: expected a dict of arrays and values, got {type(obj).__name__}")
    header = dict(metadata or {})
    for key, value in header.items():
        if not (isinstance(key, str) and isinstance(value, str)):
            raise TypeError(f"save: metadata must map str to str, got {key!r}: {value!r}")
    if TREE_KEY in header:
        raise ValueError(f"save: the metadata key {TREE_KEY!r} is reserved for the tree")

    tensors = {}
    header[TREE_KEY] = json.dumps(_encode(obj, "", tensors))
    _atomic_write(Path(path), safetensors.numpy.save(tensors, metadata=header))


def load(path):
    """Read a checkpoint written by :func:`save`: the same nested structure, arrays as ndarrays.

    A safetensors file from another tool (no tree) comes back as its flat ``{name: array}``.
    """
    path = Path(path)
    tensors, metadata = _read(path)
    if TREE_KEY not in metadata:
        return tensors
    try:
        return _decode(json.loads(metadata[TREE_KEY]), tensors)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: the checkpoint's {TREE_KEY!r} tree is corrupt: {err}") from err


def read_metadata(path):
    """The extra ``{str: str}`` metadata given to :func:`save` (without the tree)."""
    _, metadata = _read(Path(path))
    return {key: value for key, value in metadata.items() if key != TREE_KEY}


# --- the tree: Python structure <-> JSON with tensor stubs -------------------------------------


def _encode(node, name, tensors):
    """JSON for ``node``; its arrays are moved into ``tensors`` under their dotted path ``name``."""
    array = _as_array(node)
    if array is not None:
        if name in tensors:
            raise ValueError(f"save: two entries flatten to the same tensor name {name!r}")
        if array.dtype not in DTYPES:
            raise TypeError(
                f"save: {name!r} has dtype {array.dtype}, which safetensors can't store"
            )
        tensors[name] = np.asarray(array, order="C")  # (ascontiguousarray makes 0-d 1-d)
        return {"__tensor__": name}
    if isinstance(node, Mapping):
        for key in node:
            if isinstance(key, bool) or not isinstance(key, (str, int)):
                raise TypeError(f"save: dict keys must be str or int, got {key!r} under {name!r}")
        children = {key: _encode(value, _join(name, key), tensors) for key, value in node.items()}
        if all(isinstance(key, str) and key not in TAGS for key in children):
            return children
        return {"__items__": [[key, value] for key, value in children.items()]}
    if isinstance(node, (list, tuple)):
        items = [_encode(value, _join(name, i), tensors) for i, value in enumerate(node)]
        return {"__tuple__": items} if isinstance(node, tuple) else items
    if isinstance(node, np.generic):
        node = node.item()  # NumPy scalars (a float32 loss, an int64 step) as Python numbers
    if node is None or isinstance(node, (bool, float, str)):
        return node
    if isinstance(node, int):
        return node if abs(node) <= JSON_EXACT_INT else {"__int__": str(node)}
    raise TypeError(
        f"save: {name!r} is a {type(node).__module__}.{type(node).__qualname__}; only arrays "
        f"(or objects with a .data ndarray), numbers, strings, bools, None, lists, tuples and "
        f"dicts can be saved"
    )


def _decode(node, tensors):
    """The Python structure for the JSON ``node``, with tensor stubs replaced by arrays."""
    if isinstance(node, list):
        return [_decode(value, tensors) for value in node]
    if not isinstance(node, dict):
        return node
    if len(node) == 1:
        ((tag, value),) = node.items()
        if tag == "__tensor__":
            return tensors[value]
        if tag == "__int__":
            return int(value)
        if tag == "__tuple__":
            return tuple(_decode(item, tensors) for item in value)
        if tag == "__items__":
            return {key: _decode(item, tensors) for key, item in value}
    return {key: _decode(value, tensors) for key, value in node.items()}


def _as_array(node):
    """The ndarray behind ``node`` (an ndarray, a Tensor's ``.data``, a CuPy array), else None."""
    for candidate in (node, getattr(node, "data", None)):
        if isinstance(candidate, np.ndarray):
            return candidate
        if is_gpu_array(candidate):
            return candidate.get()  # CuPy: checkpoints live on the host
    return None


def _join(prefix, key):
    return f"{prefix}.{key}" if prefix else str(key)


# --- the file: atomic write, validated read ----------------------------------------------------


def _atomic_write(path, data):
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(errno.ENOENT, "save: no such directory", str(directory))
    temporary = directory / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"  # same filesystem
    try:
        with open(temporary, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before any name points at them
        os.replace(temporary, path)  # atomic rename over the old checkpoint
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)  # make the rename itself survive a power cut


def _fsync_directory(directory):
    if hasattr(os, "O_DIRECTORY"):  # POSIX; Windows can't open a directory, nor needs to
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read(path):
    """Tensors and metadata of the safetensors file at ``path``, or a clear error."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "no checkpoint file", str(path)) from None
    try:
        tensors = safetensors.numpy.load(data)  # checks the header, the offsets and the length
        header_length = int.from_bytes(data[:8], "little")
        header = json.loads(data[8 : 8 + header_length])
        metadata = header.pop("__metadata__", None) or {}
        tensors = {name: tensors[name] for name in header}  # the file's order, not a hash's
    except Exception as err:  # safetensors raises its own SafetensorError
        raise ValueError(
            f"{path} is not a valid safetensors checkpoint (truncated or corrupt?): {err}"
        ) from err
    return tensors, metadata
