"""Variable-length batches: unrolled's masked LSTM (GRU, SimpleRNN with ``--cell``) beside
the peers' own feature for it -- ONNX Runtime's LSTM/GRU/RNN with ``sequence_lens`` and
PyTorch's packed sequences.

    python benchmarks/bench_masked.py --quick                 # demo and medium shapes
    python benchmarks/bench_masked.py --shape 32,100,16,128 --json out.json
    python benchmarks/bench_masked.py --quick --cell gru --cell simple_rnn

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

from harness import F32, gemm_peak, limit_threads, time_modes  # noqa: E402

HERE = Path(__file__).resolve().parent
os.environ.setdefault("UNROLLED_COMPILE", "wait")   # time the compiled kernels, not the build
try:
    import unrolled  # noqa: F401
except ImportError:
    sys.path.insert(0, str(HERE.parent / "src"))

from bench_lstm import flops, make_adam, onnx_model_bytes  # noqa: E402
from unrolled.core.gates import GRU_ORDER, reorder  # noqa: E402
from unrolled.core.kernels import force  # noqa: E402
from unrolled.layers import GRU, LSTM, SimpleRNN  # noqa: E402

CELLS = {"lstm": (LSTM, 4), "gru": (GRU, 3), "simple_rnn": (SimpleRNN, 1)}

SHAPES = {"demo": (32, 14, 4, 32), "medium": (32, 100, 16, 128)}


def problem(shape: tuple[int, int, int, int], seed: int = 0, cell: str = "lstm"):
    B, T, F, H = shape
    G = CELLS[cell][1] * H
    rng = np.random.default_rng(seed)
    scale = 1.0 / np.sqrt(H + F)
    W = (rng.standard_normal((F, G)) * scale).astype(F32)
    U = (rng.standard_normal((H, G)) * scale).astype(F32)
    # GRU (reset_after): input and recurrent bias (2, 3H); the others one bias.
    b = (rng.standard_normal((2, G) if cell == "gru" else G) * scale).astype(F32)
    lengths = rng.integers(max(1, T // 2), T + 1, B)
    lengths[0] = T
    x = rng.standard_normal((B, T, F)).astype(F32)
    mask = np.arange(T)[None, :] < lengths[:, None]
    x[~mask] = 0.0
    target = (0.5 * rng.standard_normal((B, H))).astype(F32)
    return (W, U, b), lengths, x, mask, target


def unrolled_impl(weights, x, mask, target, kernel: str | None, cell: str = "lstm"):
    W, U, b = weights
    layer = CELLS[cell][0](U.shape[0])
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


def _onnx_cell_bytes(cell: str, W, U, b, T: int, F: int) -> bytes:
    """An ONNX graph with one GRU (reset_after: linear_before_reset=1) or RNN node, output
    Y_h (1, B, H) squeezed, as ``bench_lstm.onnx_model_bytes`` for the LSTM."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    H = U.shape[0]
    if cell == "gru":   # Keras z, r, h = ONNX z, r, h; B = [Wb, Rb]
        w, r = W.T[None], U.T[None]
        bias = np.concatenate([b[0], b[1]])[None]
        node = helper.make_node("GRU", ["xt", "W", "R", "B", "lens"], ["", "Y_h"],
                                hidden_size=H, linear_before_reset=1)
    else:
        w, r = W.T[None], U.T[None]
        bias = np.concatenate([b, np.zeros(H, F32)])[None]
        node = helper.make_node("RNN", ["xt", "W", "R", "B", "lens"], ["", "Y_h"],
                                hidden_size=H)
    inits = [numpy_helper.from_array(np.ascontiguousarray(a, F32), n)
             for a, n in ((w, "W"), (r, "R"), (bias, "B"))]
    inits.append(numpy_helper.from_array(np.array([0], np.int64), "axes"))
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2]), node,
             helper.make_node("Squeeze", ["Y_h", "axes"], ["h"])]
    graph = helper.make_graph(
        nodes, cell, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", T, F]),
                      helper.make_tensor_value_info("lens", TensorProto.INT32, ["B"])],
        [helper.make_tensor_value_info("h", TensorProto.FLOAT, ["B", H])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def onnxruntime_impl(weights, x, lengths, threads: int, cell: str = "lstm"):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper

    W, U, b = weights
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    feed = {"x": x, "lens": lengths.astype(np.int32)}
    if cell != "lstm":
        sess = ort.InferenceSession(_onnx_cell_bytes(cell, W, U, b, x.shape[1], x.shape[2]), so,
                                    providers=["CPUExecutionProvider"])
        return lambda: sess.run(["h"], feed)[0]
    model = onnx.load_from_string(onnx_model_bytes(W, U, b, x.shape[1], x.shape[2]))
    g = model.graph
    lstm = next(n for n in g.node if n.op_type == "LSTM")
    while len(lstm.input) < 5:
        lstm.input.append("")
    lstm.input[4] = "lens"                              # sequence_lens (B,) int32
    g.input.append(helper.make_tensor_value_info("lens", TensorProto.INT32, ["B"]))
    onnx.checker.check_model(model)
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    return lambda: sess.run(["h"], feed)[0]


def torch_impl(weights, x, lengths, target, cell: str = "lstm"):
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence

    W, U, b = weights
    F, H = W.shape[0], U.shape[0]
    if cell == "gru":   # Keras z, r, h -> torch r, z, n; reset_after is torch's GRU
        net = torch.nn.GRU(F, H, batch_first=True)
        W, U = (reorder(a, GRU_ORDER["keras"], GRU_ORDER["torch"]) for a in (W, U))
        b_in, b_rec = (reorder(a, GRU_ORDER["keras"], GRU_ORDER["torch"]) for a in b)
    else:
        net = (torch.nn.LSTM if cell == "lstm" else torch.nn.RNN)(F, H, batch_first=True)
        b_in, b_rec = b, np.zeros_like(b)
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(W.T.copy()))
        net.weight_hh_l0.copy_(torch.from_numpy(U.T.copy()))
        net.bias_ih_l0.copy_(torch.from_numpy(np.ascontiguousarray(b_in)))
        net.bias_hh_l0.copy_(torch.from_numpy(np.ascontiguousarray(b_rec)))
    xt, tt = torch.from_numpy(x), torch.from_numpy(target)
    lens = torch.from_numpy(lengths.astype(np.int64))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)

    def infer():
        with torch.inference_mode():
            packed = pack_padded_sequence(xt, lens, batch_first=True, enforce_sorted=False)
            return _last_h(net(packed)[1])[0].numpy()

    def train_step():
        opt.zero_grad(set_to_none=True)
        packed = pack_padded_sequence(xt, lens, batch_first=True, enforce_sorted=False)
        h = _last_h(net(packed)[1])[0]
        ((h - tt) ** 2).mean().backward()
        opt.step()

    return infer, train_step


