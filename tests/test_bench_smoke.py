"""The benchmark runs end to end on the tiny shape and its implementations agree.

No timing is asserted: only that ``benchmarks/bench_lstm.py --quick`` runs, checks every
implementation against the reference on the same weights, and writes its JSON.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_benchmark_quick_tiny(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_lstm.py"), "--quick", "--shape", "tiny",
         "--repeats", "2", "--budget", "1", "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    tiny = report["shapes"]["tiny"]
    assert "error" not in tiny
    assert tiny["checks"] and all(c["ok"] for c in tiny["checks"].values())
    rows = tiny["inference"]["rows"]
    assert "unrolled[numpy]" in rows and "unrolled[reference]" in rows
    assert all(r["median_ms"] > 0 for r in rows.values())
    assert "training" in tiny and report["gemm_peak_gflops_start"] > 0


def test_summarize_pairs_each_round_with_the_fastest_peer():
    """The paired ratio is the median of per-round ratios: a slow round that hits both
    sides leaves it alone, while it moves the ratio of medians."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from harness import summarize  # noqa: PLC0415 - benchmarks/ is not a package
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    samples = {"ours": [1.1, 1.1, 3.3, 3.3, 1.1], "onnxruntime": [1.0, 1.0, 3.0, 3.0, 3.0]}
    rows, fastest = summarize(samples, work=1e9, peak=100.0, peers={"onnxruntime"})
    assert fastest == "onnxruntime"
    assert abs(rows["ours"]["paired_ratio_to_fastest_peer"] - 1.1) < 1e-12
    assert abs(rows["ours"]["ratio_to_fastest_peer"] - 1.1 / 3.0) < 1e-12
    assert rows["onnxruntime"]["paired_ratio_to_fastest_peer"] == 1.0
    assert abs(rows["ours"]["min_ms"] - 1100.0) < 1e-9 and rows["ours"]["samples"] == 5
