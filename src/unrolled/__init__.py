"""unrolled: recurrent neural networks you can see through.

Keras-compatible layers and models on a plain NumPy core with hand-derived backprop
through time. Start with::

    import unrolled
    model = unrolled.Sequential([unrolled.layers.LSTM(1, input_shape=(1, 2))])
    model.summary()      # 16 parameters, and where they come from
"""
from . import layers
from .errors import ConfigError, DataError, InputShapeError, ModelFileError, UnrolledError
from .layers import Input
from .models import Model, Sequential
from .random import set_random_seed

__version__ = "0.1.0"

# Loaded on first use (PEP 562) so that `import unrolled` stays fast: the training
# submodules (`unrolled.losses` ... and the callbacks' csv/progress-bar machinery) and
# the file formats (which need h5py). `from unrolled import losses` and
# `import unrolled.losses` work as usual.
_LAZY_SUBMODULES = ("callbacks", "losses", "metrics", "optimizers", "distributed")
_LAZY = {"load_model": "unrolled.models.saving", "save_model": "unrolled.models.saving",
         "from_torch": "unrolled.models.torch_models", "to_torch": "unrolled.io.torch_import"}


def __getattr__(name: str):
    import importlib

    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")  # also sets the attribute
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'unrolled' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = ["layers", "callbacks", "losses", "metrics", "optimizers", "Input", "Model", "Sequential", "set_random_seed", "load_model", "save_model", "from_torch", "to_torch", "UnrolledError",
           "InputShapeError", "ConfigError", "ModelFileError", "DataError", "__version__"]
