"""One self-contained HTML report that sees through a trained model on its own data.

``report(model, x, ...)`` returns the HTML text; ``write_report(path, ...)`` writes it
atomically. The page opens offline: every image is an embedded PNG, styles are inline,
there is no script and no link to anything outside the file. It holds, in order:

1. the summary with the parameter formula of every layer, and each recurrent layer's
   weight shapes per gate;
2. the unit diagram of the chosen units (every input into every gate, from the weights);
3. gate and state traces over the window (heatmaps units × timesteps, lines for the
   chosen units) under the input features on the same time axis;
4. what drove the output: integrated-gradient attributions per feature and timestep,
   ranked, as a table and a heatmap, with the completeness check;
5. per-unit statistics: half-life (memory length), gate saturation, dead units, the
   features that weigh most into each gate;
6. for a forecaster, when given: the forecast beside the truth on the test part and the
   baselines, and the training curves if the file holds them.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import ConfigError
from .attributions import Attributions, attributions, class_attributions, output_activation
from .diagram import unit_diagram
from .trace import Trace, input_feature_names, recurrent_layer, trace
from .units import UnitStatistics, unit_statistics

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
pre{background:#f6f6f6;padding:.8em;overflow-x:auto;font-size:12px;line-height:1.3}
table{border-collapse:collapse;font-size:13px;margin:.6em 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right}th{background:#f0f0f0}td.l,th.l{text-align:left}img{max-width:100%;height:auto}
.note{color:#555;font-size:.92em}.ok{color:#17713a}.bad{color:#b3261e}
"""


@dataclass
class ForecastContext:
    """What a forecaster adds to the report (all optional)."""

    evaluation: Any = None                 # forecast.Evaluation on the data
    history: dict[str, list[float]] | None = None
    target_names: list[str] = field(default_factory=list)
    # The network's outputs are standardised: output = (value - mean) / scale per output
    # element. With these the attributions are shown in the data's units.
    output_scale: np.ndarray | None = None
    output_mean: np.ndarray | None = None
    output_names: list[str] = field(default_factory=list)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return ("<img alt='figure' src='data:image/png;base64,"
            + base64.b64encode(buf.getvalue()).decode("ascii") + "'>")


def _esc(text: Any) -> str:
    return html.escape(str(text))


def _table(head: list[str], rows: list[list[Any]], left: int = 1) -> str:
    out = ["<table><tr>" + "".join(f"<th class='{'l' if i < left else ''}'>{_esc(h)}</th>"
                                   for i, h in enumerate(head)) + "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td class='{'l' if i < left else ''}'>{_esc(v)}</td>"
                                    for i, v in enumerate(row)) + "</tr>")
    return "".join(out) + "</table>"


def _recurrent_layers(model: Any) -> list[Any]:
    from .trace import GATES
    layers = getattr(model, "layers", None)
    if layers is None:
        return [model] if type(model).__name__ in GATES else []
    return [layer for layer in layers if type(layer).__name__ in GATES]


def _gate_shapes(layer: Any) -> list[list[Any]]:
    from .trace import BLOCKS
    rows = []
    for b in BLOCKS[type(layer).__name__]:
        s = f"_{b}" if b else ""
        for packed in ("kernel", "recurrent_kernel", "bias"):
            if packed == "bias" and not getattr(layer, "use_bias", True):
                continue
            view = getattr(layer, packed + s)
            rows.append([f"{packed}{s}", str(tuple(view.shape))])
    return rows


