"""One model per series of a long-format table, trained as parallel tasks, resumable.

``unrolled train DATA --series-column ID --per-series -o OUT_DIR`` splits the table by
its series column and trains, for every series, exactly the forecaster ``unrolled train``
would train on that series alone with the same options and ``--seed``. Each series is
one :class:`~unrolled.parallel.Task` (:func:`train_series`), so the work runs serially,
in a local process pool or on a Dask cluster with the same numbers.

The output folder::

    OUT_DIR/series.json          what was trained how (column, options, series -> file)
    OUT_DIR/<file>.keras         one forecaster per series (``unrolled predict`` reads it)
    OUT_DIR/<file>.metrics.json  its test scores beside the baselines, for the report

Files are written by the process that runs the command (workers return the model's
bytes, so they need no shared file system), each atomically (:mod:`unrolled.io.atomic`):
the metrics first, then the model. A series is *finished* when its ``.keras`` file exists
and is a complete zip archive; a re-run with the same options skips finished series, so a
crash or Ctrl-C loses at most the series in flight. A re-run with different options is
refused (it would mix models trained two ways in one folder).

File names: the series name when it is made only of letters, digits, ``.``, ``_``, ``-``
(and does not start with a dot); otherwise those characters are kept, the rest become
``_``, and 8 hex digits of the name's SHA-256 are appended so that two names never share
a file (``a/b`` → ``a_b-3d5b2c1e``). Names equal when case is ignored get the suffix too
(for case-insensitive file systems).

Memory per task: the series' rows as shipped, plus its windows (about rows × window ×
inputs × 8 bytes, twice), plus the model; a series above the per-task cap
(:func:`unrolled.parallel.memory_cap`) is refused before it is windowed.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import ConfigError

MANIFEST = "series.json"
_SAFE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,100}$")


def file_stems(names: list[str]) -> dict[str, str]:
    """Series name → file name stem (see the module docstring)."""
    def hashed(name: str) -> str:
        kept = re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".")[:80] or "series"
        return f"{kept}-{hashlib.sha256(name.encode('utf-8')).hexdigest()[:8]}"

    stems = {n: n if _SAFE.match(n) else hashed(n) for n in names}
    folded: dict[str, list[str]] = {}
    for n, s in stems.items():
        folded.setdefault(s.casefold(), []).append(n)
    for group in folded.values():
        if len(group) > 1:
            for n in group:
                stems[n] = hashed(n)
    if len({s.casefold() for s in stems.values()}) != len(stems):  # pragma: no cover
        raise ConfigError("two series names map to one file name even with their hashes")
    return stems


def finished(path: str) -> bool:
    """Whether ``path`` is a complete model file (a readable zip archive)."""
    if not os.path.isfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return z.testzip() is None
    except (zipfile.BadZipFile, OSError):
        return False


@dataclass(frozen=True)
class SeriesResult:
    """What training one series gave (returned by a worker)."""

    name: str
    model: bytes                    # the .keras file's bytes
    metrics: dict[str, Any]         # JSON: model and baseline MAE/RMSE, verdicts, epochs
    notes: list[str] = field(default_factory=list)


def window_bytes(rows: int, columns: int, window: int) -> float:
    """Rough upper bound of what one series' windows hold (see the module docstring)."""
    return 2.0 * rows * window * (columns + 8) * 8


def train_series(name: str, table: Any, options: dict[str, Any], config: Any, seed: int,
                 cap_mb: float | None = None) -> SeriesResult:
    """Prepare, train, score and serialise one series (a task; runs on a worker)."""
    from ..parallel import check_memory
    from .fit import assess, fit_forecaster
    from .model_file import save_forecaster
    from .pipeline import prepare

    check_memory(f"series {name!r} ({len(table.values)} rows)",
                 window_bytes(len(table.values), len(table.columns), options["window"]),
                 f"its windows: rows × window {options['window']} × inputs × 8 bytes, twice",
                 cap_mb)
    data = prepare(table, **options)
    fit = fit_forecaster(data, config, seed=seed)
    a = assess(fit.forecaster, data.test)
    cmp = a.comparison
    best = cmp.best_baseline
    metrics = {
        "series": name, "epochs": fit.epochs, "windows": cmp.samples,
        "mae": cmp.model.mae, "rmse": cmp.model.rmse,
        "baselines": {k: {"mae": s.mae, "rmse": s.rmse} for k, s in cmp.baselines.items()},
        "best_baseline": best,
        "verdict": cmp.margins[best].verdict if best in cmp.margins else "?",
        "transform": data.spec.transform, "season": data.spec.season,
        "coverage": None if a.coverage is None else a.coverage.coverage,
    }
    with tempfile.TemporaryDirectory(prefix="unrolled-series-") as tmp:
        path = save_forecaster(fit.forecaster, os.path.join(tmp, "model.keras"))
        with open(path, "rb") as f:
            model = f.read()
    return SeriesResult(name, model, metrics, list(fit.notes))


@dataclass
class PerSeriesRun:
    """The outcome of a per-series run, in series order."""

    out_dir: str
    files: dict[str, str]                               # series → .keras path
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)   # trained or earlier
    skipped: list[str] = field(default_factory=list)    # finished by an earlier run
    failures: dict[str, Any] = field(default_factory=dict)  # series → TaskError
    shipping: str = ""
    backend: str = ""


def run_fingerprint(series_column: str, options: dict[str, Any], config: Any,
                    seed: int) -> dict[str, Any]:
    """What makes two runs' models comparable (stored in the manifest)."""
    return {"series_column": series_column, "options": options,
            "config": config.get_config(), "seed": seed}


