"""Merge layers (Keras 3's ``keras.layers.merging``): combine a list of inputs.

``Add``, ``Subtract`` (two inputs: a - b), ``Multiply``, ``Average``, ``Maximum``,
``Minimum`` work elementwise on inputs of one shape; ``Concatenate(axis)`` joins along an
axis; ``Dot(axes, normalize)`` is a per-sample dot product along ``axes``.

Masks, as Keras: the output mask is the OR of the input masks if every input has one,
else none (Concatenate: any over the joined last axis, a missing mask counting as all
True; Dot: none). ``Maximum`` and ``Minimum`` use the masks in the values too (a masked
entry takes the other inputs' value); ``Multiply`` treats masked entries as 1 and, when
every input has a mask, zeroes the output where all are masked. Ties of Maximum/Minimum send the whole gradient
to the first input that holds the extreme.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import ConfigError, InputShapeError
from .base import Layer


def _masks_or(mask: Any) -> Any:
    """Keras's Merge.compute_mask: the OR of the masks, None if any input has none."""
    if mask is None or any(m is None for m in mask):
        return None
    out = np.asarray(mask[0], bool)
    for m in mask[1:]:
        out = np.logical_or(out, np.asarray(m, bool))
    return out


class Merge(Layer):
    """Base of the merge layers: input a list of arrays, output one array."""

    supports_masking = True
    min_inputs = 2

    def _check_list(self, shapes: Any) -> list[tuple]:
        if not isinstance(shapes, (list, tuple)) or not shapes or not isinstance(shapes[0], (list, tuple)):
            raise InputShapeError(f"{type(self).__name__} {self.name!r} must be called on a list "
                                  f"of inputs, got input shape {shapes!r}.")
        if len(shapes) < self.min_inputs:
            raise InputShapeError(f"{type(self).__name__} {self.name!r} needs at least "
                                  f"{self.min_inputs} inputs, got {len(shapes)}.")
        return [tuple(s) for s in shapes]

    def build(self, input_shape: Any) -> None:
        shapes = self._check_list(input_shape)
        self._check_shapes(shapes)
        super().build(shapes)  # type: ignore[arg-type]
        self.build_input_shape = [tuple(s) for s in shapes]  # type: ignore[assignment]

    def _check_shapes(self, shapes: list[tuple]) -> None:
        first = shapes[0]
        for s in shapes[1:]:
            if len(s) != len(first) or any(a is not None and b is not None and a != b
                                           for a, b in zip(s[1:], first[1:])):
                raise InputShapeError(
                    f"{type(self).__name__} {self.name!r} needs inputs of one shape, got "
                    f"{[tuple(x) for x in shapes]}.")

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shapes = self._check_list(input_shape)
        return tuple(next((s[k] for s in shapes if s[k] is not None), None) for k in range(len(shapes[0])))

    def compute_mask(self, x: Any, mask: Any) -> Any:
        return _masks_or(mask)

    def _arrays(self, x: Any) -> list[np.ndarray]:
        if not isinstance(x, (list, tuple)):
            raise InputShapeError(f"{type(self).__name__} {self.name!r} must be called on a list "
                                  f"of arrays, got {type(x).__name__}.")
        if not self.built:
            self.build([(None,) + np.shape(a)[1:] for a in x])
        arrays = [np.asarray(a) for a in x]
        self._check_shapes([a.shape for a in arrays])
        return arrays

    def __call__(self, x: Any, **kwargs: Any) -> Any:
        return self.forward(x, **kwargs)[0]

    def call(self, x: Any, training: bool = False, **kwargs: Any) -> Any:
        return self.forward(x, training=training, **kwargs)[0]

    def param_formula(self) -> str:
        return "0 (no weights)"


def _sum(xs: list[np.ndarray]) -> np.ndarray:
    """x_1 + x_2 + ... in that order; the inputs are not changed."""
    out = xs[0]
    for a in xs[1:]:
        out = out + a
    return out


def _masks(mask: Any, n: int) -> list[Any]:
    """One mask (or None) per input: ``mask`` as a list, or n Nones when it is not a list."""
    return list(mask) if isinstance(mask, (list, tuple)) else [None] * n