def _trace_figure(tr: Trace, units: list[int]) -> Any:
    from matplotlib.figure import Figure

    names = [n for n in ("i", "f", "g", "o", "c", "z", "r", "hh", "h") if n in tr.arrays]
    s, T = tr.sample, tr.timesteps
    fig = Figure(figsize=(10, 1.6 * (len(names) + 2)))
    axes = fig.subplots(len(names) + 2, 1, sharex=True)
    t = np.arange(T)
    for k, name in enumerate(tr.feature_names):
        axes[0].plot(t, tr.x[:, s, k], label=name, marker=".")
    axes[0].set_ylabel("inputs")
    axes[0].legend(fontsize=7, ncol=min(6, tr.features), loc="upper left")
    for ax, name in zip(axes[1:-1], names):
        im = ax.imshow(tr[name][:, s, :].T, aspect="auto", cmap="coolwarm" if name in ("c", "h", "g", "hh") else "viridis",
                       interpolation="nearest", extent=(-0.5, T - 0.5, tr.units - 0.5, -0.5))
        ax.set_ylabel(f"{name}\nunit")
        fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    for u in units:
        axes[-1].plot(t, tr["h"][:, s, u], label=f"h unit {u}")
        if "c" in tr.arrays:
            axes[-1].plot(t, tr["c"][:, s, u], linestyle="--", label=f"c unit {u}")
    axes[-1].legend(fontsize=7, ncol=4, loc="upper left")
    axes[-1].set_xlabel("timestep (processing order)")
    if tr.mask is not None:
        for ax in axes:
            for step in np.flatnonzero(~tr.mask[:, s]):
                ax.axvspan(step - 0.5, step + 0.5, color="#999", alpha=0.25)
    fig.suptitle(f"{tr.kind} {tr.name!r}: gates and states of sample {s} over the window")
    return fig


def _attribution_figure(att: Attributions) -> Any:
    from matplotlib.figure import Figure

    v = att.values.reshape(len(att.values), -1)
    fig = Figure(figsize=(10, 0.45 * v.shape[1] + 1.6))
    ax = fig.add_subplot(1, 1, 1)
    lim = float(np.abs(v).max()) or 1.0
    im = ax.imshow(v.T, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_yticks(range(v.shape[1]), att.feature_names)
    T = v.shape[0]
    ax.set_xticks(range(T), [str(t - T) for t in range(T)])
    ax.set_xlabel("timestep (−1 = the last)")
    fig.colorbar(im, ax=ax, fraction=0.03, pad=0.01, label="contribution")
    ax.set_title(f"What drove {att.output_name}: contribution of each feature at each timestep")
    return fig


def _forecast_section(ctx: ForecastContext) -> str:
    parts = []
    ev = ctx.evaluation
    if ev is not None:
        from matplotlib.figure import Figure

        comp = ev.comparison
        rows = [["model", f"{comp.model.mae:.4g}", f"{comp.model.rmse:.4g}"]]
        rows += [[name, f"{sc.mae:.4g}", f"{sc.rmse:.4g}"] for name, sc in comp.baselines.items()]
        parts.append(f"<p>{comp.samples} forecast(s) scored on {_esc(ev.source)}, beside the "
                     "baselines on the same targets:</p>")
        parts.append(_table(["forecast", "MAE", "RMSE"], rows))
        pred, truth = ev.pred, ev.windows.y_true               # (N, H, T)
        fig = Figure(figsize=(10, 3.2))
        ax = fig.add_subplot(1, 1, 1)
        name = (ctx.target_names or ["target"])[0]
        ax.plot(truth[:, 0, 0], label=f"{name} (truth)", color="#333")
        ax.plot(pred[:, 0, 0], label="forecast (step 1)", color="#1f5fbf")
        ax.set_xlabel("window")
        ax.legend(fontsize=8)
        ax.set_title("Forecast beside the truth")
        parts.append(_png(fig))
    if ctx.history:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(10, 3))
        ax = fig.add_subplot(1, 1, 1)
        for key, values in sorted(ctx.history.items()):
            ax.plot(np.arange(1, len(values) + 1), values, label=key)
        ax.set_xlabel("epoch")
        ax.legend(fontsize=8)
        ax.set_title("Training curves")
        parts.append(_png(fig))
    elif ev is not None:
        parts.append("<p class='note'>The model file holds no training history.</p>")
    return "".join(parts)