def _check_manifest(out_dir: str, fingerprint: dict[str, Any]) -> None:
    path = os.path.join(out_dir, MANIFEST)
    if not os.path.exists(path):
        return
    try:
        with open(path, encoding="utf-8") as f:
            old = json.load(f).get("run")
    except (OSError, ValueError):
        return
    new = json.loads(json.dumps(fingerprint, default=str))
    if old != new:
        diffs = []
        for k in new:
            a = old.get(k) if isinstance(old, dict) else None
            if isinstance(a, dict) and isinstance(new[k], dict):
                diffs += [f"{name}: {a.get(name)!r} before, {new[k].get(name)!r} now"
                          for name in sorted(set(a) | set(new[k]), key=str)
                          if a.get(name) != new[k].get(name)]
            elif a != new[k]:
                diffs.append(f"{k}: {a!r} before, {new[k]!r} now")
        raise ConfigError(f"{out_dir} holds models trained with other settings ("
                          + ("; ".join(diffs) or "unreadable") + "): use another output "
                          "folder, or remove it to start over")


def _write_manifest(out_dir: str, fingerprint: dict[str, Any], files: dict[str, str]) -> None:
    from ..io.atomic import atomic_write_bytes

    body = {"format": 1, "run": fingerprint,
            "series": {n: os.path.basename(p) for n, p in files.items()}}
    atomic_write_bytes(os.path.join(out_dir, MANIFEST),
                       json.dumps(body, indent=1, default=str).encode("utf-8"))


def read_manifest(out_dir: str) -> dict[str, Any]:
    """The manifest of a per-series folder (series column, series → file)."""
    path = os.path.join(out_dir, MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{out_dir} is not a folder of per-series models: it has no "
                          f"{MANIFEST} (write one with unrolled train ... --series-column "
                          "ID --per-series -o FOLDER)") from None


def train_per_series(table: Any, series_column: str, options: dict[str, Any], config: Any,
                     out_dir: str, executor: Any, seed: int = 0, cap_mb: float | None = None,
                     on_outcome: Callable[[Any], None] | None = None,
                     on_plan: Callable[[int, int], None] | None = None) -> PerSeriesRun:
    """Train every unfinished series of ``table`` on ``executor`` (see the module
    docstring). ``on_plan(to_train, finished)`` is called before the tasks start."""
    from ..data import as_table
    from ..io.atomic import atomic_write_bytes
    from ..parallel import Task
    from .many import split_series

    os.makedirs(out_dir, exist_ok=True)
    fingerprint = run_fingerprint(series_column, options, config, seed)
    _check_manifest(out_dir, fingerprint)
    groups = split_series(as_table(table), series_column)
    stems = file_stems(list(groups))
    files = {n: os.path.join(out_dir, stems[n] + ".keras") for n in groups}
    _write_manifest(out_dir, fingerprint, files)
    run = PerSeriesRun(out_dir, files)
    tasks = []
    for name, part in groups.items():
        if finished(files[name]):
            run.skipped.append(name)
        else:
            tasks.append(Task(f"series {name}", train_series,
                              (name, part, options, config, seed, cap_mb)))
    if on_plan is not None:
        on_plan(len(tasks), len(run.skipped))
    by_key = {t.key: t.args[0] for t in tasks}

    def write(outcome: Any) -> None:
        name = by_key[outcome.key]
        if outcome.ok:
            res: SeriesResult = outcome.value
            metrics_path = files[name][:-len(".keras")] + ".metrics.json"
            atomic_write_bytes(metrics_path, json.dumps(res.metrics, indent=1).encode("utf-8"))
            atomic_write_bytes(files[name], res.model)
        if on_outcome is not None:
            on_outcome(outcome)

    failed = {}
    for outcome in executor.run(tasks):   # streamed: no model's bytes are kept once written
        write(outcome)
        if not outcome.ok:
            failed[by_key[outcome.key]] = outcome.error
    run.failures = {n: failed[n] for n in groups if n in failed}   # in series order
    for name in groups:
        if name in run.failures:
            continue
        try:
            with open(files[name][:-len(".keras")] + ".metrics.json", encoding="utf-8") as f:
                run.metrics[name] = json.load(f)
        except (OSError, ValueError):
            run.metrics[name] = {"series": name}
    run.shipping, run.backend = str(executor.shipping), executor.name
    return run


def per_series_report(run: PerSeriesRun, indent: str = "  ") -> str:
    """The table of per-series test scores beside the best baseline, then the failures."""
    lines = [f"{'series':<20}{'MAE':>10}{'RMSE':>10}  {'best baseline (MAE)':<28}"
             f"{'verdict':>8}"]
    verdicts: dict[str, int] = {}
    for name, m in run.metrics.items():
        if "mae" not in m:
            lines.append(f"{name[:20]:<20}{'':>10}{'':>10}  (finished earlier; no metrics "
                         "file)")
            continue
        best = m["best_baseline"]
        verdicts[m["verdict"]] = verdicts.get(m["verdict"], 0) + 1
        mark = " *" if name in run.skipped else ""
        lines.append(f"{name[:20]:<20}{m['mae']:>10.4g}{m['rmse']:>10.4g}  "
                     f"{best + ' ' + format(m['baselines'][best]['mae'], '.4g'):<28}"
                     f"{m['verdict']:>8}{mark}")
    out = [indent + line for line in lines]
    if run.skipped:
        out.append(f"{indent}* finished by an earlier run (skipped)")
    if verdicts:
        out.append(f"{indent}vs the best baseline: " + ", ".join(
            f"{v} on {n} series" for v, n in sorted(verdicts.items())))
    if run.failures:
        out.append(f"\n{len(run.failures)} series failed (the others are unaffected):")
        for name, err in run.failures.items():
            message = err.message.replace("\n", "\n" + indent * 2)
            out.append(f"{indent}{name}: {err.type}: {message}")
    return "\n".join(out)
