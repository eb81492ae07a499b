"""Seeing through a recurrent model: where its parameters come from, every gate at every
step, what drove an output, how long each unit remembers, and one HTML report of it all.

::

    from unrolled import inspect
    inspect.report(model, x, feature_names=["temp", "wind"])     # HTML text (write_report: a file)
    inspect.attributions(model, x, baseline=None)                # integrated gradients, one sample
    inspect.class_attributions(classifier, x)                    # one per class
    inspect.unit_diagram(model, unit=0)                          # matplotlib Figure of one unit
    inspect.memory_lengths(model, x)                             # half-life of each unit, steps
    inspect.trace(model, x)["f"]                                 # the forget gate, (T, B, H)

matplotlib is imported only when a figure is drawn (``pip install 'unrolled[plot]'``).
"""
from .attributions import Attributions, attributions, class_attributions, predicted_class
from .diagram import unit_diagram
from .explain import explain, explain_gru, explain_lstm, explain_simple_rnn, param_counts
from .plots import plot_gates, plot_weights  # matplotlib is imported only when called
from .report import ForecastContext, report, write_report
from .trace import Contributions, Trace, trace
from .units import UnitStatistics, half_life, memory_lengths, unit_statistics

__all__ = ["Attributions", "Contributions", "ForecastContext", "Trace", "UnitStatistics",
           "attributions", "class_attributions", "explain", "explain_gru", "explain_lstm",
           "explain_simple_rnn", "half_life", "memory_lengths", "param_counts", "plot_gates",
           "plot_weights", "predicted_class", "report", "trace", "unit_diagram",
           "unit_statistics", "write_report"]
