"""Write a file so that readers see either the old content or the new, never a mix.

:func:`atomic_write` opens a temporary file in the target's directory (same filesystem,
so the final rename is atomic), lets the caller write into it, flushes and ``fsync``\\ s
it, then ``os.replace``\\ s it over the target. If anything raises before the rename, the
temporary file is removed and the previous file is left byte-identical.

A process killed mid-save cannot remove its temporary file, so the files are named to be
recognised: ``.NAME.unrolled-<pid>-<12 hex>.tmp``. Every save first removes such files in
its folder whose writing process is gone (:func:`remove_stale_temp_files`); a save in
progress in another live process is left alone.
"""
from __future__ import annotations

import contextlib
import os
import re
import secrets
import time
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
    remove_stale_temp_files(directory)
    tmp = os.path.join(directory, f".{name}.unrolled-{os.getpid()}-{secrets.token_hex(6)}.tmp")
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


_TEMP = re.compile(r"^\..+\.unrolled-(\d+)-[0-9a-f]{12}\.tmp$")
_OLD_TEMP = re.compile(r"^\..+\.[0-9a-f]{12}\.tmp$")   # unrolled <= 0.x: no pid in the name
_OLD_TEMP_AGE = 3600.0  # seconds: older than any save; only then is such a file removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would terminate it; leave the file to the age rule
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def remove_stale_temp_files(directory: str) -> list[str]:
    """Remove the temporary files of interrupted saves in ``directory``; return their names.

    A file ``.NAME.unrolled-<pid>-<hex>.tmp`` goes when process ``pid`` no longer runs
    (pids of this machine; on Windows, where a pid cannot be probed safely, when the file
    is an hour old); an older-style ``.NAME.<hex>.tmp`` goes when it is an hour old.
    Errors (a file removed meanwhile, no permission) are ignored: cleaning is best effort.
    """
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    now = time.time()
    for entry in names:
        match = _TEMP.match(entry)
        if match is None and _OLD_TEMP.match(entry) is None:
            continue
        full = os.path.join(directory, entry)
        try:
            old = now - os.lstat(full).st_mtime > _OLD_TEMP_AGE
            if match is not None and os.name != "nt":
                stale = not _alive(int(match.group(1)))
            else:
                stale = old
            if stale:
                os.remove(full)
                removed.append(entry)
        except OSError:
            continue
    return removed


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
