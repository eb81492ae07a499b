"""Keras-compatible layers: ``build`` creates weights, ``forward`` computes and returns a
cache, ``backward`` consumes it. See :class:`unrolled.layers.base.Layer`."""
from .base import Layer
from .dense import Dense
from .input_layer import Input, InputLayer
from .lstm import LSTM

__all__ = ["Layer", "Dense", "Input", "InputLayer", "LSTM"]
