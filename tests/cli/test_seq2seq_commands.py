"""``rnnlab seq2seq`` and ``rnnlab translate`` through typer's CliRunner: a tiny model trained by
the command, its checkpoint loaded, the printed alternatives against beam search run here on the
same model (same tokens, scores, order), and bad input (empty text, unknown words, over-long
text, checkpoints of another kind, feature-source models, bad options)."""

from __future__ import annotations

import re
import warnings

import pytest
import torch
from typer.testing import CliRunner

from rnnlab.cli import app, common
from rnnlab.decoding.search import beam_search
from rnnlab.decoding.stop_rules import EndSymbol
from rnnlab.decoding.translate import Translation, translate
from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnlab.runs.store import RunStore
from rnnlab.tasks.numbers import detokenize, tokenize
from rnnlab.tasks.pairs import Vocabulary
from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.seq2seq import read_seq2seq, save_seq2seq

pytestmark = pytest.mark.usefixtures("single_thread")

TEXT = "one hundred and twenty-one"
TRAIN = [  # numbers 0..150, sources of at most 4 tokens in training
    "seq2seq",
    "--task-option",
    "max_number=150",
    "--task-option",
    "train_max_length=4",
    "--hidden-size",
    "12",
    "--embedding-size",
    "6",
    "--max-updates",
    "30",
    "--eval-every",
    "15",
    "--eval-size",
    "20",
    "--batch-size",
    "16",
]


@pytest.fixture
def wide(monkeypatch):
    """The CLI's console, wide enough that no table cell is cut."""
    monkeypatch.setattr(common.console, "width", 250)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("s2s")
    path = folder / "model.pt"
    command = [*TRAIN, "--checkpoint", str(path), "--runs-dir", str(folder / "runs")]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.output
    assert "exact match" in result.output and str(path.name) in result.output
    return path


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def table_rows(output: str) -> list[list[str]]:
    """The body rows of the printed alternatives table: rank, translation, log P, score, end."""
    rows = []
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃]", line)[1:-1]]
        if len(cells) == 5 and cells[0].isdigit():
            rows.append(cells)
    return rows


def test_training_command_saves_a_checkpoint_of_its_options(checkpoint):
    payload = load_checkpoint(checkpoint)
    assert payload["kind"] == "seq2seq"
    assert payload["task"]["name"] == "numbers" and payload["task"]["max_number"] == 150
    assert payload["model_config"]["hidden_size"] == 12
    assert payload["model_config"]["attention"] == "additive"
    assert payload["model_config"]["max_source_length"] == 6  # "one hundred and twenty-one"
    assert payload["train_config"]["max_updates"] == 30 and payload["history"]["updates"] == 30


def test_translate_prints_the_beam_alternatives_with_their_scores(checkpoint, wide):
    result = invoke("translate", "--checkpoint", str(checkpoint), "--beam-width", "4", TEXT)
    assert result.exit_code == 0, result.output
    # the oracle: beam search driven here on the checkpoint's model
    loaded = read_seq2seq(checkpoint)
    model, source, target = loaded.model, loaded.source_vocabulary, loaded.target_vocabulary
    ids = torch.tensor([source.id(t) for t in tokenize(TEXT, "en")])
    with torch.no_grad():
        state = model.start(ids.unsqueeze(1), torch.tensor([len(ids)]))
        expected = beam_search(
            model,
            state,
            torch.tensor([target.bos]),
            stop=EndSymbol(target.eos),
            beam_width=4,
            max_length=model.config.max_length,
        )[0]
    rows = table_rows(result.output)
    assert len(rows) == len(expected) == 4
    for rank, (row, hypothesis) in enumerate(zip(rows, expected, strict=True), 1):
        text = detokenize(target.decode(hypothesis.tokens)) or "(empty)"
        assert row[:4] == [
            str(rank),
            text,
            f"{hypothesis.log_prob:.4f}",
            f"{hypothesis.score:.4f}",
        ]
    scores = [float(row[3]) for row in rows]
    assert scores == sorted(scores, reverse=True)
    best = detokenize(target.decode(expected[0].tokens)) or "(empty)"
    assert f"translation: {best}" in result.output
    assert "source tokens: one hundred and twenty@@ -@@ one" in result.output


def test_translate_function_returns_the_searched_hypotheses(checkpoint):
    loaded = read_seq2seq(checkpoint)
    found = translate(loaded, TEXT, beam_width=3, length_penalty=0.5)
    assert isinstance(found, Translation)
    direct = loaded.model.search(
        loaded.source_vocabulary.encode(tokenize(TEXT, "en")).unsqueeze(1),
        torch.tensor([6]),
        beam_width=3,
        length_penalty=0.5,
    )[0]
    assert found.hypotheses == direct
    assert found.outputs == [detokenize(loaded.target_vocabulary.decode(h.tokens)) for h in direct]
    assert found.unknown == []


def test_unknown_words_become_unk_with_a_warning(checkpoint, wide):
    result = invoke("translate", "--checkpoint", str(checkpoint), "one hundred and frogs")
    assert result.exit_code == 0, result.output
    assert "warning: unknown symbols mapped to <unk>: ['frogs']" in result.output
    assert "source tokens: one hundred and <unk>" in result.output
    assert len(table_rows(result.output)) >= 1
    loaded = read_seq2seq(checkpoint)
    with pytest.warns(UserWarning, match=r"mapped to <unk>: \['frogs', 'toads'\]"):
        found = translate(loaded, "frogs and toads", beam_width=2)
    assert found.tokens == ["<unk>", "and", "<unk>"] and found.unknown == ["frogs", "toads"]


