"""The bahdanau2014 experiment: a tiny custom preset of both parts (random split, split by length)
end to end in a temporary runs folder (store, table, report, figures, resume), its per-length
scores recomputed from the decoded examples it saved, its BLEU against sacrebleu's own function
on independently built strings, and the verdicts' orderings on made-up rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sacrebleu

from rnnlab.experiments import bahdanau2014 as experiment
from rnnlab.experiments.registry import EXPERIMENTS
from rnnlab.experiments.reproduce import Reproduction, reproduce
from rnnlab.runs.store import RunStore
from rnnlab.tasks.bleu import bleu_text, corpus_bleu
from rnnlab.tasks.german_english import GermanEnglish
from rnnlab.tasks.numbers import NumberTranslation, tokenize

pytestmark = pytest.mark.usefixtures("single_thread")

TINY = {  # numbers 0..130: sources of 1 to 6 tokens; training sources of at most 3
    "max_number": 130,
    "train_max_length": 3,
    "seeds": 1,
    "hidden_size": 8,
    "embedding_size": 4,
    "batch_size": 8,
    "max_updates": 6,
    "schedule_k": 2.0,
    "eval_every": 3,
    "train_eval_size": 10,
    "test_size": 12,
    "beam_width": 2,
    "heatmaps": 2,
    # the random split: numbers 0..300 (1 to 7 source tokens), 100 of them trained, 2 seeds
    "random_variants": ("fixed", "attention"),
    "random_seeds": 2,
    "random_max_number": 300,
    "random_n_train": 100,
    "random_hidden_size": 6,
    "random_max_updates": 6,
    "random_per_length": 3,
    # the sentences: German of 3 to 6 tokens, 60 pairs trained, 2 seeds
    "sentence_variants": ("fixed", "attention"),
    "sentence_seeds": 2,
    "sentence_n_train": 60,
    "sentence_max_length": 6,
    "sentence_hidden_size": 6,
    "sentence_max_updates": 6,
    "sentence_per_length": 2,
}
RANDOM = NumberTranslation("en", "de", max_number=300, split_by="random", n_train=100)
LENGTH = NumberTranslation("en", "de", max_number=130, train_max_length=3)
SENTENCES = GermanEnglish("de-en", n_train=60, max_length=6)
TASKS = {"random": RANDOM, "length": LENGTH, "sentences": SENTENCES}


def shown(result: Reproduction) -> str:
    """What ``rnnlab reproduce`` prints of a result: the preset, its note, the table and the
    verdicts."""
    lines = [f"{result.name}, {result.preset} preset", result.note, " | ".join(result.header)]
    return "\n".join([*lines, *(" | ".join(row) for row in result.cells), *result.verdicts])


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny preset run once, serially, with what the CLI prints of it."""
    runs = tmp_path_factory.mktemp("runs")
    result = reproduce("bahdanau2014", "quick", runs_dir=runs, overrides=TINY)
    assert not result.failed
    return runs, result.rows, shown(result)


def test_registered():
    assert EXPERIMENTS["bahdanau2014"] is experiment


