"""unrolled's LSTM against Keras 3's (torch backend): outputs, every weight gradient, the
input gradient and the initial-state gradients, with random non-zero weights and biases."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from .peers import require
from .reference import (KerasReference, assert_same, fast_kernel_eligible, keras_reference,
                        keras_run, lstm_kernel_modes, nonzero_uniform, numpy_lstm)

OPTIONS = ("return_sequences", "return_state", "go_backwards")


def _case(units: int, timesteps: int, features: int, batch: int, initial_state: bool = False,
          weight_range: tuple[float, float] = (0.1, 0.5), input_scale: float = 1.0,
          **config: Any) -> dict[str, Any]:
    return dict(units=units, timesteps=timesteps, features=features, batch=batch,
                initial_state=initial_state, weight_range=weight_range,
                input_scale=input_scale, config=config)


# Hand-picked to cover every option; then a seeded random sample of the option space.
CASES = {
    "default": _case(3, 5, 4, 2),
    "batch1-T1": _case(2, 1, 3, 1),
    "batch1-T1-state": _case(2, 1, 1, 1, initial_state=True, return_state=True),
    "sequences": _case(4, 6, 2, 3, return_sequences=True),
    "state": _case(3, 4, 3, 2, return_state=True),
    "sequences-state": _case(3, 4, 3, 2, return_sequences=True, return_state=True),
    "backwards-sequences": _case(3, 5, 2, 2, go_backwards=True, return_sequences=True),
    "backwards-state-initial": _case(2, 4, 3, 2, initial_state=True, go_backwards=True,
                                     return_state=True),
    "initial-state": _case(3, 3, 2, 4, initial_state=True),
    "initial-state-sequences": _case(3, 3, 2, 2, initial_state=True, return_sequences=True),
    "relu": _case(3, 4, 3, 2, activation="relu", return_sequences=True),
    "hard-sigmoid": _case(3, 4, 3, 2, recurrent_activation="hard_sigmoid"),
    # Large weights and inputs so hard_sigmoid hits its flat parts (zero slope).
    "hard-sigmoid-saturated": _case(3, 4, 3, 2, weight_range=(0.5, 2.0), input_scale=3.0,
                                    recurrent_activation="hard_sigmoid", activation="linear",
                                    return_sequences=True),
    "linear": _case(2, 4, 3, 2, activation="linear", return_state=True),
    "linear-hard-sigmoid": _case(2, 3, 2, 2, activation="linear",
                                 recurrent_activation="hard_sigmoid", return_sequences=True),
    "no-bias": _case(3, 4, 2, 2, use_bias=False),
    "no-bias-state-backwards": _case(3, 4, 2, 2, use_bias=False, return_state=True,
                                     go_backwards=True, initial_state=True),
    "elu-silu": _case(2, 3, 2, 2, activation="elu", recurrent_activation="silu",
                      return_sequences=True),
    "softplus-tanh": _case(2, 3, 2, 2, activation="softplus", recurrent_activation="tanh"),
    "wide": _case(8, 7, 5, 3, return_sequences=True, initial_state=True),
}
_rng = np.random.default_rng(20240601)
for _k in range(6):
    CASES[f"random-{_k}"] = _case(
        int(_rng.integers(1, 6)), int(_rng.integers(1, 6)), int(_rng.integers(1, 5)),
        int(_rng.integers(1, 4)), initial_state=bool(_rng.integers(2)),
        activation=str(_rng.choice(["tanh", "relu", "linear"])),
        recurrent_activation=str(_rng.choice(["sigmoid", "hard_sigmoid"])),
        use_bias=bool(_rng.integers(2)),
        **{opt: bool(_rng.integers(2)) for opt in OPTIONS},
    )


def _inputs(case: dict[str, Any], seed: int) -> tuple[np.ndarray, list[np.ndarray] | None]:
    rng = np.random.default_rng(seed)
    shape = (case["batch"], case["timesteps"], case["features"])
    x = nonzero_uniform(rng, shape, 0.05, case["input_scale"])
    state = None
    if case["initial_state"]:
        state = [nonzero_uniform(rng, (case["batch"], case["units"]), 0.05, 1.0) for _ in range(2)]
    return x, state


def _run(name: str) -> KerasReference:
    case = CASES[name]
    x, state = _inputs(case, seed=len(name))
    return keras_run("LSTM", dict(units=case["units"], **case["config"]), x,
                     initial_state=state, seed=sum(map(ord, name)),
                     weight_range=case["weight_range"])


def _may_be_zero(case: dict[str, Any], state: Any) -> tuple[str, ...]:
    # One step from a zero state never multiplies the recurrent kernel by anything but 0.
    return ("d recurrent_kernel",) if case["timesteps"] == 1 and state is None else ()


@pytest.mark.parametrize("name", list(CASES))
def test_lstm_matches_keras_float32(name: str) -> None:
    """One Keras run per case; unrolled's side on every LSTM code path (reference scan,
    and each fast kernel with inference and training caches) must match it."""
    case = CASES[name]
    ref = _run(name)
    n_out = 3 if case["config"].get("return_state") else 1
    assert sum(k.startswith("output") for k in ref.theirs) == n_out
    n_weights = 3 if case["config"].get("use_bias", True) else 2
    n_states = 0 if ref.initial_state is None else 2
    assert sum(k.startswith("d ") for k in ref.theirs) == n_weights + 1 + n_states
    modes = lstm_kernel_modes() if fast_kernel_eligible(ref.layer) else [("auto", False)]
    for kernel, training in modes:
        assert_same(ref.compare(kernel, training), atol=1e-5, grad_rtol=1e-5,
                    may_be_zero=_may_be_zero(case, ref.initial_state),
                    label=f"{kernel}, training={training}")


def test_saturated_case_really_saturates() -> None:
    """The saturated hard_sigmoid case only tests the flat parts (zero slope) if some gate
    pre-activations of that very run lie beyond ±3."""
    ref = _run("hard-sigmoid-saturated")
    weights = [w.astype(np.float64) for w in ref.layer.get_weights()]
    run = numpy_lstm(ref.x.astype(np.float64), *weights, activation="linear",
                     recurrent_activation="hard_sigmoid")
    assert np.mean(np.abs(run.z) > 3.0) > 0.1
    assert np.mean(np.abs(run.z) < 3.0) > 0.1  # and some on the slope


FLOAT64_CASES = ["default", "sequences-state", "backwards-state-initial", "relu",
                 "linear-hard-sigmoid", "no-bias"]


@pytest.mark.parametrize("name", FLOAT64_CASES)
def test_lstm_matches_keras_float64(name: str) -> None:
    case = CASES[name]
    x, state = _inputs(case, seed=len(name) + 1)
    sides = keras_reference("LSTM", dict(units=case["units"], **case["config"]), x,
                            initial_state=state, seed=7, dtype="float64",
                            weight_range=case["weight_range"])
    for key, value in sides.ours.items():
        assert value.dtype == np.float64, key
    # PyTorch's float64 hardsigmoid backward multiplies by the float32 constant 1.0f/6.0f
    # (0.1666666716...), so Keras's hard_sigmoid gradients are only good to ~3e-8; ours
    # use 1/6 exactly (test_gradcheck confirms them to 1e-6 by finite differences).
    grad_rtol = 1e-7 if "hard_sigmoid" in case["config"].values() else 1e-10
    assert_same(sides, atol=1e-10, grad_rtol=grad_rtol, may_be_zero=_may_be_zero(case, state))


def test_torch_float64_hardsigmoid_backward_is_float32_precise() -> None:
    """Pins the peer quirk the tolerance above relies on; if PyTorch fixes it, tighten."""
    torch = require("torch")
    x = torch.tensor([0.5], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.hardsigmoid(x).sum().backward()
    assert abs(x.grad.item() - 1 / 6) > 1e-9