def report(model: Any, x: Any, *, feature_names: list[str] | None = None, sample: int = -1,
           layer: int | str | None = None, units: list[int] | None = None,
           data_note: str = "", title: str | None = None, output: int | None = None,
           forecast: ForecastContext | None = None) -> str:
    """The HTML report (see the module docstring) of ``model`` on ``x``, as text.

    Args:
        model: a Sequential or Functional model, or a recurrent layer.
        x: (batch, timesteps, features) windows (for several inputs, a list or dict as
            the model takes it: names and attributions then concern the first input);
            the per-unit statistics use all of them, the trace and the attributions the
            one at ``sample``.
        feature_names: one name per feature (default ``x[0]``, ``x[1]``, ...).
        sample: the window explained (default the last).
        layer: the recurrent layer shown (name or index; default the first).
        units: the units drawn in the unit diagram and the state lines (default 0, 1).
        data_note: one sentence on where ``x`` came from, shown at the top.
        output: the output element explained (a class, or a forecast step); default the
            predicted class of a softmax classifier, else 0. A classifier also gets one
            table per class.
        forecast: a :class:`ForecastContext` adding the forecaster's section.
    """
    import matplotlib
    matplotlib.use("Agg", force=False)

    inputs = list(getattr(model, "inputs", None) or ())
    x_all = x                                   # what the model takes (a list for several inputs)
    if len(inputs) > 1:                         # names and shapes describe the first input
        x = model.prepare_inputs(x)[0]
    x = np.asarray(x)
    if x.ndim != 3:
        raise ConfigError(f"report needs x of shape (batch, timesteps, features), got {x.shape}.")
    if not -len(x) <= sample < len(x):
        raise ConfigError(f"sample must be in [0, {len(x)}) for {len(x)} window(s), got {sample}.")
    sample %= len(x)
    F = x.shape[-1]
    if len(inputs) > 1:
        data_note = _sentence(data_note or f"{len(x)} input window(s) given by the caller") + (
            f" The model has {len(inputs)} inputs ({', '.join(t.name for t in inputs)}); the "
            f"features named here and attributed below are those of the first, "
            f"{inputs[0].name!r}, the others held at the sample's values")
    names = list(feature_names) if feature_names is not None else [f"x[{k}]" for k in range(F)]
    if len(names) != F:
        raise ConfigError(f"feature_names has {len(names)} name(s) for {F} feature(s).")
    name = getattr(model, "name", type(model).__name__)
    body = [f"<h1>{_esc(title or f'Inside {name}')}</h1>",
            f"<p class='note'>{_esc(_sentence(data_note or f'{len(x)} input window(s) given by the caller'))} "
            f"Explained: window {sample} of {len(x)}; {x.shape[1]} timestep(s) × {F} feature(s): "
            f"{_esc(', '.join(names))}.</p>"]

    # 1. summary and per-gate weight shapes
    summary = model.summary(return_string=True) if hasattr(model, "summary") else repr(model)
    body.append("<h2>1. The model and where every parameter comes from</h2>")
    body.append(f"<pre>{_esc(summary)}</pre>")
    rec_layers = _recurrent_layers(model)
    for rl in rec_layers:
        body.append(f"<p>{_esc(type(rl).__name__)} {_esc(rl.name)!s}: weights per gate "
                    f"(views into Keras's packed arrays)</p>")
        body.append(_table(["weight", "shape"], _gate_shapes(rl)))

    if not rec_layers:
        body.append("<p class='note'>This model has no LSTM, GRU or SimpleRNN layer, so there "
                    "is no unit diagram, trace or memory length to show.</p>")
        tr = None
        chosen: list[int] = []
    else:
        target, _ = recurrent_layer(model, layer)
        # Input columns keep their names only through layers that pass features through.
        inner_names = input_feature_names(model, target, names)
        try:
            tr = trace(model, x_all, sample=sample, which=layer, feature_names=inner_names)
        except ConfigError as err:   # e.g. a graph the trace cannot follow
            tr = None
            body.append(f"<p class='note'>No trace: {_esc(err)}</p>")
        chosen = _choose_units(target, units)
        # 2. unit diagram
        body.append(f"<h2>2. Inside {_esc(target.name)}: every input feeds every gate</h2>")
        body.append(f"<p class='note'>Unit(s) {', '.join(map(str, chosen))} drawn from the "
                    "layer's actual weights; line width is the weight's magnitude, blue "
                    "positive, red negative.</p>")
        for u in chosen:
            body.append(_png(unit_diagram(target, u, feature_names=inner_names)))

    # 3. traces
    stats: UnitStatistics | None = None
    if tr is not None:
        body.append("<h2>3. Gates and states over the window</h2>")
        body.append(_png(_trace_figure(tr, chosen)))
        stats = unit_statistics(tr)   # the trace covers every window of x

    # 4. attributions
    body.append("<h2>4. What drove this output</h2>")
    try:
        att = attributions(model, x_all, sample=sample, feature_names=names, output=output)
    except ConfigError as err:
        body.append(f"<p class='note'>Attributions are not available: {_esc(err)}</p>")
    else:
        att = _in_data_units(att, forecast, output)
        ok = att.completeness_error <= 1e-3
        body.append(f"<p>Integrated gradients of {_esc(att.output_name)} from the "
                    f"{_esc(att.baseline_note)}. <span class='{'ok' if ok else 'bad'}'>"
                    f"Completeness: the contributions add up to {att.total:+.6g}; the output "
                    f"moved by {att.output - att.baseline_output:+.6g} from the baseline "
                    f"(relative error {att.completeness_error:.1e}).</span></p>")
        T = len(att.values)
        rows = [[r, n, t - T, f"{v:+.5g}"] for r, (n, t, v) in enumerate(att.ranked(12), 1)]
        body.append(_table(["rank", "feature", "timestep", "contribution"], rows, left=2))
        by_feat = sorted(att.by_feature().items(), key=lambda kv: -abs(kv[1]))
        body.append(_table(["feature", "total over the window"], [[n, f"{v:+.5g}"] for n, v in by_feat]))
        body.append(_png(_attribution_figure(att)))
        body.append(_class_tables(model, x_all, sample, names))

    # 5. per-unit statistics
    if stats is not None:
        body.append("<h2>5. Each unit over the data</h2>")
        body.append(f"<p class='note'>Over all {len(x)} window(s). Half-life: steps until a "
                    "stored value halves (ln 0.5 / ln of the geometric-mean keep gate: LSTM f, "
                    "GRU z). Saturated: share of steps with a sigmoid gate below 0.05 or above "
                    "0.95 (tanh: |value| > 0.95). Dead: output never changes.</p>")
        head = ["unit", "half-life (steps)"] + [f"saturated {g}" for g in stats.saturation] + \
            ["dead", "top features into the first gate"]
        rows = []
        for u in range(len(stats.dead)):
            hl = "—" if stats.half_life is None else (
                "∞" if not np.isfinite(stats.half_life[u]) else f"{stats.half_life[u]:.3g}")
            first_gate = next(iter(stats.top_features))
            top = ", ".join(f"{n} ({w:.3g})" for n, w in stats.top_features[first_gate][u][:3])
            rows.append([u, hl] + [f"{stats.saturation[g][u]:.0%}" for g in stats.saturation]
                        + ["yes" if stats.dead[u] else "no", top])
        body.append(_table(head, rows))

    # 6. forecaster
    if forecast is not None:
        body.append("<h2>6. The forecast on the data</h2>")
        body.append(_forecast_section(forecast))

    return ("<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{_esc(title or f'unrolled report: {name}')}</title><style>{_STYLE}</style>"
            "</head><body>" + "".join(body) +
            "<p class='note'>Written by unrolled. Everything on this page is in this one file.</p>"
            "</body></html>")


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


