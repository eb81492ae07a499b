"""Reference implementations every layer is compared against, in one place.

* :func:`keras_run` / :func:`keras_reference` — the one comparison helper for every
  layer: the same seeded, random, non-zero weights and biases go into an unrolled layer
  and the matching Keras layer (``KERAS_BACKEND=torch``); both compute
  ``loss = Σ output·R`` for a random R, and the outputs, every weight gradient, the input
  gradient and the initial-state gradients are returned side by side (Keras's via torch
  autograd). ``KerasReference.compare(kernel, training)`` reruns unrolled's side on each
  LSTM code path (:func:`lstm_kernel_modes`) against the one Keras run.
* :func:`torch_lstm_like` / :func:`torch_lstm_grads` — the same weights in
  ``torch.nn.LSTM``, converted with :mod:`unrolled.core.gates`'s tables only.
* :func:`numpy_lstm` — an LSTM written from the equations with plain NumPy, sharing no
  code with unrolled, returning every pre-activation (for kink checks).
* :func:`numeric_gradient` — central finite differences, for float64 gradient checks.
* :func:`assert_same` — outputs within ``atol``; gradients within ``grad_rtol`` of the
  gradient's scale (max-abs normalised); a failure names the array and shows both sides.

Axis legend: B batch, T timesteps, F features, H units.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

import unrolled
from unrolled.core import gates

from .peers import require


# -- weights and inputs ------------------------------------------------------------------
def nonzero_uniform(rng: np.random.Generator, shape: tuple[int, ...], low: float = 0.1,
                    high: float = 0.5, dtype: Any = "float64") -> np.ndarray:
    """Random values with |v| in [low, high] and random sign: never zero, so a swapped,
    dropped or mis-sliced gate/bias block cannot hide behind a zero."""
    magnitude = rng.uniform(low, high, shape)
    sign = np.where(rng.random(shape) < 0.5, -1.0, 1.0)
    return (sign * magnitude).astype(dtype)


def random_weights(layer: Any, rng: np.random.Generator, low: float = 0.1,
                   high: float = 0.5) -> list[np.ndarray]:
    """Non-zero random arrays with the shapes (and dtype) of ``layer.get_weights()``."""
    return [nonzero_uniform(rng, w.shape, low, high, w.dtype) for w in layer.get_weights()]


# -- comparing ---------------------------------------------------------------------------
@dataclass
class Sides:
    """Named arrays computed by unrolled (``ours``) and by a reference (``theirs``).

    Keys starting with ``"d "`` are gradients (compared relative to their scale); the
    others are forward values (compared absolutely).
    """

    ours: dict[str, np.ndarray] = field(default_factory=dict)
    theirs: dict[str, np.ndarray] = field(default_factory=dict)


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    """max |ours - theirs| / max |theirs| (the gradient's own scale)."""
    scale = float(np.max(np.abs(theirs))) if theirs.size else 0.0
    diff = float(np.max(np.abs(ours - theirs))) if theirs.size else 0.0
    return diff / scale if scale > 0 else diff


def assert_same(sides: Sides, atol: float, grad_rtol: float,
                may_be_zero: tuple[str, ...] | bool = (), label: str = "") -> None:
    """Every named array agrees: values within ``atol``, gradients (``"d ..."``) within
    ``grad_rtol`` of their max-abs scale. A reference gradient that is all zero would make
    its comparison vacuous, so it fails unless its key is in ``may_be_zero`` (``True``:
    any key), e.g. ``d recurrent_kernel`` for one timestep from a zero state."""
    assert sides.ours.keys() == sides.theirs.keys(), (sorted(sides.ours), sorted(sides.theirs))
    assert sides.ours, "nothing was compared"
    for key in sides.ours:
        ours, theirs = np.asarray(sides.ours[key]), np.asarray(sides.theirs[key])
        what = f"[{label}] {key}" if label else key
        assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} vs reference {theirs.shape}"
        assert np.all(np.isfinite(ours)), f"{what}: non-finite values {ours}"
        if key.startswith("d "):
            if may_be_zero is not True and key not in may_be_zero:
                assert np.any(theirs != 0), f"{what}: reference gradient is all zero (vacuous test)"
            err = relative_error(ours, theirs)
            assert err <= grad_rtol, (
                f"{what}: relative error {err:.3g} > {grad_rtol:g}\nours={ours}\nreference={theirs}")
        else:
            worst = float(np.max(np.abs(ours - theirs))) if ours.size else 0.0
            assert worst <= atol, (
                f"{what}: max abs difference {worst:.3g} > {atol:g}\nours={ours}\nreference={theirs}")


