"""The graves2012 experiment end to end on a tiny preset (toy transduction): the store, the
table, the report and the figure, and label error rates recomputed from the kept decodes; the
fast edit distance behind the label error rate against its reference."""

from __future__ import annotations

import dataclasses
import json
import math
import statistics
from pathlib import Path

import jiwer
import pytest
import torch

from rnnlab.experiments import graves2012
from rnnlab.experiments.registry import EXPERIMENTS
from rnnlab.experiments.reproduce import Reproduction, reproduce
from rnnlab.runs.executor import SweepProgress
from rnnlab.runs.store import RunStore
from rnnlab.tasks import make
from rnnlab.tasks.pairs import edit_distance, edit_distance_reference, error_rate
from rnnlab.training.pair_loop import PairTrainConfig, train_pairs

pytestmark = pytest.mark.usefixtures("single_thread")

TOY = {"name": "toy_transduction", "n_labels": 3, "max_labels": 3, "n_train": 64, "n_test": 12}
TINY = {
    "task": TOY,
    "joints": ("additive", "mlp"),
    "seeds": 2,
    "hidden_size": 8,
    "stack_frames": 1,
    "prediction_size": 8,
    "joint_size": 8,
    "learning_rate": 0.02,
    "batch_size": 8,
    "max_updates": 20,
    "eval_every": 10,
    "eval_size": 6,
    "beam_ctc": 3,
    "beam_transducer": 2,
}


def shown(result: Reproduction) -> str:
    """What ``rnnlab reproduce`` prints of a result: the preset, its note, the table and the
    verdicts."""
    lines = [f"{result.name}, {result.preset} preset", result.note, " | ".join(result.header)]
    return "\n".join([*lines, *(" | ".join(row) for row in result.cells), *result.verdicts])


class Watcher(SweepProgress):
    """Keeps every live update the runs report."""

    def __init__(self) -> None:
        self.updates: dict[str, list[tuple[int, int | None, tuple[str, ...]]]] = {}

    def run_progress(self, key, step, total, values) -> None:
        self.updates.setdefault(key, []).append((step, total, tuple(values)))


WATCHER = Watcher()


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    result = reproduce("graves2012", "quick", runs_dir=runs, overrides=TINY, progress=WATCHER)
    assert not result.failed
    return runs, result.rows, shown(result)


def test_every_run_reports_each_update_live(sweep):
    assert len(WATCHER.updates) == 6
    for updates in WATCHER.updates.values():
        assert updates == [(step, 20, ("loss",)) for step in range(1, 21)]


def test_is_registered():
    assert EXPERIMENTS["graves2012"] is graves2012


def test_every_unit_is_done_with_its_curves_logged(sweep):
    runs, _, _ = sweep
    records = RunStore(runs / "rnnlab.db").runs(experiment="graves2012", status="done")
    units = sorted((r.spec["system"], r.spec["joint"], r.spec["seed"]) for r in records)
    assert units == [
        ("ctc", None, 0),
        ("ctc", None, 1),
        ("transducer", "additive", 0),
        ("transducer", "additive", 1),
        ("transducer", "mlp", 0),
        ("transducer", "mlp", 1),
    ]
    store = RunStore(runs / "rnnlab.db")
    for record in records:
        metrics = store.metrics(record.key)
        for name in ("ler_greedy", "test_loss", "train_loss"):
            assert [step for step, _ in metrics[name]] == [10, 20]
        assert record.outcome["updates"] == 20
        assert record.outcome["test_utterances"] == TOY["n_test"]


