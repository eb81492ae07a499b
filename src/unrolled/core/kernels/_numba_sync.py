"""Acquire/release flags for compiled loops that meet once per timestep (numba only).

Large inference splits the units over two threads that must meet after every step: each
step's product reads the whole hidden state, half of it written by the other thread. With
a Python ``threading.Barrier`` (a futex wake-up and the GIL, for each thread), 100 steps
of products at (128, 512) took 16 ms longer than the products alone (~10 %), so the
threads meet inside the compiled loop instead, on shared int64 counters ("thread p has
finished step t" is ``flags[p] > t``): the whole call got 5 % faster (paired A/B).

The two operations are LLVM atomics, not plain array accesses: a plain load in a spin
loop may be hoisted out of it (an endless loop), and on weakly ordered CPUs (ARM) a plain
store of the flag could become visible before the hidden-state stores it announces.
``store_release`` publishes every store made before it; ``load_acquire`` sees them.

numba's disk cache of a function tracks its own source file only: after editing this
module, touch ``_numba_lstm.py`` (or delete its ``__pycache__``) so the loops recompile.
"""
from __future__ import annotations

from numba.core import cgutils, types
from numba.extending import intrinsic, overload


def load_acquire(flags, index):
    """``flags[index]`` (int64, 1-D), read with acquire ordering. (This Python body runs
    only under ``NUMBA_DISABLE_JIT=1``, where the GIL orders every access.)"""
    return flags[index]


def store_release(flags, index, value):
    """``flags[index] = value`` (int64, 1-D), written with release ordering. (Python body:
    see :func:`load_acquire`.)"""
    flags[index] = value


def _flag_pointer(context, builder, signature, args):
    array_type, index_type = signature.args[:2]
    array = context.make_array(array_type)(context, builder, args[0])
    index = context.cast(builder, args[1], index_type, types.intp)
    return cgutils.get_item_pointer(context, builder, array_type, array, [index])


def _is_flags(array) -> bool:
    return isinstance(array, types.Array) and array.dtype == types.int64 and array.ndim == 1


@intrinsic
def _load_acquire(typingctx, flags, index):
    if not (_is_flags(flags) and isinstance(index, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        return builder.load_atomic(_flag_pointer(context, builder, signature, args),
                                   "acquire", 8)
    return types.int64(flags, index), codegen


@intrinsic
def _store_release(typingctx, flags, index, value):
    if not (_is_flags(flags) and isinstance(index, types.Integer)
            and isinstance(value, types.Integer)):
        return None

    def codegen(context, builder, signature, args):
        stored = context.cast(builder, args[2], signature.args[2], types.int64)
        builder.store_atomic(stored, _flag_pointer(context, builder, signature, args),
                             "release", 8)
        return context.get_dummy_value()
    return types.void(flags, index, value), codegen


@overload(load_acquire)
def _load_acquire_compiled(flags, index):
    return lambda flags, index: _load_acquire(flags, index)


@overload(store_release)
def _store_release_compiled(flags, index, value):
    return lambda flags, index, value: _store_release(flags, index, value)
