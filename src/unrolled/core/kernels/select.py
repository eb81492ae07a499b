"""Which sequence kernel runs a recurrent layer's call, and why: :func:`select` takes a
:class:`KernelRequest` (the call's cell, dtype, activations, sizes, training, mask) and
returns a :class:`Choice` -- the kernel, its name and the reasons as data (what
``summary()`` and ``unrolled info`` print).

Kernels (all implement :class:`.interface.SequenceKernel`):

* ``reference`` -- :data:`.reference.REFERENCE`: anything (any cell, dtype, activation,
  mask); the test oracle.
* ``numpy`` -- :data:`.lstm_kernel.NUMPY_LSTM`: LSTM, float32 or float64, tanh/sigmoid.
* ``numba`` -- compiled loops (``pip install 'unrolled[fast]'``): the LSTM
  (:data:`.lstm_kernel.NUMBA_LSTM`), GRU and SimpleRNN (:mod:`.cells_numba`), float32 or
  float64 (each dtype's signatures are a separate background build), tanh/sigmoid.

Every fast kernel takes masks of any pattern in its time loop and ``go_backwards``.

Override the choice with ``UNROLLED_KERNEL=reference|numpy|numba`` in the environment or,
inside a program, ``with force("reference"): ...`` (thread-local; it wins over the
environment). A forced fast kernel that cannot run the call (e.g. an ``elu`` activation)
falls back to ``reference`` with the reason; forcing ``numba`` without numba raises.
"""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np

from ..gru import GRUCell
from ..lstm import LSTMCell
from ..simple_rnn import SimpleRNNCell
from . import cells_numba, cells_train, lstm_numba
from .interface import SequenceKernel
from .masked import masked
from .lstm_kernel import NUMBA_LSTM, NUMPY_LSTM
from .reference import REFERENCE
from .runtime import blas as blas_threads
from .runtime import loading

KERNELS = ("reference", "numpy", "numba")
FAST_ACTIVATION, FAST_RECURRENT_ACTIVATION = "tanh", "sigmoid"

# Up to this many multiply-adds per timestep (batch·units·4·units) the LSTM's numba kernel
# runs whole time loops compiled, in batch blocks; above it, NumPy's multithreaded sgemm
# per step with a compiled gate pass (see lstm_numba).
NUMBA_MAX_STEP_WORK = lstm_numba.LARGE_STEP_WORK


class KernelRequest(NamedTuple):
    """What the choice depends on, for one call."""

    cell: type                      # the cell's class (LSTMCell, GRUCell, ...)
    dtype: np.dtype
    activation: str | None
    recurrent_activation: str | None
    units: int
    batch: int
    timesteps: int
    training: bool
    masked: bool = False
    features: int = 0               # input features per step (0: not known yet)


class Choice(NamedTuple):
    kernel: SequenceKernel
    name: str                       # "reference", "numpy" or "numba"
    reasons: tuple[str, ...]        # why this one, and why not a faster one

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


class _Family(NamedTuple):
    """The fast kernels of one cell type."""

    gates: int
    numpy: SequenceKernel | None
    numba: SequenceKernel
    gated: bool                     # does it have a recurrent_activation?
    # (training, float64) -> the compiled modules the call needs
    compiled: Callable[[bool, bool], tuple[loading.CompiledModule, ...]]

    def fallback(self) -> tuple[SequenceKernel, str]:
        return (self.numpy, "numpy") if self.numpy is not None else (REFERENCE, "reference")


def _cell_modules(training: bool, wide: bool) -> tuple[loading.CompiledModule, ...]:
    if training:
        return (cells_train.COMPILED64 if wide else cells_train.COMPILED,)
    return (cells_numba.COMPILED64 if wide else cells_numba.COMPILED,)


def _lstm_modules(training: bool, wide: bool) -> tuple[loading.CompiledModule, ...]:
    # float64 signatures need the float32 module loaded too (the kernels call impl()).
    return (lstm_numba.COMPILED, lstm_numba.COMPILED64) if wide else (lstm_numba.COMPILED,)


_FAMILIES: dict[type, _Family] = {
    LSTMCell: _Family(4, NUMPY_LSTM, NUMBA_LSTM, True, _lstm_modules),
    GRUCell: _Family(3, None, cells_numba.GRU_KERNEL, True, _cell_modules),
    SimpleRNNCell: _Family(1, None, cells_numba.SIMPLE_RNN_KERNEL, False, _cell_modules),
}
FAST_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

