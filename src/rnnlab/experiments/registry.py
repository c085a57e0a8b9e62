"""The named reproductions behind ``rnnlab reproduce NAME``, and the contract each one keeps.

An experiment is a module of :mod:`rnnlab.experiments` that satisfies :class:`Experiment`: it names
itself, ships presets (at least ``quick`` and ``paper``), turns a preset into the run specs of a
sweep, runs one spec (its run function, importable by worker processes), and turns the finished
runs into summary rows, a table, verdicts against the paper and the report's sections. The
registry checks the contract when it is imported, so a module that breaks it fails at once, by
name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rnnlab.experiments import (
    bahdanau2014,
    bai2018,
    bengio1994,
    convolution,
    generalization,
    graves2012,
    graves2014,
    hochreiter1997,
    jaeger2001,
    koutnik2014,
    locality,
    nangia2018,
    pascanu2013,
    pascanu2013_dynamics,
    saxe2011,
    seq2seq_one,
    train_one,
    vanishing,
)
from rnnlab.runs.report import Section
from rnnlab.runs.store import RunRecord, RunStore

REQUIRED_PRESETS = ("quick", "paper")


@runtime_checkable
class Experiment(Protocol):
    """What a reproduction module provides (module attributes and functions).

    Attributes:
        EXPERIMENT: its name in the CLI and in every run spec's ``"experiment"``.
        RUN_FUNCTION: ``"package.module:function"`` of its run function
            ``run_unit(spec, run) -> outcome``, importable by worker processes.
        PRESETS: preset name -> a frozen dataclass with at least ``name`` and ``note`` (how the
            preset departs from the paper's protocol; empty when it does not).
    """

    EXPERIMENT: str
    RUN_FUNCTION: str
    PRESETS: Mapping[str, Any]

    def preset(self, name: str, **overrides: Any) -> Any:
        """``PRESETS[name]`` with fields replaced (see :func:`presets.choose_preset`)."""

    def group_specs(self, chosen: Any) -> list[dict[str, Any]]:
        """The sweep's run specs for a preset (JSON-serialisable; checked before any work)."""

    def summarize(self, records: Sequence[RunRecord]) -> list[dict[str, Any]]:
        """Summary rows (JSON-serialisable dicts) from the finished runs."""

    def table_rows(self, rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
        """The terminal table, beside the paper's numbers: header and cells."""

    def verdicts(self, rows: list[dict[str, Any]]) -> list[str]:
        """One line per finding of the paper: its claim, rnnlab's number, shown or not."""

    def report_sections(
        self, store: RunStore, records: Sequence[RunRecord], out: Path
    ) -> list[Section]:
        """The report's sections for these runs; figures are written under ``out``."""


def _checked(module: Any) -> Experiment:
    if not isinstance(module, Experiment):
        missing = [
            name
            for name in ("EXPERIMENT", "RUN_FUNCTION", "PRESETS", *_METHODS)
            if not hasattr(module, name)
        ]
        raise TypeError(f"experiment module {module.__name__} lacks {missing}")
    absent = [name for name in REQUIRED_PRESETS if name not in module.PRESETS]
    if absent:
        raise TypeError(f"experiment {module.EXPERIMENT} lacks the presets {absent}")
    return module


_METHODS = ("preset", "group_specs", "summarize", "table_rows", "verdicts", "report_sections")

EXPERIMENTS: dict[str, Experiment] = {
    module.EXPERIMENT: _checked(module)
    for module in (
        pascanu2013,
        pascanu2013_dynamics,
        bengio1994,
        generalization,
        hochreiter1997,
        vanishing,
        bahdanau2014,
        graves2012,
        jaeger2001,
        koutnik2014,
        graves2014,
        nangia2018,
        bai2018,
        convolution,
        saxe2011,
        locality,
    )
}
"""The named reproductions, by name."""

REPORTED: dict[str, Any] = {
    **EXPERIMENTS,
    train_one.EXPERIMENT: train_one,
    seq2seq_one.EXPERIMENT: seq2seq_one,
}
"""Everything whose runs have sections in a runs folder's report (single ``rnnlab train`` and
``rnnlab seq2seq`` runs too)."""

MEASURED: dict[tuple[str, str], str] = {
    ("pascanu2013", "quick"): "5 min 19 s (2 workers, 10 seeds, beside a test suite)",
    ("pascanu2013", "medium"): "1 h 47 min (2 workers, the last unit alone on 2 threads; two "
    "restarts from checkpoints and a short pilot beside it), 10 seeds, solved members stopping",
    ("generalization", "quick"): "16 s (2 workers)",
    ("generalization", "medium"): "1 h 54 min (2 workers, beside other work)",
    ("hochreiter1997", "quick"): "45 s (2 workers)",
    ("hochreiter1997", "medium"): "47 min (2 workers, 10 seeds, solved members stopping)",
    ("vanishing", "quick"): "1 min 36 s (2 workers)",
    ("bahdanau2014", "quick"): "6 min (2 workers)",
    ("bahdanau2014", "medium"): "1 h 18 min (2 workers at lower priority, beside two other runs)",
    ("graves2012", "quick"): "5 min (2 workers)",
    ("graves2012", "medium"): "1 h 3 min (2 workers, beside a 2-process pilot; speech synthesis "
    "of the noisy data set not included)",
    ("graves2012", "pretrained"): "not run as one command: its settings ran as the medium preset "
    "with --set max_updates=12000 --set pretrain_updates=4000, continuing the medium run's "
    "checkpoints (about 2.5 h on 2 workers from scratch, estimated from those runs)",
    ("jaeger2001", "quick"): "2 min (2 workers)",
    ("koutnik2014", "quick"): "8 min (2 workers)",
    ("koutnik2014", "medium"): "1 h 26 min (2 workers, beside two lower-priority runs)",
    ("graves2014", "quick"): "5 min (2 workers)",
    ("graves2014", "medium"): "57 min (2 workers at low priority, beside two other runs)",
    ("nangia2018", "quick"): "5 min (2 workers)",
    ("pascanu2013_dynamics", "quick"): "1 min 17 s (1 worker, beside a 2-worker run)",
    ("bengio1994", "quick"): "6 min 19 s (2 workers, machine nearly idle; 10.4 CPU-min)",
    ("convolution", "quick"): "26 s (1 worker, load average 11 on the 2 cores)",
    ("convolution", "paper"): "53 s (1 worker, load average 12 on the 2 cores)",
    ("bai2018", "quick"): "3 min 36 s (2 workers, idle machine)",
    ("saxe2011", "quick"): "4 min 12 s (2 workers, load average about 7 from other work on the "
    "2 cores; 445 run-seconds in all)",
    ("locality", "quick"): "5 min 37 s (2 workers, load average 7-10 from other work on the 2 "
    "cores; 621 run-seconds in all)",
}
"""Wall time of a preset from an empty runs folder, measured on this project's 2-core machine
(README; generalization, hochreiter1997 and vanishing on 2026-12-06 with other work beside them);
presets not listed have not been run to the end here."""


def get(name: str) -> Experiment:
    """The experiment called ``name``; a ValueError lists the names otherwise."""
    if name not in EXPERIMENTS:
        raise ValueError(f"experiment must be one of {sorted(EXPERIMENTS)}, got {name!r}")
    return EXPERIMENTS[name]
