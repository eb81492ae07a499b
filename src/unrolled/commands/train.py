"""``unrolled train``: fit an LSTM forecaster to a CSV and save it as one ``.keras`` file."""
from __future__ import annotations

import argparse
import re
import textwrap

from ..errors import DataError
from ..forecast.pipeline import PATIENCE, TEST_FRACTION, VAL_FRACTION
from ._args import add_reading_options, cell_format, column_list, positive_float, positive_int

DESCRIPTION = textwrap.dedent(f"""\
    Train an LSTM to forecast one or more columns of a CSV from the last N rows of
    several columns.

    The rows are split in time order: the first {100 - 100 * (VAL_FRACTION + TEST_FRACTION):.0f} % train the model, the next
    {100 * VAL_FRACTION:.0f} % (validation) decide when to stop (early stopping, patience {PATIENCE} epochs, the
    best epoch's weights are kept), the last {100 * TEST_FRACTION:.0f} % (test) are only used for the final
    report: MAE and RMSE in the data's units beside two baselines (persistence: the
    last observed value repeated; training mean). Each column is standardised with the
    mean and standard deviation of the training rows only.

    The model file holds the network, the scaler statistics and the column names, so
    `unrolled predict MODEL.keras NEW.csv` needs nothing else; real Keras 3 loads it too
    (keras.saving.load_model).""")

EPILOG = textwrap.dedent("""\
    examples:
      unrolled train weather.csv --target temp_max --window 14 -o weather.keras
      unrolled train weather.csv --target temp_max --target temp_min --horizon 3 \\
          --features temp_max,temp_min,wind --time-column date --window 30 \\
          --units 32 --layers 2 --epochs 50 --fill interpolate -o weather.keras""")


def cli_spelling(message: str) -> str:
    """Say the data module's Python hints (``fill='ffill'``) as this command's options."""
    message = re.sub(r"fill='(\w+)'", r"--fill \1", message)
    return re.sub(r", or change val_fraction=\S+ / test_fraction=\S+\.",
                  f" (train keeps {100 * VAL_FRACTION:.0f} % of the rows for validation and "
                  f"{100 * TEST_FRACTION:.0f} % for the test).", message)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "train", help="train an LSTM forecaster on your CSV and save it (.keras)",
        description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", metavar="DATA.csv",
                   help="CSV file with a header row, one row per time step, oldest first "
                        "(e.g. weather.csv)")
    p.add_argument("--target", action="append", required=True, metavar="COL",
                   help="column to forecast; repeat for several (e.g. --target temp_max "
                        "--target temp_min)")
    p.add_argument("--features", type=column_list, metavar="COLS",
                   help="comma-separated input columns (e.g. --features temp_max,wind). "
                        "Default: every numeric column, targets included; text labels, "
                        "dates, row counters and constant columns are left out (train "
                        "prints which and why)")
    p.add_argument("--time-column", metavar="COL",
                   help="column holding the time of each row; its values must increase "
                        "with no repeats (e.g. --time-column date). Default: the first "
                        "column whose every cell is a YYYY-MM-DD date, if any")
    p.add_argument("--window", type=positive_int, required=True, metavar="N",
                   help="rows the model reads per forecast (e.g. --window 14: two weeks of "
                        "daily rows)")
    p.add_argument("--horizon", type=positive_int, default=1, metavar="H",
                   help="rows ahead forecast from each window (default 1: the next row; "
                        "e.g. --horizon 3 for the next three)")
    p.add_argument("--units", type=positive_int, default=32, metavar="U",
                   help="LSTM units per layer (default 32; e.g. --units 16 trains faster)")
    p.add_argument("--layers", type=positive_int, default=1, metavar="K",
                   help="stacked LSTM layers (default 1; e.g. --layers 2)")
    p.add_argument("--epochs", type=positive_int, default=100, metavar="E",
                   help="most passes over the training rows; early stopping usually ends "
                        "sooner (default 100; e.g. --epochs 20)")
    p.add_argument("--batch-size", type=positive_int, default=32, metavar="B",
                   help="windows per gradient step (default 32; e.g. --batch-size 64)")
    p.add_argument("--lr", type=positive_float, default=1e-3, metavar="X",
                   help="Adam learning rate (default 0.001; e.g. --lr 0.003)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="random seed for initial weights and shuffling; the same seed gives "
                        "the same model (default 0; e.g. --seed 42)")
    p.add_argument("--fill", choices=["ffill", "interpolate", "drop"],
                   help="what to do with empty cells (default: stop with an error saying "
                        "where they are): ffill repeats the last value, interpolate draws "
                        "a straight line between neighbours, drop removes those rows "
                        "(e.g. --fill interpolate); predict applies the same")
    add_reading_options(p)
    p.add_argument("-o", "--output", required=True, metavar="MODEL",
                   help="model file to write, ending in .keras (e.g. -o weather.keras); "
                        "written only when training succeeded")


def run(args: argparse.Namespace) -> int:
    from ..forecast import Forecaster, build_model, predict, prepare, save_forecaster, train
    from ..forecast.apply import per_target, score_windows
    from ..forecast.model_file import check_output_path
    from ..forecast.report import beats, comparison_table, plural, steps_text, unit_of
    from ..random import set_random_seed

    from ..data.table import AUTO, read_csv

    check_output_path(args.output)  # before minutes of training, not after
    set_random_seed(args.seed)
    delimiter, fmt = cell_format(args)
    try:
        table = read_csv(args.data, time_column=args.time_column or AUTO, delimiter=delimiter,
                         fmt=fmt)
        data = prepare(table, targets=args.target, features=args.features,
                       window=args.window, horizon=args.horizon, time_column=args.time_column,
                       fill=args.fill)
    except DataError as err:
        raise DataError(cli_spelling(str(err))) from None
    spec = data.spec
    print(f"Read {data.selection.source}: {sum(b.stop - b.start for b in data.blocks)} rows.")
    print(data.selection.summary())
    for name, block, w in zip(("train", "validation", "test"), data.blocks,
                              (data.train, data.val, data.test)):
        print(f"  {name:<10} rows {data.label(block.start)} .. {data.label(block.stop - 1)}"
              f" ({block.stop - block.start} rows, {len(w.x)} windows)")
    print(f"Each sample: x ({plural(spec.window, 'row')}, "
          f"{plural(len(spec.features), 'feature')}) -> y ({plural(spec.horizon, 'row')}, "
          f"{plural(len(spec.targets), 'target')})\n")

    model = build_model(spec, units=args.units, layers=args.layers)
    print(model.summary(return_string=True))
    history = train(model, data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                    verbose="auto")
    epochs_run = len(history.history.get("loss", []))

    pred = data.scaler_y.inverse_transform(predict(model, data.test.x, spec))
    cmp = score_windows(pred, data.test, data.train_mean)
    print(f"\nTest part ({len(pred)} windows, {steps_text(spec.horizon)}, never used in "
          "training):")
    print(comparison_table(cmp, unit=unit_of(spec)))
    if len(spec.targets) > 1:
        for name, c in per_target(pred, data.test, data.train_mean, spec.targets).items():
            print(f"\n  {name}:")
            print(comparison_table(c, unit=unit_of(spec, [name]), indent="    "))
    print(beats(cmp))
    path = save_forecaster(Forecaster.from_data(model, data, epochs=epochs_run, seed=args.seed,
                                                units=args.units, layers=args.layers),
                           args.output)
    print(f"\nWrote {path} ({epochs_run} epochs). Next: unrolled predict {path} "
          f"{args.data}")
    return 0