# -- overrides -----------------------------------------------------------------------------

_local = threading.local()


@contextlib.contextmanager
def force(name: str | None) -> Iterator[None]:
    """Use kernel ``name`` for recurrent calls in this thread (None: automatic choice)."""
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


# -- the rule --------------------------------------------------------------------------------

def _ineligible(req: KernelRequest, family: _Family | None) -> str | None:
    """Why no fast kernel can run this request, or None if one can."""
    if family is None:
        return f"{req.cell.__name__} has no fast kernel"
    if np.dtype(req.dtype) not in FAST_DTYPES:
        return (f"{np.dtype(req.dtype)} uses the reference path (fast kernels are float32 "
                "and float64)")
    if req.activation != FAST_ACTIVATION:
        return f"activation {req.activation!r} has no compiled kernel (only 'tanh')"
    if family.gated and req.recurrent_activation != FAST_RECURRENT_ACTIVATION:
        return (f"recurrent_activation {req.recurrent_activation!r} has no compiled "
                "kernel (only 'sigmoid')")
    return None


MASKED_REASON = ("masked: each sample's unmasked steps run together, samples grouped by "
                 "their count, one kernel call per group (kernels/masked.py)")
MASKED_HELD_REASON = ("masked: each sample's unmasked steps run together, all samples in "
                      "one call, each held after its own count (kernels/masked.py)")
MASK_IN_LOOP_REASON = ("masked: the time loop skips each sample's masked steps (state "
                       "carried over, the step's product over the active rows only)")


def select(req: KernelRequest) -> Choice:
    """The kernel for ``req``, with the reasons. A masked call runs on a fast kernel that
    takes masks in its loop, or through :class:`.masked.MaskedKernel` (the reference scan
    takes masks itself)."""
    choice = _select(req)
    if req.masked and choice.kernel is not REFERENCE:
        if getattr(choice.kernel, "takes_masks", False):
            return Choice(choice.kernel, choice.name, choice.reasons + (MASK_IN_LOOP_REASON,))
        return Choice(masked(choice.kernel), choice.name, choice.reasons + (MASKED_REASON,))
    return choice


def _select(req: KernelRequest) -> Choice:
    name, source = forced()
    if name == "reference":
        return Choice(REFERENCE, "reference", (f"forced by {source}",))
    family = _FAMILIES.get(req.cell)
    prefix = f"{name} forced by {source}, but " if name else ""
    why_not = _ineligible(req, family)
    if why_not is not None:
        return Choice(REFERENCE, "reference", (prefix + why_not,))
    assert family is not None
    label = req.cell.__name__
    if name == "numpy":
        if family.numpy is None:
            return Choice(REFERENCE, "reference",
                          (prefix + f"{label} has no NumPy kernel (only a numba one)",))
        return Choice(family.numpy, "numpy", (f"forced by {source}",))
    if name == "numba":
        for module in family.compiled(req.training, _wide(req)):
            module.get()   # waits for the build; ImportError naming the extra without numba
        return Choice(family.numba, "numba", (f"forced by {source}",))
    missing = loading.missing_reason()
    if missing is not None:
        if family.numpy is not None:
            return Choice(family.numpy, "numpy", (missing,))
        return Choice(REFERENCE, "reference", (f"{label} kernels need numba: {missing}",))
    not_ready = [m for m in family.compiled(req.training, _wide(req)) if not m.ready]
    if not_ready:
        why = _not_ready(not_ready)
        if why is not None:
            kernel, fallback = family.fallback()
            return Choice(kernel, fallback, (why,))
    if family.gates == 4:
        return Choice(family.numba, "numba", _lstm_reasons(req))
    return Choice(family.numba, "numba", _cell_reasons(req, family.gates))


def _wide(req: KernelRequest) -> bool:
    return np.dtype(req.dtype) == np.float64


def _not_ready(modules: list[loading.CompiledModule]) -> str | None:
    """Why the compiled kernels cannot run this call yet (None: they can now). Starts the
    background build (or, with ``UNROLLED_COMPILE=wait``, builds now)."""
    wait = loading.compile_mode() == "wait"
    for module in modules:
        if module.state == "failed":
            return f"the numba kernels failed to build ({module.error}); using the fallback"
        if wait:
            try:
                module.get()
            except Exception:  # noqa: BLE001 - reported as the reason
                return f"the numba kernels failed to build ({module.error}); using the fallback"
        else:
            module.start()
    if wait:
        return None
    return ("the numba kernels are building in the background (UNROLLED_COMPILE=wait makes "
            "the first call wait instead); this kernel runs until they are ready")


