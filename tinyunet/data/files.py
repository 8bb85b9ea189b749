"""Image files as microscopists have them: PNG, and TIFF through ``tifffile``.

Everything is read as it is stored — ``uint8``, ``uint16``, ``float32``, ... — and put in one
layout, ``(N, C, H, W)``: N samples (the pages of a multi-page stack, or 1), C channels.
Turning the raw values into the network's input is :mod:`tinyunet.data.normalize`'s job,
which needs to know the bit depth, so nothing is scaled here.

A TIFF names its axes (``tifffile``'s series axes): ``Y`` and ``X`` are the image, ``C`` (or
``S``, samples per pixel: RGB) the channels, and every other axis — ``Z`` planes, ``T``
time points, ``I``/``Q`` plain pages — is a sample. For the 3-D U-Net, :func:`read_volume`
keeps the ``Z`` axis as depth instead. Masks are single-channel and hold integers: class
indices, or instance labels (one integer per object).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

IMAGE_SUFFIXES = (".png", ".tif", ".tiff")
_CHANNEL_AXES = "CS"


class DataError(ValueError):
    """A problem with the user's data (not with the code): the message names the file."""


def is_tiff(path) -> bool:
    return Path(path).suffix.lower() in (".tif", ".tiff")


def _read_tiff(path: Path) -> tuple[np.ndarray, str]:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        series = tif.series[0]
        return series.asarray(), series.axes


def _read_png(path: Path) -> tuple[np.ndarray, str]:
    with Image.open(path) as im:
        if im.mode.startswith("I"):              # a PNG's 32-bit mode "I" holds 16 bits
            return np.asarray(im).astype(np.uint16), "YX"
        if im.mode in ("L", "P"):                # grey, or a palette's indices (a class mask)
            return np.asarray(im), "YX"
        if im.mode in ("1", "LA"):
            return np.asarray(im.convert("L")), "YX"
        return np.asarray(im.convert("RGB")), "YXS"    # colour; an alpha channel is dropped


def read_raw(path) -> tuple[np.ndarray, str]:
    """The stored array and its axes string (``"YX"``, ``"YXS"``, ``"ZYX"``, ...)."""
    path = Path(path)
    try:
        return _read_tiff(path) if is_tiff(path) else _read_png(path)
    except FileNotFoundError:
        raise
    except Exception as err:  # noqa: BLE001  (Pillow and tifffile raise many kinds)
        raise DataError(f"{path}: cannot be read as an image ({type(err).__name__}: {err})") \
            from err


def to_nchw(array: np.ndarray, axes: str, path="image") -> np.ndarray:
    """Reorder ``array`` with ``axes`` to ``(N, C, H, W)``: Y, X last, channels (C or S)
    before them, every other axis flattened into N."""
    if len(axes) != array.ndim or "Y" not in axes or "X" not in axes:
        raise DataError(f"{path}: axes {axes!r} do not describe an image of shape "
                        f"{array.shape}")
    channel = [i for i, a in enumerate(axes) if a in _CHANNEL_AXES]
    if len(channel) > 1:
        raise DataError(f"{path}: more than one channel axis in {axes!r}")
    samples = [i for i, a in enumerate(axes) if a not in "YX" + _CHANNEL_AXES]
    order = samples + channel + [axes.index("Y"), axes.index("X")]
    out = array.transpose(order)
    if not channel:
        out = out[..., None, :, :] if samples else out[None]
    n = int(np.prod(out.shape[:-3], dtype=np.int64))
    return out.reshape((n,) + out.shape[-3:])


def read_image(path) -> np.ndarray:
    """An image file as its raw values, ``(N, C, H, W)`` in the stored dtype."""
    array, axes = read_raw(path)
    return to_nchw(array, axes, path)


def read_mask(path) -> np.ndarray:
    """A mask file as integers ``(N, H, W)`` int64 (N > 1 for a stack of masks)."""
    array = read_image(path)
    if array.shape[1] != 1:
        raise DataError(f"mask {path} has {array.shape[1]} channels; masks must be "
                        f"single-channel images of class indices or instance labels")
    if array.dtype.kind == "f":
        if not np.array_equal(array, np.round(array)):
            raise DataError(f"mask {path} holds non-integer values (dtype {array.dtype}); "
                            f"masks hold class indices or instance labels")
    elif array.dtype.kind not in "biu":
        raise DataError(f"mask {path} has dtype {array.dtype}; masks must hold integers")
    return array[:, 0].astype(np.int64)


def read_volume(path) -> np.ndarray:
    """A stack as one volume for a 3-D network: ``(C, Z, H, W)``, raw values.

    The ``Z`` axis is the depth; a stack without one (plain pages) is read page by page as Z.
    """
    array, axes = read_raw(path)
    if "Z" in axes:
        z = axes.index("Z")
        array, axes = np.moveaxis(array, z, 0), "Z" + axes[:z] + axes[z + 1:]
        volume = np.stack([to_nchw(plane, axes[1:], path) for plane in array])  # (Z, N, C, ..)
        if volume.shape[1] != 1:
            raise DataError(f"{path}: axes {''.join(axes)!r} hold more than one volume")
        return volume[:, 0].transpose(1, 0, 2, 3)
    return to_nchw(array, axes, path).transpose(1, 0, 2, 3)


def image_size(path) -> tuple[int, int]:
    """(H, W) of an image file, without decoding a PNG's pixels."""
    if is_tiff(path):
        import tifffile

        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            shape = dict(zip(series.axes, series.shape))
            return shape["Y"], shape["X"]
    with Image.open(path) as im:
        return im.height, im.width


def bit_depth(dtype) -> str:
    """'8-bit', '16-bit', '32-bit float', ...: how a microscopist names a dtype."""
    dtype = np.dtype(dtype)
    kind = {"u": "", "i": " signed", "f": " float", "b": " boolean"}.get(dtype.kind, "")
    return f"{dtype.itemsize * 8}-bit{kind}" if dtype.kind != "b" else "1-bit"


def write_tiff(path, array: np.ndarray) -> Path:
    """Write a grey image, a stack of them (N, H, W) or labels, as one (multi-page) TIFF."""
    import tifffile

    path = Path(path)
    array = np.asarray(array)
    tifffile.imwrite(path, array, photometric="minisblack")
    return path


def write_labels(path, labels: np.ndarray) -> Path:
    """Instance labels as a 16-bit TIFF (32-bit if there are more than 65535 objects)."""
    labels = np.asarray(labels)
    dtype = np.uint16 if labels.max(initial=0) <= np.iinfo(np.uint16).max else np.uint32
    return write_tiff(path, labels.astype(dtype))
