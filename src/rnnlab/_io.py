"""Atomic writing, the one way rnnlab writes a file: a reader sees either the previous file or the
complete new one, never a torn write, even when the process dies half way or two processes write
the same file at once. Files get the permissions an ``open()`` would give them (0666 less the
user's umask), not the 0600 of a temporary file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

import torch


def file_mode() -> int:
    """The mode ``open()`` gives a new file: ``0o666`` less the process's umask (reading the umask
    means setting it; it is set straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_writer(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object]) -> Path:
    """Call ``write(handle)`` on a binary handle whose bytes end up at ``path`` atomically;
    returns ``path`` as a ``Path``.

    The bytes go to a temporary file in the same folder (same file system, so the rename is
    atomic), are flushed and fsynced, get mode ``0o666 & ~umask``, and the file is renamed over
    ``path`` with ``os.replace``. On any error the temporary file is removed and ``path`` is left
    as it was. Missing parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def atomic_write(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` atomically; returns ``path``."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    return atomic_writer(path, lambda handle: handle.write(payload))


def atomic_save(obj: object, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj)`` to ``path`` atomically; returns ``path`` as a ``Path``."""
    return atomic_writer(path, lambda handle: torch.save(obj, handle))
