"""Keras-compatible layers: ``build`` creates weights, ``forward`` computes and returns a
cache, ``backward`` consumes it. See :class:`unrolled.layers.base.Layer`."""
from .base import Layer
from .dense import Dense
from .dropout import Dropout
from .input_layer import Input, InputLayer
from .gru import GRU
from .lstm import LSTM
from .masking import Masking
from .merge import Add, Average, Concatenate, Dot, Maximum, Minimum, Multiply, Subtract
from .simple_rnn import SimpleRNN
from .bidirectional import Bidirectional
from .time_distributed import TimeDistributed
from .rnn import RNN, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from .embedding import Embedding
from .reshaping import Flatten, Permute, RepeatVector, Reshape
from .activations import ELU, Activation, LeakyReLU, ReLU, Softmax
from .conv import Conv1D
from .pooling import AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, MaxPooling1D
from .normalization import BatchNormalization, LayerNormalization

__all__ = ["Layer", "Dense", "Dropout", "Input", "InputLayer", "LSTM", "GRU", "SimpleRNN", "Masking",
           "Bidirectional", "TimeDistributed",
           "RNN", "LSTMCell", "GRUCell", "SimpleRNNCell", "StackedRNNCells",
           "Embedding", "RepeatVector", "Flatten", "Reshape", "Permute",
           "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax",
           "Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D",
           "GlobalMaxPooling1D", "BatchNormalization", "LayerNormalization",
           "Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract"]
