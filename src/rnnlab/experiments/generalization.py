"""Pascanu et al. 2013, §5: one model trained on lengths in [50, 200) is tested on much longer
sequences. The paper: on temporal order, MSGD-CR (smart_tanh, 50 units) made 0 errors in 10,000
at every length up to T = 5000; addition and multiplication generalised to T = 500 with < 1%.

One sweep unit trains ``seeds`` MSGD-CR networks together (a seed ensemble) on lengths drawn per
minibatch from the training range until every member solves the task at its training lengths or
the budget is spent, then tests every member at each test length.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from rnnlab.experiments.pascanu2013 import error_rates
from rnnlab.experiments.plots.success import error_against_length
from rnnlab.experiments.presets import choose_preset
from rnnlab.experiments.statistics import rate_text
from rnnlab.runs.executor import RunContext
from rnnlab.runs.report import Section
from rnnlab.tasks import make
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.ensemble import ElmanEnsemble, Member
from rnnlab.training.loop import is_solved

EXPERIMENT = "generalization"
RUN_FUNCTION = "rnnlab.experiments.generalization:run_unit"
PAPER = {
    "temporal_order": "0 wrong of 10,000 at every T up to 5000",
    "addition": "< 1% wrong up to T = 500",
    "multiplication": "< 1% wrong up to T = 500",
}


@dataclass(frozen=True)
class Preset:
    name: str
    tasks: tuple[str, ...]
    train_lengths: tuple[int, int]  # lengths drawn uniformly in [low, high) per minibatch
    test_lengths: tuple[int, ...]
    seeds: int
    max_updates: int
    eval_every: int
    eval_size: int
    learning_rate: float = 0.01
    clip: float = 1.0
    alpha: float = 2.0
    hidden_size: int = 50
    batch_size: int = 20
    init: str = "smart_tanh"
    note: str = ""


PRESETS = {
    "paper": Preset(
        name="paper",
        tasks=("temporal_order", "addition", "multiplication"),
        train_lengths=(50, 200),
        test_lengths=(50, 100, 200, 500, 1000, 2000, 5000),
        seeds=5,
        max_updates=5_000_000,
        eval_every=1000,
        eval_size=10_000,
        note="the paper's protocol: trained on [50, 200), tested up to T = 5000 on 10,000 "
        "sequences",
    ),
    "medium": Preset(
        name="medium",
        tasks=("temporal_order", "addition"),
        train_lengths=(50, 200),
        test_lengths=(50, 100, 200, 500, 1000, 2000, 5000),
        seeds=5,
        max_updates=150_000,
        eval_every=2500,
        eval_size=10_000,
        note="the paper's training range, hyperparameters and test set size, but at most "
        "150,000 updates per ensemble instead of up to 5,000,000, and no multiplication",
    ),
    "quick": Preset(
        name="quick",
        tasks=("temporal_order",),
        train_lengths=(10, 40),
        test_lengths=(10, 20, 40, 80, 160, 320),
        seeds=3,
        max_updates=3000,
        eval_every=250,
        eval_size=500,
        learning_rate=0.1,
        note="QUICK PRESET, NOT THE PAPER'S PROTOCOL: temporal order only, trained on [10, 40) "
        "instead of [50, 200), tested up to T = 320 instead of 5000, 3 seeds, 3,000 updates, "
        "500 test sequences, learning rate 0.1",
    ),
}


def preset(name: str, **overrides: Any) -> Preset:
    """A named preset, optionally changed (see :func:`.presets.choose_preset`)."""
    return choose_preset(PRESETS, name, overrides)


def group_specs(chosen: Preset) -> list[dict[str, Any]]:
    for task in chosen.tasks:
        for length in (chosen.train_lengths[0], *chosen.test_lengths):
            make(task, length=length)  # refuse impossible tasks and lengths before any work
    settings = {k: v for k, v in asdict(chosen).items() if k not in ("name", "note", "tasks")}
    return [
        {"experiment": EXPERIMENT, "preset": chosen.name, "task": task, **settings}
        for task in chosen.tasks
    ]


def run_unit(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    """Train the unit's ensemble on the training range, then test at every test length."""
    low, high = spec["train_lengths"]
    task = make(spec["task"], length=low)
    members = [
        Member(
            seed=seed,
            lr=spec["learning_rate"],
            clip=spec["clip"],
            alpha=spec["alpha"],
            init=spec["init"],
        )
        for seed in range(spec["seeds"])
    ]
    ensemble = ElmanEnsemble(
        task,
        members,
        hidden_size=spec["hidden_size"],
        batch_size=spec["batch_size"],
        length=(low, high),
    )
    test = torch.Generator().manual_seed(2_147_483_647)
    path = run.directory / "ensemble.pt"
    solved = False
    if path.is_file():
        saved = load_checkpoint(path)
        ensemble.load_state_dict(saved["ensemble"])
        test.set_state(saved["test_rng"])
        solved = saved["solved"]
    while ensemble.counters.updates < spec["max_updates"] and not solved:
        ensemble.train(spec["eval_every"])
        rates = error_rates(ensemble, task, spec["eval_size"], test, length=high - 1)
        for seed, rate in enumerate(rates.tolist()):
            run.log(ensemble.counters.updates, {f"MSGD-CR/{seed}/error_rate": rate})
        solved = all(is_solved(r, "paper") for r in rates.tolist())
        save_checkpoint(
            path,
            {
                "format": "rnnlab-checkpoint",
                "ensemble": ensemble.state_dict(),
                "test_rng": test.get_state(),
                "solved": solved,
            },
        )
    by_length = {}
    for length in spec["test_lengths"]:
        rates = error_rates(ensemble, task, spec["eval_size"], test, length=length)
        by_length[str(length)] = rates.tolist()
    return {
        "updates": ensemble.counters.updates,
        "trained_to_criterion": solved,
        "error_rates": by_length,
    }


