"""Keras's HDF5 weight layouts, written exactly and read defensively.

Keras 3 (``model.weights.h5`` inside a ``.keras`` zip, and ``x.weights.h5`` files)::

    vars                         attrs name="sequential"   the model's own variables: none
    layers/lstm/vars             attrs name="lstm"         the RNN wrapper's own: none
    layers/lstm/cell/vars/0,1,2  attrs name="lstm_cell"    kernel (F, 4H), recurrent (H, 4H), bias (4H,)
    layers/lstm_1/cell/vars/...                            the 2nd LSTM: named after the *class*
    layers/dense/vars/0,1        attrs name="dense"        kernel (in, units), bias (units,)
    layers/dropout/vars          attrs name="dropout"      no datasets
    optimizer/vars/0..N          attrs name="adam"         optimizer.variables, in Keras's order

Group names under ``layers/`` come from the layer *class* (``lstm``, ``lstm_1``, ``dense``)
in model order, never from ``layer.name`` (Keras's ``_save_container_state``). Recurrent
layers keep their weights in their ``cell``. The InputLayer is not listed.

Keras 2's legacy ``.h5`` (also Keras 3's ``model.save("x.h5")``) instead lists
``layer_names`` in root (or ``model_weights``) attrs and, per layer group, ``weight_names``
paths; it is matched by position among layers that have weights, as Keras does.

Reading only follows hard links to plain numeric datasets stored inside the file: soft and
external links, external or virtual storage, non-numeric types and unknown compression
filters (which would load HDF5 plugins) are refused with :class:`ModelFileError`.
"""
from __future__ import annotations

import io
import re
from typing import Any

import h5py
import numpy as np

from ..errors import ModelFileError
from ..layers.base import Layer
from ..layers.weight_paths import weight_groups

# deflate, shuffle, fletcher32, szip, nbit, scaleoffset (built into HDF5), lzf (h5py).
_SAFE_FILTERS = {1, 2, 3, 4, 5, 6, 32000}


def keras_snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: ``LSTM`` -> ``lstm``, ``SimpleRNN`` -> ``simple_rnn``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_paths(model: Any) -> list[tuple[Layer, str]]:
    """``(layer, group path)`` of every layer, e.g. ``(lstm, "layers/lstm_1")``."""
    used: dict[str, int] = {}
    out = []
    for layer in model.layers:
        name = keras_snake_case(type(layer).__name__)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        out.append((layer, f"layers/{name}"))
    return out




# -- writing ---------------------------------------------------------------------------
def _vars_group(h5: h5py.File, path: str, name: str) -> h5py.Group:
    group = h5.require_group(path)
    group.attrs["name"] = name
    return group


def write_weights(h5: h5py.File, model: Any, optimizer: Any = None) -> None:
    """Store ``model``'s weights (and ``optimizer.variables`` if given) in Keras's layout."""
    _vars_group(h5, "vars", model.name)
    for layer, base in layer_paths(model):
        for path, name, arrays in weight_groups(layer, base):   # e.g. layers/lstm/cell/vars
            group = _vars_group(h5, path, name)
            for i, w in enumerate(arrays):
                group[str(i)] = w
    if optimizer is not None:
        group = _vars_group(h5, "optimizer/vars", optimizer.name)
        for i, v in enumerate(optimizer.variables):
            group[str(i)] = np.asarray(v)