def test_tiny_preset_end_to_end(finished):
    runs, rows, printed = finished
    store = RunStore(runs / "rnnlab.db")
    records = store.runs(experiment="bahdanau2014")
    assert len(records) == 2 * 2 + len(experiment.VARIANTS) + 2 * 2
    assert {r.status for r in records} == {"done"}
    # the random split's rows first, then the split by length's, then the sentences'
    assert [(r["part"], r["variant"]) for r in rows] == (
        [("random", "fixed"), ("random", "attention")]
        + [("length", v) for v in experiment.VARIANTS]
        + [("sentences", "fixed"), ("sentences", "attention")]
    )
    assert [r["seeds"] for r in rows] == [2, 2] + [1] * len(experiment.VARIANTS) + [2, 2]
    assert [r["hidden_size"] for r in rows] == [6, 6] + [8] * len(experiment.VARIANTS) + [6, 6]
    assert {r["preset"] for r in rows} == {"quick-custom"}
    # the table, the sentences under it and the BLEU signature are printed
    assert "quick-custom preset" in printed
    assert "random 0..300" in printed and "length: train ≤ 3" in printed
    assert "sentences de→en, ≤ 6 tokens" in printed
    assert "German→English sentences (random split): test BLEU (range over seeds)" in printed
    assert "BLEU signature (sacrebleu): nrefs:1|case:mixed|eff:yes|tok:13a" in printed
    assert "in distribution (random split): test exact match (range over seeds)" in printed
    assert "attention's lead over the fixed context is" in printed
    assert "extrapolation: attention vs fixed context" in printed and "stop rules" in printed
    # the report and its figures
    report = (runs / "report.html").read_text()
    assert "bahdanau2014" in report and "eff:yes" in report
    for name in (
        "quick-custom_fixed_vs_attention.png",
        "quick-custom_against_length.png",
        "quick-custom_learning_curves.png",
        "quick-custom_sentences.png",
    ):
        path = runs / "bahdanau2014" / name
        assert path.read_bytes().startswith(b"\x89PNG")
        assert name in report
    heatmaps = [
        Path(path)
        for record in records
        for kind, path in store.artifacts(record.key)
        if kind.startswith("heatmap")
    ]
    # first seed of each attention variant of each part, TINY["heatmaps"] sentences each
    assert len(heatmaps) == 2 * (1 + len(experiment.VARIANTS) - 1 + 1)
    assert all(p.read_bytes().startswith(b"\x89PNG") and p.name in report for p in heatmaps)
    # validation exact match was logged during training, at updates 3 and 6
    for record in records:
        assert [s for s, _ in store.metrics(record.key)["exact_match"]] == [3, 6]


def test_a_second_run_resumes_without_training_again(finished):
    runs, rows, _ = finished
    store = RunStore(runs / "rnnlab.db")
    before = {r.key: (r.attempts, r.finished) for r in store.runs(experiment="bahdanau2014")}
    again = reproduce("bahdanau2014", "quick", runs_dir=runs, overrides=TINY)
    after = {r.key: (r.attempts, r.finished) for r in store.runs(experiment="bahdanau2014")}
    assert after == before
    assert again.rows == rows


def bleu_string(tokens: list[str]) -> str:
    """The test's own construction: morphemes joined by spaces, markers removed."""
    return " ".join(token.replace("@@", "") for token in tokens)


def test_scores_recomputed_from_the_saved_examples(finished):
    """Each bucket's exact match, length error and BLEU equal what the test computes from the
    saved decoded ids: references from num2words' text through the tokenizer, hypotheses from
    the target vocabulary, BLEU by sacrebleu.corpus_bleu."""
    runs, _, _ = finished
    store = RunStore(runs / "rnnlab.db")
    for record in store.runs(experiment="bahdanau2014"):
        part = record.spec["part"]
        task = TASKS[part]
        vocabulary = task.target_vocabulary
        (_, path), *_ = [a for a in store.artifacts(record.key) if a[0] == "examples"]
        examples = json.loads(Path(path).read_text())
        text = {
            (split, i): tokenize(target, "de") if part != "sentences" else target.split()
            for split in ("valid", "test")
            for i, (_, target) in enumerate(task.texts(split))
        }
        assert {e["split"] for e in examples} == {"valid", "test"}
        if part == "length":
            assert sum(e["split"] == "valid" for e in examples) == task.size("valid")
            assert sum(e["split"] == "test" for e in examples) == min(12, task.size("test"))
            assert all(
                (e["split"] == "test") == (e["source_length"] > 3) for e in examples
            )  # the length split
        else:
            assert sum(e["split"] == "valid" for e in examples) == 12
            # up to 3 test numbers (2 sentences) of every source length, all of the rarer ones
            per_length = 2 if part == "sentences" else 3
            lengths = [len(s) for s, _ in task.pairs("test")]
            counts = {
                n: sum(e["source_length"] == n for e in examples if e["split"] == "test")
                for n in set(lengths)
            }
            assert counts == {n: min(per_length, lengths.count(n)) for n in set(lengths)}
            assert len(set(lengths)) >= 4
        for bucket in record.outcome["buckets"]:
            same = [
                e
                for e in examples
                if (e["split"], e["source_length"]) == (bucket["split"], bucket["length"])
            ]
            assert bucket["n"] == len(same) > 0
            references = [bleu_string(text[(e["split"], e["index"])]) for e in same]
            for key, decoded in (("", "greedy"), ("_beam", "beam")):
                hypotheses = [bleu_string(vocabulary.decode(e[decoded])) for e in same]
                expected = sacrebleu.corpus_bleu(hypotheses, [references], use_effective_order=True)
                assert bucket["bleu" + key] == pytest.approx(expected.score)
                exact = [
                    vocabulary.decode(e[decoded], keep_specials=True)
                    == text[(e["split"], e["index"])]
                    for e in same
                ]
                assert bucket["exact" + key] == pytest.approx(sum(exact) / len(same))
            errors = [abs(len(e["greedy"]) - len(e["reference"])) for e in same]
            assert bucket["length_error"] == pytest.approx(sum(errors) / len(same))
            assert bucket["exact_length"] == pytest.approx(errors.count(0) / len(same))