def _last_h(state):
    """nn.LSTM returns (h, c); nn.GRU and nn.RNN return h."""
    return state[0] if isinstance(state, tuple) else state


def run_shape(name: str, shape, args, cell: str = "lstm") -> dict[str, Any]:
    weights, lengths, x, mask, target = problem(shape, cell=cell)
    infer_fns, train_fns, layer = {}, {}, None
    for label, kernel in (("unrolled", None), ("unrolled[reference]", "reference")):
        infer_fns[label], train_fns[label], built = unrolled_impl(weights, x, mask, target,
                                                                  kernel, cell)
        layer = built if kernel is None else layer
    infer_fns["unrolled"]()                 # the natural call's kernel, for the report
    kernel = layer.kernel_choice
    with force("reference"):
        want = layer(x, mask=mask)
    skipped = {}
    try:
        infer_fns["onnxruntime"] = onnxruntime_impl(weights, x, lengths, args.threads, cell)
    except ImportError as err:
        skipped["onnxruntime"] = str(err)
    try:
        infer_fns["torch"], train_fns["torch"] = torch_impl(weights, x, lengths, target, cell)
    except ImportError as err:
        skipped["torch"] = str(err)
    for label, fn in infer_fns.items():
        err = float(np.max(np.abs(np.asarray(fn(), np.float64) - want)))
        if err > 1e-4:
            sys.exit(f"{label} disagrees with unrolled's reference at {name}: max |diff| {err:.3g}")
    print(f"\n{cell} {name} {shape} lengths {int(lengths.min())}..{int(lengths.max())}: unrolled runs "
          f"{kernel.name} — {kernel.reason}")
    peak = gemm_peak(5)
    work = flops(shape) * float(mask.mean()) * CELLS[cell][1] / 4
    out: dict[str, Any] = {"cell": cell, "shape": shape, "lengths": lengths.tolist(), "kernel": kernel.name,
                           "reason": kernel.reason, "skipped": skipped}
    out.update(time_modes([("inference", infer_fns, {"onnxruntime", "torch"}, work),
                           ("training step", train_fns, {"torch"}, 3 * work)], args, peak))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--shape", action="append", help="B,T,F,H or a name: " + ", ".join(SHAPES))
    p.add_argument("--cell", action="append", choices=list(CELLS), help="default: lstm")
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
    results = {f"{cell} {name}": run_shape(name, shape, args, cell)
               for cell in args.cell or ["lstm"] for name, shape in shapes.items()}
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
