"""What drove one output: integrated gradients over every input feature and timestep.

For one sample ``x`` (timesteps, features), a baseline ``x0`` of the same shape and one
scalar output ``f`` of the model, the attribution of input element ``(t, k)`` is ::

    A[t, k] = (x[t, k] - x0[t, k]) · ∫₀¹ ∂f/∂x[t, k] (x0 + α·(x - x0)) dα

computed with unrolled's own backward pass (``model.backward``), the integral by
Gauss–Legendre quadrature on [0, 1]. The attributions add up to the change of the output
along the path (*completeness*)::

    Σ A = f(x) - f(x0)

which :class:`Attributions` reports as ``completeness_error`` (relative); the number of
quadrature points doubles until it is below ``rtol`` (or ``max_steps`` is reached, which
the result says). For a model linear in its input the gradient is constant and
``A = w · (x - x0)`` exactly.

For a classifier (the output layer ends in softmax or sigmoid), each class has its own
attributions — what pushed *that class's probability* up or down: :func:`attributions`
explains the predicted class by default, :func:`class_attributions` every class. Under
softmax the probabilities always sum to 1, so the attributions of all classes add up to
zero at every input element (to integration accuracy).

The default baseline is zeros: for a forecaster (inputs standardised with the training
statistics) that is every feature at its training mean. Under a ``Masking`` layer a zero
row would be a *masked* step, and the output jumps where the path crosses into the mask,
so there the default baseline is each feature's mean over the sample's real steps, and
masked steps keep their value (they get zero attribution).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ConfigError, InputShapeError

Array = np.ndarray


@dataclass(frozen=True)
class Attributions:
    """Integrated-gradient attributions of one scalar output for one sample.

    ``values`` has the shape of one input sample, e.g. (timesteps, features).
    """

    values: Array              # (T, F): contribution of each input element
    x: Array                   # (T, F): the sample
    baseline: Array            # (T, F)
    output: float              # f(x)
    baseline_output: float     # f(x0)
    output_name: str           # which output, e.g. "output[0]" or "class 2"
    feature_names: tuple[str, ...]
    steps: int                 # quadrature points used
    baseline_note: str

    @property
    def total(self) -> float:
        """Σ values: equals ``output - baseline_output`` (completeness)."""
        return float(self.values.sum(dtype=np.float64))

    @property
    def completeness_error(self) -> float:
        """|Σ A - (f(x) - f(x0))| relative to |f(x) - f(x0)| (or to |f(x)| + 1e-12 when
        the change is tiny)."""
        delta = self.output - self.baseline_output
        scale = max(abs(delta), 1e-3 * abs(self.output), 1e-12)
        return abs(self.total - delta) / scale

    def by_feature(self) -> dict[str, float]:
        """Each feature's total over all timesteps."""
        v = self.values.reshape(-1, len(self.feature_names))
        return {n: float(s) for n, s in zip(self.feature_names, v.sum(axis=0, dtype=np.float64))}

    def by_timestep(self) -> Array:
        """Each timestep's total over all features, (T,)."""
        return self.values.reshape(len(self.values), -1).sum(axis=1, dtype=np.float64)

    def ranked(self, top: int | None = None) -> list[tuple[str, int, float]]:
        """``(feature, timestep, contribution)`` by decreasing |contribution|."""
        v = self.values.reshape(-1, len(self.feature_names))
        order = np.argsort(-np.abs(v), axis=None, kind="stable")[:top]
        F = len(self.feature_names)
        return [(self.feature_names[i % F], int(i // F), float(v.flat[i])) for i in order]

    def table(self, top: int = 10) -> str:
        T = len(self.values)
        lines = [f"Integrated gradients of {self.output_name}: f(x) = {self.output:+.6g}, "
                 f"f(baseline) = {self.baseline_output:+.6g} ({self.baseline_note})",
                 f"{'rank':>4}  {'feature':<20}{'timestep':>9}{'contribution':>14}"]
        for r, (name, t, value) in enumerate(self.ranked(top), 1):
            lines.append(f"{r:>4}  {name:<20}{t - T:>9}{value:>+14.6g}")
        lines.append(f"Completeness: Σ contributions = {self.total:+.6g}; f(x) − f(baseline) = "
                     f"{self.output - self.baseline_output:+.6g} (relative error "
                     f"{self.completeness_error:.1e}, {self.steps} quadrature points). "
                     "Timesteps count back from the last (−1).")
        return "\n".join(lines)


def _forward_flat(model: Any, xs: Array) -> tuple[Array, Any]:
    """The model's (first) output for each row of xs, flattened per sample."""
    y, cache = model.forward(xs, training=False)
    y = y[0] if isinstance(y, (list, tuple)) else y
    return np.asarray(y).reshape(len(xs), -1), cache


def _input_gradient(model: Any, xs: Array, index: int) -> tuple[Array, Array]:
    """(f(xs) for every row, ∂f/∂xs), with f the flattened output element ``index``."""
    y, cache = model.forward(xs, training=False)
    several = isinstance(y, (list, tuple))
    first = np.asarray(y[0] if several else y)
    flat = first.reshape(len(xs), -1)
    dy = np.zeros_like(flat)
    dy[:, index] = 1
    dy = dy.reshape(first.shape)
    if several:  # return_state: the other outputs get no gradient
        dy = [dy] + [None] * (len(y) - 1)
    dx, _ = model.backward(dy, cache)
    if isinstance(dx, (list, tuple)):
        raise ConfigError("attributions need a model with one input; this one has several.")
    return flat[:, index].astype(np.float64), np.asarray(dx, dtype=np.float64)


def _masking_value(model: Any, input_index: int = 0) -> float | None:
    """The mask value of a Masking layer reading the model's input directly, else None."""
    graph = getattr(model, "graph", None)
    if callable(graph) and hasattr(model, "layers"):
        g = graph()
        t = g.inputs[input_index]
        for node in g.calls:
            if node.x is t and getattr(node.layer, "creates_mask", False) \
                    and hasattr(node.layer, "mask_value"):
                return float(node.layer.mask_value)
        return None
    layers = getattr(model, "layers", None) or []
    for layer in layers[:1]:
        if getattr(layer, "creates_mask", False) and hasattr(layer, "mask_value"):
            return float(layer.mask_value)
    return None


class _OneInput:
    """A model of several inputs as a function of input ``index`` alone, the other inputs
    held at one sample's values (what :func:`attributions` integrates along)."""

    def __init__(self, model: Any, index: int, fixed: list[Array]) -> None:
        self.model, self.index, self.fixed = model, index, fixed

    def _full(self, xs: Array) -> list[Array]:
        return [xs if i == self.index else np.repeat(f[None], len(xs), axis=0)
                for i, f in enumerate(self.fixed)]

    def forward(self, xs: Array, training: bool = False) -> tuple[Any, Any]:
        return self.model.forward(self._full(xs), training=training)

    def backward(self, dy: Any, cache: Any) -> tuple[Any, Any]:
        dx, grads = self.model.backward(dy, cache)
        return dx[self.index], grads


def _input_index(model: Any, which: int | str) -> int:
    names = [t.name for t in model.inputs]
    if isinstance(which, str):
        if which not in names:
            raise ConfigError(f"input must be one of the model's inputs {names}, got {which!r}.")
        return names.index(which)
    if not -len(names) <= which < len(names):
        raise ConfigError(f"input must be in [0, {len(names)}) for the inputs {names}, got {which}.")
    return which % len(names)


def default_baseline(model: Any, x: Array, input_index: int = 0) -> tuple[Array, str]:
    """The documented baseline for ``x`` (one sample of input ``input_index``) and a
    sentence saying what it is."""
    mask_value = _masking_value(model, input_index)
    if mask_value is None:
        return np.zeros_like(x), "baseline: zeros (for a forecaster: every input at its training mean)"
    real = ~np.all(x == mask_value, axis=-1)                 # (T,) the unmasked steps
    if not real.any():
        raise InputShapeError("every timestep of this sample is masked: nothing to attribute.")
    mean = x[real].mean(axis=0)
    base = np.where(real[:, None], mean[None, :], x)
    return base, ("baseline: each feature's mean over the sample's unmasked steps (a zero "
                  "baseline would be masked); masked steps kept as they are")


def attributions(model: Any, x: Any, baseline: Any = None, output: int | None = None,
                 sample: int = -1, feature_names: list[str] | None = None,
                 rtol: float = 1e-4, steps: int = 32, max_steps: int = 1024,
                 input: int | str = 0) -> Attributions:
    """Integrated gradients of one output of ``model`` for one sample of ``x``.

    Args:
        model: a Sequential / Model, or a single layer (anything with ``forward`` and
            ``backward``) taking one input.
        x: (batch, timesteps, features) or one sample (timesteps, features); any input
            rank the model takes works the same way.
        baseline: one sample's shape; default see :func:`default_baseline`.
        output: which element of the (flattened) per-sample output to explain, e.g. a
            class index, or ``h·targets + t`` for a forecaster's step h of target t.
            Default: the only one; for a softmax classifier the predicted class; else 0
            (the first step's forecast).
        sample: which sample of the batch (default the last).
        rtol: completeness tolerance that stops the doubling of quadrature points.
        input: for a model with several inputs (``x`` a list or dict, as the model
            takes it), which input is attributed (index or name; default the first):
            it moves from the baseline to the sample while the other inputs stay at the
            sample's values, so completeness holds for that change.
    """
    if not (hasattr(model, "forward") and hasattr(model, "backward")):
        raise ConfigError(f"attributions need a model or layer with forward/backward, got "
                          f"{type(model).__name__}.")
    net, index, several = model, 0, len(getattr(model, "inputs", None) or ()) > 1
    if several:        # attribute to one input; the others stay at the sample's values
        index = _input_index(model, input)
        arrays = model.prepare_inputs(x)
        if not -len(arrays[0]) <= sample < len(arrays[0]):
            raise ConfigError(f"sample must be in [0, {len(arrays[0])}) for a batch of "
                              f"{len(arrays[0])}, got {sample}.")
        net = _OneInput(model, index, [a[sample] for a in arrays])
        x, sample = arrays[index][sample:][:1], 0
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise InputShapeError(f"attributions need numeric input, got dtype {x.dtype}.")
    in_shape = getattr(model, "input_batch_shape", None)
    if in_shape is not None and x.ndim == len(in_shape) - 1:
        x = x[None]
    if x.ndim < 2:
        raise InputShapeError(f"x must have a batch axis, got shape {x.shape}.")
    if not -len(x) <= sample < len(x):
        raise ConfigError(f"sample must be in [0, {len(x)}) for a batch of {len(x)}, got {sample}.")
    dtype = np.dtype(x.dtype) if several and x.dtype.kind == "f" else _model_dtype(model)
    one = x[sample].astype(dtype)
    if not several and getattr(_first_layer(model), "input_dtype_kind", "float") == "int":
        raise ConfigError("attributions are defined for real-valued inputs; this model starts "
                          "with an integer (Embedding) input.")
    if baseline is None:
        base, note = default_baseline(model, one, index)
    else:
        base, note = np.asarray(baseline, dtype=dtype), "baseline given by the caller"
        if base.shape != one.shape:
            raise InputShapeError(f"baseline must have the shape of one sample, {one.shape}, "
                                  f"got {base.shape}.")
    f_both, _ = _forward_flat(net, np.stack([one, base]).astype(dtype))
    n_out = f_both.shape[1]
    predicted = None
    if output is None:
        if output_activation(model) == "softmax" and n_out > 1:
            output = predicted = int(np.argmax(f_both[0]))
        else:
            output = 0
    if not -n_out <= output < n_out:
        raise ConfigError(f"output must be in [0, {n_out}) for {n_out} output value(s) per "
                          f"sample, got {output}.")
    output %= n_out
    f_x, f_0 = float(f_both[0, output]), float(f_both[1, output])
    diff = one.astype(np.float64) - base.astype(np.float64)
    k = max(2, int(steps))
    while True:
        nodes, weights = np.polynomial.legendre.leggauss(k)
        alphas, w = (nodes + 1) / 2, weights / 2                        # on [0, 1]
        path = base[None] + alphas.astype(dtype).reshape((-1,) + (1,) * one.ndim) * (one - base)[None]
        _, grads = _input_gradient(net, path.astype(dtype), output)
        values = diff * np.tensordot(w, grads, axes=1)
        name = _output_name(model, output, n_out) + (", the predicted class" if predicted is not None else "")
        if several:
            name += f", through input {model.inputs[index].name!r} (the others held at the sample)"
        result = Attributions(values, one, base, f_x, f_0, name, _names(feature_names, one), k, note)
        if result.completeness_error <= rtol or k >= max_steps:
            return result
        k *= 2


def _names(feature_names: list[str] | None, one: Array) -> tuple[str, ...]:
    F = one.shape[-1]
    if feature_names is None:
        return tuple(f"x[{k}]" for k in range(F))
    if len(feature_names) != F:
        raise ConfigError(f"feature_names has {len(feature_names)} name(s) for {F} feature(s).")
    return tuple(str(n) for n in feature_names)


def output_activation(model: Any) -> str | None:
    """``"softmax"`` or ``"sigmoid"`` when the model's (first) output layer ends in one —
    a classifier — else None (or another activation's name)."""
    last = None
    graph = getattr(model, "graph", None)
    if callable(graph):
        try:
            last = graph().outputs[0].layer
        except Exception:   # e.g. a bare layer list that builds no graph
            last = None
    if last is None:
        last = (getattr(model, "layers", None) or [model])[-1]
    if type(last).__name__ == "Softmax":
        return "softmax"
    return getattr(getattr(last, "activation", None), "name", None)


def _output_name(model: Any, index: int, n_out: int) -> str:
    act = output_activation(model)
    if act == "softmax" and n_out > 1:
        return f"class {index} (probability)"
    if act == "sigmoid":
        return "the probability" if n_out == 1 else f"label {index} (probability)"
    return "the output" if n_out == 1 else f"output[{index}]"


def predicted_class(model: Any, x: Any, sample: int = -1) -> int | None:
    """The class a softmax classifier predicts for one sample (None if not a softmax
    classifier)."""
    if output_activation(model) != "softmax":
        return None
    y = _one_output(model, x, sample)
    return int(np.argmax(y)) if len(y) > 1 else None


def class_attributions(model: Any, x: Any, classes: list[int] | None = None, **kwargs: Any
                       ) -> dict[int, Attributions]:
    """:func:`attributions` for each class of a classifier (softmax or sigmoid output):
    ``{class: Attributions}``, every class unless ``classes`` is given. Keyword arguments
    (``sample``, ``baseline``, ``feature_names``, ``rtol``, ...) are :func:`attributions`'."""
    if output_activation(model) not in ("softmax", "sigmoid"):
        raise ConfigError("class_attributions needs a classifier: a model whose output layer "
                          f"ends in softmax or sigmoid; this one ends in "
                          f"{output_activation(model)!r}. Use attributions(model, x, output=k).")
    n_out = _n_outputs(model, x, kwargs.get("sample", -1))
    chosen = list(range(n_out)) if classes is None else [int(c) for c in classes]
    return {c: attributions(model, x, output=c, **kwargs) for c in chosen}


def _n_outputs(model: Any, x: Any, sample: int) -> int:
    return len(_one_output(model, x, sample))


def _one_output(model: Any, x: Any, sample: int) -> Array:
    """The model's first output for one sample, flattened."""
    if len(getattr(model, "inputs", None) or ()) > 1:
        xs: Any = [a[sample:][:1] for a in model.prepare_inputs(x)]
    else:
        xs = np.asarray(x)
        in_shape = getattr(model, "input_batch_shape", None)
        if in_shape is not None and xs.ndim == len(in_shape) - 1:
            xs = xs[None]
        xs = xs[sample:][:1].astype(_model_dtype(model))
    y, _ = model.forward(xs, training=False)
    y = y[0] if isinstance(y, (list, tuple)) else y
    return np.asarray(y).reshape(-1)


def _first_layer(model: Any) -> Any:
    layers = getattr(model, "layers", None)
    return layers[0] if layers else model


def _model_dtype(model: Any) -> np.dtype:
    return np.dtype(getattr(_first_layer(model), "dtype", np.float32))
