"""The GRU/SimpleRNN benchmark runs end to end on the tiny shape and its implementations agree.

No timing is asserted: only that ``benchmarks/bench_cells.py --quick`` runs, checks every
installed implementation (outputs, and unrolled's gradients against PyTorch's) against
unrolled's reference scan on the same weights, and writes its JSON. On CI (``CI=true``)
PyTorch and ONNX Runtime must be installed.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.peers import require

ROOT = Path(__file__).resolve().parents[1]


def _installed(name: str) -> bool:
    if os.environ.get("CI") == "true":
        require(name)               # fails the test when a required peer is missing
        return True
    return importlib.util.find_spec(name) is not None


def test_bench_cells_quick_tiny(tmp_path):
    expected = {"unrolled"}
    if _installed("torch"):
        expected.add("torch")
    if _installed("onnxruntime") and _installed("onnx"):
        expected.add("onnxruntime")
    out = tmp_path / "bench_cells.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_cells.py"), "--quick", "--shape", "tiny",
         "--cell", "all", "--repeats", "2", "--budget", "0.5", "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["all_checks_passed"] is True
    assert set(report["cells"]) == {"gru", "simple_rnn"}
    for cell in ("gru", "simple_rnn"):
        tiny = report["cells"][cell]["tiny"]
        assert "error" not in tiny and tiny["checks_passed"] is True
        assert set(tiny["checks"]) >= expected, (cell, tiny["checks"], tiny["skipped"])
        assert all(c["ok"] for c in tiny["checks"].values())
        if "torch" in expected:   # unrolled's gradients were compared with PyTorch's
            assert tiny["checks"]["torch"]["grad_ok"] is True
            assert tiny["checks"]["unrolled"]["grad_ok"] is True
        rows = tiny["inference"]["rows"]
        assert set(rows) >= expected
        assert all(r["median_ms"] > 0 for r in rows.values())
        assert set(tiny["training"]["rows"]) >= expected - {"onnxruntime"}
        assert tiny["kernel"]["name"]
    assert report["gemm_peak_gflops_start"] > 0
