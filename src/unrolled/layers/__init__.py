"""Keras-compatible layers: ``build`` creates weights, ``forward`` computes and returns a
cache, ``backward`` consumes it. See :class:`unrolled.layers.base.Layer`."""
from .base import Layer
from .dense import Dense
from .dropout import Dropout
from .input_layer import Input, InputLayer
from .gru import GRU
from .lstm import LSTM
from .masking import Masking
from .simple_rnn import SimpleRNN
from .bidirectional import Bidirectional
from .time_distributed import TimeDistributed

__all__ = ["Layer", "Dense", "Dropout", "Input", "InputLayer", "LSTM", "GRU", "SimpleRNN", "Masking",
           "Bidirectional", "TimeDistributed"]
