"""Atomic saving: a reader sees either the previous file or the complete new one, never a torn
write, even when the process dies half way or two processes write the same file at once."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import torch


def atomic_save(obj: object, path: str | os.PathLike[str]) -> Path:
    """``torch.save(obj)`` to ``path`` atomically; returns ``path`` as a ``Path``.

    The bytes go to a temporary file in the same folder (same file system, so the rename is
    atomic), are flushed and fsynced, and the file is then renamed over ``path`` with
    ``os.replace``. On any error the temporary file is removed and ``path`` is left as it was.
    Missing parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            torch.save(obj, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path
