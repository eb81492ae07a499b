"""``unrolled convert IN OUT``: one model file to another format, checked after writing."""
from __future__ import annotations

import argparse
import os
import textwrap
from typing import Any

import numpy as np

from ..errors import ConfigError, ModelFileError
from ._model_arg import describe_source

TOLERANCE = 1e-5

EPILOG = textwrap.dedent("""\
    formats (by extension): .keras, .h5 (legacy Keras), .onnx, .safetensors (+ a .json sidecar
    with the architecture; read alone it is taken as a PyTorch state dict), .pt (read only)

    examples:
      unrolled convert model.keras model.onnx
      unrolled convert lstm.onnx lstm.keras
      unrolled convert torch_lstm.pt model.keras --nonlinearity relu
      unrolled convert model.keras weights.safetensors     # torch.nn names when torch can run it""")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "convert", help="convert a model between .keras, .h5, .onnx and .safetensors",
        description="Read IN, write OUT in the format its extension names, then read OUT back "
                    "and check it predicts what IN did on a random input.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", metavar="IN")
    p.add_argument("output", metavar="OUT")
    p.add_argument("--nonlinearity", choices=["tanh", "relu"],
                   help="PyTorch RNN weights without metadata: the module's nonlinearity")
    p.add_argument("--output-name", metavar="NAME",
                   help="ONNX input with several outputs: the graph output to import")
    p.add_argument("--timesteps", type=int, default=7,
                   help="timesteps of the check input when the model accepts any (default 7)")


def _hints(args: argparse.Namespace) -> dict[str, Any]:
    ext = os.path.splitext(args.input)[1].lower()
    if args.nonlinearity and ext not in (".pt", ".pth", ".safetensors"):
        raise ConfigError("--nonlinearity applies to PyTorch weights (.pt, .safetensors) only.")
    if args.output_name and ext != ".onnx":
        raise ConfigError("--output-name applies to .onnx input only.")
    if args.nonlinearity:
        return {"nonlinearity": args.nonlinearity}
    if args.output_name:
        return {"outputs": [args.output_name]}
    return {}


def check_input(model: Any, timesteps: int, seed: int = 0) -> np.ndarray:
    """A seeded random batch of the model's input shape (batch 3)."""
    shape = list(model.input_batch_shape)
    shape[0] = 3
    if len(shape) == 3 and shape[1] is None:
        shape[1] = timesteps
    if any(d is None for d in shape):
        raise ConfigError(f"The model's input shape {tuple(model.input_batch_shape)} has unknown "
                          "sizes; cannot make a check input.")
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _onnxruntime_predict(path: str, x: np.ndarray) -> np.ndarray | None:
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def run(args: argparse.Namespace) -> int:
    from ..models.files import READ, WRITE, open_model, write_model

    src_ext, dst_ext = (os.path.splitext(p)[1].lower() for p in (args.input, args.output))
    if src_ext not in READ:
        raise ConfigError(f"IN {args.input!r}: unrolled reads {', '.join(READ)}.")
    if dst_ext not in WRITE:
        raise ConfigError(f"OUT {args.output!r}: unrolled writes {', '.join(WRITE)}.")
    if not os.path.isfile(args.input):
        raise ConfigError(f"IN {args.input}: no such file.")
    if os.path.abspath(args.input) == os.path.abspath(args.output):
        raise ConfigError("IN and OUT are the same file.")
    model = open_model(args.input, **_hints(args))
    print("\n".join(describe_source(model, args.input)))
    written = write_model(model, args.output)
    print(f"Wrote {', '.join(written)}.")
    x = check_input(model, args.timesteps)
    before = model.predict(x, verbose=0)
    after = open_model(args.output).predict(x, verbose=0)
    checks = [("unrolled reading it back", after)]
    if dst_ext == ".onnx" and (ort := _onnxruntime_predict(args.output, x)) is not None:
        checks.append(("ONNX Runtime", ort))
    ref = before if isinstance(before, list) else [before]
    for who, y in checks:
        got = y if isinstance(y, list) else [y]
        if len(got) != len(ref):
            raise ModelFileError(f"{args.output}: {who} returns {len(got)} outputs, {args.input} "
                                 f"returned {len(ref)}.")
        diff, size = 0.0, 0
        for a, b in zip(got, ref):
            a, b = np.asarray(a), np.asarray(b)
            if a.shape != b.shape:
                raise ModelFileError(f"{args.output}: {who} returns shape {a.shape}, {args.input} "
                                     f"returned {b.shape}.")
            diff = max(diff, float(np.max(np.abs(a - b))) if a.size else 0.0)
            size += a.size
        if not diff <= TOLERANCE:
            raise ModelFileError(f"{args.output} was written but does NOT predict what {args.input} "
                                 f"does: {who} differs by up to {diff:.3g} (tolerance {TOLERANCE}).")
        print(f"Checked: {args.output} ({who}) predicts what {args.input} did on a random input "
              f"{x.shape}: max |difference| {diff:.2g} over {size} values.")
    return 0