# -- which LSTM kernel runs ------------------------------------------------------------------
def lstm_kernel_modes() -> list[tuple[str, bool]]:
    """``(kernel, training)`` pairs covering every LSTM code path this installation has:
    the reference scan, and each fast kernel (float32, tanh/sigmoid) both with the
    inference cache (training=False: backward recomputes) and the training cache."""
    try:
        from unrolled.core.kernels import dispatch, lstm_numba
    except ImportError:  # no fast kernels in this build: the automatic path is the only one
        return [("auto", False), ("auto", True)]
    modes = [("reference", False)]
    for name in dispatch.KERNELS:
        if name == "numba" and lstm_numba.missing_reason() is not None:
            continue  # optional extra not installed
        if name != "reference":
            modes += [(name, False), (name, True)]
    return modes


@contextlib.contextmanager
def using_kernel(name: str) -> Iterator[None]:
    """Force unrolled's LSTM kernel ``name`` ("auto": let the dispatcher choose)."""
    if name == "auto":
        yield
        return
    from unrolled.core.kernels import dispatch
    with dispatch.force(name):
        yield


def _kernel_used(layer: Any) -> str | None:
    try:
        from unrolled.core.kernels import dispatch
    except ImportError:
        return None
    line = dispatch.describe(layer)
    return None if line is None else line.split(": ", 1)[1].split(" ", 1)[0]


def fast_kernel_eligible(layer: Any) -> bool:
    return (type(layer).__name__ == "LSTM" and layer.dtype == np.float32
            and layer.activation.name == "tanh" and layer.recurrent_activation.name == "sigmoid")


# -- the unrolled side -------------------------------------------------------------------
def _as_list(out: Any) -> list[np.ndarray]:
    return list(out) if isinstance(out, (list, tuple)) else [out]


def unrolled_side(layer: Any, x: np.ndarray, cotangents: list[np.ndarray],
                  initial_state: list[np.ndarray] | None = None, training: bool = False,
                  kernel: str = "auto") -> dict[str, np.ndarray]:
    """Outputs and gradients of ``loss = Σ_k Σ output_k · cotangents[k]`` through ``layer``.

    Uses the explicit ``forward`` / ``backward`` API with LSTM kernel ``kernel`` (see
    :func:`lstm_kernel_modes`), under ``np.errstate`` that turns overflow / invalid /
    divide-by-zero into errors.
    """
    kwargs = {} if initial_state is None else {"initial_state": list(initial_state)}
    with using_kernel(kernel), np.errstate(over="raise", invalid="raise", divide="raise"):
        out, cache = layer.forward(x, training=training, **kwargs)
        if kernel not in ("auto", "reference") and hasattr(layer, "cell"):
            expected = kernel if fast_kernel_eligible(layer) else "reference"
            assert _kernel_used(layer) == expected, (kernel, _kernel_used(layer))
        outs = _as_list(out)
        assert len(outs) == len(cotangents)
        dy = list(cotangents) if isinstance(out, list) else cotangents[0]
        if initial_state is not None or hasattr(layer, "backward_with_states"):
            dx, grads, d_init = layer.backward_with_states(dy, cache)
        else:
            (dx, grads), d_init = layer.backward(dy, cache), ()
        # The public __call__ must compute the same thing as forward.
        called = _as_list(layer(x, **kwargs))
    for a, b in zip(called, outs):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6 if a.dtype == np.float32 else 1e-14)
    result = {f"output[{k}]": o for k, o in enumerate(outs)}
    result.update({f"d {name}": g for name, g in zip(layer.weight_names, grads)})
    result["d x"] = dx
    if initial_state is not None:
        result.update({f"d initial_state[{k}]": d for k, d in enumerate(d_init)})
    for key, value in result.items():
        assert value.dtype == layer.dtype, f"{key} has dtype {value.dtype}, layer dtype {layer.dtype}"
    return result


# -- Keras -------------------------------------------------------------------------------
@dataclass
class KerasReference:
    """One Keras run (``theirs``) and what is needed to run unrolled the same way."""

    layer: Any                          # the unrolled layer, holding the same weights
    x: np.ndarray
    initial_state: list[np.ndarray] | None
    cotangents: list[np.ndarray]
    theirs: dict[str, np.ndarray]

    def compare(self, kernel: str = "auto", training: bool = False) -> Sides:
        ours = unrolled_side(self.layer, self.x, self.cotangents, self.initial_state,
                             training=training, kernel=kernel)
        return Sides(ours, self.theirs)


