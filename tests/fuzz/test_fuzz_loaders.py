"""Every loader (.keras, legacy .h5, .weights.h5, forecaster, PyTorch .pt, .safetensors,
ONNX), fed
thousands of damaged files, ends in success or ``ModelFileError`` —
never another exception, a hang, a crash or a memory blow-up.

Hypothesis mutates small real files (``seeds.py``, ``mutations.py``); a subprocess
(``worker.py``) loads them all under ``RLIMIT_AS`` = its address space after warm-up
+ 1 GB, with a 10 s alarm per file, and reports each ending.

CI runs ``UNROLLED_FUZZ_CASES`` cases (default 1200, derandomized: the same cases every
run, about a minute). A longer run, with fresh random cases::

    UNROLLED_FUZZ_CASES=50000 UNROLLED_FUZZ_SEED=$RANDOM python -m pytest tests/fuzz -q
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tests.fuzz.mutations import mutated  # noqa: E402
from tests.fuzz.seeds import write_seeds  # noqa: E402

CASES = int(os.environ.get("UNROLLED_FUZZ_CASES", "1200"))
SEED = os.environ.get("UNROLLED_FUZZ_SEED")
MAX_SECONDS = 10.0
EXTENSIONS = {"keras": ".keras", "keras_plain": ".keras", "forecaster": ".keras",
              "weights": ".weights.h5", "torch": ".pt", "safetensors": ".safetensors",
              "onnx": ".onnx", "h5": ".h5"}


def _generate(blobs: dict[str, bytes], folder: str) -> list[list[str]]:
    cases: list[list[str]] = []

    @settings(max_examples=CASES, derandomize=SEED is None, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def generate(data):
        kind = data.draw(st.sampled_from(sorted(blobs)))
        blob = data.draw(mutated(blobs[kind]))
        path = os.path.join(folder, f"{len(cases):06d}{EXTENSIONS[kind]}")
        with open(path, "wb") as f:
            f.write(blob)
        cases.append([kind, path])

    if SEED is not None:
        generate = hypothesis_seed(int(SEED))(generate)
    generate()
    return cases


def test_every_mutated_file_ends_in_success_or_model_file_error(tmp_path):
    try:
        import torch  # noqa: F401
        with_torch = True
    except ImportError:  # the torch loader needs torch; the others do not
        with_torch = False
    seeds = write_seeds(str(tmp_path), with_torch=with_torch)
    blobs = {}
    for kind, path in seeds.items():
        with open(path, "rb") as f:
            blobs[kind] = f.read()
    folder = tmp_path / "cases"
    folder.mkdir()
    cases = _generate(blobs, str(folder))
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"seeds": seeds, "cases": cases}))
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.join(root, "src"), root]),
           "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-m", "tests.fuzz.worker", str(manifest)],
                         capture_output=True, text=True, env=env, cwd=str(tmp_path),
                         timeout=60 + CASES * MAX_SECONDS)
    results = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    if len(results) < len(cases):  # the worker died: a crash in a C library, or worse
        pytest.fail(f"the worker stopped (exit {run.returncode}) at case {len(results)} "
                    f"{cases[len(results)]}:\n{run.stderr[-3000:]}")
    bad = [r for r in results
           if r["outcome"] not in ("ok", "ModelFileError") or r["seconds"] > MAX_SECONDS]
    counts: dict[str, int] = {}
    for r in results:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    slowest = max(results, key=lambda r: r["seconds"])
    print(f"\nfuzz: {len(results)} cases, {counts}, slowest {slowest['seconds']:.2f} s "
          f"({slowest['kind']})")
    assert not bad, f"{len(bad)} of {len(results)} cases ended otherwise:\n" + "\n".join(
        f"  {r['kind']} {os.path.basename(r['path'])}: {r['outcome']} after "
        f"{r['seconds']:.2f} s: {r['error']}" for r in bad[:25])
    assert counts.get("ModelFileError", 0) > len(results) // 4   # the damage was real
