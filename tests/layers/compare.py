"""Helpers for the layer tests of issue #11 (Embedding, reshaping, activation, Conv1D,
pooling, normalization): build an unrolled layer and the same Keras 3 layer with equal
random non-zero weights, compare them through ``reference.keras_layer_sides``, and check
gradients with float64 finite differences."""
from __future__ import annotations

import json
from typing import Any

import numpy as np

import unrolled

from ..peers import require
from ..reference import Sides, keras_layer_sides, nonzero_uniform, numeric_gradient


def random_weights_for(layer: Any, rng: np.random.Generator) -> list[np.ndarray]:
    """Non-zero random weights; variances positive (BatchNormalization's moving_variance)."""
    out = []
    for name, w in zip(layer.weight_names, layer.get_weights()):
        v = nonzero_uniform(rng, w.shape, dtype=w.dtype)
        out.append(np.abs(v) + 0.5 if "variance" in name else v)
    return out


def pair(cls_name: str, config: dict[str, Any], in_shape: tuple[int, ...], seed: int = 0,
         dtype: str = "float32") -> tuple[Any, Any]:
    """``(ours, theirs)`` built for (None, *in_shape) with the same random weights; the
    weight names (and so their order) must agree with Keras's."""
    keras = require("keras")
    ours = getattr(unrolled.layers, cls_name)(**config, dtype=dtype)
    ours.build((None,) + tuple(in_shape))
    theirs = getattr(keras.layers, cls_name)(**config, dtype=dtype)
    theirs.build((None,) + tuple(in_shape))
    assert [w.name for w in theirs.weights] == ours.weight_names
    weights = random_weights_for(ours, np.random.default_rng(seed))
    ours.set_weights(weights)
    theirs.set_weights(weights)
    return ours, theirs


def against_keras(cls_name: str, config: dict[str, Any], x: np.ndarray, *, mask: Any = None,
                  training: bool = False, seed: int = 0) -> tuple[Sides, Any, Any]:
    ours, theirs = pair(cls_name, config, x.shape[1:], seed)
    sides = keras_layer_sides(ours, theirs, x, mask=mask, training=training, seed=seed + 1)
    return sides, ours, theirs


def finite_difference_check(layer: Any, x: np.ndarray, *, mask: Any = None, training: bool = False,
                            seed: int = 0, rtol: float = 1e-6, check_x: bool = True) -> None:
    """float64: every trainable weight's gradient and dL/dx against central differences of
    ``L = Σ forward(x)·R``."""
    assert layer.dtype == np.float64 and x.dtype == np.float64
    kw = {} if mask is None else {"mask": mask}
    out, cache = layer.forward(x, training=training, **kw)
    r = np.random.default_rng(seed).standard_normal(np.shape(out))
    dx, grads = layer.backward(r, cache)

    def loss() -> float:
        return float((layer.forward(x, training=training, **kw)[0] * r).sum())

    names = [n for n, w in zip(layer.weight_names, layer.weights)
             if any(w is t for t in layer.trainable_weights)]
    assert len(names) == len(grads)
    for name, g in zip(names, grads):
        num = numeric_gradient(loss, layer._weights[name])
        assert np.any(num != 0), f"d {name} is all zero (vacuous)"
        np.testing.assert_allclose(g, num, rtol=rtol, atol=rtol * np.abs(num).max(), err_msg=f"d {name}")
    if check_x:
        num = numeric_gradient(loss, x)
        assert np.any(num != 0)
        np.testing.assert_allclose(dx, num, rtol=rtol, atol=rtol * np.abs(num).max(), err_msg="d x")


def config_round_trip(layer: Any) -> dict[str, Any]:
    """JSON round trip through unrolled, and Keras reading our config back to the same
    config (so the schema is Keras's, key for key)."""
    keras = require("keras")
    cfg = json.loads(json.dumps(layer.get_config()))
    again = type(layer).from_config(dict(cfg))
    assert json.loads(json.dumps(again.get_config())) == cfg
    theirs = getattr(keras.layers, type(layer).__name__).from_config(dict(cfg))
    assert json.loads(json.dumps(theirs.get_config())) == cfg
    return cfg
