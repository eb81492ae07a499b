"""Side-by-side LSTM benchmark: unrolled (each kernel path) vs PyTorch, ONNX Runtime, Keras.

    python benchmarks/bench_lstm.py                       # the five standard shapes
    python benchmarks/bench_lstm.py --shape 32,100,16,128 --json out.json
    python benchmarks/bench_lstm.py --quick               # few repeats, no subprocess probes

For every shape (batch B, timesteps T, features F, units H), on the *same* weights:

* inference: the last hidden state (Keras semantics, ``return_sequences=False``);
* training step: forward + BPTT + Adam update for MSE on the last hidden state.

All implementations are limited to the same number of threads (``--threads``, default
all CPUs): threadpoolctl for NumPy's BLAS, ``torch.set_num_threads``, ONNX Runtime's
``intra_op_num_threads``, ``UNROLLED_NUM_THREADS`` for unrolled's batch blocks. Before
timing, every implementation's output (and, for training, gradients) is compared with
unrolled's reference path; a mismatch stops the run with exit status 1. Timed calls are
interleaved (one sample of each implementation per round, in a fresh random order), so
drift of the machine is shared; the median per call is reported, with GFLOP/s (matmul
work only: ``2·T·B·(F+H)·4H`` forward, 3× that for a training step), % of a float32 GEMM
peak measured in the same run (the best 2048² matmul so far, same threads, measured again
before each shape) and two ratios to the
fastest peer (ONNX Runtime / PyTorch / Keras): of the medians, and paired (the median of
the per-round ratios, which a slow spell of the machine cannot tilt).

Also reported: first-call latency (fresh processes: numba cold compile and cached load),
peak memory of a training step at the largest shape (see ``--help``), ``import unrolled``
time. Writes everything to JSON with ``--json``.
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
from typing import Any

import numpy as np

from harness import SETTLE_S, F32, SHAPES, blas_info, gemm_peak, interleaved, limit_threads, print_rows, summarize  # noqa: E402  (benchmarks/ is on sys.path)

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
try:
    import unrolled  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(SRC))

from unrolled.core.gates import LSTM_ORDER, reorder  # noqa: E402
from unrolled.core.kernels import dispatch, force  # noqa: E402
from unrolled.core.kernels import lstm_numba  # noqa: E402
from unrolled.layers import LSTM  # noqa: E402

PEERS = ("onnxruntime", "torch", "keras")


# -- helpers -------------------------------------------------------------------------------

def flops(shape: tuple[int, int, int, int]) -> float:
    """Matmul work of one forward pass: input projection + recurrent product."""
    B, T, F, H = shape
    return 2.0 * T * B * (F + H) * 4 * H








def make_layer(shape: tuple[int, int, int, int], seed: int = 0) -> tuple[Any, np.ndarray, np.ndarray]:
    """An unrolled LSTM with random non-zero weights and biases, an input and a target."""
    B, T, F, H = shape
    rng = np.random.default_rng(seed)
    layer = LSTM(H, seed=seed)
    layer.build((None, T, F))
    scale = 1.0 / np.sqrt(H + F)
    layer.set_weights([(rng.standard_normal(w.shape) * scale).astype(F32) for w in layer.get_weights()])
    x = rng.standard_normal((B, T, F)).astype(F32)
    target = (0.5 * rng.standard_normal((B, H))).astype(F32)
    return layer, x, target


class MiniAdam:
    """Keras's Adam (epsilon 1e-7), in place, float32 — used if unrolled has no optimizer."""

    def __init__(self, lr: float = 1e-3, b1: float = 0.9, b2: float = 0.999, eps: float = 1e-7):
        self.lr, self.b1, self.b2, self.eps, self.t, self.m, self.v = lr, b1, b2, eps, 0, None, None

    def apply(self, grads: list[np.ndarray], params: list[np.ndarray]) -> None:
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.t += 1
        alpha = F32(self.lr * np.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t))
        for g, p, m, v in zip(grads, params, self.m, self.v):
            m *= F32(self.b1)
            m += F32(1 - self.b1) * g
            v *= F32(self.b2)
            v += F32(1 - self.b2) * (g * g)
            p -= alpha * m / (np.sqrt(v) + F32(self.eps))


def make_adam() -> tuple[Any, str]:
    try:
        from unrolled.training.optimizers import Adam
        return Adam(learning_rate=1e-3), "unrolled.training.optimizers.Adam"
    except Exception:  # noqa: BLE001 - any failure: fall back to the benchmark's own
        return MiniAdam(), "benchmark MiniAdam"