def keras_run(cls_name: str, config: dict[str, Any], x: np.ndarray, *,
              initial_state: list[np.ndarray] | None = None, seed: int = 0,
              dtype: str = "float32", weight_range: tuple[float, float] = (0.1, 0.5)
              ) -> KerasReference:
    """Build ``unrolled.layers.<cls_name>(**config)`` and ``keras.layers.<cls_name>(**config)``
    with identical random non-zero weights, run Keras on ``x`` (torch backend) and take
    the gradients of ``Σ output·R`` w.r.t. every trainable weight, ``x`` and
    ``initial_state`` with torch autograd. ``x`` and the states are cast to ``dtype``."""
    keras = require("keras")
    torch = require("torch")
    assert keras.backend.backend() == "torch", keras.backend.backend()
    rng = np.random.default_rng(seed)
    x = np.asarray(x, dtype=dtype)
    states = None if initial_state is None else [np.asarray(s, dtype=dtype) for s in initial_state]

    ours_layer = getattr(unrolled.layers, cls_name)(**config, dtype=dtype)
    ours_layer.build((None,) + x.shape[1:])
    weights = random_weights(ours_layer, rng, *weight_range)
    ours_layer.set_weights(weights)

    theirs_layer = getattr(keras.layers, cls_name)(**config, dtype=dtype)
    theirs_layer.build((None,) + x.shape[1:])
    assert [w.name for w in theirs_layer.trainable_weights] == ours_layer.weight_names
    theirs_layer.set_weights(weights)

    x_t = torch.tensor(x, requires_grad=True)
    states_t = None if states is None else [torch.tensor(s, requires_grad=True) for s in states]
    out_t = theirs_layer(x_t) if states_t is None else theirs_layer(x_t, initial_state=states_t)
    outs_t = _as_list(out_t)
    cotangents = [rng.standard_normal(tuple(o.shape)).astype(dtype) for o in outs_t]
    loss = sum((o * torch.from_numpy(r)).sum() for o, r in zip(outs_t, cotangents))
    loss.backward()

    theirs = {f"output[{k}]": o.detach().numpy() for k, o in enumerate(outs_t)}
    for w in theirs_layer.trainable_weights:
        grad = w.value.grad
        theirs[f"d {w.name}"] = np.zeros(tuple(w.shape), dtype) if grad is None else grad.numpy()
    theirs["d x"] = x_t.grad.numpy()
    if states_t is not None:
        for k, s in enumerate(states_t):
            theirs[f"d initial_state[{k}]"] = s.grad.numpy()
    for key, value in theirs.items():
        assert value.dtype == np.dtype(dtype), f"Keras {key} has dtype {value.dtype}"
    return KerasReference(ours_layer, x, states, cotangents, theirs)


def keras_reference(cls_name: str, config: dict[str, Any], x: np.ndarray, *,
                    kernel: str = "auto", training: bool = False, **kwargs: Any) -> Sides:
    """:func:`keras_run` then one unrolled run (LSTM ``kernel``, ``training``) to compare."""
    return keras_run(cls_name, config, x, **kwargs).compare(kernel, training)


# -- PyTorch -----------------------------------------------------------------------------
def torch_lstm_like(layer: Any) -> Any:
    """A ``torch.nn.LSTM(batch_first=True)`` holding ``layer``'s weights.

    Keras (i, f, c, o; kernel (F, 4H)) -> torch (i, f, g, o; weight_ih (4H, F)), converted
    with :func:`unrolled.core.gates.reorder` and the ``LSTM_ORDER`` tables:
    ``weight_ih = kernel.T``, ``weight_hh = recurrent_kernel.T``, ``bias_ih = bias``,
    ``bias_hh = 0``.
    """
    torch = require("torch")
    src, dst = gates.LSTM_ORDER["keras"], gates.LSTM_ORDER["torch"]
    tdtype = torch.float64 if layer.dtype == np.float64 else torch.float32
    module = torch.nn.LSTM(layer.features, layer.units, batch_first=True, bias=layer.use_bias,
                           dtype=tdtype)

    def to_torch(packed: np.ndarray) -> Any:
        return torch.from_numpy(np.ascontiguousarray(gates.reorder(packed, src, dst, axis=-1).T))

    with torch.no_grad():
        module.weight_ih_l0.copy_(to_torch(layer.kernel))
        module.weight_hh_l0.copy_(to_torch(layer.recurrent_kernel))
        if layer.use_bias:
            module.bias_ih_l0.copy_(torch.from_numpy(gates.reorder(layer.bias, src, dst)))
            module.bias_hh_l0.zero_()
    assert module.weight_ih_l0.shape == (4 * layer.units, layer.features)
    assert module.weight_hh_l0.shape == (4 * layer.units, layer.units)
    return module


