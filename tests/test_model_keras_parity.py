"""Whole models against Keras 3: parameter counts, the summary table, weight order and
shapes, and predictions after loading Keras's weights. Also the Dense layer through the
shared reference helper."""
from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
import pytest

import unrolled

from .peers import require
from .reference import assert_same, keras_reference, nonzero_uniform

# name -> (input shape, [(layer class, constructor kwargs incl. an explicit name)])
MODELS: dict[str, tuple[tuple[int, ...], list[tuple[str, dict[str, Any]]]]] = {
    "seed-1x1": ((1, 1), [("LSTM", dict(units=1, name="lstm"))]),
    "seed-1x2": ((1, 2), [("LSTM", dict(units=1, name="lstm"))]),
    "stacked": ((6, 3), [("LSTM", dict(units=4, return_sequences=True, name="encoder")),
                         ("LSTM", dict(units=2, name="decoder")),
                         ("Dense", dict(units=1, name="head"))]),
    "dense-on-sequences": ((5, 3), [("Dense", dict(units=4, activation="tanh", name="per_step"))]),
    "lstm-softmax": ((7, 2), [("LSTM", dict(units=5, name="lstm")),
                              ("Dense", dict(units=3, activation="softmax", name="probs"))]),
    "sequence-tagger": ((4, 3), [("LSTM", dict(units=3, return_sequences=True, go_backwards=True,
                                               name="rnn")),
                                 ("Dense", dict(units=2, activation="softmax", name="tags"))]),
    "no-bias": ((3, 2), [("LSTM", dict(units=2, use_bias=False, name="rnn")),
                         ("Dense", dict(units=2, use_bias=False, name="out"))]),
    "mlp": ((4,), [("Dense", dict(units=3, activation="relu", name="hidden")),
                   ("Dense", dict(units=2, activation="softmax", name="out"))]),
    "frozen-encoder": ((5, 2), [("LSTM", dict(units=3, return_sequences=True, trainable=False,
                                              name="frozen")),
                                ("LSTM", dict(units=2, name="trained"))]),
}


def _build(lib: ModuleType, name: str) -> Any:
    """The same model in unrolled or Keras (both have Sequential, Input and layers.*)."""
    shape, layers = MODELS[name]
    return lib.Sequential([lib.Input(shape)] + [getattr(lib.layers, cls)(**kw) for cls, kw in layers],
                          name=name.replace("-", "_"))


@pytest.fixture(scope="module")
def keras() -> ModuleType:
    return require("keras")


def _summary_parts(model: Any) -> tuple[list[list[str]], list[str]]:
    """Table rows (cells stripped) and the Total/Trainable/Non-trainable lines."""
    captured: list[str] = []
    model.summary(print_fn=lambda text, line_break=None: captured.append(text))
    lines = "\n".join(captured).splitlines()
    rows = [[cell.strip() for cell in line.strip("│").split("│")]
            for line in lines if line.startswith("│")]
    totals = [line.rstrip() for line in lines
              if line.lstrip().startswith(("Total params", "Trainable params", "Non-trainable params"))]
    assert len(totals) == 3, lines
    return rows, totals


@pytest.mark.parametrize("name", list(MODELS))
def test_counts_summary_and_weights_match_keras(keras: ModuleType, name: str) -> None:
    ours, theirs = _build(unrolled, name), _build(keras, name)
    assert ours.count_params() == theirs.count_params()
    assert _summary_parts(ours) == _summary_parts(theirs)
    our_w, their_w = ours.get_weights(), theirs.get_weights()
    assert [w.shape for w in our_w] == [tuple(w.shape) for w in their_w]
    assert all(w.dtype == np.float32 for w in our_w)
    assert ([w.shape for w in ours.trainable_weights]
            == [tuple(w.shape) for w in theirs.trainable_weights])
    assert ([w.shape for w in ours.non_trainable_weights]
            == [tuple(w.shape) for w in theirs.non_trainable_weights])