def test_corpus_bleu_is_sacrebleus():
    hypotheses = ["vier tausend sieben hundert ein und zwanzig", "eins", "drei und dreißig"]
    references = ["vier tausend sieben hundert ein und zwanzig", "ein", "zwei und dreißig"]
    score, signature = corpus_bleu(hypotheses, references)
    expected = sacrebleu.corpus_bleu(hypotheses, [references], use_effective_order=True)
    assert score == pytest.approx(expected.score)
    assert 0 < score < 100
    assert "eff:yes" in signature and "nrefs:1" in signature
    assert corpus_bleu(["eins"], ["eins"])[0] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="pair up"):
        corpus_bleu(["a"], [])


def test_bleu_text_and_evenly_spaced():
    assert bleu_text(["ein@@", "und@@", "zwanzig"]) == "ein und zwanzig"
    assert experiment.evenly_spaced(10, 4) == [0, 2, 5, 7]
    assert experiment.evenly_spaced(3, 5) == [0, 1, 2]
    assert experiment.evenly_spaced(3, None) == [0, 1, 2]


def test_paper_preset_is_the_full_protocol():
    paper = experiment.preset("paper")
    assert paper.name == "paper" and paper.seeds == paper.random_seeds == 5
    assert paper.variants == tuple(experiment.VARIANTS) and paper.test_size is None
    assert paper.sentence_variants == ("fixed", "attention") and paper.sentence_seeds == 5
    assert set(experiment.PRESETS) == {"paper", "medium", "quick"}


def test_medium_preset_is_the_sentences_fixed_context_against_attention():
    """Only the sentences, fixed context and attention of one size, 3 seeds (0-2), every test
    sentence of the 3-30 German tokens decoded (50 per length: more than any length holds)."""
    medium = experiment.preset("medium")
    specs = experiment.group_specs(medium)
    assert [(s["part"], s["variant"], s["seed"]) for s in specs] == [
        ("sentences", v, seed) for v in ("fixed", "attention") for seed in range(3)
    ]
    assert {s["model"]["hidden_size"] for s in specs} == {64}
    assert {s["model"]["attention"] for s in specs} == {"none", "additive"}
    task = {k: v for k, v in specs[0]["task"].items() if k != "name"}
    lengths = [len(s) for s, _ in GermanEnglish(**task).pairs("test")]
    assert max(lengths.count(n) for n in set(lengths)) <= 50 == specs[0]["evaluation"]["per_length"]
    assert sorted(set(lengths)) == list(range(3, 31))
    assert "seed 100" in medium.note and "MEDIUM PRESET" in medium.note


