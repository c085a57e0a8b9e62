"""What names a run: the canonical JSON of its spec, the key derived from it, and the code
version recorded with it (see :mod:`rnnlab.runs.store` for how the store uses them)."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["canonical_json", "code_version", "spec_key"]


def canonical_json(spec: Mapping[str, Any]) -> str:
    """The canonical JSON text of a run spec: sorted keys, no whitespace, UTF-8, no NaN/inf.

    Raises ``TypeError`` if ``spec`` is not a mapping with string keys or holds values that JSON
    cannot represent, and ``ValueError`` for non-finite floats.
    """
    if not isinstance(spec, Mapping):
        raise TypeError(f"spec: expected a dict of JSON values, got {type(spec).__name__}")
    try:
        return json.dumps(
            spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except TypeError as error:
        raise TypeError(f"spec: must be JSON-serialisable ({error}); got {spec!r}") from None
    except ValueError as error:
        raise ValueError(f"spec: must not hold NaN or infinity ({error}); got {spec!r}") from None


def spec_key(spec: Mapping[str, Any]) -> str:
    """The run key of ``spec``: the SHA-256 hex digest of :func:`canonical_json`."""
    return hashlib.sha256(canonical_json(spec).encode("utf-8")).hexdigest()


@cache
def code_version() -> str:
    """``rnnlab.__version__``, plus ``+g<commit>`` when rnnlab is imported from a git checkout
    that tracks it (the commit of ``HEAD``; uncommitted changes are not marked)."""
    import rnnlab

    version = str(getattr(rnnlab, "__version__", "unknown"))
    package = Path(rnnlab.__file__).resolve().parent
    try:
        tracked = subprocess.run(
            ["git", "ls-files", "--error-unmatch", "__init__.py"],
            cwd=package,
            capture_output=True,
            timeout=5,
            check=False,
        )
        if tracked.returncode != 0:
            return version
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=package,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return version
    commit = head.stdout.strip()
    return f"{version}+g{commit[:12]}" if head.returncode == 0 and commit else version
