"""Graves 2012, "Sequence transduction with recurrent neural networks", §5: the RNN Transducer
against CTC, on synthetic speech instead of TIMIT phonemes.

Graves trained both on TIMIT and reported a phoneme error rate of about 25.5% for CTC and about
23.2% for the transducer (recalled, hence "about": ``docs/transduction.md``); the transducer's
prediction network, a language model of the labels, was what made it better. This reproduction
asks whether the same ordering holds on two tasks read by eSpeak NG voices and tested on voices
never heard in training:

- ``spoken_digits`` (:mod:`rnnlab.tasks.spoken_digits`, the quick preset): strings of
  1–7 digits. They are uniform random, so a label model has nothing to learn — an honest reason
  for the ordering *not* to carry over;
- ``spoken_numbers`` (:mod:`rnnlab.tasks.spoken_numbers`, the medium and paper presets): numbers
  written in English words, spelled out letter by letter, in white noise — labels with spelling
  and grammar to learn, and acoustics ambiguous enough that knowing them helps.

One sweep unit trains one (system, seed): ``ctc`` (:class:`~rnnlab.models.ctc.CTC`) or
``transducer`` (:class:`~rnnlab.models.transducer.Transducer`, a one-layer LSTM prediction
network, the additive joint of Graves 2012 eq. 11–12 or the tanh MLP joint of Graves et al. 2013)
over the same encoder — frame stacking by ``k`` (Sak et al. 2015) and bidirectional LSTM layers
— initialised identically for one seed. With ``pretrain_updates = N > 0`` the transducer's first
``N`` updates train the seed's CTC network, whose encoder then starts the transcription network
(Graves et al. 2013's pre-training, :func:`pretrain_encoder`; ``docs/transduction.md``).
Training: :func:`rnnlab.training.pair_loop.train_pairs` (Adam, norm clipping, minibatches drawn
with replacement; resumable from the run's checkpoint).
Every ``eval_every`` updates the test loss and the greedy label error rate on the first
``eval_size`` test utterances are logged; at the end the whole test split is decoded greedily and
by beam search — Graves 2012 Algorithm 1 (``beam``) and the batched one-label-per-frame search
(``modified_beam``) for the transducer, prefix beam search for CTC — and scored:

- ``LER = Σ_i edit_distance(y_i, ŷ_i) / Σ_i |y_i|`` over the labels (digits or characters)
  (:func:`rnnlab.tasks.pairs.error_rate`), Graves's error measure;
- ``WER``: jiwer's word error rate with each label a word — the same quantity by an independent
  implementation, recorded as a check;
- ``SER``: the fraction of utterances whose label sequence is not exactly right.

The decodes are kept in the run's folder (``decodes.json``), so every number can be recomputed.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from rnnlab._checks import check_choice, check_size
from rnnlab._io import atomic_save, atomic_write
from rnnlab.experiments.plots.transduction import METRICS as CURVES
from rnnlab.experiments.plots.transduction import ler_curves
from rnnlab.experiments.presets import choose_preset
from rnnlab.models.ctc import CTC
from rnnlab.models.encoder import Encoder
from rnnlab.models.transducer import JOINTS, Transducer
from rnnlab.runs.executor import RunContext
from rnnlab.runs.report import Section
from rnnlab.tasks import PAIR_TASKS, make
from rnnlab.tasks.pairs import PairTask, error_rate
from rnnlab.tasks.synthetic_speech import SyntheticSpeech
from rnnlab.training.pair_loop import PairTrainConfig, train_pairs

EXPERIMENT = "graves2012"
RUN_FUNCTION = "rnnlab.experiments.graves2012:run_unit"
SYSTEMS = ("ctc", "transducer")

# Graves 2012, §5 (TIMIT phoneme error rate, test set), as recalled: cite as "about".
PAPER = {"ctc": "about 25.5% PER (TIMIT)", "transducer": "about 23.2% PER (TIMIT)"}
DECODINGS = {"ctc": ("greedy", "beam"), "transducer": ("greedy", "beam", "modified_beam")}
# Per task: what one label is, and what the prediction network can learn about the labels.
LABELS = {
    "spoken_digits": (
        "digit",
        "; here the digit strings are uniform random, so it has none to learn",
    ),
    "spoken_numbers": (
        "label",
        "; here the labels spell English number words, whose spelling and grammar it can learn",
    ),
}
DECODING_NAMES = {
    ("ctc", "greedy"): "greedy (best path)",
    ("ctc", "beam"): "prefix beam",
    ("transducer", "greedy"): "greedy",
    ("transducer", "beam"): "beam (Graves Alg. 1)",
    ("transducer", "modified_beam"): "modified beam",
}


@dataclass(frozen=True)
class Preset:
    name: str
    task: dict[str, Any]  # rnnlab.tasks.make(**task): the data
    systems: tuple[str, ...]  # "ctc", "transducer"
    joints: tuple[str, ...]  # the transducer's joint(s): "additive" (Graves 2012), "mlp"
    seeds: int  # runs per system; the tables give mean ± standard deviation over them
    hidden_size: int  # LSTM units per direction of each encoder layer
    num_layers: int  # bidirectional LSTM layers of the encoder
    stack_frames: int  # k: frames stacked into one encoder step
    prediction_size: int  # units of the transducer's one-layer LSTM prediction network
    joint_size: int  # hidden units of the "mlp" joint
    learning_rate: float  # Adam
    batch_size: int  # utterances per update
    max_updates: int  # updates
    clip_norm: float  # largest global gradient norm
    eval_every: int  # updates between logged evaluations
    eval_size: int  # test utterances of the logged evaluations (the final one uses them all)
    beam_ctc: int = 8  # width of CTC's prefix beam search
    beam_transducer: int = 4  # width of the transducer's beam searches
    # the transducer's first updates train its encoder under CTC, whose weights then start the
    # transcription network (Graves et al. 2013); counted within max_updates; 0 = none
    pretrain_updates: int = 0
    note: str = ""  # how the preset departs from the paper, printed with the results


MEDIUM = Preset(
    name="medium",
    task={
        "name": "spoken_numbers",
        "n_train": 4000,
        "n_test": 300,
        "labels": "characters",
        "noise_snr_db": -10.0,
    },
    systems=SYSTEMS,
    joints=("additive",),
    seeds=3,
    hidden_size=128,
    num_layers=2,
    stack_frames=3,
    prediction_size=128,
    joint_size=128,
    learning_rate=1e-3,
    batch_size=16,
    max_updates=4000,
    clip_norm=1.0,
    eval_every=250,
    eval_size=100,
    note="MEDIUM PRESET: spoken numbers (num2words, 0..999,999, read by eSpeak NG, unseen "
    "test voices) in white noise at -10 dB SNR, with character labels instead of TIMIT "
    "phonemes, so that the prediction network has spelling and number grammar to learn; "
    "two BLSTM layers of 128 units, Graves 2012's additive joint only, 4,000 updates of 16 "
    "utterances, 3 seeds. Noise and budget were chosen on data seed 100 and weight seed 100 "
    "(clean speech: both systems at 0.0% LER by 1,000 updates)",
)

PRESETS = {
    "pretrained": replace(
        MEDIUM,
        name="pretrained",
        max_updates=12_000,
        pretrain_updates=4000,
        note="the medium preset's task, model and hyperparameters, with three times its updates "
        "(12,000) and the transducer's transcription network pretrained with CTC for the first "
        "4,000 of them (Graves et al. 2013's start), instead of TIMIT and a transducer trained "
        "from scratch; 3 seeds (about 2.5 hours on two cores). pretrain_updates was set to the "
        "medium budget before the run, not tuned",
    ),
    "paper": replace(
        MEDIUM,
        name="paper",
        joints=("additive", "mlp"),
        seeds=5,
        max_updates=12_000,
        eval_every=500,
        eval_size=300,
        note="the medium preset's task (spoken numbers in white noise at -10 dB, character "
        "labels, unseen test voices) instead of TIMIT, with both joints, 5 seeds and three "
        "times the updates (12,000): whether the transducer, whose LER was still falling at "
        "4,000 updates, overtakes CTC (about 17 CPU-hours: --estimate)",
    ),
    "medium": MEDIUM,
    "quick": Preset(
        name="quick",
        task={"name": "spoken_digits", "n_train": 2000, "n_test": 300},
        systems=SYSTEMS,
        joints=("additive", "mlp"),
        seeds=3,
        hidden_size=64,
        num_layers=1,
        stack_frames=3,
        prediction_size=64,
        joint_size=64,
        learning_rate=3e-3,
        batch_size=16,
        max_updates=800,
        clip_norm=1.0,
        eval_every=100,
        eval_size=100,
        note="QUICK PRESET: spoken digits instead of TIMIT, one BLSTM layer of 64 units, "
        "800 updates of 16 utterances, 3 seeds",
    ),
}


def preset(name: str, **overrides: Any) -> Preset:
    """A named preset, optionally changed (see :func:`.presets.choose_preset`)."""
    return choose_preset(PRESETS, name, overrides)


def group_specs(chosen: Preset) -> list[dict[str, Any]]:
    """One unit per (system, joint, seed). Builds the data set here, in the calling process, so
    that parallel workers find it cached instead of each synthesising it."""
    for system in chosen.systems:
        if system not in SYSTEMS:
            raise ValueError(f"systems must be among {list(SYSTEMS)}, got {system!r}")
    if not chosen.systems or ("transducer" in chosen.systems and not chosen.joints):
        raise ValueError("systems (and joints, for the transducer) must not be empty")
    for joint in chosen.joints:
        check_choice("joints", joint, JOINTS)
    for name in (
        "seeds",
        "hidden_size",
        "num_layers",
        "stack_frames",
        "prediction_size",
        "joint_size",
        "eval_size",
        "beam_ctc",
        "beam_transducer",
    ):
        check_size(name, getattr(chosen, name))
    check_size("pretrain_updates", chosen.pretrain_updates, minimum=0)
    if chosen.pretrain_updates >= chosen.max_updates:
        raise ValueError(
            f"pretrain_updates must be < max_updates ({chosen.max_updates}), "
            f"got {chosen.pretrain_updates}"
        )
    task = make(**chosen.task)
    if not isinstance(task, PairTask):
        raise TypeError(f"task must name a sequence-pair task, got {chosen.task.get('name')!r}")
    for split in task.splits:
        task.pairs(split)  # synthesise and cache once, before the workers start
    config = PairTrainConfig(
        learning_rate=chosen.learning_rate,
        max_updates=chosen.max_updates,
        batch_size=chosen.batch_size,
        clip_norm=chosen.clip_norm,
        eval_every=chosen.eval_every,
        checkpoint_every=chosen.eval_every,
    )
    model = {
        "hidden_size": chosen.hidden_size,
        "num_layers": chosen.num_layers,
        "stack_frames": chosen.stack_frames,
        "prediction_size": chosen.prediction_size,
        "joint_size": chosen.joint_size,
    }
    specs = []
    for system in chosen.systems:
        joints = chosen.joints if system == "transducer" else (None,)
        pretrain = chosen.pretrain_updates if system == "transducer" else 0
        for joint in joints:
            for seed in range(chosen.seeds):
                spec = {
                    "experiment": EXPERIMENT,
                    "preset": chosen.name,
                    "seed": seed,
                    "system": system,
                    "joint": joint,
                    "task": dict(chosen.task),
                    "model": model,
                    "train": asdict(config) | {"seed": seed},
                    "eval_size": chosen.eval_size,
                    "beam": chosen.beam_ctc if system == "ctc" else chosen.beam_transducer,
                }
                if pretrain:  # only then: units without it keep their keys (and stored runs)
                    spec["pretrain_updates"] = pretrain
                    spec["train"]["max_updates"] -= pretrain
                specs.append(spec)
    return specs


def build_model(spec: dict[str, Any], task: PairTask) -> CTC | Transducer:
    """The unit's model, initialised from its seed (the encoder first, so CTC and the
    transducer of one seed start from the same encoder weights)."""
    m = spec["model"]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec["seed"])
        encoder = Encoder.build(
            task.input_size,
            m["hidden_size"],
            m["num_layers"],
            stack_frames=m["stack_frames"],
        )
        n_labels = len(task.target_vocabulary)
        if spec["system"] == "ctc":
            return CTC(encoder, n_labels)
        return Transducer(
            encoder,
            n_labels,
            joint=spec["joint"],
            prediction_size=m["prediction_size"],
            joint_size=m["joint_size"],
        )


@torch.no_grad()
def evaluate(
    model: CTC | Transducer,
    task: PairTask,
    size: int | None = None,
    methods: tuple[str, ...] = ("greedy",),
    beam: int = 4,
    batch_size: int = 100,
) -> tuple[dict[str, float], list[list[int]], dict[str, list[list[int]]]]:
    """Test loss (mean ``-ln Pr(y|x)`` per utterance) and each method's label error rate on the
    first ``size`` test utterances (all if None); also the references and every decode."""
    examples = list(task.pairs(task.splits[-1]))[:size]
    references: list[list[int]] = []
    decodes: dict[str, list[list[int]]] = {method: [] for method in methods}
    loss = 0.0
    for start in range(0, len(examples), batch_size):
        batch = task.collate(examples[start : start + batch_size])
        loss += float(model.loss(batch)) * batch.batch_size
        references += [batch.target(b).tolist() for b in range(batch.batch_size)]
        for method in methods:
            options = {} if method == "greedy" else {"beam": beam}
            decodes[method] += model.decode(batch.sources, batch.source_lengths, method, **options)
    metrics = {"test_loss": loss / len(examples)}
    for method, hypotheses in decodes.items():
        metrics[f"ler_{method}"] = error_rate(references, hypotheses)
    return metrics, references, decodes


EDIT_KINDS = ("substitutions", "deletions", "insertions")


def error_kinds(references: list[list[int]], hypotheses: list[list[int]]) -> dict[str, float]:
    """Substitutions, deletions and insertions of one minimal alignment (jiwer's, every label a
    word: ``[3, 1]`` -> ``"3 1"``), each per reference label. They add up to jiwer's WER, which
    equals the LER: an independent check of it. A transducer that emits blank too often shows up
    here as deletions."""
    import jiwer

    counts = jiwer.process_words(
        [" ".join(map(str, r)) for r in references],
        [" ".join(map(str, h)) for h in hypotheses],
    )
    total = sum(len(r) for r in references)
    return {
        "substitutions": counts.substitutions / total,
        "deletions": counts.deletions / total,
        "insertions": counts.insertions / total,
    }


def run_unit(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    """Train one (system, seed) and score its greedy and beam decodes on the test split.

    Resumable: training continues from ``train.pt`` in the run's folder; the final decodes go
    to ``decodes.json`` there.
    """
    options = dict(spec["task"])
    # a speech task's first run synthesises the audio: show it
    if issubclass(PAIR_TASKS[options["name"]], SyntheticSpeech):
        options["progress"] = lambda done, total: run.progress(done, {"synthesised": done}, total)
    task = make(**options)
    model = build_model(spec, task)
    config = PairTrainConfig(**spec["train"])
    pretrain = spec.get("pretrain_updates", 0)
    total = pretrain + config.max_updates
    start = time.perf_counter()
    if pretrain:
        pretrain_encoder(spec, task, model, run)
    history = train_pairs(
        model,
        task,
        config,
        evaluate=lambda: evaluate(model, task, spec["eval_size"])[0],
        checkpoint=run.directory / "train.pt",
        on_step=lambda step, loss: run.progress(pretrain + step, {"loss": loss}, total),
        on_metrics=lambda step, metrics: run.log(pretrain + step, metrics),
    )
    trained = time.perf_counter()
    model.eval()
    methods = DECODINGS[spec["system"]]
    metrics, references, decodes = evaluate(model, task, None, methods, spec["beam"])
    edits = {method: error_kinds(references, decodes[method]) for method in methods}
    decoded = time.perf_counter()
    path = run.directory / "decodes.json"
    atomic_write(path, json.dumps({"references": references, "hypotheses": decodes}))
    run.artifact("decodes", path)
    atomic_save(model.state_dict(), run.directory / "model.pt")
    run.artifact("model", run.directory / "model.pt")
    return {
        "updates": pretrain + history.updates,
        "pretrain_updates": pretrain,
        "test_loss": metrics["test_loss"],
        "ler": {method: metrics[f"ler_{method}"] for method in methods},
        "wer": {method: sum(kinds.values()) for method, kinds in edits.items()},
        "edits": edits,
        "ser": {
            method: sum(h != r for h, r in zip(decodes[method], references, strict=True))
            / len(references)
            for method in methods
        },
        "clipped": history.clipped,
        "skipped": history.skipped,
        "test_utterances": len(references),
        "train_seconds": trained - start,
        "decode_seconds": decoded - trained,
    }


def pretrain_encoder(
    spec: dict[str, Any], task: PairTask, model: Transducer, run: RunContext
) -> None:
    """Start the transducer's transcription network from a CTC network, as Graves et al. 2013
    did: train CTC for ``spec["pretrain_updates"]`` updates, then copy its encoder into
    ``model.encoder``.

    The CTC network is the seed's own (:func:`build_model` gives it the encoder the transducer
    started from) trained on the same batches, so it is the seed's CTC unit stopped at
    ``pretrain_updates``, bit for bit. Resumable from ``pretrain.pt`` in the run's folder; its
    evaluations are logged as ``ctc_pretrain/<metric>``.
    """
    ctc = build_model(spec | {"system": "ctc"}, task)
    updates = spec["pretrain_updates"]
    total = updates + spec["train"]["max_updates"]
    train_pairs(
        ctc,
        task,
        PairTrainConfig(**(spec["train"] | {"max_updates": updates})),
        evaluate=lambda: evaluate(ctc, task, spec["eval_size"])[0],
        checkpoint=run.directory / "pretrain.pt",
        on_step=lambda step, loss: run.progress(step, {"ctc loss": loss}, total),
        on_metrics=lambda step, metrics: run.log(
            step, {f"ctc_pretrain/{name}": value for name, value in metrics.items()}
        ),
    )
    model.encoder.load_state_dict(ctc.encoder.state_dict())


def system_label(spec: dict[str, Any]) -> str:
    if spec["system"] == "ctc":
        return "CTC"
    pretrain = spec.get("pretrain_updates", 0)
    encoder = f", encoder CTC-pretrained {pretrain:,} updates" if pretrain else ""
    return f"RNN-T ({spec['joint']} joint{encoder})"


def _spread(values: list[float]) -> tuple[float, float]:
    mean = statistics.fmean(values)
    return mean, statistics.stdev(values) if len(values) > 1 else math.nan


def summarize(records) -> list[dict[str, Any]]:
    """One row per (preset, system, decoding): LER, WER and SER over seeds."""
    groups: dict[tuple, list] = {}
    for record in records:
        spec, outcome = record.spec, record.outcome or {}
        for method in outcome.get("ler", {}):
            pretrain = spec.get("pretrain_updates", 0)
            key = (spec["preset"], spec["system"], spec["joint"] or "", pretrain, method)
            groups.setdefault(key, []).append((spec, outcome))
    rows = []
    for (name, system, joint, pretrain, method), units in groups.items():
        units.sort(key=lambda unit: unit[0]["seed"])
        ler = [o["ler"][method] for _, o in units]
        mean, sd = _spread(ler)
        rows.append(
            {
                "preset": name,
                "system": system,
                "label": system_label(units[0][0]),
                "joint": joint,
                "pretrain_updates": pretrain,
                "decoding": method,
                "decoding_label": DECODING_NAMES[(system, method)],
                "seeds": [s["seed"] for s, _ in units],
                "ler": ler,
                "ler_mean": mean,
                "ler_sd": sd,
                "wer_mean": statistics.fmean(o["wer"][method] for _, o in units),
                "ser_mean": statistics.fmean(o["ser"][method] for _, o in units),
                "edits_mean": (
                    {
                        kind: statistics.fmean(o["edits"][method][kind] for _, o in units)
                        for kind in EDIT_KINDS
                    }
                    if all("edits" in o for _, o in units)
                    else {}  # runs recorded before the outcome had them
                ),
                "test_loss_mean": statistics.fmean(o["test_loss"] for _, o in units),
                "updates": units[0][1]["updates"],
                "paper": PAPER[system] if method == "greedy" else "",
            }
        )
    order = {"ctc": 0, "transducer": 1}
    methods = {"greedy": 0, "beam": 1, "modified_beam": 2}
    return sorted(
        rows,
        key=lambda r: (
            r["preset"],
            order[r["system"]],
            r["joint"],
            r["pretrain_updates"],
            methods[r["decoding"]],
        ),
    )


def _percent(value: float) -> str:
    return "—" if math.isnan(value) else f"{100 * value:.1f}%"


def _ler_cell(row: dict[str, Any]) -> str:
    if len(row["ler"]) == 1:
        return _percent(row["ler_mean"])
    return f"{_percent(row['ler_mean'])} ± {100 * row['ler_sd']:.2f}"


def _edits_cell(row: dict[str, Any]) -> str:
    edits = row["edits_mean"]
    return " / ".join(_percent(edits[kind]) for kind in EDIT_KINDS) if edits else "—"


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the terminal table (LER mean ± standard deviation over seeds, its
    substitutions / deletions / insertions, the test loss in nats per utterance)."""
    header = [
        "system",
        "decoding",
        "LER (± sd)",
        "per seed",
        "sub / del / ins",
        "SER",
        "test −ln p",
        "seeds",
        "paper (TIMIT)",
    ]
    return header, [
        [
            r["label"],
            r["decoding_label"],
            _ler_cell(r),
            " ".join(_percent(v) for v in r["ler"]),
            _edits_cell(r),
            _percent(r["ser_mean"]),
            f"{r['test_loss_mean']:.2f}",
            str(len(r["ler"])),
            r["paper"],
        ]
        for r in rows
    ]


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """Whether the paper's ordering (transducer below CTC) holds here, per preset, joint and
    pretraining,
    comparing each system's best decoding seed by seed."""
    lines = []
    for name in sorted({r["preset"] for r in rows}):
        chosen = [r for r in rows if r["preset"] == name]
        ctc = _best(r for r in chosen if r["system"] == "ctc")
        variants = sorted(
            {(r["joint"], r["pretrain_updates"]) for r in chosen if r["system"] == "transducer"}
        )
        for variant in variants:
            rnnt = _best(
                r
                for r in chosen
                if r["system"] == "transducer" and (r["joint"], r["pretrain_updates"]) == variant
            )
            if ctc is None or rnnt is None:
                continue
            lines.append(f"{name}: {_compare(ctc, rnnt)}")
    return lines


