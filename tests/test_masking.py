"""Masking with Keras 3's semantics: ``Masking -> LSTM/GRU/SimpleRNN`` against Keras
(torch backend) for outputs, every weight gradient and the input gradient; float64
finite differences through the masked scan; the reference path for masked calls; the
mask's propagation through Sequential; the layer's config and ``.keras`` files."""
from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import unrolled
from unrolled.core.kernels import dispatch, force, lstm_numba
from unrolled.core.kernels.reference import REFERENCE
from unrolled.errors import InputShapeError
from unrolled.layers import GRU, LSTM, Dense, Dropout, Masking, SimpleRNN

from .peers import require
from .reference import (
    Sides,
    assert_same,
    lstm_kernel_modes,
    numeric_gradient,
    random_weights,
    using_kernel,
)

LAYERS = {"LSTM": LSTM, "GRU": GRU, "SimpleRNN": SimpleRNN}


def padded_batch(rng: np.random.Generator, batch: int = 5, steps: int = 6, features: int = 3,
                 dtype: str = "float32") -> np.ndarray:
    """Non-zero data, zero-padded at the end (sample 0), at the start (sample 1), one
    zero step in the middle (sample 2), fully padded (sample 3), unpadded (sample 4)."""
    x = rng.uniform(0.1, 1.0, (batch, steps, features)) * np.where(
        rng.random((batch, steps, features)) < 0.5, -1.0, 1.0)
    x[0, steps - 2:] = 0.0
    x[1, :3] = 0.0
    x[2, 2] = 0.0
    x[3] = 0.0
    return x.astype(dtype)


def _as_list(out: Any) -> list[np.ndarray]:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def keras_masked_sides(cls_name: str, config: dict[str, Any], x: np.ndarray,
                       initial_state: list[np.ndarray] | None = None, seed: int = 0) -> Sides:
    """``Masking -> <cls_name>(**config)`` in Keras and in unrolled with the same random
    non-zero weights; ``loss = Σ output·R`` differentiated w.r.t. every weight, the input
    and the initial states (Keras: torch autograd)."""
    keras, torch = require("keras"), require("torch")
    rng = np.random.default_rng(seed)
    dtype = str(x.dtype)
    ours = LAYERS[cls_name](**config, dtype=dtype)
    ours.build((None,) + x.shape[1:])
    weights = random_weights(ours, rng)
    ours.set_weights(weights)
    theirs = getattr(keras.layers, cls_name)(**config, dtype=dtype)
    theirs.build((None,) + x.shape[1:])
    theirs.set_weights(weights)

    x_t = torch.tensor(x, requires_grad=True)
    states_t = None if initial_state is None else [torch.tensor(s, requires_grad=True)
                                                    for s in initial_state]
    masked_t = keras.layers.Masking(dtype=dtype)(x_t)
    # Keras drops the implicit mask of the input when a second tensor argument
    # (initial_state) is passed (Layer.__call__ step 6), so hand it over explicitly then.
    out_t = _as_list(theirs(masked_t) if states_t is None else theirs(
        masked_t, initial_state=states_t, mask=keras.src.backend.get_keras_mask(masked_t)))
    cotangents = [rng.standard_normal(tuple(o.shape)).astype(dtype) for o in out_t]
    sum((o * torch.from_numpy(r)).sum() for o, r in zip(out_t, cotangents)).backward()
    their = {f"output[{k}]": o.detach().numpy() for k, o in enumerate(out_t)}
    their.update({f"d {w.name}": w.value.grad.numpy() for w in theirs.trainable_weights})
    their["d x"] = x_t.grad.numpy()
    if states_t is not None:
        their.update({f"d initial_state[{k}]": s.grad.numpy() for k, s in enumerate(states_t)})

    masking = Masking(dtype=dtype)
    kwargs = {} if initial_state is None else {"initial_state": list(initial_state)}
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y, m_cache = masking.forward(x)
        mask = masking.compute_mask(x, None)
        out, cache = ours.forward(y, training=True, mask=mask, **kwargs)
        outs = _as_list(out)
        dy = cotangents if isinstance(out, list) else cotangents[0]
        dy_masked, grads, d_init = ours.backward_with_states(dy, cache)
        dx, _ = masking.backward(dy_masked, m_cache)
    # The public call path (inference kernel) computes the same outputs.
    for a, b in zip(_as_list(ours(y, mask=mask, **kwargs)), outs):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    mine = {f"output[{k}]": o for k, o in enumerate(outs)}
    mine.update({f"d {name}": g for name, g in zip(ours.weight_names, grads)})
    mine["d x"] = dx
    if initial_state is not None:
        mine.update({f"d initial_state[{k}]": d for k, d in enumerate(d_init)})
    for key, value in mine.items():
        assert value.dtype == np.dtype(dtype), (key, value.dtype)
    return Sides(mine, their)


