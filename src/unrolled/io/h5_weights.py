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
from ..layers.weight_paths import WeightGroup, class_keyed, keras_snake_case, weight_groups

# deflate, shuffle, fletcher32, szip, nbit, scaleoffset (built into HDF5), lzf (h5py).
_SAFE_FILTERS = {1, 2, 3, 4, 5, 6, 32000}


def vars_groups(model: Any) -> list[WeightGroup]:
    """Every ``vars`` group of Keras 3's tree for ``model``, in the order Keras writes them:
    the model's own (empty) ``vars``, then each of ``model.layers`` under
    ``layers/<snake_case class name>[_k]`` and whatever it holds
    (:func:`unrolled.layers.weight_paths.weight_groups`: cells, wrapped layers, nested
    models). The groups' arrays, concatenated, are ``model.weights``."""
    groups = [WeightGroup("vars", model.name, [])]
    for key, layer in class_keyed(model.layers):
        groups += weight_groups(layer, f"layers/{key}")
    return groups


def layer_paths(model: Any) -> list[tuple[Layer, str]]:
    """``(layer, group path)`` of every top-level layer, e.g. ``(lstm, "layers/lstm_1")``."""
    return [(layer, f"layers/{key}") for key, layer in class_keyed(model.layers)]


# -- writing ---------------------------------------------------------------------------
def write_weights(h5: h5py.File, model: Any, optimizer_variables: Any = None,
                  optimizer_name: str = "optimizer") -> None:
    """Store ``model``'s weights (and the optimizer's variables if given) in Keras's layout."""
    for group in vars_groups(model):
        node = h5.require_group(group.path)
        node.attrs["name"] = group.name
        for i, w in enumerate(group.arrays):
            node[str(i)] = w
    if optimizer_variables is not None:
        node = h5.require_group("optimizer/vars")
        node.attrs["name"] = optimizer_name
        for i, v in enumerate(optimizer_variables):
            node[str(i)] = np.asarray(v)


def to_bytes(model: Any, optimizer: Any = None) -> bytes:
    """An in-memory HDF5 file holding :func:`write_weights`'s layout."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        if optimizer is None:
            write_weights(h5, model)
        else:
            write_weights(h5, model, optimizer.variables, optimizer.name)
    return buffer.getvalue()


# -- safe reading ----------------------------------------------------------------------
def guarded(fn: Any, what: str) -> Any:
    """Run a reader; any HDF5 library error becomes :class:`ModelFileError` (one place
    for every read of an HDF5 file, so that no malformed file escapes as another error)."""
    try:
        return fn()
    except ModelFileError:
        raise
    except (OSError, KeyError, ValueError, TypeError, RuntimeError, AttributeError,
            IndexError, UnicodeDecodeError) as err:
        raise ModelFileError(f"{what}: unreadable HDF5 content ({type(err).__name__}: {err}).") from err


def open_h5(source: bytes | str, what: str) -> h5py.File:
    """Open HDF5 bytes or a path read-only; a non-HDF5 input raises ModelFileError."""
    try:
        return h5py.File(io.BytesIO(source) if isinstance(source, bytes) else source, "r")
    except (OSError, ValueError) as err:
        raise ModelFileError(f"{what} is not a readable HDF5 file ({err}); it may be "
                             "truncated or of another kind.") from err


def child(group: h5py.Group, path: str, kind: type, what: str) -> Any:
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
    return [child(group, k, h5py.Dataset, what) for k in keys]


def _describe(layer: Layer) -> str:
    names = getattr(layer, "weight_names", None) or [f"#{i}" for i in range(len(layer.weights))]
    shapes = ", ".join(f"{n} {w.shape}" for n, w in zip(names, layer.weights))
    return f"{type(layer).__name__} '{layer.name}' ({shapes or 'no weights'})"


def read_weights(h5: h5py.File, model: Any, what: str) -> list[np.ndarray]:
    """All of ``model``'s weights from Keras 3's layout, in the order of ``model.weights``,
    each checked against the model's shape (nothing is assigned here)."""
    values: list[np.ndarray] = []
    owners = dict(class_keyed(model.layers))
    for group in vars_groups(model):
        if not group.arrays:
            continue
        try:
            node = child(h5, group.path, h5py.Group, what)
            dsets = _numbered(node, what, len(group.arrays))
            values += [read_dataset(d, what, w.shape) for d, w in zip(dsets, group.arrays)]
        except ModelFileError as err:
            owner = owners.get(group.path.split("/")[1]) if group.path.startswith("layers/") else None
            hint = f" It should hold the weights of {_describe(owner)}." if owner is not None else ""
            raise ModelFileError(f"{err}{hint}") from None
    return values


