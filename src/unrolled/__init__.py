"""unrolled: recurrent neural networks you can see through.

Keras-compatible layers and models on a plain NumPy core with hand-derived backprop
through time. Start with::

    import unrolled
    model = unrolled.Sequential([unrolled.layers.LSTM(1, input_shape=(1, 2))])
    model.summary()      # 16 parameters, and where they come from
"""
from . import layers
from .io import load_model, save_model
from .errors import ConfigError, DataError, InputShapeError, ModelFileError, UnrolledError
from .layers import Input
from .models import Sequential
from .random import set_random_seed

__version__ = "0.1.0"

__all__ = ["layers", "Input", "Sequential", "set_random_seed", "load_model", "save_model", "UnrolledError",
           "InputShapeError", "ConfigError", "ModelFileError", "DataError", "__version__"]
