"""What the kernel choice looks like from outside: one line per recurrent layer
(:func:`describe`, :func:`kernel_report`, printed by ``summary()`` and ``unrolled info``)
and what the fast kernels can use on this machine (:func:`environment_report`).

The choice itself is :func:`.select.select` (a :class:`.select.Choice` with its reasons);
a layer remembers the choice of its last call as ``layer.kernel_choice``. The names below
(:func:`force`, :func:`select_kernel`, ...) are kept for the code and tests that used them.
"""
from __future__ import annotations

import os
from typing import Any

from . import lstm_numba
from .reference import REFERENCE
from .select import KERNELS, Choice, KernelRequest, force, forced, request_for, select

Selection = Choice   # the name before the sequence-kernel interface

__all__ = ["KERNELS", "Choice", "Selection", "describe", "environment_report",
           "force", "forced", "kernel_report", "select_kernel", "select_lstm_kernel"]


def select_kernel(layer_or_request: Any, batch: int, timesteps: int,
                  training: bool, masked: bool = False) -> Choice:
    """:func:`.select.select` for a call of ``layer_or_request`` (a recurrent layer, a
    :class:`.select.KernelRequest`, or a dict of its fields but the sizes and training)."""
    if isinstance(layer_or_request, KernelRequest):
        req = layer_or_request._replace(batch=batch, timesteps=timesteps, training=training,
                                        masked=masked)
    elif isinstance(layer_or_request, dict):
        opts = {"dtype": "float32", "activation": "tanh", "recurrent_activation": "sigmoid",
                "units": 1, **layer_or_request}
        req = KernelRequest(opts["cell"], opts["dtype"], opts["activation"],
                            opts["recurrent_activation"], int(opts["units"]), batch, timesteps,
                            training, bool(opts.get("masked", masked)))
    else:
        req = request_for(layer_or_request, batch, timesteps, training, masked)
    return select(req)


select_lstm_kernel = select_kernel


def describe(layer: Any, batch: int = 32, masked: bool = False,
             notes: tuple[str, ...] = ()) -> str | None:
    """One line: which kernel ``layer`` used (or would use) and why; None if not recurrent.
    ``notes``: more reasons for a layer not yet called (e.g. its wrapper's plan)."""
    if getattr(layer, "cell", None) is None:
        return None
    sel = layer.__dict__.get("kernel_choice")
    when = "last call"
    if sel is None:
        shape = getattr(layer, "build_input_shape", None) or (None, None, None)
        steps = shape[1] or 1
        try:
            sel = select_kernel(layer, batch, steps, training=False, masked=masked)
        except ImportError as err:
            sel = Choice(REFERENCE, "reference", (str(err),))
        when = f"batch {batch}{', input masked' if masked else ''}, not yet called"
        sel = sel._replace(reasons=sel.reasons + _option_notes(layer, masked) + tuple(notes))
    elif getattr(layer, "stateful", False):
        sel = sel._replace(reasons=sel.reasons + (STATEFUL_NOTE,))
    return f"{layer.name} ({type(layer).__name__}): {sel.name} — {sel.reason} [{when}]"


STATEFUL_NOTE = "stateful: the stored states are this kernel's initial state"


def _option_notes(layer: Any, masked: bool) -> tuple[str, ...]:
    """What a layer's options change about the kernels (before its first call)."""
    notes: tuple[str, ...] = ()
    if getattr(layer, "stateful", False):
        notes += (STATEFUL_NOTE,)
    if getattr(layer, "recurrent_dropout", 0.0) and hasattr(layer, "dropout_kernel_name"):
        from . import dropout  # noqa: PLC0415 - only for layers with recurrent_dropout

        why_not = dropout.eligible(layer.cell, masked)
        notes += ((f"in training, {why_not}",) if why_not else
                  (f"in training, {dropout.REASON} "
                   f"({'compiled' if dropout.compilable(layer.cell, layer.dtype) else 'NumPy'} loops)",))
    return notes


def kernel_report(layers: Any) -> list[str]:
    """One line per recurrent layer in ``layers`` (see :func:`describe`)."""
    lines = []
    masked = False  # does a mask (from a Masking layer) reach this layer?
    for layer in layers:
        if getattr(layer, "creates_mask", False):
            masked = True
        # wrappers (Bidirectional, RNN(cell), TimeDistributed) report their recurrent parts
        parts = layer.kernel_layers() if hasattr(layer, "kernel_layers") else [layer]
        notes = tuple(layer.kernel_notes()) if hasattr(layer, "kernel_notes") else ()
        found = [describe(part, masked=masked, notes=notes) for part in parts]
        if masked and hasattr(layer, "return_sequences"):
            masked = layer.return_sequences  # only a sequence output passes the mask on
        lines += [line for line in found if line is not None]
    return lines


def environment_report() -> list[str]:
    """What the fast kernels can use on this machine (for ``unrolled info``)."""
    lines = []
    missing = lstm_numba.missing_reason()
    lines.append("numba kernel: " + ("available" if missing is None else f"unavailable — {missing}"))
    if missing is None:
        import numba  # noqa: PLC0415 - only here, for its version

        lines.append(f"numba {numba.__version__}, threading for batch blocks: "
                     f"{lstm_numba.num_threads()} thread(s) (UNROLLED_NUM_THREADS)")
    if missing is None:
        from .runtime import loading  # noqa: PLC0415

        from .runtime import gemm_symbols  # noqa: PLC0415

        lines.append(f"compile mode: {loading.compile_mode()} (UNROLLED_COMPILE=background|wait)")
        gemm = gemm_symbols.find()
        lines.append("recurrent step products in compiled loops: packed panels "
                     "(core/kernels/runtime/_numba_panels.py)")
        lines.append("other matrix products in compiled loops: "
                     + (gemm.source if gemm else "none found (the compiled kernels cannot run)")
                     + " (UNROLLED_GEMM=scipy: SciPy's)")
        for compiled in compiled_modules():
            lines.append(f"  {compiled.label}: {compiled.describe()}")
    name, source = forced()
    lines.append(f"kernel override: {name} (from {source})" if name else
                 "kernel override: none (UNROLLED_KERNEL=reference|numpy|numba to force one)")
    try:
        import threadpoolctl  # noqa: PLC0415

        for info in threadpoolctl.threadpool_info():
            if info.get("user_api") == "blas":
                lines.append(f"BLAS: {info.get('internal_api')} {info.get('version')} "
                             f"kernel {info.get('architecture')}, {info.get('num_threads')} threads "
                             f"({os.path.basename(info.get('filepath', ''))})")
    except ImportError:
        lines.append("BLAS: threadpoolctl not installed (pip install 'unrolled[fast]'): the "
                     "BLAS kernel is unknown, and multithreaded BLAS calls around the small-step "
                     "numba loops may leave OpenBLAS workers spinning on the blocks' cores")
    for var in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        if os.environ.get(var):
            lines.append(f"{var}={os.environ[var]}")
    return lines


def compiled_modules() -> list[Any]:
    """Every compiled-kernel module (``runtime.loading.CompiledModule``, float64 variants
    included), for reports and ahead-of-time builds: the kernel modules are imported here
    so that each has registered its own."""
    from . import cells_numba, cells_train, dropout  # noqa: F401, PLC0415 - they register
    from .runtime import loading  # noqa: PLC0415

    return loading.registered()
