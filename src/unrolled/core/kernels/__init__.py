"""Fast LSTM kernels and the dispatcher that chooses between them and the reference.

See :mod:`.dispatch` for which path runs when (and how to force one), :mod:`.lstm_fast`
for the shared forward/backward, :mod:`.lstm_numba` for the optional compiled loops.
"""
from .dispatch import Selection, force, kernel_report, select_lstm_kernel

__all__ = ["Selection", "force", "kernel_report", "select_lstm_kernel"]
