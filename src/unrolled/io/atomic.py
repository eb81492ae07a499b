"""Write a file so that readers see either the old content or the new, never a mix.

:func:`atomic_write` opens a temporary file in the target's directory (same filesystem,
so the final rename is atomic), lets the caller write into it, flushes and ``fsync``\\ s
it, then ``os.replace``\\ s it over the target. If anything raises before the rename, the
temporary file is removed and the previous file is left byte-identical.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from typing import BinaryIO, Iterator

from ..errors import ConfigError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """``with atomic_write("model.keras") as f: f.write(data)`` — all or nothing.

    The new file gets the old file's permission bits, or the process umask's default
    for a new file (``0o666 & ~umask``), exactly as a plain ``open(path, "wb")`` would.
    """
    target = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(target)
    tmp = os.path.join(directory, f".{name}.{secrets.token_hex(6)}.tmp")
    # O_EXCL: never clobber anything; mode 0o666 lets the umask apply as for open().
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if os.path.exists(target):
            os.chmod(tmp, os.stat(target).st_mode & 0o7777)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise
    _fsync_directory(directory)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path``'s content with ``data`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path) as f:
        f.write(data)


def check_writable_path(path: str) -> str:
    """Fail before any work is done if ``path`` cannot be written: its directory must
    exist and ``path`` must not be a directory itself."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConfigError(f"cannot write {path!r}: directory {directory!r} does not exist")
    if os.path.isdir(path):
        raise ConfigError(f"cannot write {path!r}: it is a directory")
    return path


def _fsync_directory(directory: str) -> None:
    """Persist the rename itself (POSIX); silently skipped where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