MAX_CLASSES = 10   # classes shown one table each; more are summarised by the first ones


def _class_tables(model: Any, x: Any, sample: int, names: list[str]) -> str:
    """For a classifier with several classes: what drove each class's probability, one
    table per class, then each feature's total per class ('' for other models)."""
    act = output_activation(model)
    if act not in ("softmax", "sigmoid"):
        return ""
    try:
        per_class = class_attributions(model, x, sample=sample, feature_names=names)
    except ConfigError:
        return ""
    n = len(per_class)
    if n < 2:
        return ""
    shown = dict(list(per_class.items())[:MAX_CLASSES])
    probs = [a.output for a in per_class.values()]
    winner = int(np.argmax(probs)) if act == "softmax" else None
    parts = [f"<h3>Per class: what drove each class's probability</h3>"
             f"<p class='note'>The output ends in {act}: each of the {n} "
             f"{'classes' if act == 'softmax' else 'labels'} has its own attributions (same "
             "baseline). " + ("Under softmax the probabilities sum to 1, so the contributions "
                             "to all classes cancel element by element. " if act == "softmax" else "")
             + (f"The model predicts class {winner} ({probs[winner]:.3g}). " if winner is not None else "")
             + (f"The first {MAX_CLASSES} are shown. " if n > MAX_CLASSES else "") + "</p>"]
    for c, a in shown.items():
        T = len(a.values)
        ok = a.completeness_error <= 1e-3
        head = (f"<p><b>class {c}</b>{' (predicted)' if c == winner else ''}: probability "
                f"{a.output:.4g}, at the baseline {a.baseline_output:.4g}; <span class="
                f"'{'ok' if ok else 'bad'}'>contributions add up to {a.total:+.5g} (relative "
                f"error {a.completeness_error:.1e})</span></p>")
        rows = [[r, f, t - T, f"{v:+.5g}"] for r, (f, t, v) in enumerate(a.ranked(5), 1)]
        parts.append(head + _table(["rank", "feature", "timestep", "contribution"], rows, left=2))
    totals = [[f] + [f"{a.by_feature()[f]:+.4g}" for a in shown.values()] for f in names]
    parts.append("<p>Each feature's total contribution over the window, per class:</p>")
    parts.append(_table(["feature"] + [f"class {c}" for c in shown], totals))
    return "".join(parts)


