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
from typing import Any, NamedTuple

import h5py
import numpy as np

from ..errors import ModelFileError
from ..layers.base import Layer
from ..layers.recurrent import Recurrent

# deflate, shuffle, fletcher32, szip, nbit, scaleoffset (built into HDF5), lzf (h5py).
_SAFE_FILTERS = {1, 2, 3, 4, 5, 6, 32000}


def keras_snake_case(name: str) -> str:
    """Keras's ``naming.to_snake_case``: ``LSTM`` -> ``lstm``, ``SimpleRNN`` -> ``simple_rnn``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


class VarsGroup(NamedTuple):
    """One ``.../vars`` group of the tree: its path, its ``name`` attribute, the object
    whose weights it holds (a layer; None for a container's own empty group) and those
    weights, in Keras's order."""
    path: str
    name: str
    owner: Any
    weights: list[np.ndarray]


def _sublayers(obj: Any) -> list[tuple[str, Any]]:
    """The named children Keras saves under an object, in its order: a model's (or nested
    model's) ``layers`` list, a recurrent layer's ``cell``, or what a wrapper declares
    through ``keras_sublayers()`` (``{"forward_layer": ..., "backward_layer": ...}``)."""
    declared = getattr(obj, "keras_sublayers", None)
    if callable(declared):
        return sorted(declared().items())
    return []


def _is_container(obj: Any) -> bool:
    return isinstance(getattr(obj, "layers", None), list)


def vars_groups(model: Any) -> list[VarsGroup]:
    """Every ``vars`` group of Keras 3's tree for ``model``, in the order Keras writes them.

    A container (a Sequential or Functional model, also nested) lists its ``layers`` under
    ``layers/<snake_case class name>[_k]`` (counted per container, in ``model.layers``
    order); a recurrent layer keeps its weights in ``cell/vars``; a layer that was already
    visited (shared) is written once.
    """
    groups: list[VarsGroup] = []
    seen: set[int] = set()

    def visit(obj: Any, base: str) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        prefix = f"{base}/" if base else ""
        if _is_container(obj):
            groups.append(VarsGroup(f"{prefix}vars", obj.name, None, []))
            used: dict[str, int] = {}
            for layer in obj.layers:
                name = keras_snake_case(type(layer).__name__)
                if name in used:
                    used[name] += 1
                    name = f"{name}_{used[name]}"
                else:
                    used[name] = 0
                visit(layer, f"{prefix}layers/{name}")
            return
        if isinstance(obj, Recurrent):
            groups.append(VarsGroup(f"{prefix}vars", obj.name, None, []))
            cell = f"{keras_snake_case(type(obj).__name__)}_cell"     # lstm_cell, gru_cell
            groups.append(VarsGroup(f"{prefix}cell/vars", cell, obj, list(obj.weights)))
            return
        children = _sublayers(obj)
        if children:
            groups.append(VarsGroup(f"{prefix}vars", obj.name, None, []))
            for attr, sub in children:
                visit(sub, f"{prefix}{attr}")
            return
        groups.append(VarsGroup(f"{prefix}vars", obj.name, obj, list(obj.weights)))

    visit(model, "")
    return groups


def layer_paths(model: Any) -> list[tuple[Layer, str]]:
    """``(layer, group path)`` of every top-level layer, e.g. ``(lstm, "layers/lstm_1")``."""
    return [(g.owner, g.path.rsplit("/vars", 1)[0].removesuffix("/cell"))
            for g in vars_groups(model) if g.owner is not None]


# -- writing ---------------------------------------------------------------------------
def write_weights(h5: h5py.File, model: Any, optimizer_variables: Any = None,
                  optimizer_name: str = "optimizer") -> None:
    """Store ``model``'s weights (and the optimizer's variables if given) in Keras's layout."""
    for group in vars_groups(model):
        node = h5.require_group(group.path)
        node.attrs["name"] = group.name
        for i, w in enumerate(group.weights):
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


def read_weights(h5: h5py.File, model: Any, what: str) -> list[tuple[Any, list[np.ndarray]]]:
    """``(layer, arrays)`` for every layer with weights, from Keras 3's layout, each array
    checked against the layer's shapes (nothing is assigned here)."""
    out = []
    for group in vars_groups(model):
        if group.owner is None or not group.weights:
            continue
        try:
            node = child(h5, group.path, h5py.Group, what)
            dsets = _numbered(node, what, len(group.weights))
            out.append((group.owner, [read_dataset(d, what, w.shape)
                                      for d, w in zip(dsets, group.weights)]))
        except ModelFileError as err:
            raise ModelFileError(f"{err} It should hold the weights of {_describe(group.owner)}.") from None
    return out


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


def _legacy_split(layer: Any, arrays: list[np.ndarray]) -> list[tuple[Any, list[np.ndarray]]]:
    """Distribute a legacy layer entry's arrays to the leaf layers that own them, each in
    its own ``weights`` order."""
    by_id = {id(w): a for w, a in zip(legacy_order(layer), arrays)}
    leaves = [layer] if not _is_container(layer) else [
        leaf for sub in layer.layers for leaf in _leaves(sub)]
    return [(leaf, [by_id[id(w)] for w in leaf.weights]) for leaf in leaves if leaf.weights]


def _leaves(obj: Any) -> list[Any]:
    return [leaf for sub in obj.layers for leaf in _leaves(sub)] if _is_container(obj) else [obj]


def read_legacy_weights(h5: h5py.Group, model: Any, what: str) -> list[tuple[Any, list[np.ndarray]]]:
    """``(layer, arrays)`` from a Keras 2 style ``.h5`` (or its ``model_weights`` group),
    matched by position among the layers that have weights, as Keras does; shapes checked."""
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
    out = []
    for (name, group, weight_names), layer in zip(stored, layers):
        expected = legacy_order(layer)
        if len(weight_names) != len(expected):
            raise ModelFileError(f"{what}: layer '{name}' has {len(weight_names)} weights, "
                                 f"but {_describe(layer)} needs {len(expected)}.")
        arrays = [read_dataset(child(group, wname, h5py.Dataset, what), what, w.shape)
                  for wname, w in zip(weight_names, expected)]
        out += _legacy_split(layer, arrays)
    return out
