"""Side-by-side GRU and SimpleRNN benchmark: unrolled vs PyTorch, ONNX Runtime, Keras.

    python benchmarks/bench_cells.py                         # both cells, the five standard shapes
    python benchmarks/bench_cells.py --cell gru --shape medium --json out.json
    python benchmarks/bench_cells.py --quick                 # few repeats, short time budget
    python benchmarks/bench_cells.py --keras                 # also time Keras (KERAS_BACKEND=torch)
    python benchmarks/bench_cells.py --profile               # where unrolled's time goes

The GRU/SimpleRNN companion of ``bench_lstm.py`` (same method, independent code). For
every cell and shape (batch B, timesteps T, features F, units H), on the *same* weights:

* inference: the last hidden state (Keras semantics, ``return_sequences=False``):
  unrolled ``layer(x)``; ``torch.nn.GRU`` / ``torch.nn.RNN(nonlinearity="tanh")`` under
  ``torch.no_grad``; ONNX Runtime on the model unrolled's own exporter builds
  (``unrolled.io.onnx_export.build_onnx_model``); Keras 3 with the torch backend (``--keras``);
* training step: forward + BPTT + Adam update for MSE on the last hidden state: unrolled
  ``layer.forward(x, training=True)`` / ``layer.backward(...)`` /
  ``unrolled.optimizers.Adam().apply(...)``; PyTorch with ``torch.optim.Adam`` (eps 1e-7).

GRU is Keras's default ``reset_after=True`` (PyTorch's and cuDNN's convention; ONNX
``linear_before_reset=1``); SimpleRNN uses tanh. PyTorch's ``bias_hh`` of the RNN is zero
and frozen (Keras's SimpleRNN has one bias).

All implementations are limited to the same number of threads (``--threads``, default all
CPUs): threadpoolctl for NumPy's BLAS, ``torch.set_num_threads``, ONNX Runtime's
``intra_op_num_threads`` (``UNROLLED_NUM_THREADS`` is set too). Before timing, every
implementation's output is compared with unrolled's reference scan (max abs error
≤ 1e-4 · max(1, |reference|)), and unrolled's weight gradients with PyTorch's; a mismatch
stops that shape and makes the exit status 1. Timed calls are interleaved (every round
times each implementation once, in a fresh random order), so machine drift is shared;
the median per call is reported with GFLOP/s (matmul work only: GRU ``2·T·B·(F+H)·3H``,
SimpleRNN ``2·T·B·(F+H)·H`` per forward, 3× that for a training step), % of a float32
GEMM peak measured in the same run (2048² matmul, same threads) and the ratio to the
fastest peer. Slow implementations are capped by a time budget per shape and mode
(``--budget``), never below 3 rounds.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from harness import SETTLE_S, F32, SHAPES, blas_info, gemm_peak, interleaved, limit_threads, print_rows, summarize  # noqa: E402  (benchmarks/ is on sys.path)

HERE = Path(__file__).resolve().parent
os.environ.setdefault("UNROLLED_COMPILE", "wait")   # time the compiled kernels, not the build
SRC = HERE.parent / "src"
try:
    import unrolled
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(SRC))

import unrolled
from unrolled.core.gates import GRU_ORDER, reorder
from unrolled.layers import GRU, SimpleRNN

CELLS = ("gru", "simple_rnn")
GATES = {"gru": 3, "simple_rnn": 1}
PEERS = ("onnxruntime", "torch", "keras")
Shape = tuple[int, int, int, int]


# -- helpers -------------------------------------------------------------------------------

def flops(cell: str, shape: Shape) -> float:
    """Matmul work of one forward pass: input projection + recurrent product."""
    B, T, F, H = shape
    return 2.0 * T * B * (F + H) * GATES[cell] * H








class Problem:
    """One cell at one shape: weights (Keras layout), an input and a regression target."""

    def __init__(self, cell: str, shape: Shape, seed: int = 0) -> None:
        B, T, F, H = shape
        self.cell, self.shape = cell, shape
        rng = np.random.default_rng(seed)
        layer = self.new_layer()
        scale = 1.0 / np.sqrt(H + F)
        # Random non-zero weights *and* biases (both GRU bias rows), so every mapping is tested.
        self.weights = [(rng.standard_normal(w.shape) * scale).astype(F32) for w in layer.get_weights()]
        self.x = rng.standard_normal((B, T, F)).astype(F32)
        self.target = (0.5 * rng.standard_normal((B, H))).astype(F32)

    def new_layer(self) -> Any:
        """A fresh unrolled layer (built, own copy of the weights once set)."""
        B, T, F, H = self.shape
        layer = GRU(H, reset_after=True) if self.cell == "gru" else SimpleRNN(H, activation="tanh")
        layer.build((None, T, F))
        if hasattr(self, "weights"):
            layer.set_weights([w.copy() for w in self.weights])
        return layer


def dloss(h: np.ndarray, target: np.ndarray) -> np.ndarray:
    """d/dh of mean((h - target)²)."""
    return F32(2.0 / h.size) * (h - target)


def kernel_choice(layer: Any, B: int, T: int) -> dict[str, str]:
    """Which kernel unrolled ran for this layer, and why (from its dispatcher)."""
    try:
        from unrolled.core.kernels import dispatch
        line = dispatch.describe(layer)
        sel = dispatch.select_kernel(layer, B, T, training=False)
        train = dispatch.select_kernel(layer, B, T, training=True)
        return {"name": sel.name, "reason": sel.reason, "describe": line or "",
                "training_name": train.name, "training_reason": train.reason}
    except Exception as err:  # noqa: BLE001 - the dispatcher's API may change; report, don't fail
        return {"name": "reference", "reason": f"(dispatcher not queried: {err!r})", "describe": ""}


# -- implementations -----------------------------------------------------------------------
# Each builder returns (infer() -> h_T, train_step() -> None or None, grads() -> Keras-layout
# list [kernel, recurrent_kernel, bias] or None), or raises ImportError when missing.

def unrolled_impl(p: Problem, forced: str | None = None):
    """``forced`` None: the natural call (automatic kernel); else that kernel forced."""
    from unrolled.optimizers import Adam

    layer = p.new_layer()
    opt = Adam(learning_rate=1e-3)
    x, target = p.x, p.target
    if forced is None:
        import contextlib
        ctx: Callable[[], Any] = contextlib.nullcontext
    else:
        from unrolled.core.kernels import force

        def ctx() -> Any:
            return force(forced)

    if forced is None:      # the natural call is layer(x) itself, as a user makes it
        def infer() -> np.ndarray:
            return layer(x)
    else:
        def infer() -> np.ndarray:
            with ctx():
                return layer(x)

    def grads() -> list[np.ndarray]:
        check = p.new_layer()     # the check must not see weights changed by training steps
        with ctx():
            y, cache = check.forward(x, training=True)
            return check.backward(dloss(y, target), cache)[1]

    def train_step() -> None:
        with ctx():
            y, cache = layer.forward(x, training=True)
            _, g = layer.backward(dloss(y, target), cache)
        opt.apply(g, layer.trainable_weights)

    return infer, train_step, grads


def torch_impl(p: Problem):
    import torch

    B, T, F, H = p.shape
    W, U, b = p.weights
    if p.cell == "gru":
        net = torch.nn.GRU(F, H, batch_first=True)
        k2t = (GRU_ORDER["keras"], GRU_ORDER["torch"])
        with torch.no_grad():  # torch packs r, z, n as (3H, in); bias_ih = b[0], bias_hh = b[1]
            net.weight_ih_l0.copy_(torch.from_numpy(reorder(W, *k2t).T.copy()))
            net.weight_hh_l0.copy_(torch.from_numpy(reorder(U, *k2t).T.copy()))
            net.bias_ih_l0.copy_(torch.from_numpy(reorder(b[0], *k2t)))
            net.bias_hh_l0.copy_(torch.from_numpy(reorder(b[1], *k2t)))
    else:
        net = torch.nn.RNN(F, H, nonlinearity="tanh", batch_first=True)
        with torch.no_grad():
            net.weight_ih_l0.copy_(torch.from_numpy(W.T.copy()))
            net.weight_hh_l0.copy_(torch.from_numpy(U.T.copy()))
            net.bias_ih_l0.copy_(torch.from_numpy(b))
            net.bias_hh_l0.zero_()
        net.bias_hh_l0.requires_grad_(False)   # Keras's SimpleRNN has a single bias
    xt, tt = torch.from_numpy(p.x), torch.from_numpy(p.target)
    params = [q for q in net.parameters() if q.requires_grad]
    opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7)

    def infer() -> np.ndarray:
        with torch.no_grad():
            return net(xt)[1][0].numpy()

    def grads() -> list[np.ndarray]:
        net.zero_grad()
        h = net(xt)[1][0]
        ((h - tt) ** 2).mean().backward()
        gi, gh = net.weight_ih_l0.grad.numpy().T, net.weight_hh_l0.grad.numpy().T
        if p.cell == "gru":
            t2k = (GRU_ORDER["torch"], GRU_ORDER["keras"])
            return [reorder(gi, *t2k), reorder(gh, *t2k),
                    np.stack([reorder(net.bias_ih_l0.grad.numpy(), *t2k),
                              reorder(net.bias_hh_l0.grad.numpy(), *t2k)])]
        return [gi.copy(), gh.copy(), net.bias_ih_l0.grad.numpy().copy()]

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        h = net(xt)[1][0]
        ((h - tt) ** 2).mean().backward()
        opt.step()

    return infer, train_step, grads


def onnxruntime_impl(p: Problem, threads: int):
    import onnxruntime as ort

    from unrolled.io.onnx_export import build_onnx_model

    B, T, F, H = p.shape
    model = unrolled.Sequential([unrolled.Input((T, F)), p.new_layer()])
    model.layers[-1].set_weights([w.copy() for w in p.weights])
    proto = build_onnx_model(model)          # unrolled's own exporter (ONNX GRU / RNN node)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])
    in_name, out_name = sess.get_inputs()[0].name, sess.get_outputs()[0].name
    feed = {in_name: p.x}

    def infer() -> np.ndarray:
        return sess.run([out_name], feed)[0]

    return infer, None, None


def keras_impl(p: Problem):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    B, T, F, H = p.shape
    k = keras.layers.GRU(H, reset_after=True) if p.cell == "gru" else keras.layers.SimpleRNN(H)
    k.build((None, T, F))
    k.set_weights(p.weights)
    if keras.backend.backend() == "torch":
        import torch
        xin = torch.from_numpy(p.x)

        def infer() -> np.ndarray:
            with torch.no_grad():
                return keras.ops.convert_to_numpy(k(xin))
    else:
        def infer() -> np.ndarray:
            return keras.ops.convert_to_numpy(k(p.x))

    return infer, None, None


# -- timing --------------------------------------------------------------------------------

def close(a: Any, b: np.ndarray, tol: float) -> tuple[bool, float]:
    a = np.asarray(a, np.float64)
    if a.shape != b.shape:
        return False, float("inf")
    err = float(np.max(np.abs(a - np.asarray(b, np.float64))))
    scale = max(1.0, float(np.max(np.abs(b))))
    return err <= tol * scale, err


def bench_one(cell: str, name: str, shape: Shape, args: argparse.Namespace,
              peak: float) -> dict[str, Any]:
    B, T, F, H = shape
    p = Problem(cell, shape)
    result: dict[str, Any] = {"cell": cell, "name": name, "shape": dict(B=B, T=T, F=F, H=H),
                              "forward_gflop": flops(cell, shape) / 1e9}
    impls: dict[str, tuple[Any, Any, Any]] = {"unrolled": unrolled_impl(p)}
    probe = p.new_layer()
    probe(p.x[:1, :1])
    choice = kernel_choice(probe, B, T)
    result["kernel"] = choice
    if (choice["name"], choice.get("training_name", "reference")) != ("reference",) * 2:
        # a fast kernel exists: time the oracle beside it
        impls["unrolled[reference]"] = unrolled_impl(p, "reference")
    skipped: dict[str, str] = {}
    for peer in args.peers:
        try:
            if peer == "torch":
                impls["torch"] = torch_impl(p)
            elif peer == "onnxruntime":
                impls["onnxruntime"] = onnxruntime_impl(p, args.threads)
            elif peer == "keras":
                impls["keras"] = keras_impl(p)
        except ImportError as err:
            skipped[peer] = f"not installed ({err})"
    result["skipped"] = skipped

    # Same outputs on the same weights (and the same gradients), before any timing.
    oracle = p.new_layer()
    try:
        from unrolled.core.kernels import force
        ctx = force("reference")
    except Exception:  # noqa: BLE001
        import contextlib
        ctx = contextlib.nullcontext()
    with ctx:
        ref_h = oracle(p.x)
        y, cache = oracle.forward(p.x, training=True)
        ref_g = oracle.backward(dloss(y, p.target), cache)[1]
    checks: dict[str, Any] = {}
    ok = True
    for n, (infer, _, grads) in impls.items():
        good, err = close(infer(), ref_h, args.tol)
        entry: dict[str, Any] = {"inference_max_abs_err": err, "inference_ok": good}
        if grads is not None:
            errs = [close(a, b, args.tol) for a, b in zip(grads(), ref_g)]
            entry["grad_max_abs_err"] = max(e for _, e in errs)
            entry["grad_ok"] = all(g for g, _ in errs) and len(errs) == len(ref_g)
            good = good and entry["grad_ok"]
        entry["ok"] = good
        checks[n] = entry
        ok &= good
    result["checks"] = checks
    result["checks_passed"] = ok
    if not ok:
        result["error"] = "implementations disagree"
        return result

    for mode in ("inference", "training"):
        if mode == "training" and not args.train:
            continue
        fns = {n: (v[0] if mode == "inference" else v[1]) for n, v in impls.items()}
        fns = {n: f for n, f in fns.items() if f is not None}
        samples = interleaved(fns, args.repeats, args.sample_s, args.budget, args.settle_s)
        work = flops(cell, shape) * (1 if mode == "inference" else 3)
        rows, fastest = summarize(samples, work, peak, set(PEERS))
        result[mode] = {"rows": rows, "fastest_peer": fastest,
                        "unrolled_ratio": rows["unrolled"]["ratio_to_fastest_peer"],
                        "unrolled_paired_ratio": rows["unrolled"]["paired_ratio_to_fastest_peer"]}
    return result


# -- profile of unrolled's reference path --------------------------------------------------

def profile_reference(cell: str, shape: Shape, repeats: int = 5) -> dict[str, Any]:
    """Split one inference call into: input projection GEMM, the T per-step recurrent GEMMs
    (timed alone, same shapes), and the rest (gate elementwise passes, slicing, stores,
    Python per-step overhead). Also the per-step cost of the loop at B=H=1 (pure overhead)."""
    B, T, F, H = shape
    G = GATES[cell]
    p = Problem(cell, shape)
    layer = p.new_layer()
    U = p.weights[1]
    rng = np.random.default_rng(2)
    h = rng.standard_normal((B, H)).astype(F32)
    xt = np.ascontiguousarray(np.swapaxes(p.x, 0, 1))

    def med(fn: Callable[[], Any]) -> float:
        fn()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts))

    total = med(lambda: layer(p.x))
    proj = med(lambda: xt @ p.weights[0])

    def rec() -> None:
        for _ in range(T):
            h @ U
    recur = med(rec)
    # The same loop at B=1, H=1 (and F=1): what the scan costs per step when there is no work.
    tiny = Problem(cell, (1, T, 1, 1))
    tl = tiny.new_layer()
    overhead = med(lambda: tl(tiny.x))
    out = {"cell": cell, "shape": list(shape), "total_ms": total * 1e3,
           "input_projection_gemm_ms": proj * 1e3, "recurrent_gemms_ms": recur * 1e3,
           "rest_ms": (total - proj - recur) * 1e3,
           "per_step_overhead_us (same loop at B=H=F=1)": overhead / T * 1e6,
           "per_step_total_us": total / T * 1e6,
           "recurrent_gemm_gflops": 2 * B * H * G * H * T / recur / 1e9}
    return out


# -- report --------------------------------------------------------------------------------

def print_result(res: dict[str, Any]) -> None:
    s = res["shape"]
    k = res.get("kernel", {})
    print(f"\n== {res['cell']} {res['name']} (B={s['B']}, T={s['T']}, F={s['F']}, H={s['H']})  "
          f"unrolled kernel: {k.get('name')} — {k.get('reason')}"
          + (f"\n   training kernel: {k['training_name']} — {k['training_reason']}"
             if "training_name" in k else ""))
    for n, why in res.get("skipped", {}).items():
        print(f"   skipped {n}: {why}")
    checks = ", ".join(f"{n} {c['inference_max_abs_err']:.1e}"
                       + (f"/grad {c['grad_max_abs_err']:.1e}" if "grad_max_abs_err" in c else "")
                       for n, c in res["checks"].items())
    print(f"   check vs reference (max abs err): {checks} -> "
          f"{'ok' if res['checks_passed'] else 'MISMATCH'}")
    if "error" in res:
        print("   ERROR:", res["error"])
        return
    for mode in ("inference", "training"):
        if mode not in res:
            continue
        print_rows(mode, res[mode]["rows"], res[mode]["fastest_peer"])


def summary_table(report: dict[str, Any]) -> str:
    """Markdown: unrolled's ratio to the fastest peer, per cell and shape."""
    lines = ["| cell | shape (B, T, F, H) | inference: fastest peer (ms) | unrolled | "
             "training: fastest peer (ms) | unrolled |", "|---|---|---|---|---|---|"]
    for res in report["results"]:
        s = res["shape"]
        cols = [res["cell"], f"{res['name']} ({s['B']}, {s['T']}, {s['F']}, {s['H']})"]
        for mode in ("inference", "training"):
            if mode not in res or res[mode]["fastest_peer"] is None:
                cols += ["-", "-"]
                continue
            fp = res[mode]["fastest_peer"]
            rows = res[mode]["rows"]
            cols += [f"{fp} {rows[fp]['median_ms']:.3g}", f"{res[mode]['unrolled_ratio']:.2f}×"]
        lines.append("| " + " | ".join(cols) + " |")
    return "\n".join(lines)