def torch_lstm_grads(module: Any) -> dict[str, np.ndarray]:
    """``module``'s parameter gradients in Keras's layout (gates.reorder back, transposed)."""
    src, dst = gates.LSTM_ORDER["torch"], gates.LSTM_ORDER["keras"]
    out = {
        "d kernel": gates.reorder(module.weight_ih_l0.grad.numpy().T, src, dst, axis=-1),
        "d recurrent_kernel": gates.reorder(module.weight_hh_l0.grad.numpy().T, src, dst, axis=-1),
    }
    if module.bias:
        out["d bias (bias_ih)"] = gates.reorder(module.bias_ih_l0.grad.numpy(), src, dst)
        out["d bias (bias_hh)"] = gates.reorder(module.bias_hh_l0.grad.numpy(), src, dst)
    return out


# -- plain NumPy LSTM from the equations ---------------------------------------------------
def _np_sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + e^-z), overflow-free


NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "sigmoid": _np_sigmoid,
    "hard_sigmoid": lambda z: np.clip(z / 6.0 + 0.5, 0.0, 1.0),
    "legacy_hard_sigmoid": lambda z: np.clip(0.2 * z + 0.5, 0.0, 1.0),   # Keras 2's
    "relu": lambda z: np.maximum(z, 0.0),
    "linear": lambda z: z,
    "elu": lambda z: np.where(z > 0, z, np.expm1(np.minimum(z, 0.0))),
    "softplus": lambda z: np.logaddexp(0.0, z),
    "silu": lambda z: z * _np_sigmoid(z),
}
KINKS = {"relu": (0.0,), "hard_sigmoid": (-3.0, 3.0), "legacy_hard_sigmoid": (-2.5, 2.5)}


@dataclass
class NumpyLSTM:
    sequence: np.ndarray     # (B, T, H) h after each step, in processing order
    h: np.ndarray            # (B, H)
    c: np.ndarray            # (B, H)
    z: np.ndarray            # (T, B, 4H) gate pre-activations (i, f, c, o blocks)
    cells: np.ndarray        # (T, B, H) c_t, the input of activation(c_t)


def numpy_lstm(x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
               bias: np.ndarray | None, h0: np.ndarray | None = None, c0: np.ndarray | None = None,
               activation: str = "tanh", recurrent_activation: str = "sigmoid",
               go_backwards: bool = False) -> NumpyLSTM:
    """Keras's LSTM, straight from the equations, one timestep at a time::

        z = x_t W + h U + b;  i = σ(z_i); f = σ(z_f); g = φ(z_c); o = σ(z_o)
        c = f c + i g;        h = o φ(c)
    """
    act, sig = NUMPY_ACTIVATIONS[activation], NUMPY_ACTIVATIONS[recurrent_activation]
    B, T, _ = x.shape
    H = recurrent_kernel.shape[0]
    h = np.zeros((B, H)) if h0 is None else h0
    c = np.zeros((B, H)) if c0 is None else c0
    steps = range(T - 1, -1, -1) if go_backwards else range(T)
    hs, zs, cs = [], [], []
    for t in steps:
        z = x[:, t] @ kernel + h @ recurrent_kernel + (0.0 if bias is None else bias)
        i, f = sig(z[:, 0:H]), sig(z[:, H:2 * H])
        g, o = act(z[:, 2 * H:3 * H]), sig(z[:, 3 * H:4 * H])
        c = f * c + i * g
        h = o * act(c)
        hs.append(h)
        zs.append(z)
        cs.append(c)
    return NumpyLSTM(np.stack(hs, axis=1), h, c, np.stack(zs), np.stack(cs))