# -- implementations -----------------------------------------------------------------------
# Each builder returns (infer() -> h_T, train_step() -> None, grads() -> list[(F,4H),(H,4H),(4H,)])
# or raises ImportError when the peer is missing.

def unrolled_impl(kernel: str | None, layer: Any, x: np.ndarray, target: np.ndarray):
    """``kernel`` None times the natural call, ``layer(x)`` with the automatic choice
    (what a user runs, like ORT's ``session.run``); a name forces that kernel."""
    layer = LSTM.from_config(layer.get_config())  # own copy of the weights (Adam changes them)
    layer.build((None,) + x.shape[1:])
    src = make_layer.last_weights  # type: ignore[attr-defined]
    layer.set_weights(src)
    opt, _ = make_adam()
    if kernel == "numba" or (kernel is None and not lstm_numba.missing_reason()):
        lstm_numba.impl()

    if kernel is None:
        def infer() -> np.ndarray:
            return layer(x)
    else:
        def infer() -> np.ndarray:
            with force(kernel):
                return layer(x)

    def grads() -> list[np.ndarray]:
        with force(kernel):
            y, cache = layer.forward(x, training=True)
            dy = (2.0 / y.size) * (y - target)
            return layer.backward(dy, cache)[1]

    def train_step() -> None:
        with force(kernel):
            y, cache = layer.forward(x, training=True)
            dy = (F32(2.0 / y.size)) * (y - target)
            _, g = layer.backward(dy, cache)
        opt.apply(g, layer.trainable_weights)

    return infer, train_step, grads


def torch_impl(layer: Any, x: np.ndarray, target: np.ndarray):
    import torch

    W, U, b = make_layer.last_weights  # type: ignore[attr-defined]
    F, H = W.shape[0], U.shape[0]
    net = torch.nn.LSTM(F, H, batch_first=True)
    with torch.no_grad():  # PyTorch packs i, f, g, o like Keras, transposed (4H, in)
        net.weight_ih_l0.copy_(torch.from_numpy(W.T.copy()))
        net.weight_hh_l0.copy_(torch.from_numpy(U.T.copy()))
        net.bias_ih_l0.copy_(torch.from_numpy(b))
        net.bias_hh_l0.zero_()
    xt, tt = torch.from_numpy(x), torch.from_numpy(target)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)

    def infer() -> np.ndarray:
        with torch.inference_mode():
            return net(xt)[1][0][0].numpy()

    def grads() -> list[np.ndarray]:
        net.zero_grad()
        h = net(xt)[1][0][0]
        ((h - tt) ** 2).mean().backward()
        return [net.weight_ih_l0.grad.numpy().T.copy(), net.weight_hh_l0.grad.numpy().T.copy(),
                net.bias_ih_l0.grad.numpy().copy()]

    def train_step() -> None:
        opt.zero_grad(set_to_none=True)
        h = net(xt)[1][0][0]
        ((h - tt) ** 2).mean().backward()
        opt.step()

    return infer, train_step, grads