def _lstm_reasons(req: KernelRequest) -> tuple[str, ...]:
    units = int(req.units or 1)
    step_work = req.batch * units * 4 * units
    features = int(req.features or units)
    if step_work > NUMBA_MAX_STEP_WORK:
        if not req.training and lstm_numba.infers_in_blocks(req.batch, units, features):
            how = ("batch blocks, one per thread, each step's product on [U; W] packed into "
                   "panels once per call")
        elif not req.training and lstm_numba.splits_units(units):
            how = ("units-major, the units split over two threads: per step each runs a "
                   "single-threaded sgemm and its gate pass")
        else:
            how = ("NumPy's multithreaded sgemm per step, then one compiled pass over the "
                   "gates" + ("" if req.training else " (units-major)"))
        return (f"large step (batch·4·units² = {step_work:,}): {how}",)
    reasons = (f"small step (batch·4·units² = {step_work:,}): compiled time loop avoids "
               "NumPy's per-call overhead",)
    if (req.training and len(lstm_numba.blocks(req.batch, units, req.timesteps)) > 1
            and blas_threads.available()):
        reasons += ("the GEMMs around it run single-threaded on the blocks' threads, so no "
                    "OpenBLAS worker spins on their cores",)
    return reasons


def _cell_reasons(req: KernelRequest, gates: int) -> tuple[str, ...]:
    units = int(req.units or 1)
    step_work = req.batch * units * gates * units
    if req.training:
        return (f"training (batch·{gates}·units² = {step_work:,}): NumPy's multithreaded "
                "sgemm per step, one compiled gate pass forward and backward, weight "
                "gradients as GEMMs over all timesteps",)
    if cells_numba.is_large(req.batch, units, gates):
        return (f"inference, large step (batch·{gates}·units² = {step_work:,}): NumPy's "
                "multithreaded sgemm per step, then one compiled gate pass",)
    return (f"inference, small step (batch·{gates}·units² = {step_work:,}): compiled time "
            "loop avoids NumPy's per-call overhead",)


# -- from a layer ----------------------------------------------------------------------------

def request_for(layer: Any, batch: int, timesteps: int, training: bool,
                masked: bool = False) -> KernelRequest:
    """The :class:`KernelRequest` of a call of a recurrent ``layer``."""
    cell = layer.cell
    return KernelRequest(
        type(cell), np.dtype(getattr(layer, "dtype", "float32")),
        getattr(getattr(cell, "activation", None), "name", None),
        getattr(getattr(cell, "recurrent_activation", None), "name", None),
        int(getattr(layer, "units", 1) or 1), int(batch), int(timesteps), bool(training),
        bool(masked), int(getattr(layer, "features", 0) or 0))


# The memo key reads the override on every call. os.environ.get encodes the key and
# decodes the value each time (~1 µs, a fourteenth of a tiny layer call); the key only has
# to change when the variable does, so it reads the raw mapping that os.environ keeps in
# step with every change made through it (CPython's ``_data``, bytes on POSIX), and falls
# back to os.environ.get where there is none.
_RAW_ENVIRON = getattr(os.environ, "_data", None)
_RAW_OVERRIDE_KEY: Any = None
try:
    _RAW_OVERRIDE_KEY = os.environ.encodekey("UNROLLED_KERNEL")  # type: ignore[attr-defined]
except AttributeError:
    _RAW_ENVIRON = None


def _override_in_environment() -> Any:
    if _RAW_ENVIRON is None:
        return os.environ.get("UNROLLED_KERNEL")
    return _RAW_ENVIRON.get(_RAW_OVERRIDE_KEY)


def memo_key(layer: Any, batch: int, training: bool, masked: bool) -> tuple[Any, ...]:
    """What a layer's remembered choice depends on: the override (force() / environment),
    the batch size, training, the mask, the options (dtype, cell, activations -- compared
    by identity, so replacing one re-selects) and the compiled modules' state (a layer
    switches to the compiled kernels once their background build is done). Timesteps only
    change the reasons' wording, so they are left out."""
    cell = layer.cell
    return (getattr(_local, "forced", None), _override_in_environment(), batch,
            layer.dtype, cell, getattr(cell, "activation", None),
            getattr(cell, "recurrent_activation", None), bool(training), bool(masked),
            loading.generation())