@pytest.mark.parametrize("name", list(MODELS))
def test_keras_weights_give_keras_predictions(keras: ModuleType, name: str) -> None:
    rng = np.random.default_rng(len(name))
    ours, theirs = _build(unrolled, name), _build(keras, name)
    theirs.set_weights([nonzero_uniform(rng, tuple(w.shape), 0.1, 0.6, "float32")
                        for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    x = nonzero_uniform(rng, (3,) + MODELS[name][0], 0.05, 1.0, "float32")
    expected = theirs.predict(x, verbose=0)
    got = ours.predict(x)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    # The same weights must also go back out unchanged, in Keras's order.
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("features, expected", [(1, 12), (2, 16)])
def test_seed_models(keras: ModuleType, features: int, expected: int) -> None:
    """The project's two seed models, written as in the seed."""
    ours = unrolled.Sequential([unrolled.layers.LSTM(1, input_shape=(1, features))])
    theirs = keras.Sequential([keras.Input((1, features)), keras.layers.LSTM(1)])
    assert ours.count_params() == theirs.count_params() == expected
    lstm = ours.layers[0]
    assert lstm.kernel_c.shape == (features, 1)
    assert lstm.recurrent_kernel_c.shape == (1, 1)
    assert lstm.bias_c.shape == (1,)
    assert [w.shape for w in ours.get_weights()] == [(features, 4), (1, 4), (4,)]
    text = ours.summary(return_string=True)
    assert f"Total params: {expected} ({expected * 4}.00 B)" in text


DENSE_CASES = {
    "2d-linear": ((3, 4), dict(units=2)),
    "2d-softmax": ((2, 5), dict(units=4, activation="softmax")),
    "2d-relu-no-bias": ((1, 3), dict(units=3, activation="relu", use_bias=False)),
    "3d-tanh": ((2, 4, 3), dict(units=2, activation="tanh")),
    "3d-softmax": ((2, 3, 4), dict(units=3, activation="softmax")),
    "3d-sigmoid-batch1": ((1, 1, 2), dict(units=2, activation="sigmoid")),
    "3d-hard-sigmoid": ((2, 3, 2), dict(units=3, activation="hard_sigmoid")),
    "2d-gelu": ((3, 2), dict(units=2, activation="gelu")),
}


@pytest.mark.parametrize("name", list(DENSE_CASES))
def test_dense_layer_matches_keras(name: str) -> None:
    shape, config = DENSE_CASES[name]
    x = nonzero_uniform(np.random.default_rng(len(name)), shape, 0.1, 2.0)
    sides = keras_reference("Dense", config, x, seed=len(name), weight_range=(0.2, 1.0))
    assert set(sides.ours) == {"output[0]", "d kernel", "d x"} | (
        {"d bias"} if config.get("use_bias", True) else set())
    assert_same(sides, atol=1e-5, grad_rtol=1e-5)


# The other recurrent layers go through the same helper: outputs, every weight gradient,
# input and initial-state gradients. (Float32 only: Keras's torch ``ops.matmul`` returns
# float32 even for float64 operands, so its float64 GRU/SimpleRNN are float32-precise.)
RECURRENT_CASES = {
    "gru": ("GRU", (2, 5, 3), dict(units=3), False),
    "gru-reset-before-state": ("GRU", (2, 4, 3), dict(units=3, reset_after=False,
                                                      return_sequences=True, return_state=True), True),
    "gru-no-bias-backwards": ("GRU", (3, 4, 2), dict(units=2, use_bias=False, go_backwards=True,
                                                     return_sequences=True), True),
    "gru-relu-hard-sigmoid": ("GRU", (2, 3, 2), dict(units=2, activation="relu",
                                                     recurrent_activation="hard_sigmoid"), True),
    "gru-batch1-T1": ("GRU", (1, 1, 2), dict(units=2, return_state=True), True),
    "simple-rnn": ("SimpleRNN", (2, 5, 3), dict(units=3, return_sequences=True), False),
    "simple-rnn-state-backwards": ("SimpleRNN", (2, 4, 3), dict(units=3, return_state=True,
                                                                go_backwards=True), True),
    "simple-rnn-relu-no-bias": ("SimpleRNN", (3, 4, 2), dict(units=4, activation="relu",
                                                             use_bias=False), True),
}


@pytest.mark.parametrize("name", list(RECURRENT_CASES))
def test_other_recurrent_layers_match_keras(name: str) -> None:
    cls_name, shape, config, with_state = RECURRENT_CASES[name]
    if not hasattr(unrolled.layers, cls_name):
        pytest.fail(f"unrolled.layers.{cls_name} is missing")
    rng = np.random.default_rng(len(name))
    x = nonzero_uniform(rng, shape, 0.05, 1.0)
    state = [nonzero_uniform(rng, (shape[0], config["units"]), 0.05, 1.0)] if with_state else None
    sides = keras_reference(cls_name, config, x, initial_state=state, seed=len(name))
    one_step_from_zero = ("d recurrent_kernel",) if shape[1] == 1 and not with_state else ()
    assert_same(sides, atol=1e-5, grad_rtol=1e-5, may_be_zero=one_step_from_zero)
