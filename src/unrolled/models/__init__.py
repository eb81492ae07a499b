"""Models: :class:`Model` (``Model(inputs, outputs)``, Keras's Functional API),
:class:`Sequential` (a stack of layers, the special case), their summary and configs."""
from .functional import Functional
from .model import Model
from .sequential import Sequential

__all__ = ["Model", "Functional", "Sequential"]
