"""The shared reference helper for whole models (graphs) against Keras 3.

:func:`keras_graph_run` builds the same model twice from one builder ``build(lib)``
(``lib`` is ``unrolled`` or ``keras``: both have ``Input``, ``Model``, ``Sequential`` and
``layers.*``), gives both the same random non-zero weights, runs them on the same random
inputs, and takes the gradients of ``loss = Σ_k Σ output_k · R_k`` (random R) with respect
to every trainable weight and every input -- Keras's through torch autograd
(``KERAS_BACKEND=torch``), unrolled's through ``model.backward``. The result is a
:class:`~tests.reference.Sides` for :func:`~tests.reference.assert_same`.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

import unrolled

from .peers import require
from .reference import Sides, nonzero_uniform


def _flat(obj: Any) -> list[Any]:
    if isinstance(obj, dict):
        return [obj[k] for k in sorted(obj)]
    return list(obj) if isinstance(obj, (list, tuple)) else [obj]


def _like(struct: Any, values: list[Any]) -> Any:
    if isinstance(struct, dict):
        return dict(zip(sorted(struct), values))
    return list(values) if isinstance(struct, (list, tuple)) else values[0]


def random_inputs(model: Any, rng: np.random.Generator, batch: int = 3,
                  dtype: str = "float32") -> list[np.ndarray]:
    """One non-zero random array per model input (None axes get 4 steps); a boolean
    input (a mask) gets random steps off, never its first step."""
    out = []
    for t in model.inputs:
        shape = (batch,) + tuple(4 if d is None else d for d in t.shape[1:])
        if t.dtype == "bool":
            m = rng.random(shape) < 0.7
            m[:, 0] = True
            out.append(m)
        else:
            out.append(nonzero_uniform(rng, shape, 0.2, 1.0, dtype))
    return out


def set_same_weights(ours: Any, theirs: Any, rng: np.random.Generator) -> None:
    weights = [nonzero_uniform(rng, w.shape, 0.1, 0.5, w.dtype) for w in ours.get_weights()]
    assert [tuple(w.shape) for w in theirs.get_weights()] == [w.shape for w in weights]
    ours.set_weights(weights)
    theirs.set_weights(weights)


def keras_graph_run(build: Callable[[Any], Any], seed: int = 0, batch: int = 3,
                    inputs: list[np.ndarray] | None = None, training: bool = False) -> Sides:
    keras = require("keras")
    torch = require("torch")
    assert keras.backend.backend() == "torch"
    rng = np.random.default_rng(seed)
    ours, theirs = build(unrolled), build(keras)
    set_same_weights(ours, theirs, rng)
    xs = inputs if inputs is not None else random_inputs(ours, rng, batch)

    xs_t = [torch.tensor(x, requires_grad=bool(x.dtype.kind == "f")) for x in xs]
    out_t = _flat(theirs(_like(ours.input, xs_t), training=training))
    cotangents = [rng.standard_normal(tuple(o.shape)).astype(np.float32) for o in out_t]
    loss = sum((o * torch.from_numpy(r)).sum() for o, r in zip(out_t, cotangents))
    loss.backward()
    theirs_d = {f"output[{k}]": o.detach().numpy() for k, o in enumerate(out_t)}
    for k, w in enumerate(theirs.trainable_weights):
        g = w.value.grad
        theirs_d[f"d weight[{k}] {w.path}"] = np.zeros(tuple(w.shape), np.float32) if g is None else g.numpy()
    for k, x in enumerate(xs_t):
        if x.requires_grad:
            theirs_d[f"d input[{k}]"] = x.grad.numpy()

    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out, cache = ours.forward(_like(ours.input, xs), training=training)
        outs = _flat(out)
        d_in, grads = ours.backward(_like(ours.output, cotangents), cache)
        called = _flat(ours(_like(ours.input, xs)))
    for a, b in zip(called, outs):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    ours_d = {f"output[{k}]": o for k, o in enumerate(outs)}
    names = [f"d weight[{k}] {w.path}" for k, w in enumerate(theirs.trainable_weights)]
    assert len(grads) == len(names), (len(grads), names)
    ours_d.update(dict(zip(names, grads)))
    for k, (x, d) in enumerate(zip(xs, _flat(d_in))):
        if x.dtype.kind == "f":
            ours_d[f"d input[{k}]"] = d
    for key, value in ours_d.items():
        assert np.asarray(value).dtype == np.float32, (key, np.asarray(value).dtype)
    return Sides(ours_d, theirs_d)