class Add(Merge):
    """y = x_1 + x_2 + ... (same shapes)."""

    def forward(self, x: Any, training: bool = False, **kwargs: Any) -> tuple[np.ndarray, int]:
        xs = self._arrays(x)
        return _sum(xs), len(xs)

    def backward(self, dy: np.ndarray, cache: int) -> tuple[list[np.ndarray], list]:
        return [dy] * cache, []


class Subtract(Merge):
    """y = x_1 - x_2 (exactly two inputs)."""

    def _check_list(self, shapes: Any) -> list[tuple]:
        out = super()._check_list(shapes)
        if len(out) != 2:
            raise InputShapeError(f"Subtract {self.name!r} takes exactly 2 inputs, got {len(out)}.")
        return out

    def forward(self, x: Any, training: bool = False, **kwargs: Any) -> tuple[np.ndarray, None]:
        xs = self._arrays(x)
        if len(xs) != 2:
            raise InputShapeError(f"Subtract {self.name!r} takes exactly 2 inputs, got {len(xs)}.")
        return xs[0] - xs[1], None

    def backward(self, dy: np.ndarray, cache: None) -> tuple[list[np.ndarray], list]:
        return [dy, -dy], []


class Average(Merge):
    """y = (x_1 + ... + x_n) / n."""

    def forward(self, x: Any, training: bool = False, **kwargs: Any) -> tuple[np.ndarray, int]:
        xs = self._arrays(x)
        out = _sum(xs)
        return out / out.dtype.type(len(xs)), len(xs)

    def backward(self, dy: np.ndarray, cache: int) -> tuple[list[np.ndarray], list]:
        d = dy / dy.dtype.type(cache)
        return [d] * cache, []


def _expand_mask(m: Any, shape: tuple) -> np.ndarray | None:
    return None if m is None else np.broadcast_to(np.asarray(m, bool)[..., None], shape)


class Multiply(Merge):
    """y = x_1 * x_2 * ...; when every input has a mask, masked entries count as 1."""

    def forward(self, x: Any, training: bool = False, mask: Any = None,
                **kwargs: Any) -> tuple[np.ndarray, list[Any]]:
        xs = self._arrays(x)
        masks = _masks(mask, len(xs))
        kept = [_expand_mask(m, a.shape) for a, m in zip(xs, masks)]
        xs = [a if k is None else np.where(k, a, a.dtype.type(1)) for a, k in zip(xs, kept)]
        out = xs[0]
        for a in xs[1:]:
            out = out * a
        any_kept = None
        if all(k is not None for k in kept):
            any_kept = np.logical_or.reduce(kept)
            out = np.where(any_kept, out, out.dtype.type(0))
        return out, [xs, kept, any_kept]

    def backward(self, dy: np.ndarray, cache: list) -> tuple[list[np.ndarray], list]:
        xs, kept, any_kept = cache
        zero = dy.dtype.type(0)
        if any_kept is not None:
            dy = np.where(any_kept, dy, zero)
        dxs = []
        for k in range(len(xs)):
            g = dy
            for j, a in enumerate(xs):
                if j != k:
                    g = g * a
            dxs.append(g if kept[k] is None else np.where(kept[k], g, zero))
        return dxs, []


class _Extreme(Merge):
    """Maximum / Minimum with Keras's masked selection (a masked entry takes the value
    already accumulated, or the next input's)."""

    pick: Any = None  # np.greater_equal for Maximum, np.less_equal for Minimum

    def forward(self, x: Any, training: bool = False, mask: Any = None,
                **kwargs: Any) -> tuple[np.ndarray, list[np.ndarray]]:
        xs = self._arrays(x)
        masks = _masks(mask, len(xs))
        out, source = xs[0], np.zeros(xs[0].shape, np.intp)   # which input each entry comes from
        out_mask = _expand_mask(masks[0], xs[0].shape)
        for k in range(1, len(xs)):
            a, src_a = xs[k], np.full(xs[k].shape, k, np.intp)
            m = _expand_mask(masks[k], a.shape)
            if m is not None:
                a, src_a = np.where(m, a, out), np.where(m, src_a, source)
            if out_mask is not None:
                out, source = np.where(out_mask, out, a), np.where(out_mask, source, src_a)
            out_mask = np.logical_or(out_mask, m) if (m is not None and out_mask is not None) else None
            keep = type(self).pick(out, a)
            out, source = np.where(keep, out, a), np.where(keep, source, src_a)
        return out, [source, len(xs)]

    def backward(self, dy: np.ndarray, cache: list) -> tuple[list[np.ndarray], list]:
        source, n = cache
        zero = dy.dtype.type(0)
        return [np.where(source == k, dy, zero) for k in range(n)], []