def _best(rows) -> dict[str, Any] | None:
    rows = list(rows)
    return min(rows, key=lambda r: r["ler_mean"]) if rows else None


def _compare(ctc: dict[str, Any], rnnt: dict[str, Any]) -> str:
    paired = dict(zip(ctc["seeds"], ctc["ler"], strict=True))
    pairs = [(paired[s], v) for s, v in zip(rnnt["seeds"], rnnt["ler"], strict=True) if s in paired]
    wins = sum(t < c for c, t in pairs)
    gap = rnnt["ler_mean"] - ctc["ler_mean"]
    spread = max(
        (v for v in (ctc["ler_sd"], rnnt["ler_sd"]) if not math.isnan(v)), default=math.nan
    )
    text = (
        f"after {rnnt['updates']} updates, {rnnt['label']} ({rnnt['decoding_label']}) "
        f"{_percent(rnnt['ler_mean'])} against CTC "
        f"({ctc['decoding_label']}) {_percent(ctc['ler_mean'])}: lower in {wins} of {len(pairs)} "
        f"seeds; difference {100 * gap:+.1f} points"
    )
    if len(pairs) < 2 or math.isnan(spread):
        return text + " — one seed: no claim either way"
    if abs(gap) <= spread:
        return text + f", within the seed spread (sd up to {100 * spread:.1f}): no clear ordering"
    if gap < 0 and wins == len(pairs):
        return text + ": the paper's ordering (transducer below CTC) holds here"
    if gap > 0 and wins == 0:
        return text + ": the opposite of the paper's ordering here"
    return text + ": mixed across seeds, no clear ordering"