def onnx_model_bytes(W: np.ndarray, U: np.ndarray, b: np.ndarray, T: int, F: int) -> bytes:
    """An ONNX graph with one LSTM node (gate order i, o, f, c), output Y_h (1, B, H)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H = U.shape[0]
    w = reorder(W, LSTM_ORDER["keras"], LSTM_ORDER["onnx"]).T[None]        # (1, 4H, F)
    r = reorder(U, LSTM_ORDER["keras"], LSTM_ORDER["onnx"]).T[None]        # (1, 4H, H)
    bias = np.concatenate([reorder(b, LSTM_ORDER["keras"], LSTM_ORDER["onnx"]),
                           np.zeros(4 * H, F32)])[None]                   # (1, 8H)
    inits = [numpy_helper.from_array(np.ascontiguousarray(a, F32), n)
             for a, n in ((w, "W"), (r, "R"), (bias, "B"))]
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),     # (T, B, F)
        helper.make_node("LSTM", ["xt", "W", "R", "B"], ["", "Y_h"], hidden_size=H),
        helper.make_node("Squeeze", ["Y_h", "axes"], ["h"]),
    ]
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axes"))
    graph = helper.make_graph(
        nodes, "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", T, F])],
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, ["B", H])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def onnxruntime_impl(layer: Any, x: np.ndarray, target: np.ndarray, threads: int):
    import onnxruntime as ort

    W, U, b = make_layer.last_weights  # type: ignore[attr-defined]
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(onnx_model_bytes(W, U, b, x.shape[1], x.shape[2]), so,
                                providers=["CPUExecutionProvider"])
    feed = {"x": x}

    def infer() -> np.ndarray:
        return sess.run(["h"], feed)[0]

    return infer, None, None


def keras_impl(layer: Any, x: np.ndarray, target: np.ndarray):
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    W, U, b = make_layer.last_weights  # type: ignore[attr-defined]
    k = keras.layers.LSTM(U.shape[0])
    k.build((None,) + x.shape[1:])
    k.set_weights([W, U, b])
    backend = keras.backend.backend()
    if backend == "torch":
        import torch
        xin = torch.from_numpy(x)

        def infer() -> np.ndarray:
            with torch.no_grad():
                return keras.ops.convert_to_numpy(k(xin))
    else:
        def infer() -> np.ndarray:
            return keras.ops.convert_to_numpy(k(x))

    return infer, None, None


# -- timing --------------------------------------------------------------------------------

def close(a: np.ndarray, b: np.ndarray, tol: float) -> tuple[bool, float]:
    err = float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
    scale = max(1.0, float(np.max(np.abs(b))))
    return err <= tol * scale, err


def bench_shape(name: str, shape: tuple[int, int, int, int], args: argparse.Namespace,
                peak: float) -> dict[str, Any]:
    B, T, F, H = shape
    layer, x, target = make_layer(shape)
    make_layer.last_weights = layer.get_weights()  # type: ignore[attr-defined]
    result: dict[str, Any] = {"shape": dict(B=B, T=T, F=F, H=H), "name": name,
                              "forward_gflop": flops(shape) / 1e9}
    auto = dispatch.select_lstm_kernel(layer, B, T, training=False)
    auto_train = dispatch.select_lstm_kernel(layer, B, T, training=True)
    result["auto_kernel"] = {"name": auto.name, "reason": auto.reason}

    impls: dict[str, tuple[Any, Any, Any]] = {"unrolled": unrolled_impl(None, layer, x, target)}
    skipped: dict[str, str] = {}
    for k in args.kernels:
        if k == "reference" and B * T * H * H > args.max_reference_work:
            skipped["unrolled[reference]"] = "B·T·H² above --max-reference-work (slow)"
            continue
        if k == "numba" and lstm_numba.missing_reason():
            skipped["unrolled[numba]"] = lstm_numba.missing_reason() or ""
            continue
        impls[f"unrolled[{k}]"] = unrolled_impl(k, layer, x, target)
    for peer in args.peers:
        try:
            if peer == "torch":
                impls["torch"] = torch_impl(layer, x, target)
            elif peer == "onnxruntime":
                impls["onnxruntime"] = onnxruntime_impl(layer, x, target, args.threads)
            elif peer == "keras":
                impls["keras"] = keras_impl(layer, x, target)
        except ImportError as err:
            skipped[peer] = f"not installed ({err})"
    result["skipped"] = skipped

    # Same outputs on the same weights, before any timing.
    with force("reference"):
        ref_h = layer(x)
        y, cache = layer.forward(x, training=True)
        ref_g = layer.backward((2.0 / y.size) * (y - target), cache)[1]
    checks: dict[str, Any] = {}
    ok = True
    for n, (infer, _, grads) in impls.items():
        good, err = close(infer(), ref_h, 1e-4)
        entry = {"inference_max_abs_err": err, "ok": good}
        if grads is not None:
            errs = [close(a, b, 1e-4) for a, b in zip(grads(), ref_g)]
            entry["grad_max_abs_err"] = max(e for _, e in errs)
            entry["ok"] = good and all(g for g, _ in errs)
        checks[n] = entry
        ok &= entry["ok"]
    result["checks"] = checks
    if not ok:
        result["error"] = "implementations disagree"
        return result

    budget = args.budget
    f_inf, f_train = flops(shape), 3 * flops(shape)
    for mode in ("inference", "training"):
        fns = {n: (v[0] if mode == "inference" else v[1]) for n, v in impls.items()}
        fns = {n: f for n, f in fns.items() if f is not None}
        if mode == "training" and not args.train:
            continue
        samples = interleaved(fns, args.repeats, args.sample_s, budget, args.settle_s)
        work = f_inf if mode == "inference" else f_train
        rows, fastest_peer = summarize(samples, work, peak, set(PEERS))
        sel = auto if mode == "inference" else auto_train
        auto_row = rows.get("unrolled")           # the natural call, automatic kernel
        result[mode] = {"rows": rows, "fastest_peer": fastest_peer,
                        "auto": {"kernel": sel.name, "reason": sel.reason,
                                 "ratio_to_fastest_peer": auto_row and auto_row["ratio_to_fastest_peer"],
                                 "paired_ratio_to_fastest_peer":
                                     auto_row and auto_row["paired_ratio_to_fastest_peer"]}}
    return result


# -- subprocess probes ----------------------------------------------------------------------

_PROBE_FIRST_CALL = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {src!r})
import numpy as np
from unrolled.layers import LSTM
from unrolled.core.kernels import force
layer = LSTM(32); layer.build((None, 50, 8))
x = np.ones((1, 50, 8), np.float32)
out = {{}}
with force({kernel!r}):
    t = time.perf_counter(); layer(x); out["first_ms"] = (time.perf_counter() - t) * 1e3
    t = time.perf_counter(); layer(x); out["second_ms"] = (time.perf_counter() - t) * 1e3
    t = time.perf_counter(); y, c = layer.forward(x, training=True); layer.backward(y, c)
    out["first_train_ms"] = (time.perf_counter() - t) * 1e3
print(json.dumps(out))
"""

