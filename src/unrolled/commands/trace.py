"""``unrolled trace``: run a recurrent layer and show every gate at every timestep."""
from __future__ import annotations

import argparse
import importlib.util
import textwrap
from typing import Any

import numpy as np

from ..errors import ConfigError, DataError
from .explain import add_layer_arguments, check_reset_after, fill_layer_defaults

# A trace needs a few timesteps and features to show anything; explain's 1 and 1 would not.
TRACE_TIMESTEPS = 6
MAX_RANDOM_INPUT = 1 << 20  # values of the random input drawn for --model without --input
MAX_INPUT_BYTES = 1 << 30   # --input X.npy larger than this is refused before it is read
TRACE_DEFAULTS: dict[str, object] = {"layer": "lstm", "units": 1, "timesteps": TRACE_TIMESTEPS,
                                     "features": 2}

DESCRIPTION = textwrap.dedent("""\
    Run an LSTM, GRU or SimpleRNN on an input and print, for one sample and one unit, a
    table with one row per timestep and one column per gate and state (the numbers the
    cell computes, from its reference step), then how much each feature contributed to
    each gate's pre-activation at one step: every feature enters every gate through
    its own weight in that gate's kernel column.

    Without --model: a fresh layer with Keras's default initialisation (seeded) on a
    random standard-normal input of shape (1, T, F). With --model: that file's first
    recurrent layer (or --layer-name), fed what the model computes at its input (any
    graph: Sequential or Functional), on DATA, on --input X.npy, or on a random input of
    the model's input shape.

    A forecaster from `unrolled train` reads DATA as the CSV it was trained on (or one
    like it): its columns, scaling and window come from the model file, the features
    are named by their columns, and --window picks the window (default the last).
    Without DATA it uses the validation window stored in the file when there is one.
    For other models, --feature-names names the inputs (default x[0], x[1], ...).""")

EPILOG = textwrap.dedent("""\
    examples:
      unrolled trace --units 2 --timesteps 6 --features 3            # random LSTM and input
      unrolled trace --layer gru --units 4 --features 2 --unit 3 --seed 7
      unrolled trace --features 3 --timesteps 20 --plot gates.png --plot-weights weights.png
      unrolled trace --model model.keras --input x.npy --sample 5 --unit 0 --step 10
      unrolled trace --model weather.keras weather.csv               # the last window, by column
      unrolled trace --model weather.keras weather.csv --window 100 --plot gates.png
      unrolled trace --model model.keras --input x.npy --feature-names price,volume
      unrolled trace --model model.keras --pre                       # random input, with pre-activations""")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected names separated by commas, got {text!r}")
    return names


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("trace", help="print every gate of a recurrent layer at every timestep",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    add_layer_arguments(p, TRACE_DEFAULTS, fill=False)
    p.add_argument("--seed", type=_int, default=0, help="seed of the random weights and input (default 0)")
    p.add_argument("--model", metavar="FILE", help="trace this saved model instead of a random "
                                                   "layer (.keras, .h5, .onnx, .safetensors, .pt)")
    p.add_argument("data", metavar="DATA", nargs="?",
                   help="with --model: for a forecaster the CSV it reads (columns by name, "
                        "scaled and windowed with the statistics in the model); else a .npy input")
    p.add_argument("--input", metavar="X.npy",
                   help="input array (batch, timesteps, features), or (timesteps, features) "
                        "for one sample; read with allow_pickle=False (needs --model)")
    p.add_argument("--layer-name", metavar="NAME", help="with --model: the recurrent layer to "
                                                        "trace (default the first)")
    p.add_argument("--sample", "--window", dest="sample", type=_int, default=None,
                   help="sample (window) of the input to show, from 0; -1 is the last "
                        "(default: the last window of DATA, else 0)")
    p.add_argument("--feature-names", metavar="A,B,...", type=_names,
                   help="names of the input features, in order (default: a forecaster's "
                        "columns, else x[0], x[1], ...)")
    p.add_argument("--unit", type=_int, default=None,
                   help="unit to show (default 0; --plot draws all units unless --unit is given)")
    p.add_argument("--step", type=_int, default=-1,
                   help="timestep whose feature contributions are shown (default -1, the last)")
    p.add_argument("--pre", action="store_true", help="also show the pre-activations in the table")
    p.add_argument("--plot", metavar="PNG", help="write the gates over time to this image (all units "
                                                 "unless --unit is given; needs matplotlib)")
    p.add_argument("--plot-weights", metavar="PNG", help="write heatmaps of each gate's kernel and recurrent_kernel")


def _load_input(path: str) -> tuple[np.ndarray, bool]:
    """The array in ``path`` and whether a batch axis was added to a 2-D one."""
    import zipfile

    try:
        if zipfile.is_zipfile(path):                       # an .npz archive: sizes first
            with zipfile.ZipFile(path) as zf:
                declared = sum(info.file_size for info in zf.infolist())
            if declared > MAX_INPUT_BYTES:
                raise DataError(f"{path!r} declares {declared:,} bytes of arrays; refused "
                                f"(limit {MAX_INPUT_BYTES:,}).")
        # mmap: the header's shape is checked against the file's size before anything is read
        try:
            data: Any = np.load(path, allow_pickle=False, mmap_mode="r")
        except ValueError as err:
            if "Python objects" not in str(err):
                raise
            data = np.load(path, allow_pickle=False)  # says why: allow_pickle=False
        if not isinstance(data, np.ndarray):
            with data:
                if len(data.files) != 1:
                    raise DataError(f"{path!r} holds {len(data.files)} arrays "
                                    f"({', '.join(data.files)}); save the input alone with "
                                    "np.save('x.npy', x).")
                data = data[data.files[0]]
        if data.nbytes > MAX_INPUT_BYTES:
            raise DataError(f"{path!r} holds an array of shape {data.shape} ({data.nbytes:,} "
                            f"bytes); a trace reads at most {MAX_INPUT_BYTES:,}.")
        data = np.array(data)                              # off the file, into memory
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"cannot read {path!r} as a NumPy .npy file: {err}") from err
    if data.ndim == 2:                                     # one sample (timesteps, features)
        return data[None], True
    return data, False


