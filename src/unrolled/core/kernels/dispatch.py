"""Which LSTM kernel runs, and why a faster one did not.

Three paths compute the same LSTM:

* ``reference`` — :mod:`unrolled.core.scan` + :mod:`unrolled.core.lstm`: any activation,
  any dtype; the test oracle.
* ``numpy`` — :mod:`.lstm_fast` with NumPy time loops: float32, tanh/sigmoid.
* ``numba`` — :mod:`.lstm_fast` with compiled time loops (:mod:`.lstm_numba`): float32,
  tanh/sigmoid, needs ``pip install 'unrolled[fast]'``.

GRU and SimpleRNN (:func:`select_cell_kernel`) have the ``reference`` path and a ``numba``
one: :mod:`.cells_numba` for inference, :mod:`.cells_train` for training.

:func:`select_lstm_kernel` picks one per call. Override it for tests or comparisons with
``UNROLLED_KERNEL=reference|numpy|numba`` in the environment or, inside a program,
``with force("reference"): ...`` (thread-local; it wins over the environment). A forced
fast kernel that cannot run the layer (e.g. an ``elu`` activation) falls back to
``reference`` with the reason; forcing ``numba`` without numba installed raises.

:func:`kernel_report` describes the choice for each recurrent layer of a model, as
``summary()`` and ``unrolled info`` print it.
"""
from __future__ import annotations

import contextlib
import os
import threading
import weakref
from typing import Any, Iterator, NamedTuple

import numpy as np

from . import blas_threads, cells_numba, lstm_numba
from .lstm_fast import NUMPY_LOOPS

KERNELS = ("reference", "numpy", "numba")
FAST_ACTIVATION, FAST_RECURRENT_ACTIVATION = "tanh", "sigmoid"

# Up to this many multiply-adds per timestep (batch·units·4·units) the numba kernel runs
# whole time loops compiled, in batch blocks; above it, NumPy's multithreaded sgemm per
# step with a compiled gate pass (see lstm_numba). Both beat the NumPy loop, whose ~20
# elementwise passes per step cost ~1 µs each when small and a trip through memory when big.
NUMBA_MAX_STEP_WORK = lstm_numba.LARGE_STEP_WORK

_local = threading.local()
_last: "weakref.WeakKeyDictionary[Any, Selection]" = weakref.WeakKeyDictionary()


class Selection(NamedTuple):
    kernel: Any          # LSTM Loops, a cells_numba.CellKernel (GRU/SimpleRNN inference), or
                         # None for the reference path
    name: str            # "reference", "numpy" or "numba"
    reason: str          # why this one (and why not a faster one)


@contextlib.contextmanager
def force(name: str | None) -> Iterator[None]:
    """Use kernel ``name`` for LSTM calls in this thread (None: automatic choice)."""
    if name is not None and name not in KERNELS:
        raise ValueError(f"force() expects one of {KERNELS} or None, got {name!r}.")
    previous = getattr(_local, "forced", None)
    _local.forced = name
    try:
        yield
    finally:
        _local.forced = previous


def forced() -> tuple[str | None, str]:
    """The forced kernel name (or None) and where it comes from."""
    name = getattr(_local, "forced", None)
    if name is not None:
        return name, "force()"
    env = os.environ.get("UNROLLED_KERNEL", "").strip().lower()
    if env in ("", "auto"):
        return None, ""
    if env not in KERNELS:
        raise ValueError(f"UNROLLED_KERNEL must be one of {KERNELS} or 'auto', got {env!r}.")
    return env, "UNROLLED_KERNEL"


def _options(layer_or_options: Any) -> dict[str, Any]:
    if isinstance(layer_or_options, dict):
        return layer_or_options
    cell = getattr(layer_or_options, "cell", None)
    return {
        "cell": type(cell).__name__,
        "activation": getattr(getattr(cell, "activation", None), "name", None),
        "recurrent_activation": getattr(getattr(cell, "recurrent_activation", None), "name", None),
        "dtype": np.dtype(getattr(layer_or_options, "dtype", "float32")),
        "units": getattr(layer_or_options, "units", None),
    }


def _ineligible(opts: dict[str, Any]) -> str | None:
    """Why the fast kernels cannot run these options, or None if they can."""
    if opts.get("cell") != "LSTMCell":
        return f"{opts.get('cell')} has no fast kernel yet"
    if np.dtype(opts.get("dtype", "float32")) != np.float32:
        return f"{np.dtype(opts['dtype'])} uses the reference path (fast kernels are float32)"
    if opts.get("activation") != FAST_ACTIVATION:
        return f"activation {opts.get('activation')!r} has no compiled kernel (only 'tanh')"
    if opts.get("recurrent_activation") != FAST_RECURRENT_ACTIVATION:
        return (f"recurrent_activation {opts.get('recurrent_activation')!r} has no compiled "
                "kernel (only 'sigmoid')")
    return None


