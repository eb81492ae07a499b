"""The recurrent layers' sequence kernels and the selector that chooses between them.

:mod:`.interface` defines what a kernel provides (forward, backward, typed saved values);
:mod:`.reference` (the scan, the oracle), :mod:`.lstm_kernel` (NumPy / numba LSTM loops)
and :mod:`.cells_numba` (GRU, SimpleRNN) implement it; :mod:`.select` picks one per call
and says why; :mod:`.dispatch` reports the choice (``summary()``, ``unrolled info``).
"""
from .dispatch import Selection, kernel_report, select_lstm_kernel
from .select import Choice, KernelRequest, force

__all__ = ["Choice", "KernelRequest", "Selection", "force", "kernel_report",
           "select_lstm_kernel"]
