"""unrolled: recurrent neural networks you can see through.

Keras-compatible layers and models on a plain NumPy core with hand-derived backprop
through time. Start with::

    import unrolled
    model = unrolled.Sequential([unrolled.layers.LSTM(1, input_shape=(1, 2))])
    model.summary()      # 16 parameters, and where they come from
"""
from . import callbacks, layers, losses, metrics, optimizers
from .errors import ConfigError, DataError, InputShapeError, ModelFileError, UnrolledError
from .layers import Input
from .models import Sequential
from .random import set_random_seed

__version__ = "0.1.0"

# File formats need h5py; import them on first use so `import unrolled` stays fast.
_LAZY = {"load_model": "unrolled.io.keras_file", "save_model": "unrolled.io.keras_file"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'unrolled' has no attribute {name!r}")


__all__ = ["layers", "callbacks", "losses", "metrics", "optimizers", "Input", "Sequential", "set_random_seed", "load_model", "save_model", "UnrolledError",
           "InputShapeError", "ConfigError", "ModelFileError", "DataError", "__version__"]
