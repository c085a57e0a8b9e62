"""The Neural Turing Machine's copy task: train on short sequences, test on longer ones.

Graves, Wayne & Danihelka, "Neural Turing Machines" (arXiv:1410.5401), §4.1 (``docs/tasks.md``,
"Neural Turing Machine tasks"): a network reads a sequence of random bit vectors followed
by a delimiter and must then write the sequence back (:class:`rnnlab.tasks.BitCopy`). The
paper trains on lengths 1–20 and tests at up to 120; its finding, as summaries of the paper
state it: the NTM copies near-perfectly to about 50 and with small errors at 120, while an
LSTM degrades beyond the training lengths.

What rnnlab runs:

- **Models** (:data:`MODELS`): the NTM with a feed-forward controller (the paper's fastest
  learner on copy, §4.1 and Table 1), one read and one write head, shifts −1..+1, Collier &
  Beel's constant memory initialisation and clip 20 (:class:`rnnlab.cells.NTM`); its own
  readout gives the logits (``SequenceModel``'s extra linear readout is replaced by the
  identity, so the model is the paper's). The LSTM baseline is a stack of ``lstm_layers``
  layers (the paper's has 3) of ``lstm_size`` units (:class:`rnnlab.LSTM`) with a linear
  readout at every step.
- **Training**: :func:`rnnlab.training.loop.train` on ``BitCopy(length=train_length,
  width=width)``, lengths uniform in ``1..train_length``, one length per minibatch (pytorch-ntm
  and Collier & Beel draw so too), the bit task's binary cross-entropy, a fixed number of
  updates (the loop's own evaluation is set to run once, at the end, and is not used: it draws
  one length for its whole test batch).
- **Outcome per run**: at every length ``n`` from 1 to ``max(test_multiples)·train_length``,
  ``eval_batch`` fresh sequences of exactly ``n`` vectors (generator seed
  :func:`eval_seed`, the same for every model and seed) scored two ways, each averaged per
  sequence: **wrong bits** after thresholding at ½ (pytorch-ntm's cost; ``task.wrong_bits``)
  and the **cross-entropy in bits** (the paper's cost per sequence; ``task.cost_bits``). Also
  the learning curve (both costs every ``curve_every`` updates, averaged over the training
  lengths 1..``train_length`` on a fixed validation set), the parameter count, the wall time,
  the trained weights (artifact ``"model"``) and, for the NTM, its read and write weightings on
  one test sequence of ``2·train_length`` vectors.
- **Summary**: per model, the median over seeds of each cost at the training lengths (their
  mean over 1..``train_length``) and at each ``k·train_length``; the verdicts say whether the
  NTM's median wrong bits are below the LSTM's at every longer test length.

Parameter counts at the paper's sizes, as built here: NTM-FF 13,536 (Table 1 says 17,162; two
re-implementations could not reproduce the paper's counts: ``docs/tasks.md``, "Neural Turing
Machine tasks"), LSTM 3×256 with its readout 1,328,136 (Table 1: 1,352,969; the count the
re-implementations found is this one).

The quick preset's learning rates were not tuned on a pilot: Adam 0.01 for the small NTM (a
colleague's 5×6-memory NTM learnt copy 1–3 at 0.02) and 0.003 for the larger LSTM. Measured
once (2 workers on a 2-core machine, 5 min 18 s end to end): both models near-perfect on the
training lengths (median 0.08 and 0.15 wrong bits per sequence); at 2×, 3×, 4× the longest
training length the NTM's median wrong bits were 2.6, 7.4, 14.4 and the LSTM's 22.0, 37.5,
52.2 (guessing 30, 45, 60) — the NTM generalises better but, unlike the paper's, is not
near-perfect beyond its training lengths (median < 1 wrong bit only up to length 6).

The medium preset (the paper's sizes, lengths 1–10, Adam 3e-3 / 1e-3 chosen on seed 100, 3,000
updates; 57 min at low priority beside other runs) shows the paper's finding: median wrong bits
0.00 at 20, 30 and 40 for the NTM (seeds 0.00, 2.64, 0.00 at 20), about 56, 96 and 137 for the
LSTM (``docs/results/graves2014_medium.json``).

A sequence of ``n`` vectors has ``n·width`` answer bits: guessing scores ``n·width/2`` wrong
bits on average, and 0 is a perfect copy.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import rnnlab
from rnnlab._checks import check_choice, check_real, check_size
from rnnlab.cells import NTM
from rnnlab.experiments.plots.ntm import bits_and_curves, weighting_heatmap
from rnnlab.experiments.presets import check_sweep, choose_preset
from rnnlab.layers import Recurrent
from rnnlab.models.sequence import SequenceModel
from rnnlab.runs.executor import RunContext
from rnnlab.runs.report import Section
from rnnlab.tasks.algorithmic import BitCopy
from rnnlab.training.clipping import ClipConfig
from rnnlab.training.loop import OPTIMIZERS, TrainConfig, train

EXPERIMENT = "graves2014"
RUN_FUNCTION = "rnnlab.experiments.graves2014:run_unit"

MODELS = {"ntm": "NTM (feed-forward)", "lstm": "LSTM"}  # key -> label
CLIP_MODES = ("norm", "value")
NEAR_PERFECT = 1.0  # a copy with fewer wrong bits per sequence than this is near-perfect
EVAL_SEED = 7_000_000  # base of the test sequences' generator seeds (never a training seed)
PAPER_FINDING = (
    "the paper (§4.1, Fig. 4–6): NTM near-perfect copies to length ~50 and small errors at 120 "
    "after training on 1–20; LSTM degrades beyond 20"
)


@dataclass(frozen=True)
class Preset:
    """One protocol: both models trained on copy from every seed, tested at longer lengths."""

    name: str
    seeds: tuple[int, ...]  # initial weights and data stream of each run
    train_length: int  # longest training sequence T; lengths 1..T (paper: 20)
    width: int  # bits per vector (paper: 8)
    memory_slots: int  # NTM memory rows N (paper: 128)
    memory_width: int  # NTM memory row width M (paper: 20)
    controller_size: int  # NTM feed-forward controller units (paper: 100)
    lstm_layers: int  # stacked LSTM layers (paper: 3)
    lstm_size: int  # units per LSTM layer (paper: 256)
    optimizer: str  # "adam" or "rmsprop" (paper: RMSProp, momentum 0.9)
    learning_rates: tuple[tuple[str, float], ...]  # (model key, step size) pairs
    momentum: float  # RMSProp momentum (ignored by Adam)
    clip_mode: str  # "norm" (global L2 norm) or "value" (each component; paper: ±10)
    clip_threshold: float  # the clipping bound
    updates: int  # updates per run
    batch_size: int  # sequences per update
    test_multiples: tuple[int, ...]  # test lengths k·T beyond training (k > 1)
    eval_batch: int  # test sequences per length
    curve_every: int  # updates between learning-curve points
    curve_batch: int  # validation sequences per training length for the learning curve
    models: tuple[str, ...] = tuple(MODELS)
    note: str = ""


PRESETS = {
    "paper": Preset(
        name="paper",
        seeds=(0, 1, 2),
        train_length=20,
        width=8,
        memory_slots=128,
        memory_width=20,
        controller_size=100,
        lstm_layers=3,
        lstm_size=256,
        optimizer="rmsprop",
        learning_rates=(("ntm", 1e-4), ("lstm", 3e-5)),  # Table 1
        momentum=0.9,
        clip_mode="value",
        clip_threshold=10.0,  # §4.6: gradient components clipped to (−10, 10)
        updates=31_250,  # 1M sequences at batch 32 (Collier & Beel's budget)
        batch_size=32,
        test_multiples=(2, 3, 4, 6),  # 40, 60, 80, 120 (the paper shows 30, 50, 120)
        eval_batch=32,
        curve_every=250,
        curve_batch=8,
        note=(
            "not run in rnnlab (a colleague measured 0.25–0.33 s per update at this size on "
            "CPU: 31,250 updates ≈ 2.5 h per NTM run). RMSProp is torch's (smoothing 0.99, not "
            "centred), not Graves' 2013 form; batch 32 as Collier & Beel (the paper does not "
            "state its batch)"
        ),
    ),
    "medium": Preset(
        name="medium",
        seeds=(0, 1, 2),
        train_length=10,
        width=8,
        memory_slots=128,
        memory_width=20,
        controller_size=100,
        lstm_layers=3,
        lstm_size=256,
        optimizer="adam",
        learning_rates=(("ntm", 3e-3), ("lstm", 1e-3)),
        momentum=0.0,
        clip_mode="norm",
        clip_threshold=10.0,
        updates=3000,
        batch_size=32,
        test_multiples=(2, 3, 4),  # 20, 30, 40
        eval_batch=64,
        curve_every=250,
        curve_batch=16,
        note=(
            "MEDIUM PRESET: the paper's sizes (memory 128×20, 8-bit vectors, controller 100, LSTM "
            "3×256) but training lengths 1–10 (paper 1–20), tested at 2×, 3× and 4× (20, 30, 40; "
            "paper to 6×); Adam with global-norm clipping at 10 (paper: RMSProp 1e-4, components "
            "clipped at ±10), 3,000 updates of 32 sequences (96k sequences; the paper's curves run "
            "to 1M); learning rates NTM 3e-3, LSTM 1e-3 chosen on seed 100 (NTM at 1e-3 had not "
            "left the guessing level by update 1,250), not on the reported seeds 0-2"
        ),
    ),
    "quick": Preset(
        name="quick",
        seeds=(0, 1, 2),
        train_length=5,
        width=6,
        memory_slots=32,
        memory_width=8,
        controller_size=32,
        lstm_layers=3,
        lstm_size=64,
        optimizer="adam",
        learning_rates=(("ntm", 0.01), ("lstm", 0.003)),
        momentum=0.0,
        clip_mode="norm",
        clip_threshold=50.0,
        updates=1500,
        batch_size=32,
        test_multiples=(2, 3, 4),
        eval_batch=64,
        curve_every=50,
        curve_batch=16,
        note=(
            "QUICK PRESET, not the paper's setting: training lengths 1–5 (paper 1–20), 6-bit "
            "vectors (8), memory 32×8 (128×20), controller 32 (100), LSTM 3×64 (3×256), Adam "
            "with global-norm clipping at 50 (paper: RMSProp 1e-4 with components clipped at "
            "±10), 1500 updates of 32 sequences (48k sequences; the paper's curves run to 1M), "
            "3 seeds; tested to 4× the training length (paper: 6×)"
        ),
    ),
}


def preset(name: str, **overrides: Any) -> Preset:
    """A named preset, optionally changed (see :func:`.presets.choose_preset`)."""
    return choose_preset(PRESETS, name, overrides)


def _check_preset(chosen: Preset) -> None:
    """Refuse a preset whose fields cannot make runs, naming the field."""
    check_sweep(chosen, MODELS, "test_multiples")
    for multiple in chosen.test_multiples:
        check_size("test_multiples", multiple, minimum=2)
    for field in (
        "train_length",
        "width",
        "memory_slots",
        "memory_width",
        "controller_size",
        "lstm_layers",
        "lstm_size",
        "updates",
        "batch_size",
        "eval_batch",
        "curve_every",
        "curve_batch",
    ):
        check_size(field, getattr(chosen, field))
    longest = max(chosen.test_multiples) * chosen.train_length
    if chosen.memory_slots < longest:
        raise ValueError(
            f"memory_slots must hold the longest test sequence ({longest} vectors = "
            f"max(test_multiples) × train_length), got {chosen.memory_slots}"
        )
    check_choice("optimizer", chosen.optimizer, OPTIMIZERS)
    check_choice("clip_mode", chosen.clip_mode, CLIP_MODES)
    check_real("clip_threshold", chosen.clip_threshold, positive=True)
    if not 0 <= check_real("momentum", chosen.momentum) < 1:
        raise ValueError(f"momentum must be in [0, 1), got {chosen.momentum}")
    rates = dict(chosen.learning_rates)
    for model in chosen.models:
        if model not in rates:
            raise ValueError(f"learning_rates must give a rate for {model!r}, got {rates}")
        check_real("learning_rates", rates[model], positive=True)


def group_specs(chosen: Preset) -> list[dict[str, Any]]:
    """One run per (model, seed), with every setting it needs."""
    _check_preset(chosen)
    rates = dict(chosen.learning_rates)
    common = {
        "experiment": EXPERIMENT,
        "preset": chosen.name,
        "train_length": chosen.train_length,
        "width": chosen.width,
        "optimizer": chosen.optimizer,
        "momentum": chosen.momentum,
        "clip_mode": chosen.clip_mode,
        "clip_threshold": chosen.clip_threshold,
        "updates": chosen.updates,
        "batch_size": chosen.batch_size,
        "test_lengths": list(range(1, max(chosen.test_multiples) * chosen.train_length + 1)),
        "test_multiples": list(chosen.test_multiples),
        "eval_batch": chosen.eval_batch,
        "curve_every": chosen.curve_every,
        "curve_batch": chosen.curve_batch,
    }
    sizes = {
        "ntm": {
            "memory_slots": chosen.memory_slots,
            "memory_width": chosen.memory_width,
            "controller_size": chosen.controller_size,
        },
        "lstm": {"lstm_layers": chosen.lstm_layers, "lstm_size": chosen.lstm_size},
    }
    return [
        {
            **common,
            "model": model,
            "size": sizes[model],
            "learning_rate": rates[model],
            "seed": seed,
        }
        for model in chosen.models
        for seed in chosen.seeds
    ]


def build_model(spec: dict[str, Any]) -> SequenceModel:
    """The run's model, its initial weights drawn from ``spec["seed"]`` alone.

    NTM: ``Recurrent(NTM(width + 1, width, controller="feedforward", ...))`` whose own readout
    gives the logits (the ``SequenceModel`` readout is the identity). LSTM: ``rnnlab.LSTM``
    with ``lstm_layers`` layers of ``lstm_size`` units and a linear readout at every step.
    """
    width, size = spec["width"], spec["size"]
    check_choice("model", spec["model"], tuple(MODELS))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec["seed"])
        if spec["model"] == "ntm":
            cell = NTM(
                width + 1,
                width,
                memory_slots=size["memory_slots"],
                memory_width=size["memory_width"],
                controller="feedforward",
                controller_size=size["controller_size"],
                generator=torch.Generator().manual_seed(spec["seed"]),
            )
            model = SequenceModel(Recurrent(cell), width, readout="every")
            model.readout = nn.Identity()  # the NTM's own readout gives the logits
        else:
            layer = rnnlab.LSTM(width + 1, size["lstm_size"], num_layers=size["lstm_layers"])
            model = SequenceModel(layer, width, readout="every")
    return model


def eval_seed(length: int) -> int:
    """The generator seed of the test sequences of ``length`` vectors (the same for every run)."""
    return EVAL_SEED + length


@torch.no_grad()
def bits_by_length(
    model: nn.Module, width: int, lengths: list[int], batch: int, *, seed: int = EVAL_SEED
) -> dict[int, tuple[float, float]]:
    """Mean wrong bits and mean cross-entropy bits per sequence at each length.

    Args:
        model: maps inputs (L, B, width + 1) to logits (L, B, width).
        width: bits per vector.
        lengths: the sequence lengths ``n`` to test (each >= 1).
        batch: sequences per length.
        seed: the test sequences of length ``n`` come from a generator seeded ``seed + n``.

    Returns:
        ``{n: (wrong bits, cross-entropy bits)}``, each averaged over the ``batch`` sequences.
    """
    check_size("batch", batch)
    was_training = model.training
    model.eval()
    scores = {}
    for n in lengths:
        task = BitCopy(length=check_size("lengths", n), shortest=n, width=width)
        sequences = task.sample(batch, generator=torch.Generator().manual_seed(seed + n))
        outputs = model(sequences.inputs)
        scores[n] = (
            float(task.wrong_bits(outputs, sequences).float().mean()),
            float(task.cost_bits(outputs, sequences).mean()),
        )
    model.train(was_training)
    return scores


@torch.no_grad()
def weightings(model: SequenceModel, width: int, length: int, seed: int) -> dict[str, Any]:
    """The NTM's read and write weightings, step by step, on one test sequence.

    Returns ``{"read": (L, N), "write": (L, N), "length": length}`` as nested lists for a
    sequence of ``length`` vectors (``L = 2·length + 1`` steps) from a generator seeded
    ``seed``.
    """
    cell = model.layer.cell
    task = BitCopy(length=length, shortest=length, width=width)
    sequence = task.sample(1, generator=torch.Generator().manual_seed(seed))
    state = cell.initial_state(1)
    read, write = [], []
    for x_t in sequence.inputs:
        _, state = cell(x_t, state)
        w = state[-1][0]  # (R + W, N): read heads first
        read.append(w[0].tolist())
        write.append(w[cell.read_heads].tolist())
    return {"read": read, "write": write, "length": length}


def run_unit(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    """Train one model on copy; return its bits per sequence at every test length, its
    learning curve, parameter count and wall time (see the module docstring)."""
    started = time.perf_counter()
    T, width = spec["train_length"], spec["width"]
    task = BitCopy(length=T, width=width)
    model = build_model(spec)
    parameters = sum(p.numel() for p in model.parameters())
    curve_lengths = list(range(1, T + 1))
    curve: list[list[float]] = []

    def record(update: int, metrics: dict[str, float]) -> None:
        """Every ``curve_every`` updates: both costs at the training lengths (validation set)."""
        if "loss" not in metrics:
            return
        scores = bits_by_length(
            model, width, curve_lengths, spec["curve_batch"], seed=EVAL_SEED // 2
        )
        wrong = statistics.fmean(w for w, _ in scores.values())
        cost = statistics.fmean(c for _, c in scores.values())
        curve.append([update, wrong, cost])
        run.log(update, loss=metrics["loss"], wrong_bits=wrong, cost_bits=cost)

    updates = spec["updates"]
    config = TrainConfig(
        optimizer=spec["optimizer"],
        learning_rate=spec["learning_rate"],
        momentum=spec["momentum"],
        batch_size=spec["batch_size"],
        max_updates=updates,
        clip=ClipConfig(spec["clip_mode"], spec["clip_threshold"], nonfinite="skip"),
        eval_every=updates,  # the loop's one evaluation, at the end; not used
        eval_size=1,
        criterion="code",
        log_every=spec["curve_every"],
        seed=spec["seed"],
    )
    result = train(model, task, config, on_metrics=record)
    trained = time.perf_counter() - started
    scores = bits_by_length(model, width, spec["test_lengths"], spec["eval_batch"])
    path = run.directory / "model.pt"
    torch.save(model.state_dict(), path)
    run.artifact("model", path)
    outcome = {
        "parameters": parameters,
        "wrong_bits": {str(n): w for n, (w, _) in scores.items()},
        "cost_bits": {str(n): c for n, (_, c) in scores.items()},
        "curve": curve,
        "nonfinite": result.nonfinite,
        "train_seconds": trained,
        "seconds": time.perf_counter() - started,
    }
    if spec["model"] == "ntm":
        outcome["weightings"] = weightings(model, width, 2 * T, eval_seed(2 * T))
    return outcome


def _at(outcome: dict[str, Any], cost: str, lengths: list[int]) -> float:
    """A run's mean cost per sequence over ``lengths``."""
    return statistics.fmean(outcome[cost][str(n)] for n in lengths)


