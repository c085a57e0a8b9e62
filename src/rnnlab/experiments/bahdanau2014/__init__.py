"""Bahdanau, Cho & Bengio 2014: a fixed context against attention as the source grows (their
Fig. 2), in up to three parts:

1. **In distribution** (Fig. 2's protocol) on the ``numbers`` task: a random split
   (``split_by="random"``) of a wider range (0..``random_max_number``), so that training holds
   sentences of every length and the test sentences are new numbers of the same lengths; a
   fixed-context model and an attention model of the same, small size (``random_hidden_size``:
   a fixed context this small is meant to be the bottleneck), scored by source length.
2. **Extrapolation** (not in the paper): a split by source length, every number whose English
   source is longer than ``train_max_length`` tokens in ``"test"`` (none of them is seen in
   training); with it teacher forcing against scheduled sampling (Bengio et al. 2015) judged
   free-running, and the three stop rules of the DL book (§10.2.3) judged on the length of what
   they generate.
3. **Sentences** (Fig. 2's protocol on data whose information grows with length; the
   ``medium`` preset): German sentences of 3 to ``sentence_max_length`` tokens from the
   synchronous grammar of :mod:`rnnlab.tasks.german_english`, translated into English; a random
   split (the corpus's own held-out valid and test sentences, every length in training), fixed
   context against attention of the same size (``sentence_hidden_size``), scored by the German
   source's length, with BLEU (the paper's measure) and exact match.

Data of parts 1 and 2: English numbers written in words → German (``num2words``), word level
with German compounds cut into morphemes ("twenty-one" → "ein@@ und@@ zwanzig": the ones come
before the tens, so the alignment is not monotone).

Units (one training run each, every variant × seed of each part):

==============  ===============  ==================  ======  ======================
variant         attention        training            stop    parts
==============  ===============  ==================  ======  ======================
``fixed``       none (C only)    teacher forcing     eos     random, length, sentences
``attention``   additive         teacher forcing     eos     random, length, sentences
``scheduled``   additive         scheduled sampling  eos     length
                                 (inverse sigmoid)
``unit``        additive         teacher forcing     unit    length
``length``      additive         teacher forcing     length  length
==============  ===============  ==================  ======  ======================

Every model has a bidirectional GRU encoder and a GRU decoder that gets the context at its
start and at every step (``context="both"``): the fixed summary ``C`` (Cho et al. 2014's
RNNencdec) or, with attention, Bahdanau's ``c_i`` read with the previous state ``s_{i-1}``
(RNNsearch). After training, every model decodes free-running, by greedy search and by beam
search (the shared searches of :mod:`rnnlab.decoding.search` under the model's stop rule), the
length part's whole ``valid`` split and an evenly spaced subset of its ``test``, or the random
part's evenly spaced ``test_size`` validation numbers and up to ``random_per_length`` test numbers
of every source length (the sentences: ``test_size`` and ``sentence_per_length``); each source
length gets:

- exact match: the fraction of outputs equal to the reference, token for token;
- BLEU: ``sacrebleu``'s corpus BLEU (:mod:`rnnlab.tasks.bleu`) of the outputs against the
  references, over the German morphemes (pieces joined by spaces, ``@@`` removed: "ein und
  zwanzig"; a whole German number is one word, so word BLEU would only count exact matches) or
  the English words of the sentences,
  with ``effective_order=True`` so that one- to three-token sentences still get a score; the
  signature is in the table's notes and the report;
- length error: the mean ``|Û − U|`` in tokens of the greedy outputs and the fraction with
  ``Û = U``.

What the quick preset found (one real run, 3 seeds, 21 units in 5 min 52 s on 2 workers; the
verdicts printed under the table are recomputed from the runs, and claim an ordering only where
every seed shows it):

- In distribution, the GRU-16 fixed context is a bottleneck, but not one that grows with
  length. Attention reaches test exact match 0.99-1.00 on every source of 6 or more tokens in
  every seed, the same-size fixed context 0.33-0.64 (validation, in the data's own mix of
  lengths: 0.98 against 0.40). But the fixed context's score does not fall with length: its
  exact match is 0.27-0.73 over 4 to 11 tokens with no trend, its BLEU rises from 41 at 4 tokens
  to 90 at 11, so attention's lead is wider on the longer half only because attention's own
  score rises there. Bahdanau et al.'s falling curve is not reproduced at this scale. Both
  models are worst on sources of 1 to 3 tokens, which are 26 of the 20,000 training numbers.
  Nor is the gap shown to be a ceiling: the fixed context's validation exact match was still
  rising at 1,500 updates (0.24-0.57 over the seeds), attention's had levelled off near 0.96 by
  update 800; the same-size fixed context learns more slowly, at every length alike. A longer
  probe after the run (fixed context, GRU 16, seed 0, 4,000 updates) reached validation exact
  match 0.95 and test exact match 1.00 on every length from 7 to 11 tokens: at this size the
  gap is the speed of learning, not the capacity of the fixed vector.
- Why, as far as the probes tell: a number below 100,000 carries at most 17 bits however many
  words spell it, so a longer source does not ask more of the fixed vector, unlike a longer
  sentence. Probes before choosing GRU 16 (one seed each, 20,000 training numbers): with GRU 32
  and 1,500 updates both models were near-perfect at every length of 4 or more tokens; at the
  character level (0..9,999, GRU 32, 1,000 updates, sources up to 47 characters) the fixed
  context scored 0.8-1.0 from 19 to 46 characters (0.62 at 47, on 8 sentences), with no fall
  (attention at that level trains about four times slower, beyond the quick budget). GRU 16 is
  the configuration where the two differ at all within 1,500 updates.
- Extrapolation: every variant scores 0.98-1.00 on the in-range validation split and exact
  match 0.00 on every longer source, whatever the attention, the training or the stop rule.

Honest limits: the data are tiny and synthetic, and a number carries little information (at
most 17 bits below 100,000) however many words it takes, so the length of a source is not the
amount the fixed context must carry, unlike a sentence of natural language. In the random split
short sources are rare (numbers below 1,000 are 1% of 0..99,999), so every model is worst on
them for want of examples, not for their length. In the length split, no training sentence has
"and" followed by a hyphenated tens ("... and twenty-one"), nor a thousands part followed by
"hundred and ...", so the longer test sentences probe composition as much as length.

This module holds the presets, the specs and :func:`run_unit`; the rest is in
:mod:`.constants` (the variants, splits, parts and metrics), :mod:`.examples` (what is
decoded and how it is scored, the attention heatmaps), :mod:`.summary` (rows, table and
verdicts) and :mod:`.report` (figures and report sections), re-exported here.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from typing import Any

from rnnlab._checks import check_size
from rnnlab._io import atomic_write
from rnnlab.experiments.bahdanau2014.constants import (
    EXPERIMENT,
    METRICS,
    MODES,
    PAPER,
    PARTS,
    SPLITS,
    VARIANTS,
)
from rnnlab.experiments.bahdanau2014.examples import (
    decode_examples,
    evenly_spaced,
    heatmaps,
    per_length,
    score,
)
from rnnlab.experiments.bahdanau2014.report import figures, report_sections
from rnnlab.experiments.bahdanau2014.summary import (
    length_curves,
    length_verdict,
    summarize,
    table_rows,
    verdicts,
)
from rnnlab.experiments.presets import choose_preset
from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnlab.runs.executor import RunContext
from rnnlab.tasks import make
from rnnlab.tasks.bleu import corpus_bleu
from rnnlab.tasks.pairs import PairTask
from rnnlab.training.seq2seq import Seq2SeqTrainConfig, train_seq2seq

__all__ = [
    "EXPERIMENT",
    "METRICS",
    "MODES",
    "PAPER",
    "PARTS",
    "PRESETS",
    "RUN_FUNCTION",
    "SPLITS",
    "VARIANTS",
    "Part",
    "Preset",
    "decode_examples",
    "evenly_spaced",
    "figures",
    "group_specs",
    "heatmaps",
    "length_curves",
    "length_verdict",
    "longest_pair",
    "model_options",
    "per_length",
    "preset",
    "report_sections",
    "run_unit",
    "score",
    "summarize",
    "sweep_parts",
    "table_rows",
    "train_config",
    "verdicts",
]

RUN_FUNCTION = "rnnlab.experiments.bahdanau2014:run_unit"


@dataclass(frozen=True)
class Preset:
    """Up to three parts: the numbers' extrapolation part (split by length: ``variants``,
    ``seeds``, ``max_number``, ``train_max_length``, ``hidden_size``, ``max_updates``,
    ``test_size``), the numbers' in-distribution part (random split: the ``random_*`` fields) and
    the German–English sentences (the ``sentence_*`` fields); a part with no variants is left
    out. The rest is shared."""

    name: str
    variants: tuple[str, ...]  # of VARIANTS, trained on the split by length; () = none
    seeds: int  # runs per variant
    max_number: int  # numbers 0..max_number
    train_max_length: int | None  # longest training source in tokens; None = the task's choice
    hidden_size: int  # GRU units per layer and direction; also the attention's size
    embedding_size: int  # source and target embeddings
    learning_rate: float  # Adam
    batch_size: int
    max_updates: int  # updates per run
    random_variants: tuple[str, ...]  # of VARIANTS, trained on the random split; () = none
    random_seeds: int  # runs per variant of the random split
    random_max_number: int  # numbers 0..random_max_number in the random split
    random_n_train: int | None  # training numbers kept of the random split; None = all
    random_hidden_size: int  # GRU units of both models of the random split (small: a bottleneck)
    random_max_updates: int  # updates per run of the random split
    random_per_length: int  # random split: test numbers decoded per source length
    sentence_variants: tuple[str, ...]  # of VARIANTS, trained on german_english; () = none
    sentence_seeds: int  # runs per variant of the sentences
    sentence_n_train: int  # training sentence pairs (valid and test: 1,000 each)
    sentence_max_length: int  # the longest German source in tokens (the shortest is 3)
    sentence_hidden_size: int  # GRU units of both sentence models
    sentence_max_updates: int  # updates per sentence run
    sentence_per_length: int  # test sentences decoded per source length
    schedule_k: float  # inverse-sigmoid k of the scheduled-sampling variant
    eval_every: int  # updates between evaluations on (part of) valid during training
    train_eval_size: int  # valid examples evaluated during training
    test_size: int | None  # length: test examples decoded at the end (evenly spaced), random:
    # validation examples; None = all
    beam_width: int  # beam search's width at the final evaluation
    heatmaps: int  # sentences drawn as attention heatmaps (first seed of attention variants)
    note: str = ""


PRESETS = {
    "paper": Preset(
        name="paper",
        variants=tuple(VARIANTS),
        seeds=5,
        max_number=9999,
        train_max_length=5,
        hidden_size=128,
        embedding_size=64,
        learning_rate=2e-3,
        batch_size=64,
        max_updates=6000,
        random_variants=("fixed", "attention"),
        random_seeds=5,
        random_max_number=99_999,
        random_n_train=None,
        random_hidden_size=16,
        random_max_updates=6000,
        random_per_length=200,
        sentence_variants=("fixed", "attention"),
        sentence_seeds=5,
        sentence_n_train=10_000,
        sentence_max_length=30,
        sentence_hidden_size=64,
        sentence_max_updates=20_000,
        sentence_per_length=50,
        schedule_k=600.0,
        eval_every=500,
        train_eval_size=500,
        test_size=None,
        beam_width=5,
        heatmaps=4,
        note="numbers en→de and grammar sentences de→en instead of WMT'14 En→Fr: random split "
        "of 0..99,999 (≤ 11 tokens), GRU 16; split by length of 0..9,999 (≤ 9 tokens), GRU 128; "
        "sentences of 3-30 German tokens, GRU 64, 20,000 updates; 5 seeds",
    ),
    "medium": Preset(
        name="medium",
        variants=(),
        seeds=3,
        max_number=9999,
        train_max_length=5,
        hidden_size=64,
        embedding_size=64,
        learning_rate=2e-3,
        batch_size=64,
        max_updates=1000,
        random_variants=(),
        random_seeds=3,
        random_max_number=99_999,
        random_n_train=20_000,
        random_hidden_size=16,
        random_max_updates=1500,
        random_per_length=60,
        sentence_variants=("fixed", "attention"),
        sentence_seeds=3,
        sentence_n_train=10_000,
        sentence_max_length=30,
        sentence_hidden_size=64,
        sentence_max_updates=8000,
        sentence_per_length=50,
        schedule_k=600.0,
        eval_every=500,
        train_eval_size=200,
        test_size=500,
        beam_width=4,
        heatmaps=3,
        note="MEDIUM PRESET: Fig. 2's comparison on German→English sentences of a synchronous "
        "grammar (3-30 German tokens, vocabularies 1,183 and 616, 10,000 training pairs) instead "
        "of WMT'14 En→Fr (348M words, sentences to 50+ words, 30,000-word vocabularies); "
        "bidirectional GRU 64 encoder and GRU 64 decoder instead of 1,000 units; Adam lr 2e-3, "
        "batch 64, 8,000 updates instead of Adadelta for ~5 days; BLEU on words with "
        "greedy and beam-4 search; 3 seeds. Sizes chosen on corpus seed 100 and weight seed 100, "
        "not on the reported corpus 0 and seeds 0-2",
    ),
    "quick": Preset(
        name="quick",
        variants=tuple(VARIANTS),
        seeds=3,
        max_number=9999,
        train_max_length=5,
        hidden_size=64,
        embedding_size=32,
        learning_rate=3e-3,
        batch_size=32,
        max_updates=1000,
        random_variants=("fixed", "attention"),
        random_seeds=3,
        random_max_number=99_999,
        random_n_train=20_000,
        random_hidden_size=16,
        random_max_updates=1500,
        random_per_length=60,
        sentence_variants=(),
        sentence_seeds=3,
        sentence_n_train=10_000,
        sentence_max_length=30,
        sentence_hidden_size=64,
        sentence_max_updates=6000,
        sentence_per_length=36,
        schedule_k=120.0,
        eval_every=100,
        train_eval_size=200,
        test_size=600,
        beam_width=4,
        heatmaps=3,
        note="QUICK PRESET, NOT THE PAPER'S PROTOCOL: numbers en→de instead of WMT'14; random "
        "split of 0..99,999 (20,000 training numbers), GRU 16, 1,500 updates; split by length, "
        "GRU 64, 1,000 updates; 3 seeds",
    ),
}


def preset(name: str, **overrides: Any) -> Preset:
    """A named preset, optionally changed (see :func:`.presets.choose_preset`)."""
    chosen = choose_preset(PRESETS, name, overrides)
    for field in ("variants", "random_variants", "sentence_variants"):
        unknown = [v for v in getattr(chosen, field) if v not in VARIANTS]
        if unknown:
            raise ValueError(f"{field} must be a tuple of {list(VARIANTS)}, got {unknown}")
    if not (chosen.variants or chosen.random_variants or chosen.sentence_variants):
        raise ValueError(
            "variants, random_variants and sentence_variants are all empty: nothing to train"
        )
    check_size("seeds", chosen.seeds)
    check_size("random_seeds", chosen.random_seeds)
    check_size("random_per_length", chosen.random_per_length)
    check_size("sentence_seeds", chosen.sentence_seeds)
    check_size("sentence_per_length", chosen.sentence_per_length)
    check_size("heatmaps", chosen.heatmaps, minimum=0)
    check_size("beam_width", chosen.beam_width)
    if chosen.test_size is not None:
        check_size("test_size", chosen.test_size)
    return chosen


@dataclass(frozen=True)
class Part:
    """One part of the sweep: its data, and how its variants are trained and evaluated."""

    name: str  # of PARTS
    task: dict[str, Any]  # rnnlab.tasks.make(**task)
    variants: tuple[str, ...]  # of VARIANTS
    seeds: int  # runs per variant
    hidden_size: int  # GRU units per layer and direction
    max_updates: int  # updates per run
    evaluation: dict[str, Any]  # what run_unit decodes at the end: sizes of the splits


def sweep_parts(chosen: Preset) -> list[Part]:
    """The parts of ``chosen`` that have variants, in the order of :data:`PARTS`: the numbers'
    random split and split by length (English words to German morphemes), then the German
    sentences to English (test: ``sentence_per_length`` sentences of every source length)."""
    words = {"name": "numbers", "source": "en", "target": "de", "level": "word"}
    parts = [
        Part(
            name="random",
            task=words
            | {
                "max_number": chosen.random_max_number,
                "split_by": "random",
                "n_train": chosen.random_n_train,
                "seed": 0,
            },
            variants=chosen.random_variants,
            seeds=chosen.random_seeds,
            hidden_size=chosen.random_hidden_size,
            max_updates=chosen.random_max_updates,
            evaluation={"valid_size": chosen.test_size, "per_length": chosen.random_per_length},
        ),
        Part(
            name="length",
            task=words
            | {
                "max_number": chosen.max_number,
                "split_by": "length",
                "train_max_length": chosen.train_max_length,
                "seed": 0,
            },
            variants=chosen.variants,
            seeds=chosen.seeds,
            hidden_size=chosen.hidden_size,
            max_updates=chosen.max_updates,
            evaluation={"test_size": chosen.test_size},
        ),
        Part(
            name="sentences",
            task={
                "name": "german_english",
                "direction": "de-en",
                "n_train": chosen.sentence_n_train,
                "max_length": chosen.sentence_max_length,
                "seed": 0,
            },
            variants=chosen.sentence_variants,
            seeds=chosen.sentence_seeds,
            hidden_size=chosen.sentence_hidden_size,
            max_updates=chosen.sentence_max_updates,
            evaluation={"valid_size": chosen.test_size, "per_length": chosen.sentence_per_length},
        ),
    ]
    return [part for part in parts if part.variants]


def longest_pair(task: PairTask) -> tuple[int, int]:
    """The longest source and the longest target of every split of ``task``, in tokens."""
    pairs = [pair for split in task.splits for pair in task.pairs(split)]
    return max(len(s) for s, _ in pairs), max(len(t) for _, t in pairs)


def model_options(
    chosen: Preset, hidden_size: int, variant: str, seed: int, longest: tuple[int, int]
) -> dict[str, Any]:
    """The :meth:`Seq2SeqConfig.for_task` options of one unit: a bidirectional GRU encoder, a
    GRU decoder given the context at its start and at every step, the variant's attention and
    stop rule, and room for 4 tokens beyond the longest target (``longest``: source, target)."""
    attention, _, stop = VARIANTS[variant]
    longest_source, longest_target = longest
    return {
        "cell": "gru",
        "hidden_size": hidden_size,
        "bidirectional": True,
        "source_embedding_size": chosen.embedding_size,
        "target_embedding_size": chosen.embedding_size,
        "context": "both",
        "attention": attention,
        "stop": stop,
        "max_length": longest_target + 4,
        "max_source_length": longest_source,
        "seed": seed,
    }


def train_config(chosen: Preset, variant: str, max_updates: int, seed: int) -> Seq2SeqTrainConfig:
    """How one unit trains: Adam with norm clipping at 1, the variant's mode (teacher forcing,
    or scheduled sampling on an inverse-sigmoid schedule), evaluated on part of ``valid``."""
    _, mode, _ = VARIANTS[variant]
    return Seq2SeqTrainConfig(
        mode=mode,
        schedule="inverse_sigmoid",
        schedule_k=chosen.schedule_k if mode == "scheduled" else None,
        feed="sample",
        learning_rate=chosen.learning_rate,
        max_updates=max_updates,
        batch_size=chosen.batch_size,
        clip_norm=1.0,
        eval_every=chosen.eval_every,
        eval_split="valid",
        eval_size=chosen.train_eval_size,
        checkpoint_every=max(chosen.eval_every, 100),
        seed=seed,
    )


def group_specs(chosen: Preset) -> list[dict[str, Any]]:
    """One spec per (part, variant, seed), in the order of the parts; building the tasks, the
    configs and the models here checks every value before any worker starts."""
    specs = []
    for part in sweep_parts(chosen):
        task = make(**part.task)
        task_spec = dict(part.task)
        if part.name == "length":
            task_spec["train_max_length"] = task.train_max_length  # None: the task's choice
        longest = longest_pair(task)
        for variant in part.variants:
            for seed in range(part.seeds):
                model = model_options(chosen, part.hidden_size, variant, seed, longest)
                train = train_config(chosen, variant, part.max_updates, seed)
                Seq2Seq(Seq2SeqConfig.for_task(task, **model))  # fail now, not in a worker
                with_attention = VARIANTS[variant][0] != "none"
                heatmaps = chosen.heatmaps if seed == 0 and with_attention else 0
                specs.append(
                    {
                        "experiment": EXPERIMENT,
                        "preset": chosen.name,
                        "part": part.name,
                        "variant": variant,
                        "seed": seed,
                        "task": task_spec,
                        "model": model,
                        "train": asdict(train),
                        "evaluation": part.evaluation
                        | {"beam_width": chosen.beam_width, "heatmaps": heatmaps},
                    }
                )
    return specs


def run_unit(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    """Train one variant (resumable from the run's checkpoint), decode valid and test, score
    every source length, draw attention heatmaps; returns the scores."""
    task = make(**spec["task"])
    model = Seq2Seq(Seq2SeqConfig.for_task(task, **spec["model"]))
    checkpoint = run.directory / "checkpoint.pt"
    started = time.perf_counter()
    history = train_seq2seq(
        model,
        task,
        Seq2SeqTrainConfig(**spec["train"]),
        checkpoint=checkpoint,
        on_metrics=run.log,
    )
    train_seconds = time.perf_counter() - started
    run.artifact("checkpoint", checkpoint)
    evaluation = spec["evaluation"]
    examples = []
    for split in SPLITS:
        if split == "test" and "per_length" in evaluation:
            indices = per_length(task, split, evaluation["per_length"])
        else:
            size = evaluation.get(f"{split}_size")  # absent: all of valid (length split)
            indices = evenly_spaced(task.size(split), size)
        examples += decode_examples(
            model, task, split, indices, beam_width=evaluation["beam_width"]
        )
    path = run.directory / "examples.json"
    atomic_write(path, json.dumps(examples))
    run.artifact("examples", path)
    buckets, splits = [], {}
    for split in SPLITS:
        chosen = [e for e in examples if e["split"] == split]
        splits[split] = score(chosen)
        for length in sorted({e["source_length"] for e in chosen}):
            same = [e for e in chosen if e["source_length"] == length]
            buckets.append({"split": split, "length": length} | score(same))
    for i, image in enumerate(heatmaps(model, task, spec, run.directory, evaluation["heatmaps"])):
        run.artifact(f"heatmap{i}", image)
    return {
        "variant": spec["variant"],
        "train_seconds": train_seconds,
        "updates": history.updates,
        "final_loss": history.losses[-1],
        "skipped": history.skipped,
        "splits": splits,
        "buckets": buckets,
        "bleu_signature": corpus_bleu(
            [e["greedy_text"] for e in examples], [e["reference_text"] for e in examples]
        )[1],
    }