def test_corpus_bleu_of_no_sentences_is_nan():
    score, signature = corpus_bleu([], [])
    assert score != score and signature == ""


def test_bad_presets():
    with pytest.raises(ValueError, match="preset must be one of"):
        experiment.preset("paper-ish")
    with pytest.raises(ValueError, match="variants must be a tuple"):
        experiment.preset("quick", variants=("fixed", "transformer"))
    with pytest.raises(ValueError, match="sentence_variants must be a tuple"):
        experiment.preset("quick", sentence_variants=("fixed", "transformer"))
    with pytest.raises(ValueError, match="nothing to train"):
        experiment.preset("quick", variants=(), random_variants=())
    with pytest.raises(ValueError, match="seeds must be >= 1"):
        experiment.preset("quick", seeds=0)
    with pytest.raises(ValueError, match="train_max_length must be in"):
        experiment.group_specs(
            experiment.preset("quick", max_number=130, train_max_length=9, random_variants=())
        )
    with pytest.raises(ValueError, match="random_variants must be a tuple"):
        experiment.preset("quick", random_variants=("fixed", "rnnsearch"))


def test_per_length_takes_every_length():
    indices = experiment.per_length(RANDOM, "test", 2)
    lengths = [len(RANDOM.pairs("test")[i][0]) for i in indices]
    every = [len(s) for s, _ in RANDOM.pairs("test")]
    assert indices == sorted(set(indices))
    assert {n: lengths.count(n) for n in lengths} == {n: min(2, every.count(n)) for n in every}


def _row(variant: str, seeds: list[list[tuple[int, int, float]]]) -> dict:
    """Buckets (length, n, exact) with BLEU = 100 x exact."""
    buckets = [[(n, size, exact, 100 * exact) for n, size, exact in seed] for seed in seeds]
    return {"variant": variant, "seed_buckets": buckets}


def test_length_verdict_claims_an_ordering_only_when_every_seed_shows_it():
    """Lengths 2, 4, 6, 8: the longer half is >= 6. Attention flat, the fixed context falling
    in both seeds -> attention ahead on long sources for every seed, the fixed context falling,
    the lead wider; one fixed seed as good as attention -> no ordering, no fall for every
    seed."""
    flat = [(2, 10, 1.0), (4, 10, 1.0), (6, 10, 1.0), (8, 10, 0.9)]
    falling = [(2, 10, 1.0), (4, 10, 0.9), (6, 10, 0.5), (8, 10, 0.3)]
    attention = _row("attention", [flat, flat])
    fixed = _row("fixed", [falling, falling])
    ordered, change = experiment.length_verdict(fixed, attention, "p", "random", "exact")
    assert "on sources of < 6 tokens: attention 1.00 vs fixed 0.95" in ordered
    assert "on ≥ 6 tokens: attention 0.95 vs fixed 0.40 (attention ahead for every seed)" in ordered
    assert "fixed -0.55 (falls for every seed), attention -0.05 (falls for every seed)" in change
    assert "lead over the fixed context is wider on the longer half for every seed" in change
    ordered, change = experiment.length_verdict(fixed, attention, "p", "sentences", "bleu")
    assert ordered.startswith("p, German→English sentences (random split): test BLEU")
    assert "on ≥ 6 tokens: attention 95.0 vs fixed 40.0 (attention ahead for every seed)" in ordered
    fixed = _row("fixed", [falling, flat])
    ordered, change = experiment.length_verdict(fixed, attention, "p", "random", "exact")
    assert "fixed 0.40–0.95 (no ordering holds for every seed)" in ordered
    assert "fixed -0.55–-0.05 (falls for every seed)" in change
    ordered, change = experiment.length_verdict(
        _row("fixed", [falling, [(2, 10, 0.3), (4, 10, 0.5), (6, 10, 0.9), (8, 10, 1.0)]]),
        attention,
        "p",
        "random",
        "exact",
    )
    assert "neither falls nor rises for every seed" in change
    assert "not wider on the longer half for every seed" in change
