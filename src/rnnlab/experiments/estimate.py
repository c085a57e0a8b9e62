"""How many CPU-hours a reproduction's preset needs, estimated from per-update times measured now,
on this machine, before anything of the preset runs (``rnnlab reproduce NAME --estimate``).

What is measured: for each *kind* of unit in the preset (units whose updates cost the same: the
same task, length and model, whatever their seeds), the unit's own run function runs on a
*probe* — the unit's spec with its update budget cut to ``n`` and then ``2n`` updates, and its
periodic and final evaluations cut to almost nothing — in this process, on one torch thread (a
run's default share on a cluster: ``--cpus-per-run 1``), and the process's CPU time is taken
(not the wall time, so that other work on a busy machine adds little). The difference of the two
probes, over ``n``, is the CPU time of one update with every fixed cost (building the data and
the model, the one evaluation and checkpoint each probe keeps) taken out; ``n`` grows until that
difference is long enough to time — at least :data:`MIN_DIFFERENCE` and half the shorter probe,
so that the jitter of the fixed costs stays small beside it — within :data:`PROBE_SECONDS` of
probing per kind. One probe of a single update runs first and is not counted: it pays for
imports and first-call set-up.

What the figure is: each unit's update budget times its kind's per-update time, summed — the
cost of training every unit to the end of its budget, at the cost of its first updates (an
update may grow dearer or cheaper as training goes, e.g. when gradients vanish into subnormal
numbers). It is an upper bound where units stop when
solved (pascanu2013, generalization, hochreiter1997 members), and it leaves out the periodic
evaluations, checkpoints, curves and the final tests, which a preset may make heavy (e.g.
pascanu2013's 10,000 test sequences every 1,000 updates). The longest unit is shown too: a unit
is one task on one node, so no cluster finishes the preset sooner.

Which experiments: those whose units spend their time in update steps have a :class:`Budget`
here (:data:`BUDGETS`), saying where a unit's budget sits in its spec and how to cut a probe.
Units of other kinds (grids, closed forms, readouts fitted in one solve, random draws until
success) are listed as not estimated with the reason (:data:`NOT_BY_UPDATES`); an experiment
described in neither table is reported as such, never given a number.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rnnlab.experiments.registry import get
from rnnlab.runs.executor import execute_run
from rnnlab.runs.store import RunStore

__all__ = [
    "BUDGETS",
    "MIN_DIFFERENCE",
    "NOT_BY_UPDATES",
    "PROBE_SECONDS",
    "Budget",
    "Estimate",
    "KindCost",
    "estimate",
]

MIN_DIFFERENCE = 0.3
"""CPU seconds by which the longer probe of a kind must outlast the shorter one to count."""

PROBE_SECONDS = 30.0
"""CPU seconds of probing per unit kind after which ``n`` stops growing."""


def _without(value: Any, names: tuple[str, ...]) -> Any:
    """``value`` with the dict entries called ``names`` removed at every depth."""
    if isinstance(value, dict):
        return {k: _without(v, names) for k, v in value.items() if k not in names}
    if isinstance(value, list):
        return [_without(v, names) for v in value]
    return value


def cost_kind(spec: dict[str, Any]) -> str:
    """The default kind of a unit: its spec without seeds and preset name (an ensemble unit: its
    first member and its size), as canonical JSON. The initialisation stays: it can change the
    cost of an update (pascanu2013's sigmoid units spend most of their time on subnormal
    numbers and run about 4× slower than its tanh units)."""
    if "members" in spec:
        spec = {"member": spec["members"][0], "members": len(spec["members"])}
    return json.dumps(_without(spec, ("seed", "preset")), sort_keys=True)


def _members(spec: dict[str, Any], change: Callable[[dict[str, Any]], dict[str, Any]]) -> dict:
    """An ensemble unit with ``change`` applied to every member."""
    return {**spec, "members": [change(member) for member in spec["members"]]}


@dataclass(frozen=True)
class Budget:
    """How an experiment's units spend their time in updates.

    Attributes:
        updates: a unit's update budget (the most updates it may do).
        probe: the unit's spec cut to ``n`` updates, with evaluations, curves and final tests
            cut to the least the run function accepts.
        step: what one update is, in words (shown with the estimate).
        kind: what decides the cost of an update (default :func:`cost_kind`).
        covers: which units of the experiment the budget describes (default: all); the others
            are listed as not estimated, with ``others`` as the reason.
        others: why the units not covered are not estimated.
        start: the first ``n`` to probe.
    """

    updates: Callable[[dict[str, Any]], int]
    probe: Callable[[dict[str, Any], int], dict[str, Any]]
    step: str
    kind: Callable[[dict[str, Any]], Hashable] = cost_kind
    covers: Callable[[dict[str, Any]], bool] = lambda spec: True
    others: str = ""
    start: int = 2


def _train_probe(train: dict[str, Any], n: int) -> dict[str, Any]:
    """A ``TrainConfig`` (as a dict) cut to ``n`` updates and one tiny evaluation."""
    return {
        **train,
        "max_updates": n,
        "eval_every": n,
        "eval_size": 1,
        "checkpoint_every": n,
        "diagnose_every": 0,
    }


BUDGETS: dict[str, Budget] = {
    "pascanu2013": Budget(
        updates=lambda s: s["max_updates"],
        probe=lambda s, n: {**s, "max_updates": n, "eval_every": n, "eval_size": 20},
        step="one minibatch update of every member (methods × seeds) of the unit's ensemble",
    ),
    "generalization": Budget(
        updates=lambda s: s["max_updates"],
        probe=lambda s, n: {
            **s,
            "max_updates": n,
            "eval_every": n,
            "eval_size": 20,
            "test_lengths": [s["train_lengths"][0]],
        },
        step="one minibatch update of every seed of the unit's ensemble",
    ),
    "hochreiter1997": Budget(
        updates=lambda s: max(m["train"]["max_updates"] for m in s["members"]),
        probe=lambda s, n: _members(s, lambda m: {**m, "train": _train_probe(m["train"], n)}),
        step="one minibatch update of every seed of the unit's ensemble",
    ),
    "vanishing": Budget(
        updates=lambda s: s["updates"],
        probe=lambda s, n: {**s, "updates": n, "measure_size": 2},
        step="one minibatch update of one network",
    ),
    "koutnik2014": Budget(
        updates=lambda s: max(m["updates"] for m in s["members"]),
        probe=lambda s, n: _members(s, lambda m: {**m, "updates": n}),
        step="one update (batch 1) of every seed of the unit's ensemble",
    ),
    "graves2014": Budget(
        updates=lambda s: s["updates"],
        probe=lambda s, n: {
            **s,
            "updates": n,
            "curve_every": n,
            "test_lengths": [1],
            "test_multiples": [2],
            "eval_batch": 1,
        },
        step="one minibatch update of one network",
    ),
    "graves2012": Budget(
        updates=lambda s: s["train"]["max_updates"] + s.get("pretrain_updates", 0),
        probe=lambda s, n: {
            **{k: v for k, v in s.items() if k != "pretrain_updates"},
            "train": {**s["train"], "max_updates": n, "eval_every": n, "checkpoint_every": n},
            "eval_size": 1,
            "beam": 1,
        },
        step="one minibatch update of one model",
    ),
    "bahdanau2014": Budget(
        updates=lambda s: s["train"]["max_updates"],
        probe=lambda s, n: {
            **s,
            "train": {
                **s["train"],
                "max_updates": n,
                "eval_every": n,
                "eval_size": 1,
                "checkpoint_every": n,
            },
            "evaluation": {
                **s["evaluation"],
                "valid_size": 1,
                "test_size": 1,
                **({"per_length": 1} if "per_length" in s["evaluation"] else {}),
                "beam_width": 1,
                "heatmaps": 0,
            },
        },
        step="one minibatch update of one model",
        kind=lambda s: cost_kind({k: v for k, v in s.items() if k != "evaluation"}),
    ),
    "nangia2018": Budget(
        updates=lambda s: s["epochs"] * math.ceil(s["n_train"] / s["batch_size"]),
        probe=lambda s, n: {**s, "epochs": 1, "n_train": n * s["batch_size"], "n_test": 4},
        step="one minibatch update of one model (epochs × training batches)",
    ),
    "bengio1994": Budget(
        updates=lambda s: s["epochs"],
        probe=lambda s, n: {**s, "epochs": n, "test_size": 2},
        step="one full-batch gradient step of all the unit's starting points together",
        kind=lambda s: (s["unit"], s["length"]),
        covers=lambda s: s["unit"] in ("latch_bptt", "latch_noise"),
        others="random_guessing units draw weights until one solves the task (a random count, "
        "not updates); latch_theory is a closed-form computation; methods units stop each run "
        "when it is solved, so their cost is a random count of presentations up to the budget",
        start=32,
    ),
    "bai2018": Budget(
        updates=lambda s: max(m["train"]["max_updates"] for m in s["members"]),
        probe=lambda s, n: _members(
            s,
            lambda m: {
                **m,
                "train": _train_probe(m["train"], n),
                "eval_size": 1,
                "timed_updates": 1,
            },
        ),
        step="one minibatch update of every seed of the unit's ensemble",
        covers=lambda s: s["members"][0]["task"]["name"] != "digits",
        others="the sequential-digits units score the whole 10,000-image test split after "
        "training, which a probe cannot cut short, so every probe would cost minutes",
    ),
    "locality": Budget(
        updates=lambda s: s["updates"],
        probe=lambda s, n: {**s, "updates": n, "evaluate_every": n},
        step="one minibatch update of one network",
    ),
    "saxe2011": Budget(
        updates=lambda s: s["epochs"] * math.ceil(s["train_size"] / s["batch_size"]),
        probe=lambda s, n: {**s, "epochs": n, "train_size": s["batch_size"]},
        step="one minibatch update of one network (epochs × training batches)",
        kind=lambda s: (s["kernel_size"], s["pooling"], s["filters"], s["batch_size"]),
        covers=lambda s: s.get("scoring") == "trained",
        others="the other units compute fixed random or k-means features and fit a logistic "
        "regression (one convex solve), which has no update steps",
    ),
}
"""The experiments whose units are estimated by updates, by name."""

NOT_BY_UPDATES: dict[str, str] = {
    "jaeger2001": "echo state networks: the reservoir is fixed and the readout is fitted in one "
    "linear solve, so a unit has no update steps to time",
    "pascanu2013_dynamics": "its units sweep grids of parameter values and run short fixed "
    "descents; their cost is set by the grid sizes, not by an update budget",
    "convolution": "its units are fixed computations (convolution as a matrix, circulant "
    "spectra, equivariance and pooling checks) with no update steps",
}
"""Experiments whose units are not made of update steps, and why."""


@dataclass(frozen=True)
class KindCost:
    """The measured cost of one kind of unit.

    Attributes:
        label: a short description of the kind (the first unit's distinguishing fields).
        units: how many of the preset's units are of this kind.
        updates: the largest update budget among them.
        total_updates: the sum of their update budgets.
        seconds_per_update: measured (``None`` if the probes could not time it; see ``problem``).
        probe_updates: the ``n`` of the last probe pair.
        problem: why the kind has no figure (a probe failed, or the difference stayed in the
            noise), else ``None``.
    """

    label: str
    units: int
    updates: int
    total_updates: int
    seconds_per_update: float | None
    probe_updates: int
    problem: str | None = None


@dataclass
class Estimate:
    """An experiment preset's estimated CPU-hours (see the module docstring for what they mean).

    Attributes:
        experiment, preset: what was estimated.
        units: the preset's number of units.
        step: what one update is (``None`` when nothing is estimated by updates).
        kinds: the measured kinds.
        not_estimated: ``(units, reason)`` for units given no figure.
        seconds: how long the estimate itself took.
        load: the machine's 1-minute load average when the estimate began, and its CPUs
            (a busy machine gives each probe a smaller share of a core: slower updates).
    """

    experiment: str
    preset: str
    units: int
    step: str | None
    kinds: list[KindCost] = field(default_factory=list)
    not_estimated: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0
    load: tuple[float, int] = (0.0, 1)

    @property
    def cpu_hours(self) -> float | None:
        """Training CPU-hours of the measured kinds (``None`` if none was measured)."""
        timed = [k for k in self.kinds if k.seconds_per_update is not None]
        if not timed:
            return None
        return sum(k.total_updates * k.seconds_per_update for k in timed) / 3600

    @property
    def longest_unit_hours(self) -> float | None:
        """Hours of the longest measured unit: no number of machines finishes sooner."""
        timed = [k.updates * k.seconds_per_update for k in self.kinds if k.seconds_per_update]
        return max(timed) / 3600 if timed else None


def _load() -> tuple[float, int]:
    """This machine's 1-minute load average (0 where unknown) and its CPUs."""
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return load, os.cpu_count() or 1


def _flat(spec: dict[str, Any]) -> dict[str, Any]:
    """A unit's scalar fields as ``{"task.length": 100, ...}`` (an ensemble: its first member's),
    seeds and preset names left out."""
    flat: dict[str, Any] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for name, item in value.items():
                if name not in ("seed", "preset"):
                    walk(item, f"{prefix}{name}.")
        elif not isinstance(value, list):
            flat[prefix[:-1]] = value

    walk(spec["members"][0] if "members" in spec else spec, "")
    return flat


def _labels(groups: list[list[dict[str, Any]]]) -> list[str]:
    """A short name per kind: the fields its units share and in which the kinds differ."""
    shared = []
    for units in groups:
        flats = [_flat(spec) for spec in units]
        shared.append({k: v for k, v in flats[0].items() if all(f.get(k) == v for f in flats)})
    names = {k for kind in shared for k in kind}
    differing = [k for k in sorted(names) if len({repr(kind.get(k)) for kind in shared}) > 1]
    return [
        ", ".join(f"{k}={kind[k]}" for k in differing if k in kind) or "all units alike"
        for kind in shared
    ]


def _time_probe(fn: str, spec: dict[str, Any], folder: Path) -> float:
    """CPU seconds of this process while it runs ``spec`` alone in a throw-away store (CPU time,
    not wall time: what other processes on a busy machine take does not count)."""
    with RunStore(folder / f"probe{time.monotonic_ns()}" / "rnnlab.db") as store:
        key = store.add(spec)
        start = time.process_time()
        result = execute_run(store, key, fn)
        seconds = time.process_time() - start
    if result.status != "done":
        raise RuntimeError(result.error or "the probe failed")
    return seconds


def _measure(
    fn: str, spec: dict[str, Any], budget: Budget, folder: Path
) -> tuple[float | None, int, str | None]:
    """``(seconds per update, n, problem)`` from probes of ``n`` and ``2n`` updates; a pair
    whose difference is too short to time sets the next ``n`` from what it measured."""
    n, spent = budget.start, 0.0
    limit = budget.updates(spec)
    while True:
        n = min(n, max(1, limit // 2))
        try:
            short = _time_probe(fn, budget.probe(spec, n), folder)
            long = _time_probe(fn, budget.probe(spec, 2 * n), folder)
        except Exception as error:  # a probe the run function refuses: say so, per kind
            return None, n, f"probe failed: {error}"
        spent += short + long
        difference = long - short
        wanted = max(MIN_DIFFERENCE, short / 2)  # updates, not the fixed costs' jitter
        if difference >= wanted or spent >= PROBE_SECONDS or 2 * n >= limit:
            if difference <= 0:
                return None, n, f"{n} more updates took no measurable time (noise)"
            return difference / n, n, None
        guess = math.ceil(1.5 * wanted * n / difference) if difference > 0 else 16 * n
        n = min(max(guess, 2 * n), 16 * n)


def estimate(
    name: str,
    preset: str = "paper",
    overrides: dict[str, Any] | None = None,
    *,
    on_kind: Callable[[int, int, str], None] | None = None,
) -> Estimate:
    """Estimate the CPU-hours of experiment ``name``'s ``preset`` (fields changed by
    ``overrides``) by timing probes of each kind of its units here, on one torch thread.

    Args:
        on_kind: called as ``on_kind(index, count, label)`` before each kind is probed (e.g. to
            show progress).
    """
    from rnnlab.experiments.reproduce import plan

    started = time.perf_counter()
    planned = plan(name, preset, overrides)
    experiment = get(name)
    result = Estimate(name, planned.preset.name, len(planned.specs), None, load=_load())
    budget = BUDGETS.get(name)
    if budget is None:
        reason = NOT_BY_UPDATES.get(
            name, "no update budget is described for it (rnnlab.experiments.estimate.BUDGETS)"
        )
        result.not_estimated.append((len(planned.specs), reason))
        result.seconds = time.perf_counter() - started
        return result
    result.step = budget.step
    covered = [s for s in planned.specs if budget.covers(s)]
    if len(covered) < len(planned.specs):
        result.not_estimated.append((len(planned.specs) - len(covered), budget.others))
    groups: dict[Hashable, list[dict[str, Any]]] = {}
    for spec in covered:
        groups.setdefault(budget.kind(spec), []).append(spec)
    firsts = [units[0] for units in groups.values()]
    labels = _labels(list(groups.values()))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with tempfile.TemporaryDirectory(prefix="rnnlab-estimate-") as folder:
            if firsts:  # imports and first-call set-up, kept out of the first kind's probes
                with contextlib.suppress(Exception):
                    _time_probe(experiment.RUN_FUNCTION, budget.probe(firsts[0], 1), Path(folder))
            for index, (units, label) in enumerate(zip(groups.values(), labels, strict=True)):
                if on_kind is not None:
                    on_kind(index, len(groups), label)
                per_update, n, problem = _measure(
                    experiment.RUN_FUNCTION, units[0], budget, Path(folder)
                )
                budgets = [budget.updates(s) for s in units]
                result.kinds.append(
                    KindCost(label, len(units), max(budgets), sum(budgets), per_update, n, problem)
                )
    finally:
        torch.set_num_threads(threads)
    result.seconds = time.perf_counter() - started
    return result
