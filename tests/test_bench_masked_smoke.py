"""benchmarks/bench_masked.py (every cell) and bench_variants.py (float64, go_backwards) run
end to end on a small shape: each peer's output -- ONNX Runtime's LSTM/GRU/RNN with
``sequence_lens``, PyTorch's packed sequences, PyTorch float64, ORT ``direction="reverse"``
-- is checked against unrolled's reference before timing (the scripts exit non-zero if one
disagrees), and the rows land in the JSON. No timing asserted."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.peers import require

ROOT = Path(__file__).resolve().parents[1]


def run(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--shape",
                           "3,5,2,4", "--repeats", "1", "--budget", "0.2", *args],
                          capture_output=True, text=True, env=env, timeout=600)


def test_bench_masked_every_cell(tmp_path):
    for peer in ("onnxruntime", "torch"):
        require(peer)
    out = tmp_path / "masked.json"
    proc = run("bench_masked.py", "--cell", "lstm", "--cell", "gru", "--cell", "simple_rnn",
               "--json", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = json.loads(out.read_text())
    assert set(results) == {"lstm 3,5,2,4", "gru 3,5,2,4", "simple_rnn 3,5,2,4"}
    for res in results.values():
        assert not res["skipped"]
        assert {"unrolled", "unrolled[reference]", "onnxruntime", "torch"} <= set(
            res["inference"]["rows"])
        assert {"unrolled", "torch"} <= set(res["training step"]["rows"])


def test_bench_variants(tmp_path):
    for peer in ("onnxruntime", "torch"):
        require(peer)
    out = tmp_path / "variants.json"
    proc = run("bench_variants.py", "--json", str(out))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = {r["variant"]: r for r in json.loads(out.read_text())}
    assert set(results) == {"float64", "go_backwards"}
    assert "onnxruntime" in results["float64"]["skipped"]     # ORT has no float64 LSTM
    assert "onnxruntime" in results["go_backwards"]["inference"]["rows"]
    for res in results.values():
        assert {"unrolled", "torch"} <= set(res["training step"]["rows"])