def select_lstm_kernel(layer_or_options: Any, batch: int, timesteps: int,
                       training: bool) -> Selection:
    """``(kernel, name, reason)`` for one call of an LSTM layer (or an options dict with
    keys cell, activation, recurrent_activation, dtype, units)."""
    opts = _options(layer_or_options)
    name, source = forced()
    why_not = _ineligible(opts)
    if name == "reference":
        return Selection(None, "reference", f"forced by {source}")
    if why_not is not None:
        prefix = f"{name} forced by {source}, but " if name else ""
        return Selection(None, "reference", prefix + why_not)
    if name == "numba":
        lstm_numba.impl()  # raises ImportError naming the extra if numba is missing
        return Selection(lstm_numba.NUMBA_LOOPS, "numba", f"forced by {source}")
    if name == "numpy":
        return Selection(NUMPY_LOOPS, "numpy", f"forced by {source}")
    units = int(opts.get("units") or 1)
    step_work = batch * units * 4 * units
    missing = lstm_numba.missing_reason()
    if missing is not None:
        return Selection(NUMPY_LOOPS, "numpy", missing)
    if step_work > NUMBA_MAX_STEP_WORK:
        if not training and lstm_numba.splits_units(units):
            how = ("units-major, the units split over two threads: per step each runs a "
                   "single-threaded sgemm and its gate pass")
        else:
            how = ("NumPy's multithreaded sgemm per step, then one compiled pass over the "
                   "gates" + ("" if training else " (units-major)"))
        return Selection(lstm_numba.NUMBA_LOOPS, "numba",
                         f"large step (batch·4·units² = {step_work:,}): {how}")
    reason = (f"small step (batch·4·units² = {step_work:,}): compiled time loop avoids "
              "NumPy's per-call overhead")
    if (training and len(lstm_numba.blocks(batch, units, timesteps)) > 1
            and blas_threads.available()):
        reason += ("; the GEMMs around it run single-threaded on the blocks' threads, so no "
                   "OpenBLAS worker spins on their cores")
    return Selection(lstm_numba.NUMBA_LOOPS, "numba", reason)


# -- GRU and SimpleRNN: numba kernels (inference: cells_numba, training: cells_train) ---------

CELL_KERNEL_CELLS = ("GRUCell", "SimpleRNNCell")


def _cell_ineligible(opts: dict[str, Any]) -> str | None:
    """Why the GRU/SimpleRNN kernels cannot run these options, or None."""
    if np.dtype(opts.get("dtype", "float32")) != np.float32:
        return f"{np.dtype(opts['dtype'])} uses the reference path (fast kernels are float32)"
    if opts.get("activation") != FAST_ACTIVATION:
        return f"activation {opts.get('activation')!r} has no compiled kernel (only 'tanh')"
    if (opts.get("cell") == "GRUCell"
            and opts.get("recurrent_activation") != FAST_RECURRENT_ACTIVATION):
        return (f"recurrent_activation {opts.get('recurrent_activation')!r} has no compiled "
                "kernel (only 'sigmoid')")
    return None


def select_cell_kernel(layer_or_options: Any, batch: int, timesteps: int,
                       training: bool) -> Selection:
    """``(kernel, name, reason)`` for one call of a GRU or SimpleRNN layer. The kernel is a
    :class:`.cells_numba.CellKernel`: its ``infer`` runs inference (one compiled call per
    batch block for small steps), its ``forward``/``backward`` training (sgemm per step +
    compiled gate passes, :mod:`.cells_train`)."""
    opts = _options(layer_or_options)
    cell = opts.get("cell")
    name, source = forced()
    if name == "reference":
        return Selection(None, "reference", f"forced by {source}")
    prefix = f"{name} forced by {source}, but " if name else ""
    why_not = _cell_ineligible(opts)
    if why_not is not None:
        return Selection(None, "reference", prefix + why_not)
    if name == "numpy":
        return Selection(None, "reference", prefix + f"{cell} has no NumPy kernel (only a "
                         "numba one)")
    if name == "numba":
        cells_numba.impl()  # raises ImportError naming the extra if numba is missing
        return Selection(cells_numba.KERNELS[cell], "numba", f"forced by {source}")
    missing = cells_numba.missing_reason()
    if missing is not None:
        return Selection(None, "reference", f"{cell} kernels need numba: {missing}")
    units = int(opts.get("units") or 1)
    gates = 3 if cell == "GRUCell" else 1
    step_work = batch * units * gates * units
    if training:
        return Selection(cells_numba.KERNELS[cell], "numba",
                         f"training (batch·{gates}·units² = {step_work:,}): NumPy's "
                         "multithreaded sgemm per step, one compiled gate pass forward and "
                         "backward, weight gradients as GEMMs over all timesteps")
    if cells_numba.is_large(batch, units, gates):
        return Selection(cells_numba.KERNELS[cell], "numba",
                         f"inference, large step (batch·{gates}·units² = {step_work:,}): "
                         "NumPy's multithreaded sgemm per step, then one compiled gate pass")
    return Selection(cells_numba.KERNELS[cell], "numba",
                     f"inference, small step (batch·{gates}·units² = {step_work:,}): compiled "
                     "time loop avoids NumPy's per-call overhead")


