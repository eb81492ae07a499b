"""Load every file of a manifest in this process, under an address-space limit, and print
one JSON line per file: how the load ended, how long it took.

``python -m tests.fuzz.worker MANIFEST.json`` — the manifest is ``{"seeds": {kind: path},
"cases": [[kind, path], ...]}``. The limit (``resource.setrlimit(RLIMIT_AS)``) is set after
the imports and a warm-up: the current address space plus ``FUZZ_EXTRA_MB`` (1024). A load
that runs out of it, or takes longer than ``FUZZ_SECONDS`` (10), is reported as such.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import sys
import time

EXTRA_MB = int(os.environ.get("FUZZ_EXTRA_MB", "1024"))
SECONDS = int(os.environ.get("FUZZ_SECONDS", "10"))


class Timeout(BaseException):  # not an Exception: no loader may swallow it
    pass


def _alarm(signum, frame):
    raise Timeout()


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _loaders(seeds: dict[str, str]) -> dict:
    from unrolled.forecast.model_file import load_forecaster
    from unrolled.models.saving import load_model, load_weights

    template = load_model(seeds["keras"])
    loaders = {
        "keras": lambda p: load_model(p),
        "keras_plain": lambda p: load_model(p),
        "weights": lambda p: load_weights(template, p),
        "forecaster": lambda p: load_forecaster(p),
        "h5": lambda p: load_model(p),
    }
    loaders = {kind: fn for kind, fn in loaders.items() if kind in seeds}
    if "torch" in seeds:
        from unrolled.io.torch_weights import load_torch_file

        loaders["torch"] = lambda p: load_torch_file(p)
    if "safetensors" in seeds:
        from unrolled.io.safetensors_file import read_safetensors

        loaders["safetensors"] = lambda p: read_safetensors(p)
    if "onnx" in seeds:
        from unrolled.models.onnx_models import load_onnx

        loaders["onnx"] = lambda p: load_onnx(p)
    for kind, fn in loaders.items():   # warm-up: every import and first call done
        fn(seeds[kind])
    return loaders


def _outcome(err: BaseException | None) -> str:
    from unrolled.errors import ModelFileError

    if err is None:
        return "ok"
    cause: BaseException | None = err
    while cause is not None:
        if isinstance(cause, MemoryError):
            return "memory"
        cause = cause.__cause__
    return "ModelFileError" if isinstance(err, ModelFileError) else "other"


def main(manifest_path: str) -> int:
    import warnings

    warnings.simplefilter("ignore")  # a loaded-uncompiled warning is an outcome, not news
    with open(manifest_path) as f:
        manifest = json.load(f)
    loaders = _loaders(manifest["seeds"])
    limit = _address_space() + EXTRA_MB * (1 << 20)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGALRM, _alarm)
    for kind, path in manifest["cases"]:
        err: BaseException | None = None
        start = time.perf_counter()
        signal.alarm(SECONDS)
        try:
            loaders[kind](path)
        except Timeout as e:
            err = e
        except BaseException as e:  # noqa: B036 - every ending is recorded
            err = e
        finally:
            signal.alarm(0)
        seconds = time.perf_counter() - start
        outcome = "timeout" if isinstance(err, Timeout) else _outcome(err)
        print(json.dumps({"kind": kind, "path": path, "outcome": outcome,
                          "seconds": round(seconds, 4),
                          "error": None if err is None else f"{type(err).__name__}: {err}"[:400]}),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
