"""Entry-point benchmark: what a user's call costs in unrolled, beside the layer calls it
wraps and beside the peers' equivalents, all in one run on the same weights.

    python benchmarks/bench_entry.py                        # tiny, small, demo, medium
    python benchmarks/bench_entry.py --shape demo --json out.json
    python benchmarks/bench_entry.py --quick --shape tiny   # smoke run
    python benchmarks/bench_entry.py --quick --overhead --clock cpu --threads 1   # + stubbed
    python benchmarks/bench_entry.py --cold-start           # + `unrolled demo`, empty numba cache
    python benchmarks/bench_entry.py --cold-start-only      # only that

The model is an LSTM whose output is the last hidden state (``Sequential([Input((T, F)),
LSTM(H)])``), trained with Adam (1e-3, epsilon 1e-7) on MSE. Three groups of rows, each
timed interleaved (harness.interleaved: every round runs one sample of every row in a
fresh random order after a pause) and reported as the median per call, the best sample,
and the ratio to the fastest peer of the group (of medians, and paired per round):

* **one batch, inference**: unrolled ``layer(x)`` (the call the entry points wrap),
  ``model(x)``, ``model.predict_on_batch(x)``, ``model.predict(x, batch_size=B)``;
  ONNX Runtime ``session.run``, PyTorch ``module(x)`` under ``torch.no_grad()``, Keras 3
  ``predict_on_batch`` and ``predict`` (``verbose=0`` everywhere);
* **8 batches, inference** (``predict`` on 8·B samples, ``batch_size=B``; ``--batches``
  changes the 8): unrolled's ``predict`` beside 8 ``layer(x)`` calls; the peers loop ``session.run`` / ``module(x)``
  over the batches and concatenate; Keras's ``predict``;
* **training step**: unrolled's layer step (``layer.forward`` + loss gradient +
  ``layer.backward`` + ``Adam.apply``, what the entry points wrap), ``train_on_batch``,
  and one step of ``fit`` (a ``fit`` over 8 batches, per step); PyTorch's step
  (``zero_grad``, forward, ``mse_loss``, ``backward``, ``step``); Keras's
  ``train_on_batch`` and a ``fit`` step (8 batches, per step);
* with ``--overhead``, **training, layer calls stubbed**: the three unrolled training rows
  again, the LSTM's ``forward``/``backward`` returning saved results and ``apply`` doing
  nothing, so that only the entry points' own work is timed (the "+µs over layer step"
  column without the kernels' noise).

Before timing, every inference row's output is compared with unrolled's reference
kernel and the first training step's loss of unrolled, PyTorch and Keras with each other;
a mismatch stops the run (exit status 1). ``--cold-start`` also times ``unrolled demo``
in a fresh process with an empty ``NUMBA_CACHE_DIR``: the first line, the start of
training, the first result (the held-out test table) and the end.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness import F32, SETTLE_S, SHAPES, blas_info, interleaved, limit_threads, summarize  # noqa: E402

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
try:
    import unrolled  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(SRC))

import unrolled  # noqa: E402
from unrolled.core.kernels import force, lstm_numba  # noqa: E402
from unrolled.layers import LSTM  # noqa: E402

from bench_lstm import make_layer, onnx_model_bytes  # noqa: E402

MANY = 8                     # batches in the "8 batches" and fit rows (--batches)
PEERS = ("onnxruntime", "torch", "keras")
DEFAULT_SHAPES = ("tiny", "small", "demo", "medium")


def _is_peer(row: str) -> bool:
    return row.split(" ", 1)[0] in PEERS


# -- unrolled ---------------------------------------------------------------------------------

def unrolled_rows(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> tuple[dict, dict, dict, Callable]:
    B, T, F = x.shape
    H = weights[1].shape[0]
    xs, ys = np.concatenate([x] * MANY), np.concatenate([y] * MANY)

    def model(compiled: bool) -> Any:
        m = unrolled.Sequential([unrolled.Input((T, F)), LSTM(H)])
        m.set_weights(weights)
        if compiled:
            m.compile(optimizer=unrolled.optimizers.Adam(1e-3, epsilon=1e-7), loss="mse")
        return m

    inf = model(False)
    layer = inf.layers[0]

    def many_layer_calls() -> np.ndarray:
        return np.concatenate([layer(x) for _ in range(MANY)])

    infer = {"unrolled layer(x)": lambda: layer(x),
             "unrolled model(x)": lambda: inf(x),
             "unrolled predict_on_batch": lambda: inf.predict_on_batch(x),
             "unrolled predict": lambda: inf.predict(x, batch_size=B, verbose=0)}
    many = {f"unrolled {MANY}x layer(x)": many_layer_calls,
            "unrolled predict": lambda: inf.predict(xs, batch_size=B, verbose=0)}

    step_model, tob_model, fit_model = model(True), model(True), model(True)
    step_layer, opt = step_model.layers[0], unrolled.optimizers.Adam(1e-3, epsilon=1e-7)

    def layer_step() -> float:
        out, cache = step_layer.forward(x, training=True)
        err = out - y
        dy = err * F32(2.0 / err.size)
        _, grads = step_layer.backward(dy, cache)
        opt.apply(grads, step_layer.trainable_weights)
        return float(np.mean(err * err))

    train = {"unrolled layer step": layer_step,
             "unrolled train_on_batch": lambda: tob_model.train_on_batch(x, y),
             "unrolled fit step": lambda: fit_model.fit(xs, ys, batch_size=B, epochs=1,
                                                         shuffle=False, verbose=0)}

    def reference() -> np.ndarray:
        with force("reference"):
            return layer(x)

    return infer, many, train, reference


def stubbed_training_rows(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, Callable]:
    """The training rows with the LSTM's ``forward``/``backward`` (set on the instance)
    returning results saved once and the optimizers' ``apply`` doing nothing: what is left
    is the entry points' own Python (input checks, loss, bookkeeping, callbacks), which
    a busy machine disturbs far less than the kernels (``--overhead``)."""
    B, T, F = x.shape
    H = weights[1].shape[0]
    xs, ys = np.concatenate([x] * MANY), np.concatenate([y] * MANY)

    def stubbed() -> Any:
        m = unrolled.Sequential([unrolled.Input((T, F)), LSTM(H)])
        m.set_weights(weights)
        m.compile(optimizer=unrolled.optimizers.Adam(1e-3, epsilon=1e-7), loss="mse")
        layer = m.layers[0]
        out, cache = layer.forward(x, training=True)
        d_in, grads = layer.backward(out - y, cache)
        layer.forward = lambda h, training=False, **kw: (out, cache)
        layer.backward = lambda dy, c: (d_in, grads)
        m.optimizer.apply = lambda g, variables=None: None
        return m

    step_model, tob_model, fit_model = stubbed(), stubbed(), stubbed()
    step_layer, opt = step_model.layers[0], step_model.optimizer

    def layer_step() -> float:                      # as unrolled_rows' layer step
        out, cache = step_layer.forward(x, training=True)
        err = out - y
        dy = err * F32(2.0 / err.size)
        _, grads = step_layer.backward(dy, cache)
        opt.apply(grads, step_layer.trainable_weights)
        return float(np.mean(err * err))

    return {"unrolled layer step": layer_step,
            "unrolled train_on_batch": lambda: tob_model.train_on_batch(x, y),
            "unrolled fit step": lambda: fit_model.fit(xs, ys, batch_size=B, epochs=1,
                                                        shuffle=False, verbose=0)}


# -- peers ------------------------------------------------------------------------------------

def onnxruntime_rows(weights: list[np.ndarray], x: np.ndarray, threads: int) -> tuple[dict, dict]:
    import onnxruntime as ort

    W, U, b = weights
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(onnx_model_bytes(W, U, b, x.shape[1], x.shape[2]), so,
                                providers=["CPUExecutionProvider"])
    feed = {"x": x}
    return ({"onnxruntime session.run": lambda: sess.run(["h"], feed)[0]},
            {"onnxruntime session.run": lambda: np.concatenate(
                [sess.run(["h"], feed)[0] for _ in range(MANY)])})


def torch_rows(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> tuple[dict, dict, dict, Callable]:
    import torch

    class LastHidden(torch.nn.Module):
        """``nn.LSTM`` returning the last hidden state (Keras's return_sequences=False)."""

        def __init__(self) -> None:
            super().__init__()
            W, U, b = weights
            self.lstm = torch.nn.LSTM(W.shape[0], U.shape[0], batch_first=True)
            with torch.no_grad():   # PyTorch packs i, f, g, o like Keras, transposed (4H, in)
                self.lstm.weight_ih_l0.copy_(torch.from_numpy(W.T.copy()))
                self.lstm.weight_hh_l0.copy_(torch.from_numpy(U.T.copy()))
                self.lstm.bias_ih_l0.copy_(torch.from_numpy(b))
                self.lstm.bias_hh_l0.zero_()

        def forward(self, inputs: Any) -> Any:
            return self.lstm(inputs)[1][0][0]

    infer_net, train_net = LastHidden(), LastHidden()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(train_net.parameters(), lr=1e-3, eps=1e-7)

    def infer() -> np.ndarray:
        with torch.no_grad():
            return infer_net(xt).numpy()

    def many() -> np.ndarray:
        with torch.no_grad():
            return torch.cat([infer_net(xt) for _ in range(MANY)]).numpy()

    def step() -> float:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(train_net(xt), yt)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return ({"torch module(x) no_grad": infer}, {"torch module(x) no_grad": many},
            {"torch step": step}, step)


def keras_rows(weights: list[np.ndarray], x: np.ndarray, y: np.ndarray) -> tuple[dict, dict, dict]:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    B, T, F = x.shape
    xs, ys = np.concatenate([x] * MANY), np.concatenate([y] * MANY)

    def model(compiled: bool) -> Any:
        m = keras.Sequential([keras.Input((T, F)), keras.layers.LSTM(weights[1].shape[0])])
        m.set_weights(weights)
        if compiled:
            m.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-7), loss="mse")
        return m

    inf, tob, fit = model(False), model(True), model(True)
    return ({"keras predict_on_batch": lambda: inf.predict_on_batch(x),
             "keras predict": lambda: inf.predict(x, batch_size=B, verbose=0)},
            {"keras predict": lambda: inf.predict(xs, batch_size=B, verbose=0)},
            {"keras train_on_batch": lambda: tob.train_on_batch(x, y),
             "keras fit step": lambda: fit.fit(xs, ys, batch_size=B, epochs=1, shuffle=False,
                                               verbose=0)})