def _near_perfect(runs) -> int:
    """The longest ``n`` with median wrong bits < :data:`NEAR_PERFECT` at every length 1..n."""
    longest = 0
    for n in sorted(int(key) for key in runs[0].outcome["wrong_bits"]):
        if statistics.median(r.outcome["wrong_bits"][str(n)] for r in runs) >= NEAR_PERFECT:
            break
        longest = n
    return longest


def summarize(records) -> list[dict[str, Any]]:
    """One row per (preset, model): medians over seeds of both costs at the training lengths
    (mean over 1..T) and at each k·T; each seed's wrong bits too; ``near_perfect``: the longest
    ``n`` such that the median wrong bits are below :data:`NEAR_PERFECT` at every length 1..n
    (0 if not even at length 1)."""
    groups: dict[tuple[str, str], list] = {}
    for r in records:
        groups.setdefault((r.spec["preset"], r.spec["model"]), []).append(r)
    order = {model: i for i, model in enumerate(MODELS)}
    rows = []
    for (preset_name, model), chosen in sorted(
        groups.items(), key=lambda item: (item[0][0], order[item[0][1]])
    ):
        spec = chosen[0].spec
        T = spec["train_length"]
        points = {"train": list(range(1, T + 1))}
        points.update({f"{k}T": [k * T] for k in spec["test_multiples"]})
        row = {
            "preset": preset_name,
            "model": model,
            "label": MODELS[model],
            "parameters": chosen[0].outcome["parameters"],
            "size": spec["size"],
            "train_length": T,
            "width": spec["width"],
            "optimizer": spec["optimizer"],
            "learning_rate": spec["learning_rate"],
            "updates": spec["updates"],
            "seeds": len(chosen),
            "seconds": statistics.median(r.outcome["seconds"] for r in chosen),
            "nonfinite": sum(r.outcome["nonfinite"] for r in chosen),
            "points": list(points),
            "near_perfect": _near_perfect(chosen),
            "lengths": {key: lengths[-1] for key, lengths in points.items()},
        }
        for key, lengths in points.items():
            wrong = [_at(r.outcome, "wrong_bits", lengths) for r in chosen]
            row[f"wrong_{key}"] = statistics.median(wrong)
            row[f"wrong_{key}_seeds"] = wrong
            row[f"cost_{key}"] = statistics.median(
                _at(r.outcome, "cost_bits", lengths) for r in chosen
            )
        rows.append(row)
    return rows


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """Per preset: did each model learn the training lengths, and is the NTM's median wrong
    bits per sequence below the LSTM's at every longer test length?"""
    lines = []
    for preset_name in dict.fromkeys(r["preset"] for r in rows):
        by = {r["model"]: r for r in rows if r["preset"] == preset_name}
        for r in by.values():
            T, K = r["train_length"], r["width"]
            tests = [p for p in r["points"] if p != "train"]
            beyond = ", ".join(
                f"{r['lengths'][p]}: {r[f'wrong_{p}']:.2f} of {r['lengths'][p] * K} "
                f"(guessing {r['lengths'][p] * K / 2:g})"
                for p in tests
            )
            lines.append(
                f"{preset_name}: {r['label']} ({r['parameters']} parameters) median wrong bits "
                f"per sequence: {r['wrong_train']:.2f} over the training lengths 1–{T}; at "
                f"length {beyond}; near-perfect (median < {NEAR_PERFECT:g} wrong bit) at every "
                f"length up to {r['near_perfect']}"
            )
        ntm, lstm = by.get("ntm"), by.get("lstm")
        if ntm is None or lstm is None:
            continue
        tests = [p for p in ntm["points"] if p != "train"]
        better = [p for p in tests if ntm[f"wrong_{p}"] < lstm[f"wrong_{p}"]]
        if len(better) == len(tests):
            verdict = "the NTM generalises better than the LSTM: fewer median wrong bits at every"
        elif better:
            verdict = (
                f"mixed: the NTM has fewer median wrong bits than the LSTM at only {len(better)} "
                f"of the {len(tests)}"
            )
        else:
            verdict = "the NTM does NOT generalise better than the LSTM at any"
        lines.append(
            f"{preset_name}: {verdict} longer test length ("
            + ", ".join(
                f"{ntm['lengths'][p]}: NTM {ntm[f'wrong_{p}']:.2f} vs LSTM {lstm[f'wrong_{p}']:.2f}"
                for p in tests
            )
            + f"); {PAPER_FINDING}"
        )
        nonfinite = ntm["nonfinite"] + lstm["nonfinite"]
        if nonfinite:
            lines.append(f"{nonfinite} update(s) had a non-finite gradient and were skipped")
    return lines


