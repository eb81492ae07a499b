"""Explanations: where parameter counts come from, gate-by-gate traces, plots."""
from .explain import explain, explain_gru, explain_lstm, explain_simple_rnn, param_counts
from .plots import plot_gates, plot_weights  # matplotlib is imported only when called
from .trace import Contributions, Trace, trace

__all__ = ["explain", "explain_gru", "explain_lstm", "explain_simple_rnn", "param_counts",
           "plot_gates", "plot_weights", "Contributions", "Trace", "trace"]