# -- one shape --------------------------------------------------------------------------------

def _close(a: Any, b: np.ndarray, tol: float) -> tuple[bool, float]:
    err = float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
    return err <= tol * max(1.0, float(np.max(np.abs(b)))), err


def bench_shape(name: str, shape: tuple[int, int, int, int], args: argparse.Namespace) -> dict[str, Any]:
    B, T, F, H = shape
    layer, x, _ = make_layer(shape)
    weights = layer.get_weights()
    y = (0.5 * np.random.default_rng(7).standard_normal((B, H))).astype(F32)
    result: dict[str, Any] = {"shape": dict(B=B, T=T, F=F, H=H), "name": name, "skipped": {}}
    infer, many, train, reference = unrolled_rows(weights, x, y)
    first_losses: dict[str, float] = {}
    for peer in args.peers:
        try:
            if peer == "onnxruntime":
                i, m = onnxruntime_rows(weights, x, args.threads)
                infer.update(i), many.update(m)
            elif peer == "torch":
                i, m, t, step = torch_rows(weights, x, y)
                infer.update(i), many.update(m)
                first_losses["torch step"] = step()
                train.update(t)
            elif peer == "keras":
                i, m, t = keras_rows(weights, x, y)
                infer.update(i), many.update(m)
                first_losses["keras train_on_batch"] = float(t["keras train_on_batch"]())
                train.update(t)
        except ImportError as err:
            result["skipped"][peer] = f"not installed ({err})"
    first_losses["unrolled layer step"] = train["unrolled layer step"]()
    first_losses["unrolled train_on_batch"] = float(train["unrolled train_on_batch"]())

    # Same numbers before any timing: every inference row against the reference kernel
    # (the 8-batch rows against it repeated), the first training losses with each other.
    ref = reference()
    checks: dict[str, Any] = {}
    for group, fns, want in (("one batch", infer, ref), (f"{MANY} batches", many, np.concatenate([ref] * MANY))):
        for row, fn in fns.items():
            ok, err = _close(fn(), want, 1e-4)
            checks[f"{group}: {row}"] = {"max_abs_err": err, "ok": ok}
    base = first_losses["unrolled layer step"]
    for row, loss in first_losses.items():
        ok = abs(loss - base) <= 1e-5 * max(1.0, abs(base))
        checks[f"first training loss: {row}"] = {"loss": loss, "ok": ok}
    result["checks"] = checks
    if not all(c["ok"] for c in checks.values()):
        result["error"] = "implementations disagree"
        return result

    peers = {r for r in list(infer) + list(many) + list(train) if _is_peer(r)}
    groups = [("one batch, inference", infer, {}),
              (f"{MANY} batches, inference", many, {}),
              ("training step", train, {"unrolled fit step": MANY, "keras fit step": MANY})]
    if args.overhead:
        groups.append(("training, layer calls stubbed", stubbed_training_rows(weights, x, y),
                       {"unrolled fit step": MANY}))
    for group, fns, per in groups:
        samples = interleaved(fns, args.repeats, args.sample_s, args.budget, args.settle_s,
                              clock=time.process_time if args.clock == "cpu" else time.perf_counter)
        samples = {n: [s / per.get(n, 1) for s in v] for n, v in samples.items()}
        rows, fastest = summarize(samples, 1.0, 1.0, peers)
        # On a shared machine noise only slows calls: the best sample of each row is the
        # least disturbed, so the ratio of best samples is reported beside the medians'.
        best_peer = min((n for n in rows if n in peers), key=lambda n: rows[n]["min_ms"], default=None)
        for r in rows.values():
            r["min_ratio_to_fastest_peer"] = (None if best_peer is None
                                              else r["min_ms"] / rows[best_peer]["min_ms"])
        wrapped = next(n for n in rows if n.startswith("unrolled") and ("layer" in n))
        for n, r in rows.items():
            for k in ("gflops", "pct_gemm_peak"):
                r.pop(k, None)
            if n.startswith("unrolled") and n != wrapped:
                r["over_wrapped_us"] = (r["median_ms"] - rows[wrapped]["median_ms"]) * 1e3
                r["over_wrapped_min_us"] = (r["min_ms"] - rows[wrapped]["min_ms"]) * 1e3
        result[group] = {"rows": rows, "fastest_peer": fastest, "fastest_peer_by_min": best_peer,
                         "wrapped": wrapped,
                         "per_step_of": {n: k for n, k in per.items() if n in rows}}
    return result