def test_error_rates_equal_a_recomputation_from_the_kept_decodes(sweep):
    runs, rows, _ = sweep
    store = RunStore(runs / "rnnlab.db")
    task = make(**TOY)
    truth = [target.tolist() for _, target in task.pairs("test")]
    per_unit = {}
    for record in store.runs(experiment="graves2012", status="done"):
        (path,) = [p for kind, p in store.artifacts(record.key) if kind == "decodes"]
        kept = json.loads(Path(path).read_text())
        assert kept["references"] == truth
        expected_methods = ["greedy", "beam"] + (
            ["modified_beam"] * (record.spec["joint"] is not None)
        )
        assert sorted(kept["hypotheses"]) == sorted(expected_methods)
        for method, hypotheses in kept["hypotheses"].items():
            errors = sum(
                edit_distance_reference(r, h) for r, h in zip(truth, hypotheses, strict=True)
            )
            ler = errors / sum(len(r) for r in truth)
            assert record.outcome["ler"][method] == pytest.approx(ler, abs=1e-12)
            words = jiwer.wer(
                [" ".join(map(str, r)) for r in truth], [" ".join(map(str, h)) for h in hypotheses]
            )
            assert record.outcome["wer"][method] == pytest.approx(words, abs=1e-12)
            assert record.outcome["wer"][method] == pytest.approx(ler, abs=1e-12)
            edits = record.outcome["edits"][method]
            assert sum(edits.values()) == pytest.approx(ler, abs=1e-12)
            grown = sum(map(len, hypotheses)) - sum(map(len, truth))
            assert edits["insertions"] - edits["deletions"] == pytest.approx(
                grown / sum(map(len, truth)), abs=1e-12
            )
            wrong = sum(h != r for r, h in zip(truth, hypotheses, strict=True)) / len(truth)
            assert record.outcome["ser"][method] == pytest.approx(wrong)
            key = (record.spec["system"], record.spec["joint"] or "", method)
            per_unit.setdefault(key, {})[record.spec["seed"]] = ler
    assert len(rows) == 2 + 3 + 3  # (system, joint, decoding)
    for row in rows:
        values = per_unit[(row["system"], row["joint"], row["decoding"])]
        assert row["ler"] == pytest.approx([values[0], values[1]])
        assert row["ler_mean"] == pytest.approx(statistics.fmean(values.values()))
        assert row["ler_sd"] == pytest.approx(statistics.stdev(values.values()))


def test_table_report_and_figure(sweep):
    runs, rows, printed = sweep
    assert "quick-custom" in printed and "RNN-T (mlp joint)" in printed
    assert "prefix beam" in printed and "beam (Graves Alg. 1)" in printed
    assert "about 25.5% PER (TIMIT)" in printed and "about 23.2% PER (TIMIT)" in printed
    ctc_greedy = next(r for r in rows if r["system"] == "ctc" and r["decoding"] == "greedy")
    assert f"{100 * ctc_greedy['ler_mean']:.1f}%" in printed
    assert printed.count("against CTC") == 2  # one verdict per transducer joint
    report = (runs / "report.html").read_text()
    assert "graves2012, quick-custom preset: RNN-T against CTC" in report
    assert "ler_vs_updates_quick-custom.png" in report
    figure = runs / "graves2012" / "ler_vs_updates_quick-custom.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_running_again_skips_finished_units_and_gives_the_same_rows(sweep):
    runs, rows, _ = sweep
    store = RunStore(runs / "rnnlab.db")
    before = {r.key: (r.attempts, r.finished) for r in store.runs(experiment="graves2012")}
    again = reproduce("graves2012", "quick", runs_dir=runs, overrides=TINY)
    assert again.rows == rows
    after = {r.key: (r.attempts, r.finished) for r in store.runs(experiment="graves2012")}
    assert after == before  # nothing ran again


def row(system, joint, decoding, ler):
    mean = statistics.fmean(ler)
    return {
        "preset": "p",
        "system": system,
        "label": "CTC" if system == "ctc" else f"RNN-T ({joint} joint)",
        "joint": joint,
        "pretrain_updates": 0,
        "decoding": decoding,
        "decoding_label": decoding,
        "seeds": list(range(len(ler))),
        "ler": ler,
        "ler_mean": mean,
        "ler_sd": statistics.stdev(ler) if len(ler) > 1 else math.nan,
        "updates": 100,
    }


@pytest.mark.parametrize(
    ("ctc", "rnnt", "said"),
    [
        (
            [0.30, 0.31, 0.29],
            [0.20, 0.21, 0.19],
            "the paper's ordering (transducer below CTC) holds",
        ),
        ([0.10, 0.11, 0.09], [0.20, 0.21, 0.19], "the opposite of the paper's ordering"),
        ([0.10, 0.30, 0.20], [0.15, 0.25, 0.21], "within the seed spread"),
        ([0.30], [0.20], "one seed: no claim either way"),
    ],
)
def test_verdicts_claim_an_ordering_only_where_every_seed_shows_it(ctc, rnnt, said):
    rows = [
        row("ctc", "", "greedy", ctc),
        row("ctc", "", "beam", [v + 0.01 for v in ctc]),  # the best decoding is compared
        row("transducer", "additive", "greedy", rnnt),
    ]
    (line,) = graves2012.verdicts(rows)
    assert said in line and "after 100 updates" in line
    assert f"{100 * statistics.fmean(ctc):.1f}%" in line


def test_a_pretrained_transducer_gets_its_own_verdict():
    pretrained = row("transducer", "additive", "greedy", [0.20, 0.21, 0.19])
    pretrained |= {"pretrain_updates": 40, "label": "RNN-T (additive joint, pretrained)"}
    rows = [
        row("ctc", "", "greedy", [0.30, 0.31, 0.29]),
        row("transducer", "additive", "greedy", [0.40, 0.41, 0.39]),
        pretrained,
    ]
    scratch, started = graves2012.verdicts(rows)
    assert "RNN-T (additive joint)" in scratch and "the opposite of the paper's" in scratch
    assert "pretrained" in started and "the paper's ordering (transducer below CTC)" in started


