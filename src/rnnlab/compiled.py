"""C++ twins of a few hot loops, compiled on first use.

Where a time loop issues many small tensor operations per step, the Python dispatch around
them costs more than their arithmetic. rnnlab keeps such loops in Python, as the reference, and
ships C++ sources beside them that compute the same with far fewer operations:

- ``ensemble_scans`` (``training/ensemble_scans.cpp``): the seed ensembles' Elman, LSTM and
  GRU scans for tiny networks (:mod:`rnnlab.training.ensemble_native`).

(A C++ port of the single-model fused LSTM's time loops, the same ATen operations without
Python's dispatch, saved at most 4% at the benchmarked sizes and was dropped: there each
operation's own work, not its dispatch, dominates; ``benchmarks/RESULTS.md``, recurrent.)

:func:`load` builds one with ``torch.utils.cpp_extension.load`` the first time it is asked for
(a C++ compiler and ninja are needed; about half a minute each, once per machine: torch caches
the build in ``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``, and rebuilds it
when the source changes). Where it cannot be built, or with the environment variable
``RNNLAB_NATIVE=0``, it returns None and the callers run their Python loops;
:func:`failure` says why. The tests compare every compiled loop with its Python twin.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from pathlib import Path
from types import ModuleType

__all__ = ["SOURCES", "failure", "load"]

_PACKAGE = Path(__file__).parent

#: name -> the C++ source, relative to the package
SOURCES = {"ensemble_scans": "training/ensemble_scans.cpp"}

_failures: dict[str, str] = {}
_log = logging.getLogger(__name__)


@cache
def load(name: str) -> ModuleType | None:
    """The compiled module ``name`` (one of :data:`SOURCES`), built on the first call; None
    where it cannot be built or ``RNNLAB_NATIVE=0`` (then :func:`failure` says why)."""
    if name not in SOURCES:
        raise ValueError(f"name must be one of {sorted(SOURCES)}, got {name!r}")
    if os.environ.get("RNNLAB_NATIVE", "1") == "0":
        _failures[name] = "disabled by RNNLAB_NATIVE=0"
        return None
    from torch.utils import cpp_extension

    _log.info("building rnnlab's compiled %s (once per machine, about half a minute)", name)
    try:
        module = cpp_extension.load(
            name=f"rnnlab_{name}",
            sources=[str(_PACKAGE / SOURCES[name])],
            extra_cflags=["-O3"],
            verbose=False,
        )
    except (OSError, RuntimeError, ImportError, SystemExit) as error:  # no compiler, no ninja
        _failures[name] = f"{type(error).__name__}: {error}".strip()
        _log.info("rnnlab's compiled %s is not available (%s)", name, _failures[name])
        return None
    _failures.pop(name, None)
    return module


def failure(name: str) -> str:
    """Why :func:`load` returned None for ``name`` ("" if it has not, or was not called)."""
    return _failures.get(name, "")