def print_shape(res: dict[str, Any]) -> None:
    s = res["shape"]
    print(f"\n== {res['name']} (B={s['B']}, T={s['T']}, F={s['F']}, H={s['H']})")
    for peer, why in res.get("skipped", {}).items():
        print(f"   skipped {peer}: {why}")
    if "error" in res:
        print("   ERROR:", res["error"], json.dumps(res["checks"], indent=1))
        return
    for group in (g for g in res if isinstance(res[g], dict) and "rows" in res[g]):
        block = res[group]
        print(f"   {group:<31} {'median µs':>10} {'min µs':>9} {'× ' + str(block['fastest_peer']):>30} "
              f"{'paired':>7} {'min × ' + str(block['fastest_peer_by_min']):>30} "
              f"{'+µs over ' + block['wrapped'].split(' ', 1)[1]:>22}")
        for n, r in sorted(block["rows"].items(), key=lambda kv: kv[1]["min_ms"]):
            ratio, paired, best = ("-" if r[k] is None else f"{r[k]:.2f}×" for k in
                                   ("ratio_to_fastest_peer", "paired_ratio_to_fastest_peer",
                                    "min_ratio_to_fastest_peer"))
            over = f"{r['over_wrapped_us']:+.1f} (min {r['over_wrapped_min_us']:+.1f})" if "over_wrapped_us" in r else ""
            print(f"   {n:<31} {r['median_ms'] * 1e3:>10.1f} {r['min_ms'] * 1e3:>9.1f} {ratio:>30} "
                  f"{paired:>7} {best:>30} {over:>22}")


