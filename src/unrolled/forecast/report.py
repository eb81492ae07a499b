"""Plain-text reports: the model's errors beside the baselines, in the data's units."""
from __future__ import annotations

from .baselines import Comparison
from .intervals import Coverage
from .pipeline import ForecastSpec

NOTES = {"persistence": "last observed value repeated",
         "seasonal naive": "value one season earlier",
         "training mean": "mean of the train block",
         "ridge": "ridge regression on the same window",
         "AutoETS": "exponential smoothing, statsforecast",
         "AutoARIMA": "ARIMA, statsforecast"}


def unit_of(spec: ForecastSpec, targets: list[str] | None = None) -> str:
    """The targets' common unit (``"°C"``), or ``""`` if unknown or mixed."""
    units = {spec.units.get(t, "") for t in (targets or spec.targets)}
    return units.pop() if len(units) == 1 else ""


def plural(count: int, word: str) -> str:
    """``plural(1, "row")`` → ``"1 row"``, ``plural(3, "row")`` → ``"3 rows"``."""
    return f"{count} {word}" + ("" if count == 1 else "s")


def steps_text(horizon: int, time_step: str = "step") -> str:
    return f"1 {time_step} ahead" if horizon == 1 else f"1..{horizon} {time_step}s ahead"


def model_name(spec: ForecastSpec) -> str:
    return "LSTM+linear" if spec.linear else "LSTM"


def comparison_table(cmp: Comparison, unit: str = "", model_name: str = "LSTM",
                     indent: str = "  ") -> str:
    """MAE and RMSE of the model and every baseline, and the margin over each baseline
    (MAE difference with its 95 % interval)."""
    head = f"{'':<16}{'MAE':>9}{'RMSE':>9}" + (f"   ({unit})" if unit else "")
    lines = [head, f"{model_name:<16}{cmp.model.mae:>9.3f}{cmp.model.rmse:>9.3f}"]
    for name, s in cmp.baselines.items():
        change = ""
        if name in cmp.margins:
            change = "   " + margin_text(cmp, name)
        lines.append(f"{name:<16}{s.mae:>9.3f}{s.rmse:>9.3f}{change}")
    return "\n".join(indent + line for line in lines)


def margin_text(cmp: Comparison, name: str) -> str:
    """``model MAE 3.1 % lower (95 %: -5.8 .. -0.4 %)`` relative to baseline ``name``;
    the interval is the model's MAE change in percent of the baseline's (negative: lower)."""
    rel, lo, hi = cmp.margins[name].relative
    if rel != rel:
        return "n/a (baseline error is 0)"
    word = "lower" if rel <= 0 else "higher"
    return (f"model MAE {abs(rel) * 100:.1f} % {word} "
            f"(95 %: {lo * 100:+.1f} .. {hi * 100:+.1f} %)")


def steps_table(cmp: Comparison, indent: str = "  ") -> str:
    """MAE at each step ahead for the model and every baseline (only useful for H > 1)."""
    h = len(cmp.steps["model"])
    head = f"{'MAE by step':<16}" + "".join(f"{k + 1:>8}" for k in range(h))
    lines = [head] + [f"{name:<16}" + "".join(f"{v:>8.3f}" for v in vals)
                      for name, vals in cmp.steps.items()]
    return "\n".join(indent + line for line in lines)


def coverage_text(cov: Coverage, unit: str = "") -> str:
    return (f"{cov.level * 100:.0f} % intervals: the truth fell inside {cov.coverage * 100:.1f} "
            f"% of the time ({cov.samples} forecasts), mean width {cov.width:.3g}"
            + (f" {unit}" if unit else ""))


def beats(cmp: Comparison, model_name: str = "LSTM") -> str:
    """The verdict against the best baseline, honest about noise.

    "beats" only when the 95 % interval of the MAE difference lies wholly below zero;
    "worse" when it lies wholly above; a tie otherwise.
    """
    best = cmp.best_baseline
    if best not in cmp.margins:
        better = cmp.model.mae < cmp.baselines[best].mae
        return (f"The {model_name} {'beats' if better else 'does NOT beat'} the best baseline "
                f"({best}) on {cmp.samples} window(s) (too few to judge the noise).")
    m = cmp.margins[best]
    what = f"the best baseline, {best} ({NOTES.get(best, best)})"
    if m.verdict == "better":
        return f"The {model_name} beats {what}: {margin_text(cmp, best)}."
    if m.verdict == "worse":
        return (f"The {model_name} does NOT beat {what}: {margin_text(cmp, best)}. Try a "
                "longer --window, more --epochs, --target-transform diff, or more data.")
    return (f"The {model_name} ties with {what} within noise: {margin_text(cmp, best)}; "
            "the 95 % interval includes no difference.")
