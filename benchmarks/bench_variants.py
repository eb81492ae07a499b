"""float64 and ``go_backwards`` LSTMs: unrolled's fast kernels beside the peers' own
feature -- PyTorch's float64 ``nn.LSTM`` and ONNX Runtime's float64 LSTM; ONNX Runtime's
``direction="reverse"`` LSTM and PyTorch on the flipped input.

    python benchmarks/bench_variants.py --quick             # demo and medium shapes
    python benchmarks/bench_variants.py --shape 32,100,16,128 --variant float64

Rows per variant and shape:

* inference: ``unrolled`` (``layer(x)``, automatic kernel), ``onnxruntime``
  (``sess.run``; its CPU LSTM has no float64 kernel, so that row is skipped), ``torch`` (``module(x)`` under ``inference_mode``); the last h;
* training step (forward, BPTT, Adam; MSE on the last h): ``unrolled``, ``torch``.

Outputs are checked against unrolled's reference scan before timing. Timing is the
shared interleaved harness (one sample of each implementation per round, fresh random
order). The machine is shared: compare the ratios of one run, not absolute times.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from harness import gemm_peak, limit_threads, time_modes  # noqa: E402

HERE = Path(__file__).resolve().parent
os.environ.setdefault("UNROLLED_COMPILE", "wait")   # time the compiled kernels, not the build
try:
    import unrolled  # noqa: F401
except ImportError:
    sys.path.insert(0, str(HERE.parent / "src"))

from bench_lstm import flops, make_adam  # noqa: E402
from unrolled.core.gates import LSTM_ORDER, reorder  # noqa: E402
from unrolled.core.kernels import force  # noqa: E402
from unrolled.layers import LSTM  # noqa: E402

SHAPES = {"demo": (32, 14, 4, 32), "medium": (32, 100, 16, 128)}
VARIANTS = {"float64": {"dtype": "float64"}, "go_backwards": {"go_backwards": True}}


def problem(shape, dtype, seed: int = 0):
    B, T, F, H = shape
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(H + F)
    W, U, b = ((rng.standard_normal(s) * scale).astype(dtype) for s in ((F, 4 * H), (H, 4 * H), (4 * H,)))
    x = rng.standard_normal((B, T, F)).astype(dtype)
    target = (0.5 * rng.standard_normal((B, H))).astype(dtype)
    return (W, U, b), x, target


def unrolled_impl(weights, x, target, options):
    W, U, b = weights
    layer = LSTM(U.shape[0], **options)
    layer.build((None,) + x.shape[1:])
    layer.set_weights([W, U, b])
    opt, _ = make_adam()
    two = x.dtype.type(2.0)

    def train_step():
        y, cache = layer.forward(x, training=True)
        _, g = layer.backward(two / y.size * (y - target), cache)
        opt.apply(g, layer.trainable_weights)

    return (lambda: layer(x)), train_step, layer


def onnxruntime_impl(weights, x, backwards: bool, threads: int):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    W, U, b = weights
    H, dt = U.shape[0], x.dtype
    w = reorder(W, LSTM_ORDER["keras"], LSTM_ORDER["onnx"]).T[None]        # (1, 4H, F)
    r = reorder(U, LSTM_ORDER["keras"], LSTM_ORDER["onnx"]).T[None]        # (1, 4H, H)
    bias = np.concatenate([reorder(b, LSTM_ORDER["keras"], LSTM_ORDER["onnx"]),
                           np.zeros(4 * H, dt)])[None]                    # (1, 8H)
    inits = [numpy_helper.from_array(np.ascontiguousarray(a, dt), n)
             for a, n in ((w, "W"), (r, "R"), (bias, "B"))]
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axes"))
    kind = TensorProto.DOUBLE if dt == np.float64 else TensorProto.FLOAT
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]),
             helper.make_node("LSTM", ["xt", "W", "R", "B"], ["", "Y_h"], hidden_size=H,
                              direction="reverse" if backwards else "forward"),
             helper.make_node("Squeeze", ["Y_h", "axes"], ["h"])]
    T, F = x.shape[1], x.shape[2]
    graph = helper.make_graph(nodes, "lstm", [helper.make_tensor_value_info("x", kind, ["B", T, F])],
                              [helper.make_tensor_value_info("h", kind, ["B", H])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feed = {"x": x}
    return lambda: sess.run(["h"], feed)[0]


def torch_impl(weights, x, target, backwards: bool):
    import torch

    W, U, b = weights
    F, H = W.shape[0], U.shape[0]
    tdt = torch.float64 if x.dtype == np.float64 else torch.float32
    net = torch.nn.LSTM(F, H, batch_first=True).to(tdt)
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(W.T.copy()))
        net.weight_hh_l0.copy_(torch.from_numpy(U.T.copy()))
        net.bias_ih_l0.copy_(torch.from_numpy(b))
        net.bias_hh_l0.zero_()
    xt, tt = torch.from_numpy(x), torch.from_numpy(target)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)

    def run():
        return net(torch.flip(xt, dims=[1]) if backwards else xt)[1][0][0]

    def infer():
        with torch.inference_mode():
            return run().numpy()

    def train_step():
        opt.zero_grad(set_to_none=True)
        ((run() - tt) ** 2).mean().backward()
        opt.step()

    return infer, train_step


def run_one(variant: str, name: str, shape, args) -> dict[str, Any]:
    options = VARIANTS[variant]
    dtype = np.dtype(options.get("dtype", "float32"))
    backwards = bool(options.get("go_backwards"))
    weights, x, target = problem(shape, dtype)
    infer_fns, train_fns = {}, {}
    infer_fns["unrolled"], train_fns["unrolled"], layer = unrolled_impl(weights, x, target, options)
    infer_fns["unrolled"]()
    kernel = layer.kernel_choice
    with force("reference"):
        want = layer(x)
    skipped = {}
    try:
        fn = onnxruntime_impl(weights, x, backwards, args.threads)
        fn()                       # ORT's CPU LSTM has no float64 kernel: it raises here
        infer_fns["onnxruntime"] = fn
    except Exception as err:  # noqa: BLE001 - a peer without the feature: say so, go on
        skipped["onnxruntime"] = f"{type(err).__name__}: {err}"[:200]
    try:
        infer_fns["torch"], train_fns["torch"] = torch_impl(weights, x, target, backwards)
    except ImportError as err:
        skipped["torch"] = str(err)
    tol = 1e-9 if dtype == np.float64 else 1e-4
    for label, fn in infer_fns.items():
        out = np.asarray(fn())
        err = float(np.max(np.abs(out.astype(np.float64) - want)))
        if err > tol or (label == "unrolled" and out.dtype != dtype):
            sys.exit(f"{label} disagrees with unrolled's reference ({variant}, {name}): "
                     f"max |diff| {err:.3g}, dtype {out.dtype}")
    print(f"\n{variant} {name} {shape}: unrolled runs {kernel.name} — {kernel.reason}"
          + "".join(f"\n   (skipped {k}: {v})" for k, v in skipped.items()))
    peak = gemm_peak(3)
    out: dict[str, Any] = {"variant": variant, "shape": shape, "kernel": kernel.name,
                           "reason": kernel.reason, "skipped": skipped}
    out.update(time_modes([("inference", infer_fns, {"onnxruntime", "torch"}, flops(shape)),
                           ("training step", train_fns, {"torch"}, 3 * flops(shape))], args, peak))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", action="append", help="B,T,F,H or a name: " + ", ".join(SHAPES))
    p.add_argument("--variant", action="append", choices=list(VARIANTS))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--budget", type=float, default=20.0, help="seconds per mode and shape")
    p.add_argument("--quick", action="store_true", help="3 rounds, 4 s per mode")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    if args.quick:
        args.repeats, args.budget = 3, 4.0
    limit = limit_threads(args.threads)  # noqa: F841 - keep the limit for the run
    shapes = {s: SHAPES[s] if s in SHAPES else tuple(int(v) for v in s.split(","))
              for s in args.shape or list(SHAPES)}
    results = [run_one(v, name, shape, args) for v in args.variant or list(VARIANTS)
               for name, shape in shapes.items()]
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
