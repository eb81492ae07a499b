"""Public optimizer API, named as ``keras.optimizers``: ``unrolled.optimizers.Adam()``,
``unrolled.optimizers.schedules.ExponentialDecay(...)``.

The implementations live in :mod:`unrolled.training.optimizers` and
:mod:`unrolled.training.schedules`.
"""
import sys

from .training import schedules
from .training.optimizers import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    Optimizer,
    RMSprop,
    deserialize,
    get,
    serialize,
)

# Let `from unrolled.optimizers.schedules import CosineDecay` work as it does in Keras,
# although this module is not a package.
sys.modules.setdefault(__name__ + ".schedules", schedules)

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "deserialize", "get",
           "schedules", "serialize"]
