"""What a model file may cost to read: documented caps, checked before anything is allocated.

Every size a file declares is compared with the other parts of the file and with a cap
below *before* an array of that size exists:

=============================  ===========  ==================================================
cap                            default      what it bounds
=============================  ===========  ==================================================
``MAX_WEIGHT_VALUES``          2**26        all weight datasets of one HDF5 weights file
                                            (64 M values: 256 MB as float32)
``MAX_INPUT_VALUES``           2**24        values of one sample a config declares
                                            (timesteps × features ...; × batch when the
                                            batch size is fixed), and any one axis
``MAX_HDF5_OBJECTS``           100,000      groups + datasets walked in one HDF5 file
``MAX_JSON_BYTES``             4 MB         ``config.json``, ``unrolled.json``
``MAX_MEMBER_BYTES``           512 MB       any zip member, however well it compresses
=============================  ===========  ==================================================

Further, never above the caps:

* a model being built from a file gets zeros instead of random initial weights, and may
  ask for at most twice the weight values its weights file stores, plus 1024
  (:func:`building_within`): ``units=4000`` over a file storing 400 values ends with a
  :class:`~unrolled.errors.ModelFileError` before the first large array exists;
* optimizer variables may hold at most ``3 × weights + 64`` values in all (Adam's two
  moments per weight, plus counters) before one is read;
* a dataset is read only once its declared shape equals the shape the model needs, and
  each gzip-compressed chunk is first inflated here, stopping one byte past its declared
  size (:func:`check_chunks`): HDF5 itself would inflate a hostile chunk to any size.

Set ``UNROLLED_MAX_WEIGHT_VALUES`` (an integer) to read larger models.
"""
from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from ..errors import ModelFileError


def _env_int(name: str, default: int) -> int:
    try:
        return max(int(os.environ.get(name, default)), 0)
    except ValueError:
        return default


MAX_WEIGHT_VALUES = _env_int("UNROLLED_MAX_WEIGHT_VALUES", 1 << 26)
MAX_INPUT_VALUES = 1 << 24
MAX_HDF5_OBJECTS = 100_000
MAX_JSON_BYTES = 4 << 20
MAX_MEMBER_BYTES = 512 << 20
OPTIMIZER_FACTOR, OPTIMIZER_SLACK = 3, 64


def _size(shape: Any) -> int:
    size = 1
    for d in shape:
        size *= int(d)
    return size


def stored_values(h5: Any, what: str, under: str | None = None) -> int:
    """Values declared by the datasets of an HDF5 file (or its group ``under``), from
    metadata only; refuses files with more objects, or more values, than the caps."""
    total = declared_values(h5, what, under)
    if total > MAX_WEIGHT_VALUES:
        raise ModelFileError(
            f"{what} declares {total:,} weight values, more than the limit of "
            f"{MAX_WEIGHT_VALUES:,} (MAX_WEIGHT_VALUES; raise it with the environment "
            "variable UNROLLED_MAX_WEIGHT_VALUES if the model really is that large).")
    return total


def declared_values(h5: Any, what: str, under: str | None = None) -> int:
    """Like :func:`stored_values`, without the cap on values."""
    import h5py

    root = h5 if under is None else h5.get(under)
    if root is None:
        return 0
    total, count = 0, 0

    def visit(name: str, obj: Any) -> None:
        nonlocal total, count
        count += 1
        if count > MAX_HDF5_OBJECTS:
            raise ModelFileError(f"{what} holds more than {MAX_HDF5_OBJECTS} HDF5 objects; "
                                 "refused (limit MAX_HDF5_OBJECTS).")
        if isinstance(obj, h5py.Dataset) and obj.shape is not None:
            total += _size(obj.shape)

    root.visititems(visit)
    return total


@contextlib.contextmanager
def building_within(values: int, what: str) -> Iterator[None]:
    """Build a model from a file's config with zeros for weights and at most ``values``
    weight values in all (the number the file stores), else ModelFileError."""
    from ..core.initializers import placeholders

    def refuse(asked: int, shape: tuple[int, ...]) -> ModelFileError:
        return ModelFileError(
            f"{what}: the model config declares more than {asked:,} weight values (a weight "
            f"of shape {shape} among them), but the file stores only {values:,}; the config "
            "and the weights do not belong together (a size such as units was changed?).")

    # 2x + slack: a layer may ask twice for parts of one weight (LSTM's unit_forget_bias).
    with placeholders(min(2 * values + 1024, 2 * MAX_WEIGHT_VALUES), refuse):
        yield