_PROBE_PEER_FIRST = r"""
import json, sys, time
sys.path.insert(0, {bench!r}); sys.path.insert(0, {src!r})
import numpy as np
import bench_lstm as b
layer, x, target = b.make_layer((1, 50, 8, 32)); b.make_layer.last_weights = layer.get_weights()
out = {{}}
t = time.perf_counter()
infer = {builder}(layer, x, target{extra})[0]
out["setup_ms"] = (time.perf_counter() - t) * 1e3
t = time.perf_counter(); infer(); out["first_ms"] = (time.perf_counter() - t) * 1e3
t = time.perf_counter(); infer(); out["second_ms"] = (time.perf_counter() - t) * 1e3
print(json.dumps(out))
"""

_PROBE_MEMORY = r"""
import json, sys, os
sys.path.insert(0, {bench!r}); sys.path.insert(0, {src!r})
os.environ["UNROLLED_NUM_THREADS"] = "{threads}"
import numpy as np
import bench_lstm as b
b.limit_threads({threads})
name = {name!r}
layer, x, target = b.make_layer({shape!r}); b.make_layer.last_weights = layer.get_weights()
if name.startswith("unrolled"):
    step = b.unrolled_impl(name[9:-1], layer, x, target)[1]
else:
    import torch; torch.set_num_threads({threads})
    step = b.torch_impl(layer, x, target)[1]
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
rss_setup = status("VmRSS")
step()                                   # warm: optimizer state, caches, allocator pools
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")                         # reset the peak-RSS mark (VmHWM)
base = status("VmRSS")
step()
out = {{"peak_rss_delta_mb": (status("VmHWM") - base) / 2**20,
        # memory kept between steps (buffer pools, optimizer state), so that a pool
        # cannot hide its size behind a small per-step rise
        "rss_held_after_steps_mb": (status("VmRSS") - rss_setup) / 2**20}}
if name.startswith("unrolled"):
    import tracemalloc
    tracemalloc.start(); step(); out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
print(json.dumps(out))
"""


