"""``unrolled summary FILE``: the summary table and parameter formulas of a saved model in
any format unrolled reads."""
from __future__ import annotations

import argparse

from ._model_arg import FORMATS, describe_source, open_model_file


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "summary", help="print the summary of a saved model (.keras, .h5, .onnx, .safetensors, .pt)",
        description=f"Read a model ({FORMATS}) and print Keras's summary table, where every "
                    "parameter count comes from, and which kernel each recurrent layer runs.",
        epilog="examples:\n  unrolled summary model.keras\n  unrolled summary lstm.onnx\n"
               "  unrolled summary weights.safetensors",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", metavar="FILE", help="the model file")
    p.add_argument("--no-explain", action="store_true", help="the table only, without the formulas")


def run(args: argparse.Namespace) -> int:
    model = open_model_file(args.file)
    print("\n".join(describe_source(model, args.file)))
    print()
    model.summary(explain=not args.no_explain)
    return 0