def to_bytes(model: Any, optimizer: Any = None) -> bytes:
    """An in-memory HDF5 file holding :func:`write_weights`'s layout."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        write_weights(h5, model, optimizer)
    return buffer.getvalue()


# -- safe reading ----------------------------------------------------------------------
def open_h5(source: bytes | str, what: str) -> h5py.File:
    """Open HDF5 bytes or a path read-only; a non-HDF5 input raises ModelFileError."""
    try:
        return h5py.File(io.BytesIO(source) if isinstance(source, bytes) else source, "r")
    except (OSError, ValueError) as err:
        raise ModelFileError(f"{what} is not a readable HDF5 file ({err}); it may be "
                             "truncated or of another kind.") from err


def _child(group: h5py.Group, path: str, kind: type, what: str) -> Any:
    """``group[path]`` following hard links only, checked to be a ``kind``."""
    node, full = group, f"{group.name.rstrip('/')}/{path}"
    for part in path.split("/"):
        link = node.get(part, getlink=True) if part else None
        if link is None:
            raise ModelFileError(f"{what}: '{full}' is missing.")
        if not isinstance(link, h5py.HardLink):
            raise ModelFileError(f"{what}: '{full}' is a {type(link).__name__}; links are refused.")
        node = node[part]
    if not isinstance(node, kind):
        raise ModelFileError(f"{what}: '{full}' is not an HDF5 {kind.__name__.lower()}.")
    return node


def read_dataset(ds: h5py.Dataset, what: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """The array in ``ds`` after the safety checks (and a shape check if ``shape`` is given)."""
    name = ds.name
    if ds.dtype.kind not in "fiub":
        raise ModelFileError(f"{what}: dataset '{name}' has non-numeric type {ds.dtype}.")
    if ds.external or ds.is_virtual:
        raise ModelFileError(f"{what}: dataset '{name}' stores its data outside the file; refused.")
    plist = ds.id.get_create_plist()
    for k in range(plist.get_nfilters()):
        code = plist.get_filter(k)[0]
        if code not in _SAFE_FILTERS:
            raise ModelFileError(f"{what}: dataset '{name}' uses HDF5 filter {code}, which would "
                                 "need a plugin; refused.")
    if shape is not None and tuple(ds.shape) != tuple(shape):
        raise ModelFileError(f"{what}: dataset '{name}' has shape {tuple(ds.shape)}, "
                             f"expected {tuple(shape)}.")
    from .limits import check_chunks

    check_chunks(ds, what)
    try:
        return np.asarray(ds[()])
    except (OSError, ValueError) as err:
        raise ModelFileError(f"{what}: dataset '{name}' cannot be read ({err}).") from err


def _numbered(group: h5py.Group, what: str, expected: int | None = None) -> list[h5py.Dataset]:
    """The datasets ``0, 1, ..., n-1`` of a Keras ``vars`` group, in order."""
    keys = sorted(group.keys(), key=lambda k: (len(k), k))
    if keys != [str(i) for i in range(len(keys))]:
        raise ModelFileError(f"{what}: '{group.name}' should hold datasets 0..n-1, found {keys[:10]}.")
    if expected is not None and len(keys) != expected:
        raise ModelFileError(f"{what}: '{group.name}' holds {len(keys)} weight arrays, "
                             f"expected {expected}.")
    return [_child(group, k, h5py.Dataset, what) for k in keys]


def _describe(layer: Layer) -> str:
    shapes = ", ".join(f"{n} {w.shape}" for n, w in zip(layer.weight_names, layer.weights))
    return f"{type(layer).__name__} '{layer.name}' ({shapes or 'no weights'})"


def read_weights(h5: h5py.File, model: Any, what: str) -> list[np.ndarray]:
    """All of ``model``'s weights from Keras 3's layout, checked against the model's shapes."""
    values = []
    for layer, base in layer_paths(model):
        for path, _, arrays in weight_groups(layer, base):
            if not arrays:
                continue
            try:
                group = _child(h5, path, h5py.Group, what)
                dsets = _numbered(group, what, len(arrays))
                values += [read_dataset(d, what, w.shape) for d, w in zip(dsets, arrays)]
            except ModelFileError as err:
                raise ModelFileError(f"{err} It should hold the weights of {_describe(layer)}.") from None
    return values


def read_optimizer(h5: h5py.File, what: str) -> list[np.ndarray] | None:
    """``optimizer/vars/0..N`` as arrays, or None when the file holds no optimizer."""
    if "optimizer" not in h5:
        return None
    group = _child(h5, "optimizer/vars", h5py.Group, what)
    return [read_dataset(d, what) for d in _numbered(group, what)]


def is_legacy(h5: h5py.File) -> bool:
    return "layer_names" in h5.attrs or "model_weights" in h5


def _legacy_names(node: h5py.Group, key: str, what: str) -> list[str]:
    """A Keras 2 name list attribute, also when split into ``key0``, ``key1``, ... chunks."""
    if key in node.attrs:
        chunks = [node.attrs[key]]
    else:
        chunks, n = [], 0
        while f"{key}{n}" in node.attrs:
            chunks.append(node.attrs[f"{key}{n}"])
            n += 1
    names = []
    for chunk in chunks:
        for item in np.atleast_1d(np.asarray(chunk)).tolist():
            if isinstance(item, bytes):
                item = item.decode("utf-8", "replace")
            if not isinstance(item, str):
                raise ModelFileError(f"{what}: attribute '{key}' of '{node.name}' is not a "
                                     "list of names.")
            names.append(item)
    return names


def read_legacy_weights(h5: h5py.File, model: Any, what: str) -> list[np.ndarray]:
    """``model``'s weights from a Keras 2 style ``.h5``, matched by layer position."""
    root = _child(h5, "model_weights", h5py.Group, what) if "model_weights" in h5 else h5
    stored = []
    for name in _legacy_names(root, "layer_names", what):
        group = _child(root, name, h5py.Group, what)
        weight_names = _legacy_names(group, "weight_names", what)
        if weight_names:
            stored.append((name, group, weight_names))
    layers = [layer for layer in model.layers if layer.weights]
    if len(stored) != len(layers):
        raise ModelFileError(
            f"{what} holds weights for {len(stored)} layers ({[s[0] for s in stored]}), "
            f"the model has {len(layers)} layers with weights ({[la.name for la in layers]}).")
    values = []
    for (name, group, weight_names), layer in zip(stored, layers):
        if len(weight_names) != len(layer.weights):
            raise ModelFileError(f"{what}: layer '{name}' has {len(weight_names)} weights, "
                                 f"but {_describe(layer)} needs {len(layer.weights)}.")
        for wname, w in zip(weight_names, layer.weights):
            values.append(read_dataset(_child(group, wname, h5py.Dataset, what), what, w.shape))
    return values