def read_optimizer(h5: h5py.File, what: str) -> list[np.ndarray] | None:
    """``optimizer/vars/0..N`` as arrays, or None when the file holds no optimizer."""
    if "optimizer" not in h5:
        return None
    group = child(h5, "optimizer/vars", h5py.Group, what)
    return [read_dataset(d, what) for d in _numbered(group, what)]


def is_legacy(h5: h5py.File) -> bool:
    return "layer_names" in h5.attrs or "model_weights" in h5


def legacy_names(node: h5py.Group, key: str, what: str) -> list[str]:
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


def legacy_weight_layers(model: Any) -> list[Any]:
    """The layers a legacy ``.h5`` lists weights for, in order: ``model.layers`` that have
    weights (a nested model counts as one layer, as in Keras 2)."""
    return [layer for layer in model.layers if layer.weights]


def legacy_order(layer: Any) -> list[np.ndarray]:
    """A layer's weights in the legacy ``.h5`` order: trainable ones first, then the
    others (Keras 2's ``_legacy_weights``); for a nested model, across all its layers."""
    trainable = list(layer.trainable_weights)
    ids = {id(w) for w in trainable}
    return trainable + [w for w in layer.weights if id(w) not in ids]


def _legacy_entries(h5: h5py.Group, model: Any, what: str) -> list[tuple[Any, str, h5py.Group]]:
    """``(weight array of the model, its name in the file, the layer group)`` for every
    weight, matched by position among the layers that have weights, as Keras does."""
    root = child(h5, "model_weights", h5py.Group, what) if "model_weights" in h5 else h5
    stored = []
    for name in legacy_names(root, "layer_names", what):
        group = child(root, name, h5py.Group, what)
        weight_names = legacy_names(group, "weight_names", what)
        if weight_names:
            stored.append((name, group, weight_names))
    layers = legacy_weight_layers(model)
    if len(stored) != len(layers):
        raise ModelFileError(
            f"{what} holds weights for {len(stored)} layers ({[s[0] for s in stored]}), "
            f"the model has {len(layers)} layers with weights ({[la.name for la in layers]}).")
    entries = []
    for (name, group, weight_names), layer in zip(stored, layers):
        expected = legacy_order(layer)
        if len(weight_names) != len(expected):
            raise ModelFileError(f"{what}: layer '{name}' has {len(weight_names)} weights, "
                                 f"but {_describe(layer)} needs {len(expected)}.")
        entries += [(w, wname, group) for wname, w in zip(weight_names, expected)]
    return entries


def read_legacy_weights(h5: h5py.Group, model: Any, what: str) -> list[np.ndarray]:
    """``model``'s weights from a Keras 2 style ``.h5`` (or its ``model_weights`` group),
    matched by position among the layers that have weights, as Keras does; shapes
    checked; returned in the order of ``model.weights``."""
    by_id = {id(w): read_dataset(child(group, wname, h5py.Dataset, what), what, w.shape)
             for w, wname, group in _legacy_entries(h5, model, what)}
    return [by_id[id(w)] for w in model.weights]


def legacy_weight_names(h5: h5py.Group, model: Any, what: str) -> list[str]:
    """The file's name of each of ``model.weights`` (``lstm/lstm_cell/kernel:0``)."""
    by_id = {id(w): wname for w, wname, _ in _legacy_entries(h5, model, what)}
    return [by_id[id(w)] for w in model.weights]
