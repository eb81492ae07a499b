"""benchmarks/bench_options.py runs end to end on the tiny shape: every implementation is
checked against unrolled's reference before timing (the script exits non-zero if one
disagrees), and each option's table and chosen kernel land in the JSON. No timing asserted."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_options_quick_tiny(tmp_path):
    out = tmp_path / "options.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_options.py"), "--quick", "--shape",
         "tiny", "--repeats", "1", "--budget", "0.5", "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    tiny = json.loads(out.read_text())["shapes"]["tiny"]
    bi = tiny["bidirectional"]
    assert {"unrolled", "unrolled[sequential]", "unrolled[one direction]"} <= set(
        bi["inference"]["rows"]) and "training step" in bi
    drop = tiny["recurrent_dropout"]
    assert "dropout kernel" in drop["reason"]
    assert {"unrolled", "unrolled[reference]", "unrolled[no dropout]"} <= set(
        drop["training step"]["rows"])
    assert set(tiny["stateful"]["inference"]["rows"]) >= {"unrolled", "unrolled[stateless]"}
    for option in ("bidirectional", "recurrent_dropout", "stateful"):
        for mode in ("inference", "training step"):
            for row in tiny[option].get(mode, {"rows": {}})["rows"].values():
                assert row["median_ms"] > 0