def test_group_specs_builds_the_data_before_the_sweep(tmp_path):
    task = {"name": "spoken_digits", "n_train": 2, "n_test": 1, "cache_dir": str(tmp_path)}
    specs = graves2012.group_specs(graves2012.preset("quick", task=task, seeds=1))
    assert [(s["system"], s["joint"], s["seed"]) for s in specs] == [
        ("ctc", None, 0),
        ("transducer", "additive", 0),
        ("transducer", "mlp", 0),
    ]
    assert make(**task).cache_path.is_file()
    assert all(s["train"]["seed"] == s["seed"] for s in specs)


def test_bad_presets_are_refused_by_name():
    with pytest.raises(ValueError, match="preset"):
        graves2012.preset("paper-ish")
    with pytest.raises(ValueError, match="systems"):
        graves2012.group_specs(graves2012.preset("quick", task=TOY, systems=("lstm",)))
    with pytest.raises(ValueError, match="joints"):
        graves2012.group_specs(graves2012.preset("quick", task=TOY, joints=()))
    with pytest.raises(ValueError, match="joints"):
        graves2012.group_specs(graves2012.preset("quick", task=TOY, joints=("dot",)))
    with pytest.raises(ValueError, match="seeds"):
        graves2012.group_specs(graves2012.preset("quick", task=TOY, seeds=0))
    with pytest.raises(ValueError, match="beam_transducer"):
        graves2012.group_specs(graves2012.preset("quick", task=TOY, beam_transducer=0))
    with pytest.raises(TypeError, match="sequence-pair task"):
        graves2012.group_specs(graves2012.preset("quick", task={"name": "addition", "length": 20}))


def test_paper_preset_is_the_full_protocol():
    paper = graves2012.preset("paper")
    assert paper.name == "paper" and paper.seeds == 5 and paper.num_layers == 2
    assert paper.task == graves2012.preset("medium").task  # the task where labels have structure
    assert paper.max_updates == 3 * graves2012.preset("medium").max_updates
    assert paper.systems == graves2012.SYSTEMS and paper.joints == ("additive", "mlp")
    assert set(graves2012.PRESETS) == {"paper", "medium", "pretrained", "quick"}


def test_pretrained_preset_is_the_medium_one_with_a_pretrained_encoder():
    medium, pretrained = graves2012.preset("medium"), graves2012.preset("pretrained")
    assert pretrained.max_updates == 12_000 and pretrained.pretrain_updates == 4000
    assert dataclasses.replace(pretrained, name="medium", note=medium.note, max_updates=4000,
                               pretrain_updates=0) == medium  # fmt: skip
    toy = graves2012.preset("pretrained", task=TOY)  # the spoken numbers would be synthesised
    transducers = [s for s in graves2012.group_specs(toy) if s["system"] == "transducer"]
    assert [s["train"]["max_updates"] for s in transducers] == [8000] * 3


def test_medium_preset_reads_numbers_with_character_labels_in_noise():
    """The medium preset's labels have structure (spoken numbers, character targets) and its
    acoustics are ambiguous (white noise at -10 dB); the joint is Graves 2012's."""
    medium = graves2012.preset("medium")
    assert medium.task["name"] == "spoken_numbers" and medium.task["labels"] == "characters"
    assert medium.task["noise_snr_db"] == -10.0
    assert medium.systems == graves2012.SYSTEMS and medium.joints == ("additive",)
    assert medium.seeds == 3 and "MEDIUM PRESET" in medium.note


@pytest.mark.parametrize(
    ("references", "hypotheses", "expected"),
    [
        ([[1, 2, 3], [4, 5]], [[1, 3], []], (0, 3, 0)),  # deletions only, an empty decode too
        ([[1, 2]], [[1, 2, 2, 7]], (0, 0, 2)),  # insertions only
        ([[1, 2, 3, 4]], [[1, 9, 3, 8]], (2, 0, 0)),  # substitutions only
        ([[5, 6], [7]], [[5, 6], [7]], (0, 0, 0)),
    ],
)
def test_error_kinds_count_each_kind_where_the_alignment_is_unique(
    references, hypotheses, expected
):
    total = sum(map(len, references))
    kinds = graves2012.error_kinds(references, hypotheses)
    assert tuple(kinds[k] for k in graves2012.EDIT_KINDS) == tuple(n / total for n in expected)
    assert sum(kinds.values()) == pytest.approx(error_rate(references, hypotheses))


