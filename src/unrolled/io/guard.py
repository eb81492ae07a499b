"""One error type out of every loader: whatever a damaged file makes a library raise
(h5py, zipfile, zlib, json, numpy, struct ...) becomes :class:`ModelFileError`.

Loaders check what they can and say so; :func:`file_errors` is the net under them, so
that a check nobody thought of still ends in the documented error, with the path and
the original exception named. unrolled's own errors (already explained) pass through.
A missing path or a directory raise :class:`MissingModelFileError`, which is also the
matching ``OSError`` (``FileNotFoundError`` / ``IsADirectoryError``).
"""
from __future__ import annotations

import contextlib
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator

from ..errors import ModelFileError, UnrolledError

# What reading untrusted bytes can raise, besides our own errors. MemoryError is here on
# purpose: the caps (limits.py) keep honest and hostile files far below it, and if one
# ever slips through the user still gets the file's name, not a traceback.
_FILE_ERRORS = (OSError, EOFError, ValueError, TypeError, KeyError, IndexError, AttributeError,
                RuntimeError, OverflowError, RecursionError, MemoryError, zipfile.BadZipFile,
                zlib.error, struct.error, UnicodeError, NotImplementedError)


class MissingModelFileError(ModelFileError, FileNotFoundError):
    """The model path does not exist (also a ``FileNotFoundError``)."""


class ModelPathIsDirectoryError(ModelFileError, IsADirectoryError):
    """The model path is a directory (also an ``IsADirectoryError``)."""


def check_file(path: str | os.PathLike[str], kind: str = "model file") -> str:
    """``path`` as a str if it is an existing regular file, else the error saying what it is."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ModelPathIsDirectoryError(f"{path} is a directory, not a {kind}.")
    if not os.path.exists(path):
        raise MissingModelFileError(f"{kind} not found: {path}")
    return path


@contextlib.contextmanager
def file_errors(what: str) -> Iterator[None]:
    """``with file_errors(path): ...`` — any library error becomes ModelFileError(what: ...)."""
    try:
        yield
    except UnrolledError:
        raise
    except _FILE_ERRORS as err:
        detail = str(err)[:300]
        raise ModelFileError(f"{what}: cannot be read ({type(err).__name__}: {detail}); the "
                             "file is corrupt, truncated or not of this kind.") from err


__all__ = ["file_errors", "check_file", "MissingModelFileError", "ModelPathIsDirectoryError"]