def check_input_shapes(config: Any, what: str) -> None:
    """Every input shape a config declares (``batch_shape``, ``batch_input_shape``,
    ``input_shape``) must have at most MAX_INPUT_VALUES values per sample."""
    def walk(obj: Any) -> None:
        if isinstance(obj, dict):
            for key, value in obj.items():
                if key in ("batch_shape", "batch_input_shape", "input_shape") \
                        and isinstance(value, list):
                    _check_shape(value, key, what)
                else:
                    walk(value)
        elif isinstance(obj, list):
            for value in obj:
                walk(value)

    walk(config)


def _check_shape(shape: list[Any], key: str, what: str) -> None:
    dims = [d for d in shape if d is not None]
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in dims):
        if all(isinstance(d, list) for d in shape):  # a list of shapes (multi-input)
            for s in shape:
                _check_shape(s, key, what)
            return
        raise ModelFileError(f"{what}: {key} {shape!r} is not a list of sizes.")
    # A fixed batch size (stateful layers keep (batch, units) states) counts too.
    values = _size(dims)
    if max(dims, default=0) > MAX_INPUT_VALUES or values > MAX_INPUT_VALUES:
        raise ModelFileError(
            f"{what}: {key} {shape!r} declares {values:,} values per sample (or per batch, "
            f"when the batch size is fixed), more than the limit of {MAX_INPUT_VALUES:,} "
            "(MAX_INPUT_VALUES).")


def check_optimizer_values(h5: Any, weight_values: int, what: str,
                           under: str = "optimizer") -> None:
    """Before optimizer variables are read: their declared sizes must fit the model's."""
    declared = declared_values(h5, what, under=under)
    allowed = OPTIMIZER_FACTOR * weight_values + OPTIMIZER_SLACK
    if declared > allowed:
        raise ModelFileError(
            f"{what}: the optimizer variables declare {declared:,} values, but a model of "
            f"{weight_values:,} weight values needs at most {allowed:,}; refused.")


_DEFLATE = 1


def check_chunks(ds: Any, what: str) -> None:
    """Before a deflate-compressed dataset is read: no chunk may inflate past its declared
    size. (HDF5's deflate filter grows its buffer until the stream ends, so a 300 KB chunk
    of a 4-value dataset would otherwise expand to 300 MB before the size is compared.)"""
    plist = ds.id.get_create_plist()
    if ds.chunks is None or _DEFLATE not in [plist.get_filter(k)[0]
                                              for k in range(plist.get_nfilters())]:
        return
    chunk_bytes = _size(ds.chunks) * ds.dtype.itemsize
    n = ds.id.get_num_chunks()
    if n > MAX_HDF5_OBJECTS:
        raise ModelFileError(f"{what}: dataset '{ds.name}' has {n} chunks; refused "
                             f"(limit {MAX_HDF5_OBJECTS}).")
    for k in range(n):
        info = ds.id.get_chunk_info(k)
        if info.filter_mask & 1:  # the deflate filter was skipped for this chunk
            continue
        raw = ds.id.read_direct_chunk(info.chunk_offset)[1]
        inflate = zlib.decompressobj()
        try:
            inflate.decompress(raw, chunk_bytes + 1)
        except zlib.error:
            continue  # other filters around it, or damage: HDF5 itself will say
        if inflate.unconsumed_tail:
            raise ModelFileError(
                f"{what}: a compressed chunk of dataset '{ds.name}' inflates past its "
                f"declared {chunk_bytes} bytes; refused as a compression bomb.")


def model_values(model: Any) -> int:
    """Weight values of a built model."""
    return int(sum(np.size(w) for w in model.weights))


__all__ = ["MAX_WEIGHT_VALUES", "MAX_INPUT_VALUES", "MAX_HDF5_OBJECTS", "MAX_JSON_BYTES",
           "MAX_MEMBER_BYTES", "stored_values", "building_within", "check_input_shapes",
           "check_optimizer_values", "model_values"]
