"""``benchmarks/bench_parallel.py --quick`` runs end to end (its distributed predict is
checked against model.predict inside) and writes every row of its JSON. No timing is
asserted."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.peers import require

ROOT = Path(__file__).resolve().parents[2]


def test_bench_parallel_quick(tmp_path):
    require("distributed")
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_parallel.py"),
                           "--quick", "--json", str(out)], capture_output=True, text=True,
                          env=env, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["scoring"]) == {
        "1 process: model.predict", "2 local processes: blocks as tasks",
        "2-worker LocalCluster: distributed.predict",
        "2-worker LocalCluster: distributed.predict, data on the workers", "CLI predict --jobs 1",
        "CLI predict --jobs 2", "CLI predict --scheduler (2-worker LocalCluster)"}
    assert all(r["windows_per_s"] > 0 for r in report["scoring"].values())
    assert set(report["overhead"]) == {"local pool (2 processes)", "Dask (2-worker LocalCluster)",
                                       "raw dask client.map (no unrolled)", "serial (this process)"}
