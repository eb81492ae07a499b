"""``unrolled info``: versions, optional extras, and which LSTM kernel would run (and why)."""
from __future__ import annotations

import argparse
import importlib.util
import platform

from ._args import positive_int


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "info",
        help="show versions, optional extras and which LSTM kernel runs for a shape",
        description="Print unrolled's version, the optional packages it can use, the BLAS "
                    "NumPy runs, and which LSTM kernel (reference, numpy, numba) a layer of "
                    "the given shape would use, with the reason a faster one would not.",
        epilog="example: unrolled info --batch 32 --timesteps 100 --features 16 --units 128",
    )
    p.add_argument("--batch", type=positive_int, default=32, help="batch size (default 32)")
    p.add_argument("--timesteps", type=positive_int, default=100, help="timesteps (default 100)")
    p.add_argument("--features", type=positive_int, default=16, help="features (default 16)")
    p.add_argument("--units", type=positive_int, default=128, help="LSTM units (default 128)")
    p.add_argument("--activation", default="tanh", help="LSTM activation (default tanh)")
    p.add_argument("--recurrent-activation", default="sigmoid",
                   help="LSTM recurrent_activation (default sigmoid)")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--model", metavar="FILE",
                   help="report the kernels of this saved model's layers instead (.keras, .h5, "
                        ".onnx, .safetensors, .pt)")
    p.add_argument("--load", action="store_true",
                   help="also load (or compile) the numba kernels now and report how long "
                        "that took")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from .. import __version__
    from ..core.kernels import dispatch, lstm_numba
    from ..layers import LSTM

    print(f"unrolled {__version__}  (Python {platform.python_version()}, NumPy {np.__version__})")
    extras = {"numba": "fast", "scipy": "fast", "torch": "torch", "onnxruntime": "onnx",
              "keras": "keras", "matplotlib": "plot", "threadpoolctl": None}
    for module, extra in extras.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):   # refused by an import hook: not usable
            found = False
        hint = "" if found or extra is None else f"  (pip install 'unrolled[{extra}]')"
        print(f"  {module:<13} {'installed' if found else 'not installed'}{hint}")
    print("\nKernels:")
    for line in dispatch.environment_report():
        print(f"  {line}")
    if args.load and lstm_numba.missing_reason() is None:
        for compiled in dispatch.compiled_modules():
            compiled.load()
            print(f"  {compiled.label} loaded in {compiled.seconds:.2f} s "
                  "(compiled on first use, then from the disk cache)")
    if args.model:
        from ._model_arg import describe_source, open_model_file

        model = open_model_file(args.model)
        print()
        print("\n".join(describe_source(model, args.model)))
        print(f"Kernels of its layers (batch {args.batch}):")
        for line in model.kernel_report():
            print(f"  {line}")
        return 0
    layer = LSTM(args.units, activation=args.activation,
                 recurrent_activation=args.recurrent_activation, dtype=args.dtype)
    layer.build((None, args.timesteps, args.features))
    print(f"\nLSTM({args.units}) on (batch {args.batch}, timesteps {args.timesteps}, "
          f"features {args.features}), {args.dtype}:")
    for training in (False, True):
        try:
            sel = dispatch.select_lstm_kernel(layer, args.batch, args.timesteps, training)
            text = f"{sel.name} — {sel.reason}"
        except ImportError as err:
            text = f"reference — {err}"
        print(f"  {'training ' if training else 'inference'}: {text}")
    return 0
