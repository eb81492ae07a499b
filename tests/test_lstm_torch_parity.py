"""unrolled's LSTM against ``torch.nn.LSTM(batch_first=True)`` holding the same weights,
converted with :mod:`unrolled.core.gates`'s tables (see ``reference.torch_lstm_like``)."""
from __future__ import annotations

import numpy as np
import pytest

import unrolled
from unrolled.core import gates

from .peers import require
from .reference import (Sides, assert_same, lstm_kernel_modes, nonzero_uniform, random_weights,
                        torch_lstm_grads, torch_lstm_like, unrolled_side)

# (units, timesteps, features, batch, use_bias, go_backwards, initial_state)
CASES = {
    "default": (3, 5, 4, 2, True, False, False),
    "batch1-T1": (2, 1, 3, 1, True, False, False),
    "batch1-T1-state": (2, 1, 1, 1, True, False, True),
    "initial-state": (4, 6, 2, 3, True, False, True),
    "backwards": (3, 4, 3, 2, True, True, False),
    "backwards-initial-state": (3, 4, 3, 2, True, True, True),
    "no-bias": (3, 4, 2, 2, False, False, True),
    "wide": (8, 7, 5, 3, True, False, True),
}


def _compare(name: str, dtype: str, kernel: str = "auto", training: bool = False) -> Sides:
    torch = require("torch")
    units, steps, features, batch, use_bias, backwards, with_state = CASES[name]
    rng = np.random.default_rng(sum(map(ord, name)))
    layer = unrolled.layers.LSTM(units, use_bias=use_bias, go_backwards=backwards,
                                 return_sequences=True, return_state=True, dtype=dtype)
    layer.build((None, steps, features))
    layer.set_weights(random_weights(layer, rng))
    x = nonzero_uniform(rng, (batch, steps, features), 0.05, 1.0, dtype)
    state = [nonzero_uniform(rng, (batch, units), 0.05, 1.0, dtype) for _ in range(2)]
    cotangents = [rng.standard_normal(s).astype(dtype) for s in
                  [(batch, steps, units), (batch, units), (batch, units)]]

    module = torch_lstm_like(layer)
    x_t = torch.tensor(x, requires_grad=True)
    # Keras's go_backwards == torch on the time-reversed input (outputs in processing order).
    seq_in = torch.flip(x_t, dims=[1]) if backwards else x_t
    if with_state:
        h0, c0 = (torch.tensor(s[None], requires_grad=True) for s in state)  # (1, B, H)
        seq, (h, c) = module(seq_in, (h0, c0))
    else:
        seq, (h, c) = module(seq_in)
    outs = [seq, h[0], c[0]]
    loss = sum((o * torch.from_numpy(r)).sum() for o, r in zip(outs, cotangents))
    loss.backward()

    theirs = {f"output[{k}]": o.detach().numpy() for k, o in enumerate(outs)}
    grads = torch_lstm_grads(module)
    # torch has two biases; each receives exactly dL/d(our single bias).
    theirs.update({"d kernel": grads["d kernel"], "d recurrent_kernel": grads["d recurrent_kernel"],
                   "d x": x_t.grad.numpy()})
    if use_bias:
        theirs["d bias"] = grads["d bias (bias_ih)"]
        theirs["d bias (bias_hh)"] = grads["d bias (bias_hh)"]
    if with_state:
        theirs["d initial_state[0]"] = h0.grad[0].numpy()
        theirs["d initial_state[1]"] = c0.grad[0].numpy()
    ours = unrolled_side(layer, x, cotangents, state if with_state else None,
                         training=training, kernel=kernel)
    if use_bias:
        ours["d bias (bias_hh)"] = ours["d bias"]
    return Sides(ours, theirs)


@pytest.mark.parametrize("kernel, training", lstm_kernel_modes(),
                         ids=[f"{k}-{'train' if t else 'infer'}" for k, t in lstm_kernel_modes()])
@pytest.mark.parametrize("name", list(CASES))
def test_lstm_matches_torch_float32(name: str, kernel: str, training: bool) -> None:
    steps, with_state = CASES[name][1], CASES[name][6]
    may_be_zero = ("d recurrent_kernel",) if steps == 1 and not with_state else ()
    assert_same(_compare(name, "float32", kernel, training), atol=1e-5, grad_rtol=1e-5,
                may_be_zero=may_be_zero)


@pytest.mark.parametrize("name", ["default", "backwards-initial-state", "no-bias"])
def test_lstm_matches_torch_float64(name: str) -> None:
    sides = _compare(name, "float64")
    assert all(v.dtype == np.float64 for v in sides.ours.values())
    assert_same(sides, atol=1e-12, grad_rtol=1e-12)


def test_torch_conversion_uses_the_gate_tables() -> None:
    """The converted torch weights are the Keras blocks in torch's order, transposed:
    block j of weight_ih is kernel_<gate j>.T for torch's gate order (i, f, g=c, o)."""
    require("torch")
    layer = unrolled.layers.LSTM(3)
    layer.build((None, 2, 4))
    layer.set_weights(random_weights(layer, np.random.default_rng(3)))
    module = torch_lstm_like(layer)
    w_ih = module.weight_ih_l0.detach().numpy()
    w_hh = module.weight_hh_l0.detach().numpy()
    b_ih = module.bias_ih_l0.detach().numpy()
    for j, gate in enumerate(gates.LSTM_ORDER["torch"]):
        rows = slice(3 * j, 3 * (j + 1))
        np.testing.assert_array_equal(w_ih[rows], getattr(layer, f"kernel_{gate}").T)
        np.testing.assert_array_equal(w_hh[rows], getattr(layer, f"recurrent_kernel_{gate}").T)
        np.testing.assert_array_equal(b_ih[rows], getattr(layer, f"bias_{gate}"))
    assert not module.bias_hh_l0.detach().numpy().any()