def select_kernel(layer_or_options: Any, batch: int, timesteps: int,
                  training: bool) -> Selection:
    """The rule for any recurrent layer: :func:`select_cell_kernel` for GRU/SimpleRNN,
    else :func:`select_lstm_kernel`."""
    if _options(layer_or_options).get("cell") in CELL_KERNEL_CELLS:
        return select_cell_kernel(layer_or_options, batch, timesteps, training)
    return select_lstm_kernel(layer_or_options, batch, timesteps, training)


_MEMO_ENTRIES = 8


def select_for_layer(layer: Any, batch: int, timesteps: int, training: bool) -> Selection:
    """:func:`select_lstm_kernel` for a layer's call, memoised on the layer and recorded
    for :func:`kernel_report`.

    The choice depends only on what the key holds: the override (force() / environment),
    the batch size, training or not, and the options (dtype, cell, activations — compared
    by identity, so replacing one re-selects). Re-deciding on every call cost ~10 µs, a third of a tiny call.
    """
    cell = layer.cell
    key = (getattr(_local, "forced", None), os.environ.get("UNROLLED_KERNEL"), batch,
           layer.dtype, cell, getattr(cell, "activation", None),
           getattr(cell, "recurrent_activation", None), bool(training))
    memo = layer.__dict__.get("_kernel_memo")
    if memo is None:
        memo = layer.__dict__["_kernel_memo"] = {}
    sel = memo.get(key)
    if sel is None:
        sel = select_kernel(layer, batch, timesteps, training)
        if len(memo) >= _MEMO_ENTRIES:
            memo.clear()
        memo[key] = sel
    if layer.__dict__.get("_kernel_last") is not sel:   # record only when it changes
        record(layer, sel)
        layer.__dict__["_kernel_last"] = sel
    return sel


# The fast kernels have no mask input: a masked call (Masking layer, ``mask=``) always
# runs the reference scan, whatever is forced.
MASKED = Selection(None, "reference", "masking uses the reference path")


def select_masked(layer: Any) -> Selection:
    """The rule for a masked call of ``layer``: :data:`MASKED`, recorded for the report."""
    if layer.__dict__.get("_kernel_last") is not MASKED:
        record(layer, MASKED)
        layer.__dict__["_kernel_last"] = MASKED
    return MASKED


def record(layer: Any, selection: Selection) -> None:
    """Remember the kernel a layer last used (for :func:`kernel_report`)."""
    try:
        _last[layer] = selection
    except TypeError:  # pragma: no cover - not weak-referenceable
        pass


def describe(layer: Any, batch: int = 32, masked: bool = False) -> str | None:
    """One line: which kernel ``layer`` used (or would use) and why; None if not recurrent."""
    if getattr(layer, "cell", None) is None:
        return None
    sel = _last.get(layer)
    when = "last call"
    if sel is None and masked:
        sel, when = MASKED, "input masked, not yet called"
    elif sel is None:
        shape = getattr(layer, "build_input_shape", None) or (None, None, None)
        steps = shape[1] or 1
        try:
            sel = select_kernel(layer, batch, steps, training=False)
        except ImportError as err:
            sel = Selection(None, "reference", str(err))
        when = f"batch {batch}, not yet called"
    return f"{layer.name} ({type(layer).__name__}): {sel.name} — {sel.reason} [{when}]"


def kernel_report(layers: Any) -> list[str]:
    """One line per recurrent layer in ``layers`` (see :func:`describe`)."""
    lines = []
    masked = False  # does a mask (from a Masking layer) reach this layer?
    for layer in layers:
        if getattr(layer, "creates_mask", False):
            masked = True
        line = describe(layer, masked=masked)
        if masked and hasattr(layer, "return_sequences"):
            masked = layer.return_sequences  # only a sequence output passes the mask on
        if line is not None:
            lines.append(line)
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