def run_probe(code: str, env: dict[str, str] | None = None, timeout: float = 600) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def first_call_latency(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k in args.kernels:
        if k == "numba" and lstm_numba.missing_reason():
            continue
        code = _PROBE_FIRST_CALL.format(src=str(SRC), kernel=k)
        if k == "numba":
            with tempfile.TemporaryDirectory() as cache_dir:
                env = {"NUMBA_CACHE_DIR": cache_dir}
                out["unrolled[numba] cold (empty cache, JIT compile)"] = run_probe(code, env)
                out["unrolled[numba] second process (disk cache)"] = run_probe(code, env)
            out["unrolled[numba] default cache location"] = run_probe(code)
        else:
            out[f"unrolled[{k}]"] = run_probe(code)
    for peer, builder, extra in (("torch", "b.torch_impl", ""),
                                 ("onnxruntime", "b.onnxruntime_impl", f", {args.threads}"),
                                 ("keras", "b.keras_impl", "")):
        if peer in args.peers:
            out[peer] = run_probe(_PROBE_PEER_FIRST.format(bench=str(HERE), src=str(SRC),
                                                            builder=builder, extra=extra))
    return out


def peak_memory(args: argparse.Namespace, shape: tuple[int, int, int, int]) -> dict[str, Any]:
    names = [f"unrolled[{k}]" for k in args.kernels
             if k != "reference" and not (k == "numba" and lstm_numba.missing_reason())]
    if "torch" in args.peers:
        names.append("torch")
    return {"shape": list(shape), "method": "peak RSS increase during one steady-state training "
            "step (fresh process per implementation, VmHWM reset via /proc/self/clear_refs after "
            "a warm-up step); unrolled also by tracemalloc",
            "results": {n: run_probe(_PROBE_MEMORY.format(bench=str(HERE), src=str(SRC), name=n,
                                                          shape=shape, threads=args.threads))
                        for n in names}}


def import_time(repeats: int) -> dict[str, Any]:
    """Wall time of ``python -c 'import unrolled'`` beside ``import numpy`` and ``pass``,
    interleaved, in two bytecode modes: as this environment runs Python (which may set
    PYTHONDONTWRITEBYTECODE, so every module compiles from source each time) and with
    cached bytecode, as after a regular ``pip install`` (a temporary PYTHONPYCACHEPREFIX,
    filled by one untimed run)."""
    import tempfile  # noqa: PLC0415

    base_env = {**os.environ, "PYTHONPATH": str(SRC)}
    pyc = tempfile.mkdtemp(prefix="unrolled-pyc-")
    cached_env = {k: v for k, v in base_env.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached_env["PYTHONPYCACHEPREFIX"] = pyc
    codes = {"import unrolled": "import unrolled", "import numpy": "import numpy", "pass": "pass"}
    modes = {"as run here": base_env, "with bytecode": cached_env}
    for code in codes.values():                              # fill the bytecode cache
        subprocess.run([sys.executable, "-c", code], check=True, env=cached_env)
    times: dict[tuple[str, str], list[float]] = {(m, c): [] for m in modes for c in codes}
    rng = np.random.default_rng()
    for _ in range(repeats):
        for m, c in rng.permutation(list(times)).tolist():
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", codes[c]], check=True, env=modes[m])
            times[(m, c)].append(time.perf_counter() - t0)
    check = ("import sys, unrolled; bad = [m for m in ('numba', 'torch', 'onnxruntime', "
             "'keras', 'scipy', 'h5py') if m in sys.modules]; assert not bad, bad")
    heavy_ok = subprocess.run([sys.executable, "-c", check], env=base_env,
                              capture_output=True, text=True)
    out: dict[str, Any] = {"PYTHONDONTWRITEBYTECODE here": os.environ.get(
        "PYTHONDONTWRITEBYTECODE", "")}
    for (m, c), ts in times.items():
        out[f"{c} ({m}) median s"] = round(float(np.median(ts)), 4)
        out[f"{c} ({m}) min s"] = round(float(np.min(ts)), 4)
    out["no numba/torch/scipy/h5py imported"] = heavy_ok.returncode == 0
    return out


# -- report --------------------------------------------------------------------------------

def print_shape(res: dict[str, Any]) -> None:
    s = res["shape"]
    print(f"\n== {res['name']} (B={s['B']}, T={s['T']}, F={s['F']}, H={s['H']})  "
          f"auto kernel: {res['auto_kernel']['name']} — {res['auto_kernel']['reason']}")
    for n, why in res.get("skipped", {}).items():
        print(f"   skipped {n}: {why}")
    if "error" in res:
        print("   ERROR:", res["error"], json.dumps(res["checks"], indent=1))
        return
    for mode in ("inference", "training"):
        if mode not in res:
            continue
        print_rows(mode, res[mode]["rows"], res[mode]["fastest_peer"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", action="append", default=None, metavar="B,T,F,H",
                   help="a shape to run (repeatable), or a name: " + ", ".join(SHAPES))
    p.add_argument("--json", type=Path, help="write all results to this JSON file")
    p.add_argument("--quick", action="store_true",
                   help="3 repeats, short samples, skip Keras and the subprocess probes")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--repeats", type=int, default=None, help="timed rounds per mode (default 21)")
    p.add_argument("--budget", type=float, default=None, help="seconds per shape and mode (default 40)")
    p.add_argument("--kernels", default="numba,numpy,reference", help="unrolled kernels to time")
    p.add_argument("--peers", default=",".join(PEERS), help="peers to time (comma-separated)")
    p.add_argument("--no-train", dest="train", action="store_false", help="skip training steps")
    p.add_argument("--no-probes", dest="probes", action="store_false",
                   help="skip first-call latency, peak memory and import-time subprocesses")
    p.add_argument("--max-reference-work", type=float, default=1e9,
                   help="skip the reference kernel above this B·T·H² (it is slow)")
    p.add_argument("--settle", type=float, default=None,
                   help=f"seconds of pause before each sample (default {SETTLE_S}, --quick 0): "
                        "0 times calls back to back")
    args = p.parse_args(argv)
    args.kernels = [k for k in args.kernels.split(",") if k]
    args.peers = [k for k in args.peers.split(",") if k]
    if args.quick:
        args.peers = [k for k in args.peers if k != "keras"]
        args.probes = False
    args.repeats = args.repeats or (3 if args.quick else 21)
    args.budget = args.budget or (5.0 if args.quick else 40.0)
    args.sample_s = 0.002 if args.quick else 0.02
    args.settle_s = args.settle if args.settle is not None else (0.0 if args.quick else SETTLE_S)
    shapes: dict[str, tuple[int, int, int, int]] = {}
    for text in args.shape or list(SHAPES):
        if text in SHAPES:
            shapes[text] = SHAPES[text]
        else:
            dims = tuple(int(v) for v in text.split(","))
            if len(dims) != 4 or min(dims) <= 0:
                p.error(f"--shape expects B,T,F,H (four positive integers), got {text!r}")
            shapes[text] = dims  # type: ignore[assignment]

    if "numba" in args.kernels and not lstm_numba.missing_reason():
        lstm_numba.impl()  # load numba + SciPy's BLAS first, so the thread limit reaches it
    limiter = limit_threads(args.threads)
    if "torch" in args.peers or "keras" in args.peers:
        try:
            import torch
            torch.set_num_threads(args.threads)
        except ImportError:
            pass
    peak = gemm_peak(5 if args.quick else 15)
    report: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "numpy": np.__version__,
                    "cpu": platform.processor() or platform.machine(), "threads": args.threads,
                    "blas": blas_info(), "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
                    "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")},
        "adam": make_adam()[1],
        "gemm_peak_gflops_start": peak,
        "shapes": {},
    }
    for mod in ("torch", "onnxruntime", "keras", "numba"):
        try:
            report["machine"][mod] = __import__(mod).__version__ if mod != "keras" or "keras" in args.peers else None
        except ImportError:
            report["machine"][mod] = None
    blas = ", ".join(f"{b.get('internal_api')} {b.get('version')} kernel {b.get('architecture')}"
                     for b in report["machine"]["blas"]) or "unknown"
    print(f"GEMM peak (float32 2048² matmul, {args.threads} threads): {peak:.1f} GFLOP/s; BLAS: {blas}")
    failed = False
    for name, shape in shapes.items():
        # "% peak" divides by the best 2048² matmul seen so far, measured again before each
        # shape: a slow spell during the first measurement (145.6 against 188 GFLOP/s
        # once, which put large inference at "106 %") must not inflate every row after it.
        peak = max(peak, gemm_peak(3 if args.quick else 7))
        res = bench_shape(name, shape, args, peak)
        res["gemm_peak_gflops"] = peak
        report["shapes"][name] = res
        print_shape(res)
        failed |= "error" in res
    peak_end = gemm_peak(5 if args.quick else 15)
    report["gemm_peak_gflops_end"] = peak_end
    print(f"\nGEMM peak at the end: {peak_end:.1f} GFLOP/s")
    if args.probes:
        largest = max(shapes.values(), key=lambda s: flops(s))
        report["first_call"] = first_call_latency(args)
        report["peak_memory"] = peak_memory(args, largest)
        report["import_time"] = import_time(9)
        print("\nfirst call (fresh process, 1×50×8→32):")
        for n, r in report["first_call"].items():
            print(f"   {n}: {r}")
        print(f"peak memory, training step at {largest}: {report['peak_memory']['method']}")
        for n, r in report["peak_memory"]["results"].items():
            print(f"   {n}: {r}")
        print("import time:", report["import_time"])
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
        print(f"\nwrote {args.json}")
    if limiter is not None:
        limiter.restore_original_limits()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
