"""Models: :class:`Sequential` (a stack of layers) and its summary."""
from .sequential import Sequential

__all__ = ["Sequential"]