# -- cold start -------------------------------------------------------------------------------

MARKS = {"first line": None, "training starts": "Training:", "first result (test table)": "Held-out test part",
         "end": None}


def cold_start(epochs: int | None) -> dict[str, Any]:
    """``unrolled demo`` in a fresh process with an empty NUMBA_CACHE_DIR (and in a second
    process on the cache the first one filled): seconds from the start to each mark."""
    script = Path(sys.executable).with_name("unrolled")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "unrolled"]
    cmd += ["demo"] + ([] if epochs is None else ["--epochs", str(epochs)])
    out: dict[str, Any] = {"command": " ".join(["unrolled"] + cmd[1 if script.exists() else 3:])}
    with tempfile.TemporaryDirectory() as cache, tempfile.TemporaryDirectory() as work:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONUNBUFFERED": "1"}
        for run in ("empty numba cache", "second process (disk cache)"):
            t0 = time.perf_counter()
            proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            marks: dict[str, float] = {}
            assert proc.stdout is not None
            for line in proc.stdout:
                now = time.perf_counter() - t0
                marks.setdefault("first line", now)
                for mark, text in MARKS.items():
                    if text and text in line:
                        marks.setdefault(mark, now)
            proc.wait()
            marks["end"] = time.perf_counter() - t0
            out[run] = {k: round(marks[k], 2) for k in MARKS if k in marks}
            out[run]["exit_status"] = proc.returncode
            out[run]["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    return out


# -- main -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    global MANY
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", action="append", default=None, metavar="B,T,F,H",
                   help="a shape (repeatable) or a name: " + ", ".join(SHAPES))
    p.add_argument("--json", type=Path, help="write all results to this JSON file")
    p.add_argument("--quick", action="store_true", help="3 rounds, short samples, no pause, no Keras")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--repeats", type=int, default=None, help="timed rounds per group (default 21)")
    p.add_argument("--budget", type=float, default=None, help="seconds per shape and group (default 40)")
    p.add_argument("--peers", default=",".join(PEERS), help="peers to time (comma-separated)")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="time samples by wall clock, or by the process's CPU time (with "
                        "--threads 1: the calls' own time, which other processes' load does "
                        "not inflate; with more threads it adds up every thread's work)")
    p.add_argument("--batches", type=int, default=MANY,
                   help=f"batches of the many-batch predict and of the fit rows (default {MANY})")
    p.add_argument("--overhead", action="store_true",
                   help="also time the training rows with the layer's forward/backward and the "
                        "optimizer's update stubbed: the entry points' own cost, little "
                        "disturbed by other processes")
    p.add_argument("--cold-start", action="store_true",
                   help="also time `unrolled demo` from a fresh process with an empty numba cache")
    p.add_argument("--cold-start-only", action="store_true", help="time only the cold start")
    p.add_argument("--cold-start-epochs", type=int, default=None,
                   help="--epochs for that demo run (default: the demo's own)")
    args = p.parse_args(argv)
    MANY = args.batches
    args.peers = [k for k in args.peers.split(",") if k]
    if args.quick:
        args.peers = [k for k in args.peers if k != "keras"]
    args.repeats = args.repeats or (3 if args.quick else 21)
    args.budget = args.budget or (5.0 if args.quick else 40.0)
    args.sample_s = 0.002 if args.quick else 0.02
    args.settle_s = 0.0 if args.quick else SETTLE_S
    shapes: dict[str, tuple[int, int, int, int]] = {}
    for text in [] if args.cold_start_only else args.shape or DEFAULT_SHAPES:
        if text in SHAPES:
            shapes[text] = SHAPES[text]
        else:
            dims = tuple(int(v) for v in text.split(","))
            if len(dims) != 4 or min(dims) <= 0:
                p.error(f"--shape expects B,T,F,H (four positive integers), got {text!r}")
            shapes[text] = dims  # type: ignore[assignment]

    if not lstm_numba.missing_reason():
        lstm_numba.impl()    # the compiled kernels (and SciPy's BLAS) before the thread limit
    limiter = limit_threads(args.threads)
    if "torch" in args.peers or "keras" in args.peers:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            pass
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "numpy": np.__version__,
                    "threads": args.threads, "blas": blas_info(),
                    "numba": None if lstm_numba.missing_reason() else __import__("numba").__version__,
                    "load_average_start": os.getloadavg(), "clock": args.clock},
        "method": "interleaved rounds (harness.interleaved), median and best per call, ratios to "
                  "the fastest peer of each group (of medians; paired per round)",
        "shapes": {},
    }
    failed = False
    for name, shape in shapes.items():
        res = bench_shape(name, shape, args)
        report["shapes"][name] = res
        print_shape(res)
        failed |= "error" in res
        if args.json:      # after every shape: a long run stopped early keeps what it measured
            args.json.write_text(json.dumps(report, indent=1))
    report["machine"]["load_average_end"] = os.getloadavg()
    if args.cold_start or args.cold_start_only:
        report["cold_start"] = cold_start(args.cold_start_epochs)
        print("\ncold start, `unrolled demo` (seconds from the process start):")
        for run, marks in report["cold_start"].items():
            print(f"   {run}: {marks}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
        print(f"\nwrote {args.json}")
    if limiter is not None:
        limiter.restore_original_limits()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