class Maximum(_Extreme):
    """y = elementwise max(x_1, x_2, ...)."""
    pick = staticmethod(np.greater_equal)


class Minimum(_Extreme):
    """y = elementwise min(x_1, x_2, ...)."""
    pick = staticmethod(np.less_equal)


class Concatenate(Merge):
    """Join the inputs along ``axis`` (default -1, the features); the other axes must match."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ConfigError(f"Concatenate: axis must be an integer, got {axis!r}.")
        self.axis = int(axis)

    def _axis(self, rank: int) -> int:
        axis = self.axis % rank if -rank <= self.axis < rank else None
        if axis is None or axis == 0:
            raise InputShapeError(f"Concatenate {self.name!r}: axis {self.axis} is not a non-batch "
                                  f"axis of inputs of rank {rank}.")
        return axis

    def _check_shapes(self, shapes: list[tuple]) -> None:
        rank = len(shapes[0])
        axis = self._axis(rank)
        for s in shapes[1:]:
            if len(s) != rank or any(k != axis and a is not None and b is not None and a != b
                                     for k, (a, b) in enumerate(zip(s, shapes[0])) if k):
                raise InputShapeError(
                    f"Concatenate {self.name!r} (axis={self.axis}) needs inputs whose shapes "
                    f"match except on that axis, got {[tuple(x) for x in shapes]}.")

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shapes = self._check_list(input_shape)
        axis = self._axis(len(shapes[0]))
        out = list(super().compute_output_shape(shapes))
        sizes = [s[axis] for s in shapes]
        out[axis] = None if any(d is None for d in sizes) else int(sum(sizes))
        return tuple(out)

    def compute_mask(self, x: Any, mask: Any) -> Any:
        """Keras's rule: a missing mask counts as all True; masks of lower rank are
        broadcast over the last axis; the result is ``any`` over the last axis."""
        if mask is None or all(m is None for m in mask):
            return None
        parts = []
        for a, m in zip(x, mask):
            a = np.asarray(a)
            if m is None:
                parts.append(np.ones(a.shape, bool))
            elif np.ndim(m) < a.ndim:
                parts.append(np.broadcast_to(np.asarray(m, bool)[..., None], a.shape))
            else:
                parts.append(np.asarray(m, bool))
        return np.any(np.concatenate(parts, axis=self._axis(np.ndim(x[0]))), axis=-1)

    def forward(self, x: Any, training: bool = False, **kwargs: Any) -> tuple[np.ndarray, list[int]]:
        xs = self._arrays(x)
        axis = self._axis(xs[0].ndim)
        return np.concatenate(xs, axis=axis), [a.shape[axis] for a in xs]

    def backward(self, dy: np.ndarray, cache: list[int]) -> tuple[list[np.ndarray], list]:
        axis = self._axis(dy.ndim)
        return np.split(dy, np.cumsum(cache)[:-1], axis=axis), []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(Merge):
    """Per-sample dot product of two inputs along ``axes`` (Keras's ``batch_dot``):
    (batch, n) · (batch, n) -> (batch, 1); (batch, t, d) · (batch, s, d) with axes=2 ->
    (batch, t, s). ``normalize=True`` L2-normalises both inputs along their axis first
    (cosine similarity)."""

    supports_masking = False

    def __init__(self, axes: Any, normalize: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(isinstance(a, int) for a in axes):
                raise ConfigError(f"Dot: axes must be an int or two ints, got {axes!r}.")
            axes = list(axes)
        elif isinstance(axes, bool) or not isinstance(axes, int):
            raise ConfigError(f"Dot: axes must be an int or two ints, got {axes!r}.")
        self.axes = axes
        self.normalize = bool(normalize)

    def _pair(self, r1: int, r2: int) -> tuple[int, int]:
        axes = [self.axes, self.axes] if isinstance(self.axes, int) else self.axes
        a1, a2 = axes[0] % r1, axes[1] % r2
        if a1 == 0 or a2 == 0:
            raise InputShapeError(f"Dot {self.name!r}: cannot take the dot product along the batch axis.")
        return a1, a2

    def _check_list(self, shapes: Any) -> list[tuple]:
        out = super()._check_list(shapes)
        if len(out) != 2:
            raise InputShapeError(f"Dot {self.name!r} takes exactly 2 inputs, got {len(out)}.")
        return out

    def _check_shapes(self, shapes: list[tuple]) -> None:
        s1, s2 = shapes
        a1, a2 = self._pair(len(s1), len(s2))
        if s1[a1] is not None and s2[a2] is not None and s1[a1] != s2[a2]:
            raise InputShapeError(f"Dot {self.name!r}: axis {a1} of the first input ({s1[a1]}) and "
                                  f"axis {a2} of the second ({s2[a2]}) must have the same size; "
                                  f"shapes {tuple(s1)}, {tuple(s2)}.")

    def compute_output_shape(self, input_shape: Any) -> tuple:
        s1, s2 = [list(s) for s in self._check_list(input_shape)]
        a1, a2 = self._pair(len(s1), len(s2))
        s1.pop(a1)
        s2.pop(a2)
        out = s1 + s2[1:]
        return tuple(out) if len(out) > 1 else (out[0], 1)

    def compute_mask(self, x: Any, mask: Any) -> None:
        return None

    def _subscripts(self, r1: int, r2: int) -> tuple[str, str, str]:
        a1, a2 = self._pair(r1, r2)
        letters = iter("cdefghijklmnopqrstuvwxyz")
        contracted = "z"
        xs = ["b"] + [contracted if k == a1 else next(letters) for k in range(1, r1)]
        ys = ["b"] + [contracted if k == a2 else next(letters) for k in range(1, r2)]
        out = ["b"] + [c for c in xs[1:] if c != contracted] + [c for c in ys[1:] if c != contracted]
        return "".join(xs), "".join(ys), "".join(out)

    @staticmethod
    def _l2_normalize(x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
        norm = np.sqrt(np.sum(x * x, axis=axis, keepdims=True))
        norm = np.maximum(norm, x.dtype.type(1e-12))                 # torch's F.normalize eps
        return x / norm, norm

    def forward(self, x: Any, training: bool = False, **kwargs: Any) -> tuple[np.ndarray, tuple]:
        x1, x2 = self._arrays(x)
        a1, a2 = self._pair(x1.ndim, x2.ndim)
        n1 = n2 = None
        u1, u2 = x1, x2
        if self.normalize:
            u1, n1 = self._l2_normalize(x1, a1)
            u2, n2 = self._l2_normalize(x2, a2)
        s1, s2, so = self._subscripts(x1.ndim, x2.ndim)
        out = np.einsum(f"{s1},{s2}->{so}", u1, u2)
        if out.ndim == 1:
            out = out[:, None]
        return out, (u1, u2, n1, n2, x1.ndim, x2.ndim)

    def backward(self, dy: np.ndarray, cache: tuple) -> tuple[list[np.ndarray], list]:
        u1, u2, n1, n2, r1, r2 = cache
        s1, s2, so = self._subscripts(r1, r2)
        d = dy.reshape(dy.shape[0]) if len(so) == 1 else dy
        du1 = np.einsum(f"{so},{s2}->{s1}", d, u2)
        du2 = np.einsum(f"{so},{s1}->{s2}", d, u1)
        if self.normalize:
            a1, a2 = self._pair(r1, r2)
            du1 = (du1 - u1 * np.sum(du1 * u1, axis=a1, keepdims=True)) / n1
            du2 = (du2 - u2 * np.sum(du2 * u2, axis=a2, keepdims=True)) / n2
        return [du1, du2], []

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}
