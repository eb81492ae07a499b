"""Default `unrolled train` vs the best simple baseline on real public series.

Series (all shipped inside Python packages, nothing downloaded): the bundled Seattle
weather (daily), and from ``statsmodels.datasets`` (``pip install statsmodels``): weekly
CO2 at Mauna Loa, yearly sunspots, quarterly US real GDP (macrodata), monthly El Niño sea
temperatures (elnino, wide → long) and the yearly Nile flow; from ``vega_datasets``
(``pip install vega_datasets``, its local data): hourly Seattle temperatures of 2010
(°F, 8,759 rows). Each series is written to a
CSV and trained exactly as the CLI's defaults do (``prepare`` + ``fit_forecaster`` with
``FitConfig()``), on the same 70/15/15 split, for several seeds; the test MAE is
compared with every baseline on the same targets (Diebold-Mariano 95 % intervals).
"Before" is the pre-issue-15 default: level targets, no linear path, no season.

    python benchmarks/forecast_real.py [--seeds 3] [--quick] [--only co2,sunspots] [--stats]
    (--stats adds AutoETS / AutoARIMA from statsforecast, the [stats] extra)
    (writes benchmarks/results/forecast_real.json and prints a Markdown table)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "src"))


def write(path: str, header: list[str], rows: list[list]) -> str:
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join("" if (isinstance(v, float) and v != v) else str(v) for v in r)
                    + "\n")
    return path


def series(tmp: str) -> dict[str, dict]:
    """name → {path, target, window, horizon, fill, note}."""
    import statsmodels.api as sm

    from unrolled.datasets import dataset_path

    out = {"seattle temp_max (daily)": dict(path=dataset_path("seattle_weather"),
                                            target="temp_max", window=14)}
    co2 = sm.datasets.co2.load_pandas().data
    out["co2 (weekly)"] = dict(path=write(os.path.join(tmp, "co2.csv"), ["week", "co2"],
                                          [[str(t.date()), v] for t, v in
                                           zip(co2.index, co2["co2"])]),
                               target="co2", window=52, fill="interpolate")
    sun = sm.datasets.sunspots.load_pandas().data
    out["sunspots (yearly)"] = dict(path=write(os.path.join(tmp, "sunspots.csv"),
                                               ["YEAR", "SUNACTIVITY"],
                                               sun[["YEAR", "SUNACTIVITY"]].values.tolist()),
                                    target="SUNACTIVITY", window=22)
    mac = sm.datasets.macrodata.load_pandas().data
    out["US real GDP (quarterly)"] = dict(
        path=write(os.path.join(tmp, "macro.csv"), ["quarter", "realgdp", "realcons", "realinv"],
                   [[f"{int(y)}Q{int(q)}", g, c, i] for y, q, g, c, i in
                    mac[["year", "quarter", "realgdp", "realcons", "realinv"]].values]),
        target="realgdp", window=8)
    el = sm.datasets.elnino.load_pandas().data
    months = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    rows = [[f"{int(r['YEAR'])}-{k + 1:02d}", r[m]] for _, r in el.iterrows()
            for k, m in enumerate(months)]
    out["El Niño sea temp. (monthly)"] = dict(path=write(os.path.join(tmp, "elnino.csv"),
                                                         ["month", "temp"], rows),
                                              target="temp", window=24)
    nile = sm.datasets.nile.load_pandas().data
    out["Nile flow (yearly)"] = dict(path=write(os.path.join(tmp, "nile.csv"),
                                                ["year", "volume"], nile.values.tolist()),
                                     target="volume", window=10)
    try:
        from vega_datasets import local_data
    except ImportError:
        print("(vega_datasets not installed: the hourly series is left out)")
        return out
    temps = local_data.seattle_temps()
    out["Seattle temp (hourly)"] = dict(
        path=write(os.path.join(tmp, "seattle_hourly.csv"), ["time", "temp"],
                   [[t.strftime("%Y-%m-%d %H:%M"), v] for t, v in
                    zip(temps["date"], temps["temp"])]),
        target="temp", window=24)
    return out


def run_one(spec: dict, seed: int, before: bool, quick: bool, stats: bool = False) -> dict:
    from unrolled import forecast
    from unrolled.forecast.stats import for_test

    kw = dict(transform="level", season=None, linear=False) if before else {}
    data = forecast.prepare(spec["path"], targets=spec["target"], window=spec["window"],
                            fill=spec.get("fill"), **kw)
    config = forecast.FitConfig(epochs=5 if quick else 100)
    start = time.perf_counter()
    fit = forecast.fit_forecaster(data, config, seed=seed)
    seconds = time.perf_counter() - start
    st = for_test(data, stats and not before)
    a = forecast.assess(fit.forecaster, data.test, st.forecasts)
    c = a.comparison
    return {"seed": seed, "before": before, "mae": c.model.mae, "rmse": c.model.rmse,
            "baselines": {k: s.mae for k, s in c.baselines.items()},
            "margins": {k: [m.diff, m.low, m.high, m.base_mae, m.verdict]
                        for k, m in c.margins.items()},
            "coverage": None if a.coverage is None else a.coverage.coverage,
            "epochs": fit.epochs, "seconds": seconds,
            "windows": c.samples, "choices": data.choices, "notes": fit.notes,
            "inputs": data.spec.inputs, "transform": data.spec.transform,
            "season": data.spec.season, "stats_notes": st.notes}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="5 epochs, 1 seed (a smoke run)")
    ap.add_argument("--only", default="")
    ap.add_argument("--no-before", action="store_true")
    ap.add_argument("--stats", action="store_true",
                    help="add the AutoETS / AutoARIMA baselines (statsforecast)")
    ap.add_argument("--out", default=os.path.join(HERE, "results", "forecast_real.json"))
    args = ap.parse_args()
    seeds = 1 if args.quick else args.seeds
    results: dict[str, list] = {}
    if os.path.exists(args.out) and not args.quick:
        with open(args.out) as f:
            results = json.load(f)
    with tempfile.TemporaryDirectory() as tmp:
        for name, spec in series(tmp).items():
            if args.only and not any(k in name for k in args.only.split(",")):
                continue
            runs = [] if args.quick else results.get(name, [])
            done = {(r["seed"], r["before"]) for r in runs}
            todo = [(s, False) for s in range(seeds)] + ([] if args.no_before else [(0, True)])
            for seed, before in todo:
                if (seed, before) in done:
                    continue
                r = run_one(spec, seed, before, args.quick, args.stats)
                runs.append(r)
                print(f"{name}: seed {seed}{' (before)' if before else ''}: MAE "
                      f"{r['mae']:.4g} vs " + ", ".join(f"{k} {v:.4g}" for k, v in
                                                         r["baselines"].items())
                      + f" [{r['transform']}, season {r['season']}, {r['epochs']} epochs, "
                      f"{r['seconds']:.0f} s]", flush=True)
                results[name] = runs
                if not args.quick:
                    os.makedirs(os.path.dirname(args.out), exist_ok=True)
                    with open(args.out, "w") as f:
                        json.dump(results, f, indent=1)
    print(table(results))


def table(results: dict[str, list]) -> str:
    lines = ["| series | test windows | chosen | default MAE (seeds) | before (seed 0) | best "
             "baseline | default vs best baseline, seed 0 (95 %) |",
             "|---|---:|---|---|---:|---|---|"]
    for name, runs in results.items():
        now = [r for r in runs if not r["before"]]
        old = [r for r in runs if r["before"]]
        if not now:
            continue
        r0 = now[0]
        best = min(r0["baselines"], key=r0["baselines"].get)
        d, lo, hi, b, verdict = r0["margins"][best]
        maes = [r["mae"] for r in now]
        chosen = f"{r0['transform']}" + (f", season {r0['season']}" if r0["season"] else "")
        lines.append(
            f"| {name} | {r0['windows']} | {chosen} | {np.mean(maes):.4g} ± {np.std(maes):.2g} "
            f"({len(maes)}) | {old[0]['mae']:.4g} | {best} {r0['baselines'][best]:.4g} | "
            f"{d / b * 100:+.1f} % ({lo / b * 100:+.1f} .. {hi / b * 100:+.1f}): {verdict} |"
            if old else
            f"| {name} | {r0['windows']} | {chosen} | {np.mean(maes):.4g} ± {np.std(maes):.2g} "
            f"({len(maes)}) | – | {best} {r0['baselines'][best]:.4g} | "
            f"{d / b * 100:+.1f} % ({lo / b * 100:+.1f} .. {hi / b * 100:+.1f}): {verdict} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