def summarize(records) -> list[dict[str, Any]]:
    """Per (preset, task, test length): each seed's error rate and how many are < 1%."""
    rows = []
    for record in records:
        spec, outcome = record.spec, record.outcome or {}
        for length, rates in outcome.get("error_rates", {}).items():
            rows.append(
                {
                    "preset": spec["preset"],
                    "task": spec["task"],
                    "length": int(length),
                    "error_rates": rates,
                    "below_1pct": sum(r < 0.01 for r in rates),
                    "runs": len(rates),
                    "trained": outcome["trained_to_criterion"],
                    "paper": PAPER.get(spec["task"], ""),
                }
            )
    return sorted(rows, key=lambda r: (r["preset"], r["task"], r["length"]))


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    header = ["task", "test T", "error rate per seed", "seeds < 1% wrong [95%]", "paper"]
    return header, [
        [
            r["task"],
            str(r["length"]),
            " ".join(f"{e:.3f}" for e in r["error_rates"]),
            rate_text(r["below_1pct"], r["runs"]),
            r["paper"],
        ]
        for r in rows
    ]


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """Pascanu et al.'s claim per task: a model trained on short sequences stays below 1% wrong
    on far longer ones; judged at the longest test length against the training range."""
    lines = []
    for task in dict.fromkeys(r["task"] for r in rows):
        longest = max((r for r in rows if r["task"] == task), key=lambda r: r["length"])
        verdict = (
            "SHOWN (the majority of seeds generalise)"
            if 2 * longest["below_1pct"] > longest["runs"]
            else "shown by some seeds"
            if longest["below_1pct"]
            else "NOT SHOWN"
        )
        lines.append(
            f"{task}: trained on shorter sequences, < 1% wrong at T = {longest['length']} in "
            f"{rate_text(longest['below_1pct'], longest['runs'])} seeds (paper: "
            f"{longest['paper'] or 'no number'}): {verdict}"
        )
    return lines


def report_sections(store, records, out: Path) -> list[Section]:
    rows = summarize(records)
    sections = []
    for name in sorted({r["preset"] for r in rows}):
        chosen = [r for r in rows if r["preset"] == name]
        figure = error_against_length(
            chosen, out / f"error_vs_length_{name}.png", title=f"{EXPERIMENT}, {name} preset"
        )
        header, cells = table_rows(chosen)
        note = PRESETS[name].note if name in PRESETS else ""
        sections.append(
            Section(
                f"{EXPERIMENT}, {name} preset: error rate against test length",
                note,
                header,
                cells,
                [figure],
            )
        )
    return sections
