"""Sequence tasks, generated on the fly or shipped: ``rnnlab.tasks.make(name, **options)``.

=======================  ==========================================  =========================
name                     variants (first = default)                  source
=======================  ==========================================  =========================
``addition``             pascanu, hochreiter97, arjovsky16           Pascanu 2013; H&S 1997
                                                                     exp. 4; Arjovsky 2016
``multiplication``       pascanu, hochreiter97                       Pascanu 2013; H&S exp. 5
``temporal_order``       pascanu, hochreiter97                       Pascanu 2013; H&S exp. 6a
``temporal_order_3bit``  pascanu, hochreiter97                       Pascanu 2013; H&S exp. 6b
``random_permutation``   pascanu                                     Pascanu 2013
``memorization``         pascanu (``n_values``, ``n_pos``)           Pascanu 2013
``copy``                 arjovsky16                                  Arjovsky 2016
``latch``                bengio94, bengio94_trainable (``n_info``,   Bengio et al. 1994
                         ``output``)
``parity``               hochreiter96, bengio94 (``noise``)          Bengio et al. 1994; H&S
                                                                     1996
``digits``               sklearn (``order``, ``split``, ...)         scikit-learn 8×8 digits
``bit_copy``             graves14 (``shortest``, ``width``)          Graves et al. 2014 §4.1
``repeat_copy``          graves14 (``repeats``, ``count_range``)     Graves et al. 2014 §4.2
``associative_recall``   graves14 (``item_size``, ``width``)         Graves et al. 2014 §4.3
``waveform``             koutnik14 (``seed``, ``notes``,             Koutník et al. 2014
                         ``harmonics``)
``listops``              nangia2018, lra (``split``, ``n_train``,    Nangia & Bowman 2018;
                         ...)                                        Tay et al. 2021 (LRA)
=======================  ==========================================  =========================

Every task: ``task.sample(batch_size, *, length=None, generator=None) -> Batch``,
``task.loss(outputs, batch)``, ``task.errors(outputs, batch)`` (bool per sequence, the paper's
criterion), ``task.input_size``, ``task.output_size``, ``task.baseline_loss``,
``task.describe()``. Definitions: ``docs/tasks.md``.

Sequence-pair tasks (:class:`~rnnlab.tasks.pairs.PairTask`: a source and a target of different
lengths, fixed splits, ``task.batches(split, batch_size)``, ``task.sample(batch_size)`` of
:class:`~rnnlab.tasks.pairs.SequencePairs`) are in ``PAIR_TASKS``:

=====================  ==========================================================================
name                   data
=====================  ==========================================================================
``spoken_digits``      digit strings spoken by eSpeak NG (log-mel features → digit labels)
``spoken_numbers``     numbers in English words spoken by eSpeak NG (log-mel features → character
                       or word labels)
``toy_transduction``   labels shown as noisy runs of frames (a unit-test-sized transduction task)
``numbers``            numbers written in words, translated by num2words (e.g. en → de), word or
                       character level, with a length-controlled split
``german_english``     German sentences of a synchronous grammar and their English (de → en or
                       en → de), German lengths uniform in a range; seeded, held-out splits
=====================  ==========================================================================

Time series for echo state networks are plain functions: :func:`mackey_glass` (ReservoirPy's map
or Jaeger 2001's Euler scheme; :func:`squash`/:func:`unsquash`), :func:`narma`,
:func:`to_forecasting` (one- or k-step-ahead pairs and a split), and the scores :func:`rmse`,
:func:`nrmse` and :func:`rsquare`.
"""

from __future__ import annotations

import inspect

from rnnlab._checks import check_choice
from rnnlab.tasks.addition import Addition, Multiplication
from rnnlab.tasks.algorithmic import AssociativeRecall, BitCopy, RepeatCopy
from rnnlab.tasks.base import Batch, Task
from rnnlab.tasks.copying import Copy
from rnnlab.tasks.digits import Digits
from rnnlab.tasks.forecasting import nrmse, rmse, rsquare, to_forecasting
from rnnlab.tasks.german_english import GermanEnglish
from rnnlab.tasks.latch import Latch
from rnnlab.tasks.listops import ListOps
from rnnlab.tasks.mackey_glass import mackey_glass, squash, unsquash
from rnnlab.tasks.memorization import Memorization
from rnnlab.tasks.narma import narma
from rnnlab.tasks.numbers import NumberTranslation
from rnnlab.tasks.pairs import PairTask, SequencePairs, Vocabulary
from rnnlab.tasks.parity import Parity
from rnnlab.tasks.permutation import RandomPermutation
from rnnlab.tasks.spoken_digits import SpokenDigits
from rnnlab.tasks.spoken_numbers import SpokenNumbers
from rnnlab.tasks.temporal_order import TemporalOrder, TemporalOrder3bit
from rnnlab.tasks.toy_transduction import ToyTransduction
from rnnlab.tasks.trees import BinaryTree, TreeBatch, batch_trees
from rnnlab.tasks.waveform import Waveform

TASKS: dict[str, type[Task]] = {
    cls.name: cls
    for cls in (
        Addition,
        Multiplication,
        TemporalOrder,
        TemporalOrder3bit,
        RandomPermutation,
        Memorization,
        Copy,
        Latch,
        Parity,
        Digits,
        Waveform,
        ListOps,
        BitCopy,
        RepeatCopy,
        AssociativeRecall,
    )
}
PAIR_TASKS: dict[str, type[PairTask]] = {
    cls.name: cls
    for cls in (SpokenDigits, SpokenNumbers, ToyTransduction, NumberTranslation, GermanEnglish)
}


def make(name: str, **options: object) -> Task | PairTask:
    """Build the task called ``name`` (one of ``TASKS`` or ``PAIR_TASKS``) with its options.

    Example: ``make("addition", length=100)``, ``make("memorization", length=50, n_values=2,
    n_pos=5)``, ``make("temporal_order", length=100, variant="hochreiter97")``,
    ``make("digits", order="permuted", split="test")``, ``make("spoken_digits", n_train=500)``.

    Raises:
        ValueError: ``name`` or ``variant`` unknown (the message lists the valid ones), or an
            option out of range.
        TypeError: an option the task does not take (the message lists those it takes), or of
            the wrong type.
    """
    every = TASKS | PAIR_TASKS
    cls = every[check_choice("name", name, list(every))]
    parameters = inspect.signature(cls).parameters
    unknown = [key for key in options if key not in parameters]
    if unknown:
        raise TypeError(f"{name} takes the options {list(parameters)}, got unexpected {unknown}")
    missing = [key for key, p in parameters.items() if p.default is p.empty and key not in options]
    if missing:
        raise TypeError(f"{name} needs the option(s) {missing} (e.g. length=100)")
    return cls(**options)


__all__ = [
    "PAIR_TASKS",
    "TASKS",
    "Addition",
    "AssociativeRecall",
    "Batch",
    "BinaryTree",
    "BitCopy",
    "Copy",
    "Digits",
    "GermanEnglish",
    "Latch",
    "ListOps",
    "Memorization",
    "Multiplication",
    "NumberTranslation",
    "PairTask",
    "Parity",
    "RandomPermutation",
    "RepeatCopy",
    "SequencePairs",
    "SpokenDigits",
    "SpokenNumbers",
    "Task",
    "TemporalOrder",
    "TemporalOrder3bit",
    "ToyTransduction",
    "TreeBatch",
    "Vocabulary",
    "Waveform",
    "batch_trees",
    "mackey_glass",
    "make",
    "narma",
    "nrmse",
    "rmse",
    "rsquare",
    "squash",
    "to_forecasting",
    "unsquash",
]