def _target(args: argparse.Namespace) -> tuple[Any, Any, str, list[str] | None, bool]:
    """What to trace, its input (batch, timesteps, features), a sentence saying where the
    input came from, the feature names (None: generic) and whether the input is DATA's
    windows (then the default window is the last)."""
    rng = np.random.default_rng(args.seed)
    if args.model is None:
        if args.input is not None or args.layer_name is not None or args.data is not None:
            raise ConfigError("DATA, --input and --layer-name need --model MODEL.keras.")
        fill_layer_defaults(args, TRACE_DEFAULTS)
        check_reset_after(args)
        from ..layers import GRU, LSTM, SimpleRNN

        kinds = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}
        extra = {"reset_after": args.reset_after} if args.reset_after is not None else {}
        layer = kinds[args.layer](args.units, seed=args.seed, name=args.layer, **extra)
        x = rng.standard_normal((1, args.timesteps, args.features)).astype(np.float32)
        layer.build((None, args.timesteps, args.features))
        return layer, x, f"a random input of shape {x.shape} (seed {args.seed})", args.feature_names, False
    given = [f"--{k.replace('_', '-')}" for k in ("layer", "units", "features", "reset_after")
             if getattr(args, k) is not None]
    if given:
        raise ConfigError(f"{', '.join(given)}: only for the random layer (without --model); "
                          "a saved model brings its own layers.")
    if args.data is not None and args.input is not None:
        raise ConfigError(f"give the input once: DATA ({args.data}) or --input ({args.input}), not both.")
    from ._subject import forecaster_or_none, load_subject

    if forecaster_or_none(args.model) is not None:
        if args.feature_names is not None:
            raise ConfigError("--feature-names: a forecaster names its inputs by the columns "
                              "it was trained on.")
        if args.timesteps is not None:
            raise ConfigError("--timesteps: a forecaster reads windows of its own length.")
        subject = load_subject(args.model, args.data or args.input, seed=args.seed, score=False)
        from_data = (args.data or args.input) is not None or subject.stored_window
        return subject.model, subject.x, subject.note, subject.feature_names, from_data
    from ._model_arg import open_model_file

    model = open_model_file(args.model)
    path = args.data if args.data is not None else args.input
    if path is not None:
        if path.lower().endswith((".csv", ".tsv", ".txt")):
            raise ConfigError(f"{args.model} is not a forecaster (it has no column names or "
                              "scaling), so it cannot read a CSV: give the input as a .npy "
                              "array of shape (batch, timesteps, features).")
        from ._subject import load_inputs, several_inputs

        if several_inputs(model):
            xs = load_inputs(path, model)
            note = f"{path}: " + ", ".join(f"{k} {v.shape}" for k, v in xs.items())
            return model, xs, note, args.feature_names, args.data is not None
        x, added = _load_input(path)
        note = f"{path}, shape {x.shape}" + (" (batch axis added)" if added else "")
        return model, x, note, args.feature_names, args.data is not None
    shape = model.input_batch_shape
    if isinstance(shape, list):
        names = [t.name for t in model.inputs]
        raise ConfigError(f"{args.model} has {len(names)} inputs ({', '.join(names)}): give "
                          "them as DATA, one .npz with an array per input name, e.g. "
                          f"np.savez('x.npz', {', '.join(f'{n}=...' for n in names)}).")
    if shape is None or len(shape) != 3:
        raise ConfigError(f"{args.model} has no known (timesteps, features) input shape; "
                          "pass --input X.npy.")
    if shape[1] is not None and args.timesteps not in (None, shape[1]):
        raise ConfigError(f"--timesteps {args.timesteps}: {args.model} expects {shape[1]} timesteps.")
    steps = shape[1] or args.timesteps or TRACE_TIMESTEPS
    if steps * shape[2] > MAX_RANDOM_INPUT:
        raise ConfigError(f"{args.model} declares inputs of {steps} timesteps x {shape[2]} "
                          f"features; a random input that large (over {MAX_RANDOM_INPUT:,} "
                          "values) is not drawn: pass --input X.npy with the sample to trace.")
    x = rng.standard_normal((1, steps, shape[2])).astype(getattr(model, "dtype", np.float32))
    return model, x, f"a random input of shape {x.shape} (seed {args.seed})", args.feature_names, False


