"""Variable-length batches: unrolled's masked LSTM beside the peers' own feature for it --
ONNX Runtime's LSTM with ``sequence_lens`` and PyTorch's packed sequences.

    python benchmarks/bench_masked.py --quick                 # demo and medium shapes
    python benchmarks/bench_masked.py --shape 32,100,16,128 --json out.json

Each sample of the batch has its own length (uniform in [T/2, T], right padding, seeded);
unrolled gets the matching mask (``layer(x, mask=mask)``, Keras's semantics: the output is
h after each sample's last step). Rows:

* inference: ``unrolled`` (natural call, automatic kernel: the masked fast path),
  ``unrolled[reference]`` (the scan's masked loop: what every masked call ran before),
  ``onnxruntime`` (``sess.run`` with ``sequence_lens``), ``torch`` (``pack_padded_sequence``
  + ``nn.LSTM`` under ``inference_mode``);
* training step (forward, BPTT, Adam; MSE on the last output): ``unrolled``,
  ``unrolled[reference]``, ``torch`` (packed).

Outputs are checked against unrolled's reference before timing. Timing is the shared
interleaved harness (``harness.interleaved``): one sample of each implementation per
round, fresh random order, a pause before each.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from harness import F32, gemm_peak, interleaved, limit_threads, print_rows, summarize  # noqa: E402

HERE = Path(__file__).resolve().parent
os.environ.setdefault("UNROLLED_COMPILE", "wait")   # time the compiled kernels, not the build
try:
    import unrolled  # noqa: F401
except ImportError:
    sys.path.insert(0, str(HERE.parent / "src"))

from bench_lstm import flops, make_adam, onnx_model_bytes  # noqa: E402
from unrolled.core.kernels import force  # noqa: E402
from unrolled.layers import LSTM  # noqa: E402

SHAPES = {"demo": (32, 14, 4, 32), "medium": (32, 100, 16, 128)}


def problem(shape: tuple[int, int, int, int], seed: int = 0):
    B, T, F, H = shape
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(H + F)
    W = (rng.standard_normal((F, 4 * H)) * scale).astype(F32)
    U = (rng.standard_normal((H, 4 * H)) * scale).astype(F32)
    b = (rng.standard_normal(4 * H) * scale).astype(F32)
    lengths = rng.integers(max(1, T // 2), T + 1, B)
    lengths[0] = T
    x = rng.standard_normal((B, T, F)).astype(F32)
    mask = np.arange(T)[None, :] < lengths[:, None]
    x[~mask] = 0.0
    target = (0.5 * rng.standard_normal((B, H))).astype(F32)
    return (W, U, b), lengths, x, mask, target


def unrolled_impl(weights, x, mask, target, kernel: str | None):
    W, U, b = weights
    layer = LSTM(U.shape[0])
    layer.build((None,) + x.shape[1:])
    layer.set_weights([W, U, b])
    opt, _ = make_adam()

    def infer():
        if kernel is None:
            return layer(x, mask=mask)
        with force(kernel):
            return layer(x, mask=mask)

    def train_step():
        with force(kernel):
            y, cache = layer.forward(x, training=True, mask=mask)
            dy = F32(2.0 / y.size) * (y - target)
            _, g = layer.backward(dy, cache)
        opt.apply(g, layer.trainable_weights)

    return infer, train_step, layer


def onnxruntime_impl(weights, x, lengths, threads: int):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    W, U, b = weights
    model = onnx.load_from_string(onnx_model_bytes(W, U, b, x.shape[1], x.shape[2]))
    g = model.graph
    lstm = next(n for n in g.node if n.op_type == "LSTM")
    while len(lstm.input) < 5:
        lstm.input.append("")
    lstm.input[4] = "lens"                              # sequence_lens (B,) int32
    g.input.append(helper.make_tensor_value_info("lens", TensorProto.INT32, ["B"]))
    onnx.checker.check_model(model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feed = {"x": x, "lens": lengths.astype(np.int32)}
    return lambda: sess.run(["h"], feed)[0]


def torch_impl(weights, x, lengths, target):
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    W, U, b = weights
    F, H = W.shape[0], U.shape[0]
    net = torch.nn.LSTM(F, H, batch_first=True)
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(W.T.copy()))
        net.weight_hh_l0.copy_(torch.from_numpy(U.T.copy()))
        net.bias_ih_l0.copy_(torch.from_numpy(b))
        net.bias_hh_l0.zero_()
    xt, tt = torch.from_numpy(x), torch.from_numpy(target)
    lens = torch.from_numpy(lengths.astype(np.int64))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)

    def infer():
        with torch.inference_mode():
            packed = pack_padded_sequence(xt, lens, batch_first=True, enforce_sorted=False)
            return net(packed)[1][0][0].numpy()

    def train_step():
        opt.zero_grad(set_to_none=True)
        packed = pack_padded_sequence(xt, lens, batch_first=True, enforce_sorted=False)
        h = net(packed)[1][0][0]
        ((h - tt) ** 2).mean().backward()
        opt.step()

    return infer, train_step


def run_shape(name: str, shape, args) -> dict[str, Any]:
    weights, lengths, x, mask, target = problem(shape)
    infer_fns, train_fns, layer = {}, {}, None
    for label, kernel in (("unrolled", None), ("unrolled[reference]", "reference")):
        infer_fns[label], train_fns[label], built = unrolled_impl(weights, x, mask, target, kernel)
        layer = built if kernel is None else layer
    infer_fns["unrolled"]()                 # the natural call's kernel, for the report
    kernel = layer.kernel_choice
    with force("reference"):
        want = layer(x, mask=mask)
    skipped = {}
    try:
        infer_fns["onnxruntime"] = onnxruntime_impl(weights, x, lengths, args.threads)
    except ImportError as err:
        skipped["onnxruntime"] = str(err)
    try:
        infer_fns["torch"], train_fns["torch"] = torch_impl(weights, x, lengths, target)
    except ImportError as err:
        skipped["torch"] = str(err)
    for label, fn in infer_fns.items():
        err = float(np.max(np.abs(np.asarray(fn(), np.float64) - want)))
        if err > 1e-4:
            sys.exit(f"{label} disagrees with unrolled's reference at {name}: max |diff| {err:.3g}")
    print(f"\n{name} {shape} lengths {int(lengths.min())}..{int(lengths.max())}: unrolled runs "
          f"{kernel.name} — {kernel.reason}")
    peak = gemm_peak(5)
    work = flops(shape) * float(mask.mean())
    out: dict[str, Any] = {"shape": shape, "lengths": lengths.tolist(), "kernel": kernel.name,
                           "reason": kernel.reason, "skipped": skipped}
    for mode, fns, peers, w in (("inference", infer_fns, {"onnxruntime", "torch"}, work),
                                ("training step", train_fns, {"torch"}, 3 * work)):
        samples = interleaved(fns, args.repeats, 0.02, args.budget)
        rows, fastest = summarize(samples, w, peak, peers)
        print_rows(mode, rows, fastest)
        out[mode] = {"rows": rows, "fastest_peer": fastest}
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", action="append", help="B,T,F,H or a name: " + ", ".join(SHAPES))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--budget", type=float, default=20.0, help="seconds per mode and shape")
    p.add_argument("--quick", action="store_true", help="3 rounds, 4 s per mode")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args()
    if args.quick:
        args.repeats, args.budget = 3, 4.0
    limit = limit_threads(args.threads)  # noqa: F841 - keep the limit for the run
    shapes = {}
    for s in args.shape or list(SHAPES):
        shapes[s] = SHAPES[s] if s in SHAPES else tuple(int(v) for v in s.split(","))
    results = {name: run_shape(name, shape, args) for name, shape in shapes.items()}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