def _in_data_units(att: Attributions, ctx: ForecastContext | None, output: int | None) -> Attributions:
    """A forecaster's attributions in the target's units (a linear map keeps completeness)."""
    if ctx is None or ctx.output_scale is None:
        return att
    k = 0 if output is None else output
    scale = float(np.asarray(ctx.output_scale).reshape(-1)[k % np.size(ctx.output_scale)])
    mean = 0.0 if ctx.output_mean is None else float(np.asarray(ctx.output_mean).reshape(-1)[k % np.size(ctx.output_mean)])
    name = ctx.output_names[k] if k < len(ctx.output_names) else att.output_name
    return dataclasses.replace(att, values=att.values * scale, output=att.output * scale + mean,
                               baseline_output=att.baseline_output * scale + mean,
                               output_name=f"{name} (in the data's units)")


def _choose_units(layer: Any, units: list[int] | None) -> list[int]:
    if units is None:
        return list(range(min(2, layer.units)))
    bad = [u for u in units if not 0 <= u < layer.units]
    if bad:
        raise ConfigError(f"units {bad} out of range: {layer.name!r} has {layer.units} unit(s) (0..{layer.units - 1}).")
    return list(units)


def write_report(path: str, model: Any, x: Any, **kwargs: Any) -> str:
    """Write :func:`report` to ``path`` atomically; returns the path."""
    from ..io.atomic import atomic_write_bytes

    atomic_write_bytes(str(path), report(model, x, **kwargs).encode("utf-8"))
    return str(path)


__all__ = ["ForecastContext", "report", "write_report"]