def kink_margin(run: NumpyLSTM, activation: str, recurrent_activation: str) -> float:
    """Distance of the nearest non-structural pre-activation from a kink of the
    activations used (inf if they are smooth). Exact zeros of ``c`` are structural
    (products with a gate that is exactly 0 on a flat piece) and stay put under small
    perturbations, so they are not counted."""
    H = run.c.shape[-1]
    margins = [np.inf]
    for name, values in [
        (recurrent_activation, np.concatenate([run.z[..., :2 * H], run.z[..., 3 * H:]], axis=-1)),
        (activation, run.z[..., 2 * H:3 * H]),
        (activation, run.cells[run.cells != 0]),
    ]:
        for kink in KINKS.get(name, ()):
            if values.size:
                margins.append(float(np.min(np.abs(values - kink))))
    return min(margins)


# -- finite differences --------------------------------------------------------------------
def numeric_gradient(loss: Callable[[], float], array: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """d loss / d array by central differences, perturbing ``array`` in place (restored)."""
    assert array.dtype == np.float64, "finite differences need float64"
    grad = np.zeros_like(array)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    assert np.shares_memory(flat, array)
    for k in range(flat.size):
        keep = flat[k]
        flat[k] = keep + eps
        up = loss()
        flat[k] = keep - eps
        down = loss()
        flat[k] = keep
        gflat[k] = (up - down) / (2 * eps)
    return grad


# -- any two built layers holding the same weights (wrappers, RNN(cell), ...) ----------------
def keras_layer_sides(ours: Any, theirs: Any, x: np.ndarray, *,
                      initial_state: list[np.ndarray] | None = None, mask: np.ndarray | None = None,
                      seed: int = 0, training: bool = False, keras_kwargs: dict[str, Any] | None = None
                      ) -> Sides:
    """Outputs and the gradients of ``Σ_k Σ output_k · R_k`` (random R) w.r.t. every
    trainable weight (matched by position in ``trainable_weights``), ``x`` and each initial
    state, for unrolled's ``ours`` (``forward`` / ``backward_with_states`` or ``backward``)
    and Keras's ``theirs`` (torch autograd). Both layers must be built with equal weights."""
    torch = require("torch")
    rng = np.random.default_rng(seed)
    x_t = torch.tensor(x, requires_grad=True)
    kwargs: dict[str, Any] = dict(keras_kwargs or {})
    states_t = None
    if initial_state is not None:
        states_t = [torch.tensor(s, requires_grad=True) for s in initial_state]
        kwargs["initial_state"] = states_t
    if mask is not None:
        kwargs["mask"] = torch.tensor(mask)
    if training:
        kwargs["training"] = True
    for w in theirs.trainable_weights:   # torch accumulates: start from no gradient
        w.value.grad = None
    outs_t = _as_list(theirs(x_t, **kwargs))
    cotangents = [rng.standard_normal(tuple(o.shape)).astype(x.dtype) for o in outs_t]
    sum((o * torch.from_numpy(r)).sum() for o, r in zip(outs_t, cotangents)).backward()
    their = {f"output[{k}]": o.detach().numpy() for k, o in enumerate(outs_t)}
    for k, w in enumerate(theirs.trainable_weights):
        grad = w.value.grad
        their[f"d w{k} {w.path}"] = np.zeros(tuple(w.shape), x.dtype) if grad is None else grad.numpy()
    their["d x"] = x_t.grad.numpy()
    if states_t is not None:
        their.update({f"d initial_state[{k}]": s.grad.numpy() for k, s in enumerate(states_t)})

    fkw: dict[str, Any] = {}
    if initial_state is not None:
        fkw["initial_state"] = list(initial_state)
    if mask is not None:
        fkw["mask"] = mask
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out, cache = ours.forward(x, training=training, **fkw)
        outs = _as_list(out)
        assert len(outs) == len(cotangents), (len(outs), len(cotangents))
        dy = list(cotangents) if isinstance(out, list) else cotangents[0]
        if hasattr(ours, "backward_with_states"):
            dx, grads, d_init = ours.backward_with_states(dy, cache)
        else:
            (dx, grads), d_init = ours.backward(dy, cache), ()
    mine = {f"output[{k}]": o for k, o in enumerate(outs)}
    assert len(grads) == len(theirs.trainable_weights), (len(grads), len(theirs.trainable_weights))
    for k, (w, g) in enumerate(zip(theirs.trainable_weights, grads)):
        mine[f"d w{k} {w.path}"] = g
    mine["d x"] = dx
    if initial_state is not None:
        mine.update({f"d initial_state[{k}]": d for k, d in enumerate(d_init)})
    return Sides(mine, their)