OPTIONS = [dict(return_sequences=rs, go_backwards=gb, return_state=st)
           for rs, gb, st in itertools.product([False, True], repeat=3)]


@pytest.mark.parametrize("cls_name", list(LAYERS))
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: "-".join(k for k, v in o.items() if v) or "plain")
def test_masked_layer_matches_keras(cls_name: str, options: dict[str, Any]) -> None:
    x = padded_batch(np.random.default_rng(1))
    sides = keras_masked_sides(cls_name, dict(units=4, **options), x)
    assert_same(sides, atol=1e-5, grad_rtol=1e-5, label=f"{cls_name} {options}")


@pytest.mark.parametrize("cls_name,config", [
    ("LSTM", dict(zero_output_for_mask=True)),
    ("LSTM", dict(zero_output_for_mask=True, return_sequences=True, go_backwards=True)),
    ("GRU", dict(reset_after=False, return_sequences=True)),
    ("GRU", dict(zero_output_for_mask=True, return_state=True)),
    ("SimpleRNN", dict(zero_output_for_mask=True, return_sequences=True)),
    ("LSTM", dict(activation="relu", recurrent_activation="hard_sigmoid", return_sequences=True)),
])
def test_masked_variants_match_keras(cls_name: str, config: dict[str, Any]) -> None:
    x = padded_batch(np.random.default_rng(2))
    sides = keras_masked_sides(cls_name, dict(units=3, **config), x)
    assert_same(sides, atol=1e-5, grad_rtol=1e-5, label=f"{cls_name} {config}")


@pytest.mark.parametrize("cls_name", list(LAYERS))
def test_masked_initial_state_matches_keras(cls_name: str) -> None:
    """A sample masked from the start outputs zeros while its state stays the initial
    state: Keras's output chain starts from zeros, not from h0."""
    rng = np.random.default_rng(3)
    x = padded_batch(rng)
    n = 2 if cls_name == "LSTM" else 1
    states = [rng.uniform(-0.5, 0.5, (5, 4)).astype("float32") for _ in range(n)]
    for options in (dict(return_state=True), dict(return_sequences=True, return_state=True)):
        sides = keras_masked_sides(cls_name, dict(units=4, **options), x, initial_state=states)
        assert_same(sides, atol=1e-5, grad_rtol=1e-5, label=f"{cls_name} {options}")
        if not options.get("return_sequences"):
            np.testing.assert_array_equal(sides.ours["output[0]"][3], 0.0)   # fully masked
            np.testing.assert_array_equal(sides.ours["output[1]"][3], states[0][3])


@pytest.mark.parametrize("batch,steps", [(1, 1), (1, 4), (3, 1)])
def test_masked_batch1_and_t1_match_keras(batch: int, steps: int) -> None:
    rng = np.random.default_rng(4)
    x = rng.uniform(0.1, 1.0, (batch, steps, 2)).astype("float32")
    if steps > 1:
        x[0, -1] = 0.0
    if batch > 1:
        x[1] = 0.0
    for cls_name in LAYERS:
        sides = keras_masked_sides(cls_name, dict(units=3, return_sequences=True, return_state=True), x)
        assert_same(sides, atol=1e-5, grad_rtol=1e-5, may_be_zero=True, label=cls_name)


