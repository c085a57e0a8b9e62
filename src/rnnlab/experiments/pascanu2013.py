"""Pascanu, Mikolov & Bengio 2013, §5 and Fig. 7: success rate against sequence length.

For each task, initialisation scheme and length, seeds × methods (MSGD, MSGD-C, MSGD-CR) Elman
networks of 50 units are trained by the paper's protocol; a run succeeds when fewer than 1% of
fresh test sequences are wrong (``criterion="code"``: none). One sweep unit trains one
(task, init, length) cell's members together as a :class:`~rnnlab.training.ensemble.ElmanEnsemble`,
each exactly as if alone, and records every member's outcome.

The ``paper`` preset is the full protocol; ``quick`` shrinks lengths, updates and test sizes to
fit about ten minutes on two cores, and says so in its output.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from rnnlab.experiments.plots.success import learning_curves, success_against_length
from rnnlab.experiments.presets import choose_preset
from rnnlab.experiments.statistics import rate_text, separated
from rnnlab.runs.executor import RunContext
from rnnlab.runs.report import Section
from rnnlab.tasks import make
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.ensemble import ElmanEnsemble, Member
from rnnlab.training.loop import is_solved
from rnnlab.training.methods import METHODS, method_settings

EXPERIMENT = "pascanu2013"
RUN_FUNCTION = "rnnlab.experiments.pascanu2013:run_unit"
TASKS = (
    "temporal_order",
    "addition",
    "multiplication",
    "temporal_order_3bit",
    "random_permutation",
    "memorization",
)


@dataclass(frozen=True)
class Preset:
    name: str
    tasks: tuple[str, ...]  # task names (Pascanu variant)
    lengths: tuple[int, ...]  # nominal lengths T, each trained separately (Fig. 7)
    inits: tuple[str, ...]  # Pascanu initialisation schemes
    methods: tuple[str, ...]  # MSGD, MSGD-C, MSGD-CR
    seeds: int  # runs per (task, init, method, length); success rate = solved / seeds
    max_updates: int  # update budget per run
    eval_every: int  # updates between tests
    eval_size: int  # fresh test sequences per test (paper: 10,000)
    learning_rate: float = 0.01  # the paper's
    clip: float = 1.0  # norm threshold of MSGD-C and MSGD-CR
    alpha: float = 4.0  # Ω's weight for MSGD-CR (Fig. 7)
    hidden_size: int = 50
    batch_size: int = 20
    criterion: str = "paper"  # < 1% wrong; "code": 0 wrong
    note: str = ""  # how the preset departs from the paper, printed with the results


PRESETS = {
    "paper": Preset(
        name="paper",
        tasks=TASKS,
        lengths=(50, 100, 150, 200, 250),
        inits=("sigmoid", "basic_tanh", "smart_tanh"),
        methods=tuple(METHODS),
        seeds=5,
        max_updates=5_000_000,
        eval_every=1000,
        eval_size=10_000,
        note="the paper's protocol: 5 seeds, up to 5M updates, < 1% of 10,000 wrong",
    ),
    "medium": Preset(
        name="medium",
        tasks=("temporal_order",),
        lengths=(50, 100),
        inits=("basic_tanh", "smart_tanh"),
        methods=tuple(METHODS),
        seeds=10,
        max_updates=150_000,
        eval_every=2500,
        eval_size=10_000,
        note="MEDIUM PRESET: the paper's hyperparameters (lr 0.01, batch 20, clip 1, alpha 4, "
        "50 units, < 1% of 10,000 wrong) on temporal order at T = 50 and 100 with the tanh "
        "inits; 10 seeds instead of 5 (5 cannot separate 4/5 from 0/5 at 95%), 150,000 updates "
        "instead of up to 5M, lengths 150-250 and the sigmoid init left out (1 h 47 min on two "
        "cores)",
    ),
    "quick": Preset(
        name="quick",
        tasks=("temporal_order",),
        lengths=(10, 20, 40),
        inits=("sigmoid", "basic_tanh", "smart_tanh"),
        methods=tuple(METHODS),
        seeds=10,
        max_updates=3000,
        eval_every=250,
        eval_size=500,
        learning_rate=0.1,
        note="QUICK PRESET, NOT THE PAPER'S PROTOCOL: temporal order only, 10 seeds (the "
        "paper's 5 cannot separate 4/5 from 0/5 at 95%), lengths 10-40 "
        "instead of 50-250, 3,000 updates instead of up to 5M, 500 test sequences "
        "instead of 10,000, learning rate 0.1 instead of 0.01",
    ),
}


def group_specs(preset: Preset) -> list[dict[str, Any]]:
    """One sweep unit per (task, init, length); its members are methods × seeds."""
    for task in preset.tasks:
        for length in preset.lengths:
            make(task, length=length)  # refuse impossible tasks and lengths before any work
    settings = {
        k: v
        for k, v in asdict(preset).items()
        if k not in ("tasks", "lengths", "inits", "name", "note")
    }
    return [
        {
            "experiment": EXPERIMENT,
            "preset": preset.name,
            "task": task,
            "init": scheme,
            "length": length,
            **settings,
        }
        for task in preset.tasks
        for scheme in preset.inits
        for length in preset.lengths
    ]


def members_of(spec: dict[str, Any]) -> list[tuple[str, int, Member]]:
    """``(method, seed, Member)`` for each member of a unit, methods outermost."""
    members = []
    for method in spec["methods"]:
        clip, alpha = method_settings(method, clip=spec["clip"], alpha=spec["alpha"])
        for seed in range(spec["seeds"]):
            member = Member(
                seed=seed,
                lr=spec["learning_rate"],
                init=spec["init"],
                alpha=alpha,
                clip=clip.threshold if clip.mode == "norm" else math.inf,
            )
            members.append((method, seed, member))
    return members


def run_unit(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    """Train a unit's members together until each is solved or the budget is spent.

    A member stops training at the first test that meets the criterion: its weights, its stream
    and its outcome are frozen there, and the updates that follow are computed for the members
    still learning only (which changes their numbers only by rounding). A member's ``clipped``
    and ``nonfinite`` counts are those of its own updates, up to that test. Resumable: the
    ensemble, its streams and the outcomes so far are checkpointed in the run's folder after
    every test.
    """
    task = make(spec["task"], length=spec["length"])
    labelled = members_of(spec)
    ensemble = ElmanEnsemble(
        task,
        [m for _, _, m in labelled],
        hidden_size=spec["hidden_size"],
        batch_size=spec["batch_size"],
    )
    test = torch.Generator().manual_seed(2_147_483_647)
    K = ensemble.size
    solved_at: list[int | None] = [None] * K
    last_error = [1.0] * K
    path = run.directory / "ensemble.pt"
    if path.is_file():
        saved = load_checkpoint(path)
        ensemble.load_state_dict(saved["ensemble"])
        test.set_state(saved["test_rng"])
        solved_at, last_error = saved["solved_at"], saved["last_error"]
    while ensemble.counters.updates < spec["max_updates"] and None in solved_at:
        learning = [k for k in range(K) if solved_at[k] is None]
        for _ in range(spec["eval_every"]):
            step = ensemble.update(members=learning)
        updates = ensemble.counters.updates
        errors = error_rates(ensemble, task, spec["eval_size"], test, members=learning)
        for k, error in zip(learning, errors.tolist(), strict=True):
            method, seed, _ = labelled[k]
            last_error[k] = error
            if is_solved(error, spec["criterion"]):
                solved_at[k] = updates
            run.log(
                updates,
                {
                    f"{method}/{seed}/loss": float(step.loss[k]),
                    f"{method}/{seed}/error_rate": error,
                },
            )
        save_checkpoint(
            path,
            {
                "format": "rnnlab-checkpoint",
                "ensemble": ensemble.state_dict(),
                "test_rng": test.get_state(),
                "solved_at": solved_at,
                "last_error": last_error,
            },
        )
    return {
        "members": [
            {
                "method": method,
                "seed": seed,
                "solved": solved_at[k] is not None,
                "solved_at": solved_at[k],
                "error_rate": last_error[k],
                "clipped": int(ensemble.counters.clipped[k]),
                "nonfinite": int(ensemble.counters.nonfinite[k]),
            }
            for k, (method, seed, _) in enumerate(labelled)
        ],
        "updates": ensemble.counters.updates,
    }


def error_rates(
    ensemble: ElmanEnsemble,
    task,
    size: int,
    generator: torch.Generator,
    *,
    length: int | None = None,
    members: list[int] | None = None,
) -> torch.Tensor:
    """(K,) error rates — (n,) of ``members`` — on ``size`` fresh sequences (of nominal
    ``length``; the task's by default), the same sequences for every member."""
    count = ensemble.size if members is None else len(members)
    wrong, done = torch.zeros(count, dtype=torch.float64), 0
    while done < size:
        n = min(1000, size - done)
        batch = task.sample(n, length=length, generator=generator)
        wrong += ensemble.errors([batch] * count, members) * n
        done += n
    return wrong / size


def preset(name: str, **overrides: Any) -> Preset:
    """A named preset, optionally changed (see :func:`.presets.choose_preset`)."""
    return choose_preset(PRESETS, name, overrides)


def summarize(records) -> list[dict[str, Any]]:
    """Success rate per (task, init, method, length) from finished unit records."""
    rows = []
    for record in records:
        spec, outcome = record.spec, record.outcome or {}
        by_method: dict[str, list[dict]] = {}
        for member in outcome.get("members", []):
            by_method.setdefault(member["method"], []).append(member)
        for method, members in by_method.items():
            solved = [m for m in members if m["solved"]]
            rows.append(
                {
                    "preset": spec["preset"],
                    "task": spec["task"],
                    "init": spec["init"],
                    "method": method,
                    "length": spec["length"],
                    "solved": len(solved),
                    "runs": len(members),
                    "median_updates": _median([m["solved_at"] for m in solved]),
                    "paper": paper_number(spec["task"], spec["init"], method, spec["length"]),
                }
            )
    order = {m: i for i, m in enumerate(METHODS)}
    return sorted(
        rows, key=lambda r: (r["preset"], r["task"], r["init"], order[r["method"]], r["length"])
    )


def _median(values: list[int]) -> int | None:
    return sorted(values)[len(values) // 2] if values else None


def paper_number(task: str, scheme: str, method: str, length: int) -> str:
    """What Pascanu et al. 2013 report for this cell (docs/tasks.md); '' where they give none."""
    if method != "MSGD-CR" or length > 200:
        return ""
    if task == "random_permutation":
        return "2/5 solved"
    if task == "temporal_order" and scheme == "smart_tanh":
        return "5/5 to T=200"
    if task != "temporal_order" and scheme == "smart_tanh":
        return "100% to T=200"
    return ""


def report_sections(store, records, out: Path) -> list[Section]:
    """The report's part for this experiment: per preset, the Fig. 7 plot and table, and every
    unit's learning curves (test error rate of each member against updates)."""
    rows = summarize(records)
    sections = []
    for name in sorted({r["preset"] for r in rows}):
        chosen = [r for r in rows if r["preset"] == name]
        figure = success_against_length(
            chosen, out / f"success_vs_length_{name}.png", title=f"{EXPERIMENT}, {name} preset"
        )
        sections.append(
            Section(
                f"{EXPERIMENT}, {name} preset: success rate against length",
                PRESETS[name].note if name in PRESETS else "",
                ["task", "init", "method", "T", "solved", "median updates to solve", "paper"],
                [
                    [
                        r["task"],
                        r["init"],
                        r["method"],
                        r["length"],
                        f"{r['solved']}/{r['runs']}",
                        r["median_updates"] or "",
                        r["paper"],
                    ]
                    for r in chosen
                ],
                [figure],
            )
        )
    curves = []
    for record in records:
        spec = record.spec
        label = f"{spec['preset']}_{spec['task']}_{spec['init']}_T{spec['length']}"
        series = {
            name.rsplit("/", 1)[0]: points
            for name, points in store.metrics(record.key).items()
            if name.endswith("/error_rate")
        }
        curves.append(
            learning_curves(
                series, out / "curves" / f"{label}.png", title=label, ylabel="test error rate"
            )
        )
    if curves:
        sections.append(Section(f"{EXPERIMENT}: learning curves (method/seed)", images=curves))
    return sections


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the terminal table; each success count with its 95% Wilson interval."""
    header = ["task", "init", "method", "T", "solved [95% interval]", "median updates", "paper"]
    return header, [
        [
            r["task"],
            r["init"],
            r["method"],
            str(r["length"]),
            rate_text(r["solved"], r["runs"]),
            str(r["median_updates"] or "—"),
            r["paper"],
        ]
        for r in rows
    ]


CLAIMS = (  # (better, worse, what the paper says)
    ("MSGD-C", "MSGD", "clipping keeps success up where plain SGD fails"),
    ("MSGD-CR", "MSGD", "clipping with Ω keeps success up where plain SGD fails"),
    ("MSGD-CR", "MSGD-C", "Ω adds to clipping at long lengths"),
)


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """Pascanu et al.'s Fig. 7 claims at the longest length of each (task, init), judged by 95%
    Wilson intervals: shown where the intervals separate, not shown where they overlap."""
    lines = []
    for task, scheme in dict.fromkeys((r["task"], r["init"]) for r in rows):
        chosen = [r for r in rows if (r["task"], r["init"]) == (task, scheme)]
        longest = max(r["length"] for r in chosen)
        at = {r["method"]: r for r in chosen if r["length"] == longest}
        for better, worse, claim in CLAIMS:
            if better not in at or worse not in at:
                continue
            a, b = at[better], at[worse]
            order = separated((a["solved"], a["runs"]), (b["solved"], b["runs"]))
            verdict = {1: "SHOWN", 0: "not separated from chance", -1: "CONTRADICTED"}[order]
            lines.append(
                f"{task}, {scheme}, T = {longest}: {claim} — {better} "
                f"{rate_text(a['solved'], a['runs'])} against {worse} "
                f"{rate_text(b['solved'], b['runs'])}: {verdict}"
            )
    return lines
