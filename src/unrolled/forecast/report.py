"""Plain-text reports: the model's errors beside the baselines, in the data's units."""
from __future__ import annotations

from .baselines import Comparison
from .pipeline import ForecastSpec


def unit_of(spec: ForecastSpec, targets: list[str] | None = None) -> str:
    """The targets' common unit (``"°C"``), or ``""`` if unknown or mixed."""
    units = {spec.units.get(t, "") for t in (targets or spec.targets)}
    return units.pop() if len(units) == 1 else ""


def plural(count: int, word: str) -> str:
    """``plural(1, "row")`` → ``"1 row"``, ``plural(3, "row")`` → ``"3 rows"``."""
    return f"{count} {word}" + ("" if count == 1 else "s")


def steps_text(horizon: int, time_step: str = "step") -> str:
    return f"1 {time_step} ahead" if horizon == 1 else f"1..{horizon} {time_step}s ahead"


def comparison_table(cmp: Comparison, unit: str = "", model_name: str = "LSTM",
                     indent: str = "  ") -> str:
    """MAE and RMSE of the model and both baselines, and the relative improvement."""
    head = f"{'':<16}{'MAE':>9}{'RMSE':>9}" + (f"   ({unit})" if unit else "")
    lines = [head]
    for name, s, note in ((model_name, cmp.model, ""),
                          ("persistence", cmp.persistence, "last observed value repeated"),
                          ("training mean", cmp.training_mean, "mean of the train block")):
        lines.append(f"{name:<16}{s.mae:>9.3f}{s.rmse:>9.3f}" + (f"   {note}" if note else ""))
    lines.append(f"{model_name} vs persistence: {_change(cmp, 'persistence')}")
    lines.append(f"{model_name} vs training mean: {_change(cmp, 'training_mean')}")
    return "\n".join(indent + line for line in lines)


def _change(cmp: Comparison, baseline: str) -> str:
    imp = cmp.improvement(baseline)
    return f"MAE {_pct(imp.mae)}, RMSE {_pct(imp.rmse)}"


def _pct(fraction: float) -> str:
    if fraction != fraction:  # NaN: the baseline was perfect
        return "n/a (baseline error is 0)"
    word = "lower" if fraction >= 0 else "higher"
    return f"{abs(fraction) * 100:.1f} % {word}"


def beats(cmp: Comparison) -> str:
    """One sentence saying whether the model beat persistence on MAE."""
    if cmp.model.mae < cmp.persistence.mae:
        return "The LSTM beats persistence."
    return ("The LSTM does NOT beat persistence here: try a longer --window, more --epochs, "
            "more --units, or more data.")