def test_bad_input_gets_clear_errors(checkpoint, tmp_path):
    cases = [
        (("   ",), "text must contain at least one word"),
        ((" ".join(["one"] * 7),), "text has 7 tokens, more than the model's max_source_length=6"),
        (("one", "--beam-width", "0"), "beam_width must be >= 1"),
    ]
    for args, message in cases:
        result = invoke("translate", "--checkpoint", str(checkpoint), *args)
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.output.split())
    other = tmp_path / "rnnt.pt"
    save_checkpoint(other, {"format": "rnnlab-checkpoint", "kind": "transducer"})
    result = invoke("translate", "--checkpoint", str(other), "one")
    assert result.exit_code == 2
    assert "holds a 'transducer' model, not a 'seq2seq' model" in " ".join(result.output.split())
    result = invoke("translate", "--checkpoint", str(tmp_path / "missing.pt"), "one")
    assert result.exit_code == 2 and "does not exist" in " ".join(result.output.split())


def test_feature_source_models_are_refused(tmp_path):
    vocabulary = Vocabulary("ab")
    config = Seq2SeqConfig(
        source_size=3,
        target_size=len(vocabulary),
        bos=vocabulary.bos,
        eos=vocabulary.eos,
        source_tokens=False,
        hidden_size=4,
    )
    save_seq2seq(tmp_path / "features.pt", Seq2Seq(config), None, vocabulary)
    result = invoke("translate", "--checkpoint", str(tmp_path / "features.pt"), "a b")
    assert result.exit_code == 2
    assert "reads feature vectors" in " ".join(result.output.split())


def test_a_checkpoint_without_a_task_splits_on_whitespace(tmp_path):
    vocabulary = Vocabulary("abc")
    config = Seq2SeqConfig(
        source_size=len(vocabulary),
        target_size=len(vocabulary),
        bos=vocabulary.bos,
        eos=vocabulary.eos,
        hidden_size=4,
        max_length=5,
    )
    save_seq2seq(tmp_path / "toy.pt", Seq2Seq(config), vocabulary, vocabulary)
    loaded = read_seq2seq(tmp_path / "toy.pt")
    assert loaded.task is None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        found = translate(loaded, "a c zz", beam_width=2)
    assert [str(w.message) for w in caught] == ["unknown symbols mapped to <unk>: ['zz']"]
    assert found.tokens == ["a", "c", "<unk>"]
    assert found.outputs == [" ".join(vocabulary.decode(h.tokens)) for h in found.hypotheses]


def test_training_command_rejects_bad_options(tmp_path):
    cases = [
        (["--mode", "professor"], "mode must be one of"),
        (["--mode", "scheduled", "--schedule", "cosine"], "schedule must be one of"),
        (["--attention", "luong"], "attention must be one of"),
        (["--task", "addition", "--task-option", "length=10"], "must be a sequence-pair task"),
        (["--task-option", "colour=blue"], "colour"),
    ]
    for args, message in cases:
        result = invoke("seq2seq", *args, "--checkpoint", str(tmp_path / "x.pt"))
        assert result.exit_code == 2, result.output
        assert message in " ".join(result.output.split())
    assert not (tmp_path / "x.pt").exists()
    result = invoke(
        "seq2seq", "--task-option", "max_number", "--checkpoint", str(tmp_path / "x.pt")
    )
    assert result.exit_code == 2


def test_scheduled_sampling_options_reach_the_checkpoint(tmp_path):
    path = tmp_path / "ss.pt"
    args = [*TRAIN[:3], "--task-option", "train_max_length=4", "--hidden-size", "4"]
    result = invoke(
        *args,
        "--embedding-size",
        "2",
        "--max-updates",
        "3",
        "--eval-every",
        "3",
        "--eval-size",
        "5",
        "--mode",
        "scheduled",
        "--schedule",
        "exponential",
        "--schedule-k",
        "0.5",
        "--stop",
        "length",
        "--checkpoint",
        str(path),
        "--runs-dir",
        str(tmp_path / "runs"),
    )
    assert result.exit_code == 0, result.output
    payload = load_checkpoint(path)
    assert payload["seq2seq_config"]["mode"] == "scheduled"
    assert payload["seq2seq_config"]["schedule"] == "exponential"
    assert payload["history"]["extras"]["truth_probability"] == [1.0, 0.5, 0.25]
    assert payload["model_config"]["stop"] == "length"


def test_seq2seq_runs_are_recorded_in_the_store_and_evaluated_on_the_validation_split(tmp_path):
    runs = tmp_path / "runs"
    args = [*TRAIN[:5], "--hidden-size", "4", "--embedding-size", "2", "--max-updates", "2"]
    result = invoke(*args, "--eval-every", "2", "--eval-size", "5", "--runs-dir", str(runs))
    assert result.exit_code == 0, result.output
    (record,) = RunStore(runs / "rnnlab.db").runs(experiment="seq2seq")
    assert record.status == "done" and record.outcome["split"] == "valid"
    assert "evaluation on split 'valid'" in result.output
    assert read_seq2seq(record.outcome["checkpoint"]).model is not None
    again = invoke(*args, "--eval-every", "2", "--eval-size", "5", "--runs-dir", str(runs))
    assert again.exit_code == 0 and len(RunStore(runs / "rnnlab.db").runs()) == 1


def test_a_checkpoint_path_inside_a_file_is_one_error_line(tmp_path):
    (tmp_path / "afile").write_text("x")
    args = [*TRAIN[:5], "--hidden-size", "4", "--embedding-size", "2", "--max-updates", "1"]
    result = invoke(
        *args,
        "--eval-size",
        "5",
        "--runs-dir",
        str(tmp_path / "runs"),
        "--checkpoint",
        str(tmp_path / "afile" / "model.pt"),
    )
    assert result.exit_code == 2
    assert result.output.startswith("error: --checkpoint") and "Traceback" not in result.output
