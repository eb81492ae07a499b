"""Options of the recurrent layers beside the peers that have the same feature:
Bidirectional, in-cell dropout in training, stateful.

    python benchmarks/bench_options.py --quick                 # the demo shape
    python benchmarks/bench_options.py --shape medium --json out.json

Rows per shape (batch, timesteps, features, units), LSTM, float32, every implementation
on the same weights, checked against unrolled's reference before timing:

* **bidirectional** (``Bidirectional(LSTM(H, return_sequences=True))``, concat: (B, T, 2H)),
  inference and a training step (forward, BPTT, Adam on MSE): ``unrolled`` (automatic: both
  directions at once when they run compiled loops), ``unrolled[sequential]`` (one direction
  after the other, ``UNROLLED_BIDIRECTIONAL=sequential``), ``unrolled[one direction]``
  (a single LSTM: the floor), ``torch`` (``nn.LSTM(bidirectional=True)``). The GFLOP/s
  and % peak columns count both directions' work on every row, so the one-direction row
  (half the work) reads double there (over 100 % of the peak at medium); its time and
  ratio are right.
* **recurrent dropout** (training step, ``dropout=0.2, recurrent_dropout=0.2``):
  ``unrolled`` (the dropout kernel), ``unrolled[reference]`` (the reference scan over the
  masked cell: what these calls ran before), ``unrolled[no dropout]`` (the same layer's
  fast path without dropout: what dropout costs), ``keras`` (Keras 3 on the torch backend,
  ``train_on_batch`` with the same options). PyTorch's ``nn.LSTM`` has dropout only
  *between* layers, not in the cell, so it has no row here.
* **stateful** (inference, the state carried from call to call): ``unrolled``
  (``stateful=True``), ``unrolled[stateless]`` (the same call without carrying: the floor),
  ``torch`` (``net(x, (h, c))`` passing the previous call's states back in).

Timing: the shared interleaved harness (``harness.interleaved``): one sample of each
implementation per round, in a fresh random order, each after a pause; the tables give the
median per call and the ratios (of medians; paired per round) to the fastest peer.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness import F32, gemm_peak, limit_threads, time_modes  # noqa: E402

HERE = Path(__file__).resolve().parent
os.environ.setdefault("UNROLLED_COMPILE", "wait")   # time the compiled kernels, not the build
try:
    import unrolled  # noqa: F401
except ImportError:
    sys.path.insert(0, str(HERE.parent / "src"))

from bench_lstm import flops, make_adam  # noqa: E402
from unrolled.core.kernels import force  # noqa: E402
from unrolled.layers import LSTM, Bidirectional  # noqa: E402

SHAPES = {"tiny": (1, 1, 2, 1), "demo": (32, 14, 4, 32), "medium": (32, 100, 16, 128)}


def weights(H: int, F: int, rng: np.random.Generator) -> list[np.ndarray]:
    scale = 1.0 / np.sqrt(H + F)
    return [(rng.standard_normal(s) * scale).astype(F32) for s in ((F, 4 * H), (H, 4 * H), (4 * H,))]


def torch_lstm(F: int, H: int, directions: list[list[np.ndarray]]):
    """An ``nn.LSTM`` holding Keras-layout weights (i, f, c, o = PyTorch's i, f, g, o)."""
    import torch

    net = torch.nn.LSTM(F, H, batch_first=True, bidirectional=len(directions) == 2)
    with torch.no_grad():
        for k, (W, U, b) in enumerate(directions):
            suffix = "_reverse" if k else ""
            getattr(net, f"weight_ih_l0{suffix}").copy_(torch.from_numpy(W.T.copy()))
            getattr(net, f"weight_hh_l0{suffix}").copy_(torch.from_numpy(U.T.copy()))
            getattr(net, f"bias_ih_l0{suffix}").copy_(torch.from_numpy(b))
            getattr(net, f"bias_hh_l0{suffix}").zero_()
    return net


def unrolled_step(layer: Any, x: np.ndarray, target: np.ndarray) -> Callable[[], None]:
    opt, _ = make_adam()

    def step() -> None:
        y, cache = layer.forward(x, training=True)
        _, g = layer.backward(F32(2.0 / y.size) * (y - target), cache)
        opt.apply(g, layer.trainable_weights)
    return step


def torch_step(net: Any, x: np.ndarray, target: np.ndarray,
               out: Callable[[Any], Any]) -> Callable[[], None]:
    import torch

    xt, tt = torch.from_numpy(x), torch.from_numpy(target)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        ((out(net(xt)) - tt) ** 2).mean().backward()
        opt.step()
    return step


def with_env(var: str, value: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        old = os.environ.get(var)
        os.environ[var] = value
        try:
            return fn()
        finally:
            if old is None:
                del os.environ[var]
            else:
                os.environ[var] = old
    return run


def forced(kernel: str, fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        with force(kernel):
            return fn()
    return run


def check(name: str, got: Any, want: np.ndarray, label: str) -> None:
    err = float(np.max(np.abs(np.asarray(got, np.float64) - want)))
    if err > 1e-4:
        sys.exit(f"{label} disagrees with unrolled's reference at {name}: max |diff| {err:.3g}")


# -- the three options -----------------------------------------------------------------------
def bidirectional(name: str, shape: tuple[int, int, int, int], args: Any, peak: float,
                  skipped: dict[str, str]) -> dict[str, Any]:
    B, T, F, H = shape
    rng = np.random.default_rng(0)
    fw, bw = weights(H, F, rng), weights(H, F, rng)
    x = rng.standard_normal((B, T, F)).astype(F32)
    target = (0.5 * rng.standard_normal((B, T, 2 * H))).astype(F32)
    bi = Bidirectional(LSTM(H, return_sequences=True))
    bi.build((None, T, F))
    bi.set_weights(fw + bw)
    one = LSTM(H, return_sequences=True)
    one.build((None, T, F))
    one.set_weights(fw)
    with force("reference"):
        want = bi(x)
    infer = {"unrolled": lambda: bi(x),
             "unrolled[sequential]": with_env("UNROLLED_BIDIRECTIONAL", "sequential", lambda: bi(x)),
             "unrolled[one direction]": lambda: one(x)}
    train = {"unrolled": unrolled_step(bi, x, target),
             "unrolled[sequential]": with_env("UNROLLED_BIDIRECTIONAL", "sequential",
                                              unrolled_step(bi, x, target)),
             "unrolled[one direction]": unrolled_step(one, x, target[..., :H])}
    try:
        import torch
        net = torch_lstm(F, H, [fw, bw])
        xt = torch.from_numpy(x)

        def torch_infer() -> Any:
            with torch.inference_mode():
                return net(xt)[0].numpy()
        infer["torch"] = torch_infer
        train["torch"] = torch_step(net, x, target, lambda o: o[0])
    except ImportError as err:
        skipped["torch"] = str(err)
    for label, fn in infer.items():
        if "one direction" not in label:
            check(name, fn(), want, f"bidirectional {label}")
    bi(x)
    choice = bi.forward_layer.kernel_choice
    print(f"\n{name} {shape} bidirectional: {choice.name} — {choice.reason}")
    work = 2 * flops(shape)
    result = time_modes([("inference", infer, {"torch"}, work),
                         ("training step", train, {"torch"}, 3 * work)], args, peak)
    return {"kernel": choice.name, "reason": choice.reason, **result}


def recurrent_dropout(name: str, shape: tuple[int, int, int, int], args: Any, peak: float,
                      skipped: dict[str, str]) -> dict[str, Any]:
    B, T, F, H = shape
    rng = np.random.default_rng(1)
    w = weights(H, F, rng)
    x = rng.standard_normal((B, T, F)).astype(F32)
    target = (0.5 * rng.standard_normal((B, H))).astype(F32)
    drop = LSTM(H, dropout=0.2, recurrent_dropout=0.2, seed=0)
    drop.build((None, T, F))
    drop.set_weights(w)
    plain = LSTM(H)
    plain.build((None, T, F))
    plain.set_weights(w)
    masks = drop.draw_dropout_masks(B)       # the same masks: the kernel against the oracle
    got = drop.forward(x, training=True, dropout_masks=masks)[0]
    with force("reference"):
        check(name, got, drop.forward(x, training=True, dropout_masks=masks)[0],
              "recurrent dropout kernel")
    train = {"unrolled": unrolled_step(drop, x, target),
             "unrolled[reference]": forced("reference", unrolled_step(drop, x, target)),
             "unrolled[no dropout]": unrolled_step(plain, x, target)}
    try:
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras
        model = keras.Sequential([keras.Input((T, F), batch_size=B),
                                  keras.layers.LSTM(H, dropout=0.2, recurrent_dropout=0.2)])
        model.layers[-1].set_weights(w)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
        train["keras"] = lambda: model.train_on_batch(x, target)
    except ImportError as err:
        skipped["keras"] = str(err)
    unrolled_step(drop, x, target)()
    choice = drop.kernel_choice
    print(f"\n{name} {shape} recurrent dropout: {choice.name} — {choice.reason}")
    return {"kernel": choice.name, "reason": choice.reason,
            **time_modes([("training step", train, {"keras"}, 3 * flops(shape))], args, peak)}


def stateful(name: str, shape: tuple[int, int, int, int], args: Any, peak: float,
             skipped: dict[str, str]) -> dict[str, Any]:
    B, T, F, H = shape
    rng = np.random.default_rng(2)
    w = weights(H, F, rng)
    x = rng.standard_normal((B, T, F)).astype(F32)
    layer = LSTM(H, stateful=True)
    layer.build((B, T, F))
    layer.set_weights(w)
    plain = LSTM(H)
    plain.build((None, T, F))
    plain.set_weights(w)
    first = layer(x)
    check(name, first, plain(x), "stateful first call")
    infer = {"unrolled": lambda: layer(x), "unrolled[stateless]": lambda: plain(x)}
    try:
        import torch
        net = torch_lstm(F, H, [w])
        xt = torch.from_numpy(x)
        carry: list[Any] = [None]

        def torch_infer() -> Any:
            with torch.inference_mode():
                out, carry[0] = net(xt, carry[0])
            return out[:, -1].numpy()
        torch_infer()
        layer.reset_state()
        layer(x)
        check(name, torch_infer(), layer(x), "torch, second stateful call")
        infer["torch"] = torch_infer
    except ImportError as err:
        skipped["torch"] = str(err)
    choice = layer.kernel_choice
    print(f"\n{name} {shape} stateful: {choice.name} — {choice.reason}")
    return {"kernel": choice.name, "reason": choice.reason,
            **time_modes([("inference", infer, {"torch"}, flops(shape))], args, peak)}


OPTIONS = {"bidirectional": bidirectional, "recurrent_dropout": recurrent_dropout,
           "stateful": stateful}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", action="append", help="B,T,F,H or a name: " + ", ".join(SHAPES))
    p.add_argument("--option", action="append", choices=list(OPTIONS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--budget", type=float, default=20.0, help="seconds per mode and shape")
    p.add_argument("--quick", action="store_true", help="the demo shape, 3 rounds, 4 s per mode")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    if args.quick:
        args.repeats, args.budget = min(args.repeats, 3), min(args.budget, 4.0)
    limit = limit_threads(args.threads)  # noqa: F841 - keep the limit for the run
    try:
        import torch
        torch.set_num_threads(args.threads)
    except ImportError:
        pass
    names = args.shape or (["demo"] if args.quick else ["demo", "medium"])
    shapes = {s: SHAPES[s] if s in SHAPES else tuple(int(v) for v in s.split(",")) for s in names}
    peak = gemm_peak(3 if args.quick else 5)
    print(f"GEMM peak (float32 2048² matmul, {args.threads} threads): {peak:.1f} GFLOP/s")
    results: dict[str, Any] = {"gemm_peak_gflops": peak, "threads": args.threads, "shapes": {}}
    for name, shape in shapes.items():
        skipped: dict[str, str] = {}
        per = {opt: OPTIONS[opt](name, shape, args, peak, skipped)
               for opt in (args.option or list(OPTIONS))}
        results["shapes"][name] = {"shape": shape, "skipped": skipped, **per}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
