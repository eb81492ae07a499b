"""The ``unrolled`` command: one subcommand per module in :mod:`unrolled.commands`."""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from .errors import DataWarning, UnrolledError

# Subcommand modules, in the order ``unrolled --help`` lists them.
COMMANDS = ["demo", "train", "predict", "evaluate", "backtest", "tune", "explain", "trace", "inspect",
            "info", "summary", "convert"]
# A command whose module has another name (``inspect`` would read like the standard library's).
MODULES = {"inspect": "report"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="unrolled",
        description="Recurrent neural networks you can see through (LSTM, Keras-compatible).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f".commands.{MODULES.get(name, name)}", __package__)
        except ModuleNotFoundError as err:
            if err.name != f"{__package__}.commands.{MODULES.get(name, name)}":
                raise
            continue  # a command whose module has not landed yet
        module.add_parser(sub)
    return parser


def _data_warnings(args: argparse.Namespace) -> None:
    """DataWarnings print as ``unrolled CMD: warning: ...``; ``--strict`` makes them errors."""
    if getattr(args, "strict", False):
        warnings.simplefilter("error", DataWarning)
        return
    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, DataWarning):
            print(f"unrolled {args.command}: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)
    warnings.showwarning = show  # restored by catch_warnings
    warnings.simplefilter("always", DataWarning)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(f".commands.{MODULES.get(args.command, args.command)}", __package__)
    try:
        with warnings.catch_warnings():
            _data_warnings(args)
            return int(module.run(args) or 0)
    except UnrolledError as err:
        print(f"unrolled {args.command}: error: {err}", file=sys.stderr)
        return 2
    except DataWarning as err:  # --strict
        print(f"unrolled {args.command}: error: {err} (--strict)", file=sys.stderr)
        return 2
    except BrokenPipeError:  # e.g. `unrolled explain | head`: the reader left, not an error
        sys.stderr.close()
        return 0
    except OSError as err:  # a path that is missing, a directory, not readable or writable
        where = f": {err.filename}" if err.filename else ""
        print(f"unrolled {args.command}: error: {err.strerror or err}{where}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"unrolled {args.command}: error: out of memory; the input is too large for "
              "this machine", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