def _one_window(x: Any, sample: int, source: str) -> tuple[Any, str]:
    """Only window ``sample`` of x (the trace of one window is what is printed)."""
    n = len(x)
    if not -n <= sample < n:
        raise ConfigError(f"--window/--sample must be in [0, {n}) for {n} window(s), got {sample}.")
    k = sample % n
    which = " (the last)" if k == n - 1 else ""
    return x[k:k + 1], f"{source}; showing window {k} of {n}{which}"


def run(args: argparse.Namespace) -> int:
    from ..inspect.trace import input_feature_names, recurrent_layer, trace

    if (args.plot or args.plot_weights) and importlib.util.find_spec("matplotlib") is None:
        raise ConfigError("--plot and --plot-weights need matplotlib: pip install 'unrolled[plot]'")
    target, x, source, names, from_data = _target(args)
    layer, before = recurrent_layer(target, args.layer_name)
    sample = args.sample if args.sample is not None else (-1 if from_data else 0)
    if isinstance(x, np.ndarray) and len(x) > 1:
        x, source = _one_window(x, sample, source)
        sample = 0
    if isinstance(x, dict):                      # several inputs: names are the first's
        first = x[target.inputs[0].name]
        if names is not None and len(names) != first.shape[-1]:
            raise ConfigError(f"--feature-names: {len(names)} name(s) for {first.shape[-1]} "
                              f"feature(s) of the first input {target.inputs[0].name!r}.")
    elif names is not None and isinstance(x, np.ndarray) and len(names) != x.shape[-1]:
        raise ConfigError(f"--feature-names: {len(names)} name(s) for {x.shape[-1]} feature(s) "
                          f"of the input {x.shape}.")
    inner = input_feature_names(target, layer, names) if target is not layer else names
    if names is not None and inner is None:
        source += (f"; the names {', '.join(names)} are the model's inputs, but {layer.name!r} "
                   "reads what earlier layers made of them, so its inputs are numbered")
    tr = trace(target, x, sample=sample, which=args.layer_name, feature_names=inner)
    unit = 0 if args.unit is None else args.unit
    tr.locate(None, unit)
    of_model = f" of model {target.name!r}" if target is not layer else ""
    contributions = tr.contributions(t=args.step, unit=unit)     # checks --step before printing
    print(f"Tracing {tr.kind} {layer.name!r}{of_model} (units={tr.units}, features={tr.features}) "
          f"on {source}.")
    if before:
        print(f"  Computed first: {', '.join(f'{b.name} ({type(b).__name__})' for b in before)}; "
              f"x below is what reaches {layer.name!r}.")
    print(f"  Inputs: {', '.join(tr.feature_names)}")
    print(f"  Parameters: {layer.param_formula()}")
    print()
    print(tr.table(unit=unit, pre=args.pre))
    print()
    print(contributions)
    if args.plot:
        from ..inspect.plots import plot_gates

        plot_gates(tr, unit=args.unit, path=args.plot)
        print(f"\nWrote the gates over time to {args.plot}")
    if args.plot_weights:
        from ..inspect.plots import plot_weights

        plot_weights(layer, path=args.plot_weights, recurrent=True, feature_names=inner)
        print(f"{'' if args.plot else chr(10)}Wrote the weight heatmaps to {args.plot_weights}")
    return 0
