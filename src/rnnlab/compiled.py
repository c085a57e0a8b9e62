"""C++ twins of a few hot loops, compiled on first use.

Where a time loop issues many small tensor operations per step, the Python dispatch around
them costs more than their arithmetic. rnnlab keeps such loops in Python, as the reference, and
ships C++ sources beside them that compute the same with far fewer operations:

- ``lstm_steps`` (``cells/fused/lstm_steps.cpp``): the time loops of the single-model fused LSTM
  (:class:`rnnlab.cells.fused.lstm.LSTMScan`), each step's elementwise work in one vectorised
  pass. (A port of the same loops as the same ATen operations without Python's dispatch saved at
  most 4% and was dropped: each operation's own work, not its dispatch, dominated.);
- ``ensemble_tiled_scans`` (``training/ensemble_tiled_scans.cpp``): the seed ensembles' Elman,
  LSTM and GRU scans (:mod:`rnnlab.training.ensemble_scan`,
  :mod:`rnnlab.training.ensemble_lstm_scan`, :mod:`rnnlab.training.ensemble_gru_scan`) compiled
  whole, member by member, their products in vector registers (``small_products.h``);
- ``stream_draws`` (``tasks/stream_draws.cpp``): draws from many generators in one call
  (:mod:`rnnlab.tasks.stream_draws`), for the seed ensembles' minibatches.

All are built for the widest vector instructions that torch reports on the CPU
(``AVX2``: ``-mavx2 -mfma``; ``AVX512``: AVX-512 with 512-bit vectors, :data:`ISA_FLAGS`), under a
name of their own, so that a build for one CPU is never loaded on another that lacks its
instructions; where that build fails, the plain one is tried (:func:`builds_of`). Torch rebuilds a
cached module when its source or flags change; a digest of the package's headers (``fast_math.h``,
``small_products.h``) is among the flags (:func:`headers_digest`), so that a changed header
rebuilds too.

:func:`load` builds one with ``torch.utils.cpp_extension.load`` the first time it is asked for
(a C++ compiler and ninja are needed; about half a minute each, once per machine: torch caches
the build in ``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``, and rebuilds it
when the source changes). Where it cannot be built, or with the environment variable
``RNNLAB_NATIVE=0``, it returns None and the callers run their Python loops;
:func:`failure` says why. The tests compare every compiled loop with its Python twin.
"""

from __future__ import annotations

import hashlib
import logging
import os
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import Tensor

__all__ = ["SOURCES", "build_module", "builds_of", "failure", "headers_digest", "load", "load_for"]

_PACKAGE = Path(__file__).parent

#: name -> the C++ source, relative to the package
SOURCES = {
    "lstm_steps": "cells/fused/lstm_steps.cpp",
    "ensemble_tiled_scans": "training/ensemble_tiled_scans.cpp",
    "stream_draws": "tasks/stream_draws.cpp",
}
#: the flags of every build: -fno-trapping-math lets the compiler vectorise the sources'
#: branch-free float arithmetic (it changes no result)
PLAIN_FLAGS = ("-O3", "-fno-trapping-math")
#: torch's CPU capability -> the compiler flags that use it (AVX-512 with 512-bit vectors)
ISA_FLAGS = {
    "avx2": ("-mavx2", "-mfma"),
    "avx512": (
        "-mavx2",
        "-mfma",
        "-mavx512f",
        "-mavx512dq",
        "-mavx512bw",
        "-mavx512vl",
        "-mprefer-vector-width=512",
    ),
}

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
    _log.info("building rnnlab's compiled %s (once per machine, about half a minute)", name)
    errors = []
    for build, flags in builds_of(name):
        try:
            module = build_module(name, build, flags)
        except (OSError, RuntimeError, ImportError, SystemExit) as error:  # no compiler, ninja
            errors.append(f"{build}: {type(error).__name__}: {error}".strip())
            continue
        _failures.pop(name, None)
        return module
    _failures[name] = "; ".join(errors)
    _log.info("rnnlab's compiled %s is not available (%s)", name, _failures[name])
    return None


def builds_of(name: str) -> list[tuple[str, list[str]]]:
    """The builds :func:`load` tries for source ``name``, in order: ``(module name, compiler
    flags)``; the vectorised build first where the CPU has the instructions, the plain one
    last (the fallback)."""
    plain = list(PLAIN_FLAGS)
    builds = [(f"rnnlab_{name}", plain)]
    isa = _vector_isa()
    if isa:  # tried first; a compiler that refuses its flags falls back to the plain build
        builds.insert(0, (f"rnnlab_{name}_{isa}", [*plain, *ISA_FLAGS[isa]]))
    return builds


def build_module(name: str, build: str, flags: list[str]) -> ModuleType:
    """Source ``name`` compiled as module ``build`` with ``flags`` (cached by torch; raises
    where it cannot be built)."""
    from torch.utils import cpp_extension

    return cpp_extension.load(
        name=build,
        sources=[str(_PACKAGE / SOURCES[name])],
        # torch rebuilds a cached module when its source or flags change, not its headers: their
        # digest among the flags makes a changed header a changed flag
        extra_cflags=[*flags, f"-DRNNLAB_HEADERS={headers_digest()}"],
        extra_include_paths=[str(_PACKAGE)],  # fast_math.h, small_products.h
        verbose=False,
    )


@cache
def headers_digest() -> str:
    """A digest of the package's C++ headers (``*.h`` beside this module), 16 hex digits."""
    digest = hashlib.sha256()
    for header in sorted(_PACKAGE.glob("*.h")):
        digest.update(header.name.encode() + b"\0" + header.read_bytes())
    return digest.hexdigest()[:16]


def _vector_isa() -> str:
    """The widest of :data:`ISA_FLAGS` that torch found on this CPU ("" for none)."""
    import torch

    capability = torch.backends.cpu.get_cpu_capability().lower()
    return capability if capability in ISA_FLAGS else ""


def load_for(name: str, like: Tensor) -> ModuleType | None:
    """:func:`load` ``(name)`` where the compiled loops can take tensors like ``like`` (on the
    CPU, float32 or float64), else None."""
    import torch

    if like.device.type != "cpu" or like.dtype not in (torch.float32, torch.float64):
        return None
    return load(name)


def failure(name: str) -> str:
    """Why :func:`load` returned None for ``name`` ("" if it has not, or was not called)."""
    return _failures.get(name, "")