def _size_text(row: dict[str, Any]) -> str:
    size = row["size"]
    if row["model"] == "ntm":
        return (
            f"memory {size['memory_slots']}×{size['memory_width']}, ctrl {size['controller_size']}"
        )
    return f"{size['lstm_layers']}×{size['lstm_size']}"


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and cells: per (preset, model), median wrong bits / cross-entropy bits per
    sequence at the training lengths and each longer test length."""
    points = list(dict.fromkeys(p for r in rows for p in r["points"]))
    header = ["preset", "model", "size", "parameters", "optimizer lr × updates", "seeds"]
    header += [
        "train 1–T wrong / CE bits" if p == "train" else f"{p} wrong / CE bits" for p in points
    ]
    header += ["near-perfect up to n", "median s per run"]
    cells = []
    for r in rows:
        line = [
            r["preset"],
            r["label"],
            _size_text(r),
            str(r["parameters"]),
            f"{r['optimizer']} {r['learning_rate']:g} × {r['updates']}",
            str(r["seeds"]),
        ]
        for p in points:
            if p not in r["points"]:
                line.append("")
                continue
            name = "1–" + str(r["train_length"]) if p == "train" else str(r["lengths"][p])
            line.append(f"n={name}: {r[f'wrong_{p}']:.2f} / {r[f'cost_{p}']:.2f}")
        line += [str(r["near_perfect"]), f"{r['seconds']:.0f}"]
        cells.append(line)
    return header, cells


def report_sections(store, records, out: Path) -> list[Section]:
    rows = summarize(records)
    sections = []
    for name in dict.fromkeys(r["preset"] for r in rows):
        chosen = [r for r in rows if r["preset"] == name]
        ours = [r for r in records if r.spec["preset"] == name]
        runs = {
            MODELS[r.spec["model"]]: [x for x in ours if x.spec["model"] == r.spec["model"]]
            for r in ours
        }
        figure = bits_and_curves(
            {
                label: [
                    (
                        sorted((int(n), w) for n, w in x.outcome["wrong_bits"].items()),
                        sorted((int(n), c) for n, c in x.outcome["cost_bits"].items()),
                        x.outcome["curve"],
                    )
                    for x in chosen_runs
                ]
                for label, chosen_runs in runs.items()
            },
            ours[0].spec["train_length"],
            ours[0].spec["width"],
            out / f"copy_bits_vs_length_{name}.png",
            title=f"{EXPERIMENT}, {name} preset: copy, trained on lengths "
            f"1–{ours[0].spec['train_length']}",
        )
        images = [figure]
        ntm_runs = [r for r in ours if r.spec["model"] == "ntm"]
        if ntm_runs:
            best = min(
                ntm_runs, key=lambda r: _at(r.outcome, "wrong_bits", [2 * r.spec["train_length"]])
            )
            images.append(
                weighting_heatmap(
                    best.outcome["weightings"],
                    out / f"ntm_weightings_{name}.png",
                    title=f"NTM seed {best.spec['seed']}: weightings on a copy of length "
                    f"{best.outcome['weightings']['length']}",
                )
            )
        header, cells = table_rows(chosen)
        sections.append(
            Section(
                f"{EXPERIMENT}, {name} preset: NTM and LSTM on copy, tested beyond the training "
                "lengths",
                " ".join([*verdicts(chosen), PRESETS[name].note if name in PRESETS else ""]),
                header,
                cells,
                images,
            )
        )
    return sections