def logged_curves(store, records) -> list[dict[str, Any]]:
    """Each run's label, system, joint and logged curves (greedy LER and test loss against
    updates), ordered by system and joint: the data of :func:`.plots.transduction.ler_curves`."""
    return [
        {
            "label": system_label(r.spec),
            "system": r.spec["system"],
            "joint": r.spec["joint"],
            "pretrained": bool(r.spec.get("pretrain_updates")),
        }
        | {metric: store.metrics(r.key, metric).get(metric, []) for metric in CURVES}
        for r in sorted(
            records,
            key=lambda r: (
                r.spec["system"],
                r.spec["joint"] or "",
                r.spec.get("pretrain_updates", 0),
            ),
        )
    ]


def report_sections(store, records, out: Path) -> list[Section]:
    """Per preset: the table (LER mean ± sd over seeds beside the paper), the verdicts, and the
    figure of greedy LER against updates."""
    rows = summarize(records)
    sections = []
    for name in sorted({r["preset"] for r in rows}):
        chosen = [r for r in rows if r["preset"] == name]
        units = [r for r in records if r.spec["preset"] == name]
        figure = ler_curves(
            logged_curves(store, units),
            out / f"ler_vs_updates_{name}.png",
            title=f"{EXPERIMENT}, {name} preset: CTC and RNN-T, test split (unseen voices)",
        )
        wer_gap = max(
            abs(o["wer"][m] - o["ler"][m]) for o in (r.outcome for r in units) for m in o["ler"]
        )
        note = PRESETS[name].note if name in PRESETS else ""
        label, structure = LABELS.get(units[0].spec["task"]["name"], ("label", ""))
        text = (
            f"{note}. Label error rate = Σ edit distance / Σ reference {label}s over "
            f"{units[0].outcome['test_utterances']} test utterances (unseen voices); "
            f"mean ± standard deviation over seeds. jiwer's WER with each {label} a word agrees "
            f"with the LER to {wer_gap:.1e}; sub / del / ins split it by kind (one minimal "
            "alignment, jiwer's). SER: utterances not exactly right. Test −ln p: the mean "
            "negative log-probability of the right labels per test utterance, in nats — both "
            "systems define Pr(labels | speech) exactly, so it compares them as models. Graves "
            "2012 reports about 25.5% (CTC) and about 23.2% (transducer) phoneme error on TIMIT, "
            f"where the prediction network learns the phoneme statistics{structure}. "
            + " ".join(verdicts(chosen))
        )
        header, cells = table_rows(chosen)
        sections.append(
            Section(
                f"{EXPERIMENT}, {name} preset: RNN-T against CTC", text, header, cells, [figure]
            )
        )
    return sections
