"""Every backward pass against float64 central finite differences of its own forward pass.

Loss is ``Σ output·R`` for a fixed random R (every output of ``return_state`` included);
the analytic gradient of each weight, the input and the initial state must match the
numeric one to a relative error (max-abs normalised) below 1e-6.

relu and hard_sigmoid have kinks (at 0 and ±3) where finite differences are meaningless;
those configurations pick, deterministically, the first seed whose pre-activations all
stay ``MARGIN`` away from every kink (checked with the independent NumPy LSTM), so each
perturbation stays on one linear piece.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import unrolled
from unrolled.core import activations

from .reference import (Sides, assert_same, kink_margin, numeric_gradient, numpy_lstm,
                        nonzero_uniform, random_weights, unrolled_side)

EPS = 1e-6
RTOL = 1e-6
MARGIN = 1e-3
LSTM_ACTIVATIONS = ["tanh", "sigmoid", "hard_sigmoid", "legacy_hard_sigmoid", "relu", "linear", "elu", "softplus", "silu"]


def _loss(outputs: Any, cotangents: list[np.ndarray]) -> float:
    outs = outputs if isinstance(outputs, list) else [outputs]
    return float(sum(np.sum(o * r) for o, r in zip(outs, cotangents)))


def _lstm_setup(units: int, steps: int, features: int, batch: int, with_state: bool,
                config: dict[str, Any], seed: int):
    rng = np.random.default_rng(seed)
    layer = unrolled.layers.LSTM(units, dtype="float64", **config)
    layer.build((None, steps, features))
    layer.set_weights(random_weights(layer, rng, 0.1, 0.45))
    x = nonzero_uniform(rng, (batch, steps, features), 0.05, 1.0)
    state = [nonzero_uniform(rng, (batch, units), 0.05, 1.0) for _ in range(2)] if with_state else None
    return layer, x, state


def _lstm_seed(units, steps, features, batch, with_state, config) -> int:
    """The first seed whose run keeps every kinked pre-activation MARGIN from its kink
    (and, for relu gates, leaves most of them open)."""
    act = config.get("activation", "tanh")
    rec = config.get("recurrent_activation", "sigmoid")
    for seed in range(200):
        layer, x, state = _lstm_setup(units, steps, features, batch, with_state, config, seed)
        h0, c0 = state if state is not None else (None, None)
        run = numpy_lstm(x, layer.kernel, layer.recurrent_kernel, layer.bias, h0, c0, act, rec,
                         config.get("go_backwards", False))
        H = units
        gate_z = np.concatenate([run.z[..., :2 * H], run.z[..., 3 * H:]], axis=-1)
        # relu gates that are mostly shut would leave nothing to check: want them mostly open.
        open_enough = rec != "relu" or np.mean(gate_z > 0) >= 0.6
        if kink_margin(run, act, rec) >= MARGIN and open_enough:
            return seed
    raise AssertionError(f"no kink-free seed for {config}")


def check_lstm(units: int, steps: int, features: int, batch: int, with_state: bool,
               **config: Any) -> None:
    seed = _lstm_seed(units, steps, features, batch, with_state, config)
    layer, x, state = _lstm_setup(units, steps, features, batch, with_state, config, seed)
    rng = np.random.default_rng(seed + 1000)
    out, _ = layer.forward(x, initial_state=state)
    cotangents = [rng.standard_normal(o.shape) for o in (out if isinstance(out, list) else [out])]
    ours = unrolled_side(layer, x, cotangents, state)

    def loss() -> float:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            return _loss(layer.forward(x, initial_state=state)[0], cotangents)

    numeric = {k: v for k, v in ours.items() if k.startswith("output")}
    for name, w in zip(layer.weight_names, layer.weights):  # live arrays, perturbed in place
        numeric[f"d {name}"] = numeric_gradient(loss, w, EPS)
    numeric["d x"] = numeric_gradient(loss, x, EPS)
    for k, s in enumerate(state or []):
        numeric[f"d initial_state[{k}]"] = numeric_gradient(loss, s, EPS)

    # The forward values themselves against the NumPy LSTM written from the equations.
    h0, c0 = state if state is not None else (None, None)
    run = numpy_lstm(x, layer.kernel, layer.recurrent_kernel, layer.bias, h0, c0,
                     layer.activation.name, layer.recurrent_activation.name, layer.go_backwards)
    expected = [run.sequence if layer.return_sequences else run.h]
    if layer.return_state:
        expected += [run.h, run.c]
    for k, e in enumerate(expected):
        numeric[f"output[{k}]"] = e
    one_step_from_zero = ("d recurrent_kernel",) if steps == 1 and state is None else ()
    assert_same(Sides(ours, numeric), atol=1e-12, grad_rtol=RTOL, may_be_zero=one_step_from_zero)


@pytest.mark.parametrize("act", LSTM_ACTIVATIONS)
def test_lstm_activation_slot(act: str) -> None:
    check_lstm(2, 3, 2, 2, True, activation=act, return_sequences=True)


@pytest.mark.parametrize("act", LSTM_ACTIVATIONS)
def test_lstm_recurrent_activation_slot(act: str) -> None:
    check_lstm(2, 3, 2, 2, True, recurrent_activation=act, return_state=True)


OPTION_CASES = {
    "last-output": (3, 4, 2, 2, False, {}),
    "sequences": (3, 4, 2, 2, False, dict(return_sequences=True)),
    "state": (2, 3, 3, 2, False, dict(return_state=True)),
    "sequences-state": (2, 3, 2, 2, False, dict(return_sequences=True, return_state=True)),
    "backwards": (2, 4, 2, 2, False, dict(go_backwards=True)),
    "backwards-sequences-state-initial": (2, 3, 2, 2, True, dict(
        go_backwards=True, return_sequences=True, return_state=True)),
    "initial-state": (3, 3, 2, 2, True, {}),
    "no-bias": (2, 3, 2, 2, True, dict(use_bias=False, return_sequences=True)),
    "batch1": (2, 3, 2, 1, True, dict(return_state=True)),
    "T1": (2, 1, 3, 2, False, dict(return_sequences=True)),
    "batch1-T1-initial": (2, 1, 1, 1, True, dict(return_state=True)),
    "relu-hard-sigmoid-backwards": (2, 3, 2, 2, True, dict(
        activation="relu", recurrent_activation="hard_sigmoid", go_backwards=True,
        return_sequences=True)),
}


@pytest.mark.parametrize("name", list(OPTION_CASES))
def test_lstm_options(name: str) -> None:
    units, steps, features, batch, with_state, config = OPTION_CASES[name]
    check_lstm(units, steps, features, batch, with_state, **config)


# -- Dense -----------------------------------------------------------------------------------
DENSE_KINKS = {"relu": (0.0,), "hard_sigmoid": (-3.0, 3.0)}


@pytest.mark.parametrize("act", activations.names())
@pytest.mark.parametrize("input_shape", [(3, 4), (2, 3, 4)], ids=["2d", "3d"])
@pytest.mark.parametrize("use_bias", [True, False], ids=["bias", "no-bias"])
def test_dense(act: str, input_shape: tuple[int, ...], use_bias: bool) -> None:
    for seed in range(200):
        rng = np.random.default_rng(seed)
        layer = unrolled.layers.Dense(3, activation=act, use_bias=use_bias, dtype="float64")
        layer.build((None,) + input_shape[1:])
        layer.set_weights(random_weights(layer, rng, 0.2, 1.0))
        x = nonzero_uniform(rng, input_shape, 0.1, 2.0)
        z = x @ layer.kernel + (layer.bias if use_bias else 0.0)   # independent pre-activation
        if all(np.min(np.abs(z - k)) >= MARGIN for k in DENSE_KINKS.get(act, ())):
            break
    else:
        raise AssertionError(f"no kink-free seed for Dense({act!r})")
    cotangent = rng.standard_normal(input_shape[:-1] + (3,))
    ours = unrolled_side(layer, x, [cotangent])

    def loss() -> float:
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            return _loss(layer.forward(x)[0], [cotangent])

    numeric = {"output[0]": ours["output[0]"], "d x": numeric_gradient(loss, x, EPS)}
    for name, w in zip(layer.weight_names, layer.weights):
        numeric[f"d {name}"] = numeric_gradient(loss, w, EPS)
    assert_same(Sides(ours, numeric), atol=0.0, grad_rtol=RTOL)


def test_dense_softmax_rows_sum_to_one_on_sequences() -> None:
    layer = unrolled.layers.Dense(4, activation="softmax", dtype="float64")
    x = np.random.default_rng(0).normal(size=(2, 5, 3))
    y = layer(x)
    assert y.shape == (2, 5, 4)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, atol=1e-12)


# -- a stacked model through Sequential.forward / backward ----------------------------------
@pytest.mark.parametrize("head", ["linear", "softmax"])
def test_stacked_sequential(head: str) -> None:
    rng = np.random.default_rng(11)
    model = unrolled.Sequential([
        unrolled.Input((4, 3), dtype="float64"),
        unrolled.layers.LSTM(3, return_sequences=True, dtype="float64"),
        unrolled.layers.LSTM(2, go_backwards=True, dtype="float64"),
        unrolled.layers.Dense(2, activation=head, dtype="float64"),
    ])
    model.set_weights([nonzero_uniform(rng, w.shape, 0.1, 0.5) for w in model.get_weights()])
    x = nonzero_uniform(rng, (2, 4, 3), 0.05, 1.0)
    cotangent = rng.standard_normal((2, 2))

    out, caches = model.forward(x)
    assert out.dtype == np.float64 and out.shape == (2, 2)
    dx, grads = model.backward(cotangent, caches)
    assert len(grads) == len(model.trainable_weights) == 8
    ours = {"d x": dx, **{f"d weight[{k}]": g for k, g in enumerate(grads)}}

    def loss() -> float:
        return _loss(model.forward(x)[0], [cotangent])

    numeric = {"d x": numeric_gradient(loss, x, EPS)}
    for k, w in enumerate(model.trainable_weights):
        assert w.shape == grads[k].shape
        numeric[f"d weight[{k}]"] = numeric_gradient(loss, w, EPS)
    assert_same(Sides(ours, numeric), atol=0.0, grad_rtol=RTOL)
