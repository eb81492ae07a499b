"""The entry-point benchmark runs end to end on the tiny shape, and its rows agree.

No timing is asserted: only that ``benchmarks/bench_entry.py --quick`` checks every row
against the reference kernel (and the first training losses with each other), times each
group (with ``--overhead``, the training rows with the layer calls stubbed too) and writes
its JSON.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_entry_benchmark_quick_tiny(tmp_path):
    out = tmp_path / "entry.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_entry.py"), "--quick", "--shape", "tiny",
         "--repeats", "2", "--budget", "1", "--peers", "onnxruntime,torch", "--overhead",
         "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tiny = json.loads(out.read_text())["shapes"]["tiny"]
    assert "error" not in tiny and tiny["checks"] and all(c["ok"] for c in tiny["checks"].values())
    one = tiny["one batch, inference"]["rows"]
    assert {"unrolled layer(x)", "unrolled model(x)", "unrolled predict_on_batch",
            "unrolled predict", "onnxruntime session.run", "torch module(x) no_grad"} <= set(one)
    train = tiny["training step"]["rows"]
    assert {"unrolled layer step", "unrolled train_on_batch", "unrolled fit step", "torch step"} <= set(train)
    assert "over_wrapped_us" in one["unrolled predict"] and one["unrolled predict"]["median_ms"] > 0
    assert tiny["8 batches, inference"]["rows"]["unrolled predict"]["ratio_to_fastest_peer"] > 0
    stubbed = tiny["training, layer calls stubbed"]["rows"]      # --overhead
    assert set(stubbed) == {"unrolled layer step", "unrolled train_on_batch", "unrolled fit step"}
    assert "over_wrapped_us" in stubbed["unrolled train_on_batch"]