def parse_shapes(texts: list[str] | None, p: argparse.ArgumentParser) -> dict[str, Shape]:
    shapes: dict[str, Shape] = {}
    for text in texts or list(SHAPES):
        if text in SHAPES:
            shapes[text] = SHAPES[text]
            continue
        try:
            dims = tuple(int(v) for v in text.split(","))
        except ValueError:
            dims = ()
        if len(dims) != 4 or min(dims) <= 0:
            p.error(f"--shape expects B,T,F,H (four positive integers) or one of "
                    f"{', '.join(SHAPES)}, got {text!r}")
        shapes[text] = dims  # type: ignore[assignment]
    return shapes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cell", choices=CELLS + ("all",), default="all")
    p.add_argument("--shape", action="append", default=None, metavar="B,T,F,H",
                   help="a shape to run (repeatable), or a name: " + ", ".join(SHAPES))
    p.add_argument("--json", type=Path, help="write all results to this JSON file")
    p.add_argument("--quick", action="store_true", help="3 rounds, short samples, 3 s budget")
    p.add_argument("--keras", action="store_true", help="also time Keras 3 (KERAS_BACKEND=torch)")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--repeats", type=int, default=None, help="timed rounds per mode (default 15)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds per cell, shape and mode after which rounds stop (default 30)")
    p.add_argument("--peers", default="onnxruntime,torch", help="peers (comma-separated)")
    p.add_argument("--no-train", dest="train", action="store_false", help="skip training steps")
    p.add_argument("--tol", type=float, default=1e-4, help="agreement tolerance (relative to max(1, |ref|))")
    p.add_argument("--profile", action="store_true",
                   help="also split unrolled's reference call into GEMM / rest / per-step overhead")
    args = p.parse_args(argv)
    args.peers = [k for k in args.peers.split(",") if k]
    if args.keras and "keras" not in args.peers:
        args.peers.append("keras")
    args.repeats = args.repeats or (3 if args.quick else 15)
    args.budget = args.budget if args.budget is not None else (3.0 if args.quick else 30.0)
    args.sample_s = 0.002 if args.quick else 0.02
    args.settle_s = 0.0 if args.quick else SETTLE_S
    cells = list(CELLS) if args.cell == "all" else [args.cell]
    shapes = parse_shapes(args.shape, p)

    if "keras" in args.peers:
        os.environ.setdefault("KERAS_BACKEND", "torch")
    limiter = limit_threads(args.threads)
    if "torch" in args.peers or "keras" in args.peers:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            pass
    peak = gemm_peak(5 if args.quick else 15)
    report: dict[str, Any] = {
        "benchmark": "bench_cells.py", "argv": sys.argv[1:],
        "machine": {"python": platform.python_version(), "numpy": np.__version__,
                    "cpu": platform.processor() or platform.machine(), "threads": args.threads,
                    "blas": blas_info(), "nice": os.nice(0)},
        "gemm_peak_gflops_start": peak, "results": [], "cells": {},
    }
    for mod in ("torch", "onnxruntime", "keras"):
        if mod == "keras" and "keras" not in args.peers:
            continue
        try:
            report["machine"][mod] = __import__(mod).__version__
        except ImportError:
            report["machine"][mod] = None
    print(f"GEMM peak (float32 2048² matmul, {args.threads} threads): {peak:.1f} GFLOP/s")
    failed = False
    for cell in cells:
        report["cells"][cell] = {}
        for name, shape in shapes.items():
            res = bench_one(cell, name, shape, args, peak)
            report["results"].append(res)
            report["cells"][cell][name] = res
            print_result(res)
            failed |= not res["checks_passed"]
    peak_end = gemm_peak(5 if args.quick else 15)
    report["gemm_peak_gflops_end"] = peak_end
    print(f"\nGEMM peak at the end: {peak_end:.1f} GFLOP/s")
    report["all_checks_passed"] = not failed
    table = summary_table(report)
    report["table_markdown"] = table
    print("\nunrolled's median time ÷ the fastest peer's:\n" + table)
    if args.profile:
        report["profile"] = [profile_reference(c, s) for c in cells for s in shapes.values()]
        print("\nwhere unrolled's reference inference time goes:")
        for prof in report["profile"]:
            print("  ", json.dumps({k: (round(v, 3) if isinstance(v, float) else v)
                                    for k, v in prof.items()}))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
        print(f"\nwrote {args.json}")
    if limiter is not None:
        limiter.restore_original_limits()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
