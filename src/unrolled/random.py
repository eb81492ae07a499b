"""Global seeding, so that the same seed gives bit-identical results on one machine.

Layers draw their initial weights, dropout masks and shuffles from generators spawned
here unless they were given a ``seed`` of their own (as Keras layers accept).

Each unseeded generator is the next child stream of the global seed sequence (the
``k``-th child is ``SeedSequence(entropy, spawn_key=(k,))``, what ``SeedSequence.spawn``
makes). :func:`reserve_rng` takes the next child's number at once but builds its
generator (~10 µs) only when it is first needed, so a ``predict`` that never shuffles
costs nothing while the streams after it stay what they were.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

# The global seed sequence, made on first use: drawing OS entropy needs ``numpy.random``
# (which imports ``secrets``/``hashlib``), and ``import unrolled`` should not pay for that.
_root: np.random.SeedSequence | None = None
_spawned = 0   # children of _root handed out so far (SeedSequence.spawn's counter)


def set_random_seed(seed: int) -> None:
    """Seed every random draw unrolled makes from now on (like ``keras.utils.set_random_seed``)."""
    global _root, _spawned
    _root = np.random.SeedSequence(int(seed))
    _spawned = 0


def _next_child() -> Callable[[], np.random.Generator]:
    global _root, _spawned
    if _root is None:
        _root = np.random.SeedSequence()
    root, index = _root, _spawned
    _spawned += 1
    return lambda: np.random.default_rng(np.random.SeedSequence(
        root.entropy, spawn_key=tuple(root.spawn_key) + (index,), pool_size=root.pool_size))


def make_rng(seed: int | None = None) -> np.random.Generator:
    """A generator seeded by ``seed``, or the next independent stream of the global seed."""
    if seed is not None:
        return np.random.default_rng(seed)
    return _next_child()()


def reserve_rng() -> Callable[[], np.random.Generator]:
    """The next stream of the global seed, reserved now, as a function that builds its
    generator when called (the same generator :func:`make_rng` would have returned)."""
    return _next_child()