def test_edit_distance_equals_its_reference_on_random_sequences():
    """rapidfuzz's Levenshtein distance, behind every label error rate, equals the textbook
    dynamic programme on random label sequences (empty ones included, small and large
    alphabets, lengths past rapidfuzz's 64-symbol blocks) and on word sequences."""
    g = torch.Generator().manual_seed(0)
    words = ["ein@@", "und@@", "zwanzig", "hundert", "tausend", "drei"]
    cases = [([], []), ([], [1, 2]), ([3], []), ([], ["a"]), (["a", "b"], [])]
    for longest in [0, 1, 3, 8] * 100 + [70, 150] * 10:
        n, m = torch.randint(0, longest + 1, (2,), generator=g).tolist()
        alphabet = int(torch.randint(1, 12, (1,), generator=g))
        cases.append(
            (
                torch.randint(0, alphabet, (n,), generator=g).tolist(),
                torch.randint(0, alphabet, (m,), generator=g).tolist(),
            )
        )
        pick = torch.randint(0, len(words), (n + m,), generator=g).tolist()
        cases.append(([words[i] for i in pick[:n]], [words[i] for i in pick[n:]]))
    assert sum(not r or not h for r, h in cases) > 50  # empty sequences are well represented
    for reference, hypothesis in cases:
        expected = edit_distance_reference(reference, hypothesis)
        assert edit_distance(reference, hypothesis) == expected
        assert edit_distance(hypothesis, reference) == expected  # symmetric
        assert isinstance(edit_distance(reference, hypothesis), int)
    references, hypotheses = zip(*cases[:200], strict=True)
    errors = sum(edit_distance_reference(r, h) for r, h in zip(references, hypotheses, strict=True))
    assert error_rate(references, hypotheses) == pytest.approx(
        errors / sum(len(r) for r in references), abs=1e-15
    )


def test_a_pretrained_transducer_starts_from_its_seeds_ctc_unit_cut_at_the_pretraining(tmp_path):
    """The transducer's encoder, after ``pretrain_updates`` of CTC, equals the encoder of the
    seed's CTC unit trained alone for that many updates (an independent ``train_pairs`` call);
    the unit counts its updates from the start, logs the pretraining apart, labels itself, and
    the CTC units keep the keys they have without pretraining."""
    overrides = TINY | {"joints": ("additive",), "seeds": 1, "pretrain_updates": 10}
    result = reproduce("graves2012", "quick", runs_dir=tmp_path, overrides=overrides)
    assert not result.failed
    store = RunStore(tmp_path / "rnnlab.db")
    records = {r.spec["system"]: r for r in store.runs(experiment="graves2012", status="done")}
    rnnt, ctc_unit = records["transducer"], records["ctc"]
    assert "pretrain_updates" not in ctc_unit.spec
    plain = graves2012.group_specs(
        graves2012.preset("quick", **(overrides | {"pretrain_updates": 0}))
    )
    assert ctc_unit.spec == next(s for s in plain if s["system"] == "ctc") | {
        "preset": "quick-custom"
    }
    assert rnnt.spec["train"]["max_updates"] == 10 and rnnt.outcome["updates"] == 20
    metrics = store.metrics(rnnt.key)
    assert [step for step, _ in metrics["ctc_pretrain/ler_greedy"]] == [10]
    assert [step for step, _ in metrics["ler_greedy"]] == [20]
    assert "RNN-T (additive joint, encoder CTC-pretrained 10 updates)" in shown(result)

    task = make(**TOY)
    alone = graves2012.build_model(ctc_unit.spec, task)
    train_pairs(alone, task, PairTrainConfig(**(ctc_unit.spec["train"] | {"max_updates": 10})))
    (run_folder,) = {Path(p).parent for _, p in store.artifacts(rnnt.key)}
    pretrained = torch.load(run_folder / "pretrain.pt", weights_only=False)["model"]
    for name, value in alone.encoder.state_dict().items():
        assert torch.equal(pretrained[f"encoder.{name}"], value), name
    transducer = graves2012.build_model(rnnt.spec, task)
    transducer.encoder.load_state_dict(alone.encoder.state_dict())
    train_pairs(transducer, task, PairTrainConfig(**rnnt.spec["train"]))
    kept = torch.load(run_folder / "model.pt", weights_only=True)
    for name, value in transducer.state_dict().items():
        assert torch.equal(kept[name], value), name


def test_pretraining_must_leave_updates_for_the_transducer():
    with pytest.raises(ValueError, match="pretrain_updates must be < max_updates"):
        graves2012.group_specs(graves2012.preset("quick", **(TINY | {"pretrain_updates": 20})))
    with pytest.raises(ValueError, match="pretrain_updates"):
        graves2012.group_specs(graves2012.preset("quick", **(TINY | {"pretrain_updates": -1})))
