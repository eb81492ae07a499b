"""The main job on built-in data: tomorrow's maximum temperature in Seattle.

Every timestep of every sample carries four measured features (precipitation, temp_max,
temp_min, wind): ``x`` is ``(samples, 14 days, 4 features)``, ``y`` is ``(samples, 1 day,
1 target)``. The demo runs what ``unrolled train`` does by default: the target transform
and season chosen on the validation part, an LSTM beside a linear path (ridge on the
window), conformal 90 % intervals, and every baseline on the same test targets.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable

from .baselines import Comparison
from .fit import FitConfig, assess, fit_forecaster
from .model_file import save_forecaster
from .pipeline import ForecastData, build_model, prepare
from .plot import PLOT_HINT, have_matplotlib, plot_assessment
from .report import beats, comparison_table, coverage_text, model_name, plural

TARGET = "temp_max"
WINDOW = 14
UNITS = 32
EPOCHS = 100
LR = 1e-3
PATIENCE = 10
BATCH_SIZE = 32
SEED = 0
OUTPUT_DIR = "unrolled-output"
MODEL_FILE = "seattle_temp_max.keras"
PLOT_FILE = "seattle_temp_max_test.png"


@dataclass(frozen=True)
class DemoResult:
    """What the demo measured and wrote."""

    comparison: Comparison       # on the test block, °C
    data: ForecastData
    epochs_run: int
    seconds: float
    model_path: str
    plot_path: str | None        # None without matplotlib


def run_demo(epochs: int = EPOCHS, output_dir: str = OUTPUT_DIR, quiet: bool = False,
             seed: int = SEED, print_fn: Callable[[str], Any] = print) -> DemoResult:
    """Load, window, build, train, compare with baselines, save model and plot."""
    from ..datasets import dataset_path, load_seattle_weather
    from ..random import set_random_seed

    start = time.perf_counter()
    say = (lambda text="": None) if quiet else print_fn
    set_random_seed(seed)
    table = load_seattle_weather()
    data = prepare(table, targets=[TARGET], window=WINDOW)
    say(f"unrolled demo: forecast tomorrow's {TARGET} in Seattle from the last {WINDOW} days "
        f"of {len(data.spec.features)} measurements\n")
    say(_describe_data(table, data))

    say(f"Target transform: {data.choices['transform']}")
    say(f"Season: {data.choices['season']}")
    model = build_model(data.spec, units=UNITS, linear=data.ridge)
    say("\nThe model (every timestep feeds all 4 features into every gate of every unit; "
        "beside the LSTM, a linear path reads the flattened 14 x 4 window):")
    say(model.summary(return_string=True))
    say(f"The linear path starts at the ridge regression fitted on the train windows (alpha "
        f"{data.ridge.alpha:.3g}) and the LSTM's output at 0; both then train together.")
    say(f"\nTraining: Adam(lr={LR}), MSE on standardised values, batch {BATCH_SIZE}, up to "
        f"{epochs} epochs; early stopping keeps the epoch with the lowest val_loss "
        f"(patience {PATIENCE}).")
    fit = fit_forecaster(data, FitConfig(units=UNITS, epochs=epochs, batch_size=BATCH_SIZE,
                                         lr=LR, patience=PATIENCE), seed=seed,
                         verbose=0 if quiet else 1)
    for note in fit.notes:
        say(f"Note: {note}")
    epochs_run = fit.epochs
    a = assess(fit.forecaster, data.test)
    cmp = a.comparison
    assert data.time is not None  # the bundled data has a date column
    test_time = data.time[data.test.target_rows[:, 0]]
    name = model_name(data.spec)
    print_fn(f"\nHeld-out test part: {len(a.pred)} forecasts for {test_time[0]} .. "
             f"{test_time[-1]} (never seen in training or early stopping), in °C:")
    print_fn(comparison_table(cmp, unit="°C", model_name=name))
    if a.coverage is not None:
        print_fn(coverage_text(a.coverage, "°C"))
    print_fn(beats(cmp, name))

    os.makedirs(output_dir, exist_ok=True)
    model_path = save_forecaster(fit.forecaster, os.path.join(output_dir, MODEL_FILE))
    plot_path = None
    if have_matplotlib():
        plot_path = plot_assessment(os.path.join(output_dir, PLOT_FILE), a, data.test,
                                    data.time, data.spec,
                                    title="Seattle daily max temperature, test part")
    seconds = time.perf_counter() - start
    print_fn(f"\nWrote the trained model: {model_path}")
    print_fn(f"  a Keras 3 file with the scaler and column names inside; forecast the day "
             f"after the data with:\n  unrolled predict {model_path} "
             f"{dataset_path('seattle_weather')}")
    if plot_path:
        print_fn(f"Wrote forecast vs truth on the test part: {plot_path}")
    else:
        print_fn(f"No plot: matplotlib is not installed ({PLOT_HINT}).")
    print_fn(f"Done in {seconds:.0f} s ({epochs_run} epochs).")
    return DemoResult(cmp, data, epochs_run, seconds, model_path, plot_path)


def _describe_data(table: Any, data: ForecastData) -> str:
    t, mean, std = data.time, data.scaler_x.mean, data.scaler_x.scale
    assert t is not None and mean is not None and std is not None
    n = len(t)
    blocks = [(name, b) for name, b in zip(("train", "validation", "test"), data.blocks)]
    lines = [f"Data: {table.source}, daily weather at Seattle, {t[0]} .. {t[-1]} ({n} days); "
             "NOAA public domain, via the vega_datasets package.",
             *("  " + line for line in data.selection.summary().splitlines()),
             "Chronological split, made before windowing (no window crosses a boundary):",
             *(f"  {name:<10} {t[b.start]} .. {t[b.stop - 1]}  ({b.stop - b.start} days, "
               f"{len(w.x)} windows)" for (name, b), w in zip(blocks, (data.train, data.val,
                                                                      data.test))),
             f"Each sample: x ({plural(data.spec.window, 'day')}, "
             f"{plural(len(data.spec.features), 'feature')}) → y "
             f"({plural(data.spec.horizon, 'day')}, {plural(len(data.spec.targets), 'target')}).",
             "Standardised with the train block's mean and standard deviation only:",
             *(f"  {c:<14} mean {m:7.2f}  std {s:6.2f}  {data.spec.units.get(c, '')}"
               for c, m, s in zip(data.spec.features, mean, std))]
    return "\n".join(lines)