# -- finite differences ------------------------------------------------------------------
def _fd_case(cls_name: str, config: dict[str, Any], batch: int, steps: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    layer = LAYERS[cls_name](units=3, dtype="float64", **config)
    layer.build((None, steps, 2))
    layer.set_weights(random_weights(layer, rng))
    x = rng.standard_normal((batch, steps, 2))
    mask = rng.random((batch, steps)) < 0.6
    mask[0, 0] = steps == 1                           # a masked first step (T > 1)
    if batch > 1:
        mask[-1] = False                              # a fully masked sample
    n = 2 if cls_name == "LSTM" else 1
    states = [rng.standard_normal((batch, 3)) for _ in range(n)]
    out, cache = layer.forward(x, training=True, initial_state=states, mask=mask)
    outs = _as_list(out)
    cot = [rng.standard_normal(o.shape) for o in outs]

    def loss() -> float:
        o = _as_list(layer.forward(x, initial_state=states, mask=mask)[0])
        return float(sum(np.sum(a * r) for a, r in zip(o, cot)))

    dx, grads, d_init = layer.backward_with_states(cot if isinstance(out, list) else cot[0], cache)
    checks = [("x", dx, x)] + [(f"w{k}", g, w) for k, (g, w) in enumerate(zip(grads, layer.weights))]
    checks += [(f"s{k}", d, s) for k, (d, s) in enumerate(zip(d_init, states))]
    for what, analytic, array in checks:
        numeric = numeric_gradient(loss, array)
        err = np.max(np.abs(analytic - numeric))
        assert err < 1e-6, f"{cls_name} {config} {what}: {err:.3g}\n{analytic}\n{numeric}"
    if x.shape[0] > 1:                       # masked steps get no input gradient
        assert np.all(dx[~mask] == 0)


@pytest.mark.parametrize("cls_name", list(LAYERS))
@pytest.mark.parametrize("config", [
    dict(), dict(return_sequences=True), dict(go_backwards=True, return_state=True),
    dict(zero_output_for_mask=True, return_sequences=True, go_backwards=True),
    dict(zero_output_for_mask=True, return_state=True),
], ids=str)
@pytest.mark.parametrize("batch,steps", [(1, 1), (1, 5), (4, 1), (4, 5)])
def test_masked_scan_finite_differences(cls_name: str, config: dict[str, Any], batch: int,
                                        steps: int) -> None:
    _fd_case(cls_name, config, batch, steps, seed=batch * 10 + steps)


def test_masking_layer_backward_zeroes_masked_steps() -> None:
    x = padded_batch(np.random.default_rng(5), dtype="float64")
    layer = Masking()
    y, cache = layer.forward(x)
    np.testing.assert_array_equal(y, x)              # padded steps are already zero
    dy = np.random.default_rng(6).standard_normal(x.shape)
    dx, grads = layer.backward(dy, cache)
    assert grads == [] and dx.dtype == x.dtype
    np.testing.assert_array_equal(dx, np.where(np.any(x != 0, -1, keepdims=True), dy, 0))


def test_masking_value_and_nan_like_keras() -> None:
    """mask = any(x != mask_value); the output keeps x where unmasked, zero elsewhere."""
    keras, torch = require("keras"), require("torch")
    x = np.array([[[1.0, 1.0], [1.0, 2.0], [np.nan, 1.0], [0.0, 0.0]]], dtype="float32")
    ours = Masking(mask_value=1.0)
    theirs = keras.layers.Masking(mask_value=1.0)
    out_t = theirs(torch.tensor(x))
    np.testing.assert_array_equal(ours.forward(x)[0], out_t.numpy())
    their_mask = keras.src.backend.get_keras_mask(out_t).numpy()
    np.testing.assert_array_equal(ours.compute_mask(x, None), their_mask)


# -- which path runs ---------------------------------------------------------------------
@pytest.mark.parametrize("kernel,training", lstm_kernel_modes())
def test_masked_lstm_runs_the_chosen_kernel_with_the_mask_in_its_loop(kernel: str,
                                                                      training: bool) -> None:
    """A masked call runs the kernel the selector picks -- the reference scan's own masked
    loop, or a fast kernel skipping masked steps in its own loop -- with the reference's
    numbers."""
    rng = np.random.default_rng(7)
    x = padded_batch(rng)
    layer = LSTM(4, return_sequences=True)
    layer.build((None,) + x.shape[1:])
    layer.set_weights(random_weights(layer, rng))
    mask = np.any(x != 0, -1)
    with force("reference"):
        want, _ = layer.forward(x, training=training, mask=mask)
    with using_kernel(kernel):
        out, cache = layer.forward(x, training=training, mask=mask)
        line = dispatch.describe(layer).split(": ", 1)[1]
        if kernel == "reference":
            assert cache.kernel is REFERENCE and cache.saved.mask is not None
        else:
            assert cache.kernel.takes_masks and "time loop skips" in line, line
            assert line.startswith(kernel), line
        np.testing.assert_allclose(out, want, rtol=0, atol=1e-5)
        called = layer(x, mask=mask, training=training)
        np.testing.assert_allclose(called, out, rtol=0, atol=1e-6)
        # An all-True mask changes nothing: it equals the unmasked result on any kernel.
        full, _ = layer.forward(x, training=training, mask=np.ones(x.shape[:2], bool))
        plain, _ = layer.forward(x, training=training)
        np.testing.assert_allclose(full, plain, atol=1e-6)
        assert dispatch.describe(layer).split(": ", 1)[1].split(" ")[0] == (
            "reference" if kernel in ("reference", "auto") else kernel)


def test_sequential_propagates_the_mask_like_keras() -> None:
    model = unrolled.Sequential([unrolled.Input((6, 3)), Masking(),
                                 LSTM(4, return_sequences=True), Dropout(0.5),
                                 Dense(2), LSTM(3, return_sequences=True, go_backwards=True),
                                 Dense(1)])
    x = padded_batch(np.random.default_rng(8))
    _, caches = model.forward(x, training=True)
    np.testing.assert_array_equal(caches.output_mask, np.any(x != 0, -1))  # not reversed
    assert caches[4].saved.mask is not None
    # model(x) and predict run the inference kernels, forward the training ones: the same
    # numbers up to float32 rounding.
    np.testing.assert_allclose(model(x), model.forward(x)[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(model.predict(x, verbose=0), model.forward(x)[0], rtol=0, atol=1e-6)
    last = unrolled.Sequential([unrolled.Input((6, 3)), Masking(), LSTM(4), Dense(1)])
    assert last.forward(x)[1].output_mask is None
    # A model without Masking: no mask anywhere.
    plain = unrolled.Sequential([unrolled.Input((6, 3)), LSTM(4), Dense(1)])
    assert plain.forward(x)[1].output_mask is None
    # A mask can also be given directly, as to a Keras model.
    out = plain(x, mask=np.any(x != 0, -1))
    assert out.shape == (5, 1)


def test_bad_mask_shape_says_what_is_expected() -> None:
    layer = LSTM(2)
    layer.build((None, 4, 3))
    with pytest.raises(InputShapeError, match=r"mask of shape \(batch, timesteps\) = \(2, 4\)"):
        layer.forward(np.zeros((2, 4, 3), "float32"), mask=np.ones((2, 3), bool))


@pytest.mark.parametrize("training", [False, True])
def test_masked_call_fast_lane_checks_the_mask_and_matches_the_full_path(training) -> None:
    """``layer(x, mask=m)`` with a ready float32 array skips Layer.__call__'s conversion
    (like an unmasked call); the mask is still checked, and the numbers equal the full
    path's (a float64 array, converted there)."""
    rng = np.random.default_rng(4)
    layer = LSTM(3, return_sequences=True)
    x = padded_batch(rng, features=2)
    mask = np.any(x != 0.0, axis=-1)
    layer.build((None,) + x.shape[1:])
    fast = layer(x.astype("float32"), mask=mask, training=training)
    full = layer(x.astype("float64"), mask=mask.astype(int), training=training)
    np.testing.assert_array_equal(fast, full)
    with pytest.raises(InputShapeError, match=r"mask of shape \(batch, timesteps\) = \(5, 6\)"):
        layer(x.astype("float32"), mask=mask[:, :5], training=training)


# -- config and files --------------------------------------------------------------------
def test_masking_config_matches_keras() -> None:
    keras = require("keras")
    ours = Masking(mask_value=-1.0, name="pad")
    theirs = keras.layers.Masking(mask_value=-1.0, name="pad")
    assert ours.get_config() == theirs.get_config()
    again = Masking.from_config(theirs.get_config())
    assert again.mask_value == -1.0 and again.name == "pad"


def _keras_model(keras: Any, steps: int = 6) -> Any:
    return keras.Sequential([keras.Input((steps, 3)), keras.layers.Masking(mask_value=0.0),
                             keras.layers.LSTM(4, return_sequences=True),
                             keras.layers.LSTM(3), keras.layers.Dense(2)])


def test_keras_saved_masking_model_loads_with_the_same_predictions(tmp_path: Any) -> None:
    keras = require("keras")
    keras.utils.set_random_seed(3)
    theirs = _keras_model(keras)
    theirs.set_weights(random_weights(theirs, np.random.default_rng(9)))
    path = str(tmp_path / "masked.keras")
    theirs.save(path)
    ours = unrolled.load_model(path)
    assert [type(la).__name__ for la in ours.layers] == ["Masking", "LSTM", "LSTM", "Dense"]
    x = padded_batch(np.random.default_rng(10))
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), atol=1e-5)


def test_unrolled_saved_masking_model_loads_in_keras(tmp_path: Any) -> None:
    keras = require("keras")
    ours = _keras_model(unrolled)
    ours.set_weights(random_weights(ours, np.random.default_rng(11)))
    path = str(tmp_path / "masked.keras")
    ours.save(path)
    theirs = keras.saving.load_model(path)
    assert type(theirs.layers[0]).__name__ == "Masking"
    x = padded_batch(np.random.default_rng(12))
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), atol=1e-5)
    again = unrolled.load_model(path)
    np.testing.assert_array_equal(again.predict(x, verbose=0), ours.predict(x, verbose=0))


def test_summary_says_masked_layers_take_the_mask_path_before_any_call():
    from unrolled.layers import LSTM, Dense, Masking

    model = unrolled.Sequential([unrolled.Input((5, 3)), Masking(), LSTM(4, return_sequences=True),
                                 LSTM(2), Dense(1)])
    report = model.kernel_report()
    assert len(report) == 2
    assert all("input masked, not yet called" in line for line in report)
    with force("reference"):   # the reference scan takes the mask itself
        assert all("reference — forced" in line for line in model.kernel_report())
    if lstm_numba.missing_reason() is None:
        assert all("masked: the time loop skips each sample's masked steps" in line
                   for line in report)
    assert "input masked" in model.summary(return_string=True)
    # Without a Masking layer the same model does not claim masking.
    plain = unrolled.Sequential([unrolled.Input((5, 3)), LSTM(4)])
    assert "mask" not in plain.kernel_report()[0]
