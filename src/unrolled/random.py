"""Global seeding, so that the same seed gives bit-identical results on one machine.

Layers draw their initial weights, dropout masks and shuffles from generators spawned
here unless they were given a ``seed`` of their own (as Keras layers accept).
"""
from __future__ import annotations

import numpy as np

# The global seed sequence, made on first use: drawing OS entropy needs ``numpy.random``
# (which imports ``secrets``/``hashlib``), and ``import unrolled`` should not pay for that.
_root: np.random.SeedSequence | None = None


def set_random_seed(seed: int) -> None:
    """Seed every random draw unrolled makes from now on (like ``keras.utils.set_random_seed``)."""
    global _root
    _root = np.random.SeedSequence(int(seed))


def make_rng(seed: int | None = None) -> np.random.Generator:
    """A generator seeded by ``seed``, or the next independent stream of the global seed."""
    global _root
    if seed is not None:
        return np.random.default_rng(seed)
    if _root is None:
        _root = np.random.SeedSequence()
    (child,) = _root.spawn(1)
    return np.random.default_rng(child)
