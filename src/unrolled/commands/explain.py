"""``unrolled explain``: show how a recurrent layer's parameters and shapes arise."""
from __future__ import annotations

import argparse
import textwrap

from ..errors import ConfigError
from ._args import positive_int

LAYER_CHOICES = ("lstm", "gru", "simple_rnn")

EPILOG = textwrap.dedent("""\
    examples:
      unrolled explain --units 1 --timesteps 1 --features 2                  # LSTM: 16 parameters
      unrolled explain --layer gru --units 1 --timesteps 1 --features 2      # GRU: 15 (reset_after)
      unrolled explain --layer gru --no-reset-after --features 2             # GRU: 12
      unrolled explain --layer simple_rnn --units 1 --features 2             # SimpleRNN: 4
      unrolled explain --units 8 --timesteps 20 --features 5                 # shapes of every term
      unrolled explain --bidirectional --units 2 --features 3                # Bidirectional(LSTM): 2×""")


def layer_kind(text: str) -> str:
    """``lstm``, ``gru`` or ``simple_rnn``; also accepts ``LSTM``, ``SimpleRNN``, ``simple-rnn``."""
    kind = text.strip().lower().replace("-", "_")
    return "simple_rnn" if kind in ("simplernn", "rnn") else kind


DEFAULTS = {"layer": "lstm", "units": 1, "timesteps": 1, "features": 1}


def add_layer_arguments(p: argparse.ArgumentParser, defaults: dict[str, object] = DEFAULTS,
                        fill: bool = True) -> None:
    """--layer, --units, --timesteps, --features, --reset-after (shared with ``trace``).
    ``fill=False`` leaves them None when not given, so a command can tell whether they
    were; :func:`fill_layer_defaults` then sets ``defaults``."""
    def d(key: str) -> object:
        return defaults[key] if fill else None

    p.add_argument("--layer", default=d("layer"), type=layer_kind, choices=LAYER_CHOICES,
                   help=f"layer kind (default {defaults['layer']})")
    p.add_argument("--units", type=positive_int, default=d("units"),
                   help=f"units U of the layer (default {defaults['units']})")
    p.add_argument("--timesteps", type=positive_int, default=d("timesteps"),
                   help=f"timesteps T per sample (default {defaults['timesteps']})")
    p.add_argument("--features", type=positive_int, default=d("features"),
                   help=f"features F per timestep (default {defaults['features']})")
    p.add_argument("--reset-after", action=argparse.BooleanOptionalAction, default=None,
                   help="GRU only: Keras's default reset_after=True (separate input and "
                        "recurrent biases, bias shape (2, 3U)) or --no-reset-after")


def fill_layer_defaults(args: argparse.Namespace, defaults: dict[str, object] = DEFAULTS) -> None:
    """Set every layer argument that was not given to its default."""
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "explain",
        help="explain a layer's parameters, weight shapes and equations",
        description=textwrap.fill(
            "Print the summary, parameter breakdown, per-gate weight shapes and equations of "
            "Sequential([LAYER(U, input_shape=(T, F))]) for an LSTM, GRU or SimpleRNN, and "
            "what having F features per timestep means.", 80),
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_layer_arguments(p)
    p.add_argument("--bidirectional", action="store_true",
                   help="explain Bidirectional(LAYER): two directions, 2x the parameters")
    p.add_argument("--merge-mode", default="concat", choices=("concat", "sum", "mul", "ave", "none"),
                   help="with --bidirectional: how the two directions are merged (default concat)")
    from ._model_arg import add_model_argument

    add_model_argument(p, "explain the recurrent layers of this saved model instead")
    p.add_argument("--feature-names", metavar="A,B,...", type=_names,
                   help="with --model: names of the input features, in order (a forecaster "
                        "from `unrolled train` names them by its columns)")


def _names(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected names separated by commas, got {text!r}")
    return names


def check_reset_after(args: argparse.Namespace) -> None:
    if args.reset_after is not None and args.layer != "gru":
        raise ConfigError(f"--reset-after/--no-reset-after applies to --layer gru only, "
                          f"not --layer {args.layer}.")


def run(args: argparse.Namespace) -> int:
    from ..inspect.explain import explain

    if getattr(args, "model", None):
        return _run_model(args)
    if getattr(args, "feature_names", None) is not None:
        raise ConfigError("--feature-names needs --model FILE (the layer explained without it "
                          "has generic features).")
    check_reset_after(args)
    merge_mode = getattr(args, "merge_mode", "concat")
    print(explain(args.layer, args.units, args.timesteps, args.features, args.reset_after,
                  bidirectional=getattr(args, "bidirectional", False),
                  merge_mode=None if merge_mode == "none" else merge_mode))
    return 0


_KINDS = {"LSTM": "lstm", "GRU": "gru", "SimpleRNN": "simple_rnn"}


def _run_model(args: argparse.Namespace) -> int:
    """``--model FILE``: the model's summary, then each recurrent layer explained with its
    own units, features and the model's timesteps."""
    from ..inspect.explain import explain
    from ._model_arg import describe_source, open_model_file

    changed = [f"--{k.replace('_', '-')}" for k, v in DEFAULTS.items() if getattr(args, k) != v]
    changed += ["--bidirectional"] if getattr(args, "bidirectional", False) else []
    if changed or args.reset_after is not None:
        raise ConfigError(f"{', '.join(changed) or '--reset-after'}: only without --model; a saved "
                          "model brings its own layers.")
    from ..inspect.trace import input_feature_names
    from ._subject import forecaster_or_none

    names = getattr(args, "feature_names", None)
    fc = forecaster_or_none(args.model)
    if fc is not None and names is not None:
        raise ConfigError("--feature-names: a forecaster names its inputs by the columns it "
                          "was trained on.")
    model = fc.model if fc is not None else open_model_file(args.model)
    names = list(fc.spec.inputs) if fc is not None else names
    shape = model.input_batch_shape
    if names is not None and isinstance(shape, tuple) and shape[-1] != len(names):
        raise ConfigError(f"--feature-names: {len(names)} name(s) for the model's "
                          f"{shape[-1]} input feature(s).")
    print("\n".join(describe_source(model, args.model)))
    if names is not None:
        print(f"  Input features ({len(names)}), in order: {', '.join(names)}")
    print()
    model.summary()
    steps = (model.input_batch_shape or (None, None))[1]
    for layer in model.layers:
        wrapped = hasattr(layer, "backward_layer")           # Bidirectional
        cell = layer.forward_layer if wrapped else layer
        kind = _KINDS.get(type(cell).__name__)
        if kind is None or not cell.built:
            continue
        how = f", Bidirectional merge_mode={layer.merge_mode}" if wrapped else ""
        print(f"\n── {layer.name} ({type(cell).__name__}, units={cell.units}, features="
              f"{cell.features}{', go_backwards' if cell.go_backwards else ''}{how}) ──")
        reach = input_feature_names(model, layer, names) if names is not None else None
        if reach is not None:
            print("x_t below is the vector of these features at step t, in this order: "
                  + ", ".join(f"x_t[{k}] = {n}" for k, n in enumerate(reach)))
        extra = {"bidirectional": True, "merge_mode": layer.merge_mode} if wrapped else {}
        print(explain(kind, cell.units, steps or 1, cell.features,
                      getattr(cell, "reset_after", None), **extra))
    return 0
