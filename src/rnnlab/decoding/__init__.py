"""Decoding: greedy search, beam search, sampling and stop rules.

Sequence generators (any :class:`~rnnlab.decoding.protocol.StepDecoder`, e.g.
:class:`rnnlab.models.Seq2Seq`): :func:`greedy`, :func:`sample` (temperature, top-k),
:func:`beam_search` (GNMT length penalty, min/max length, n-gram blocking) under a stop rule
(:class:`EndSymbol`, :class:`StopUnit`, :class:`FixedLength`); :func:`exhaustive_search` is
their slow, exact twin.

Transducers (:class:`rnnlab.models.Transducer`): :func:`transducer_greedy_search`,
:func:`transducer_beam_search` (Graves 2012 Algorithm 1), :func:`transducer_modified_beam_search`
(batched, one symbol per frame), :func:`transducer_exhaustive_search`.

CTC: :func:`ctc_greedy_search`, :func:`ctc_prefix_beam_search`, :func:`ctc_exhaustive_search`.
"""

from rnnlab.decoding.ctc import (
    ScoredLabels,
    ctc_exhaustive_search,
    ctc_greedy_search,
    ctc_prefix_beam_search,
)
from rnnlab.decoding.exhaustive import exhaustive_search
from rnnlab.decoding.protocol import StepDecoder
from rnnlab.decoding.search import Hypothesis, beam_search, gnmt_length_penalty, greedy, sample
from rnnlab.decoding.stop_rules import EndSymbol, FixedLength, StopRule, StopUnit
from rnnlab.decoding.transducer import (
    transducer_beam_search,
    transducer_exhaustive_search,
    transducer_greedy_search,
    transducer_modified_beam_search,
)

__all__ = [
    "EndSymbol",
    "FixedLength",
    "Hypothesis",
    "ScoredLabels",
    "StepDecoder",
    "StopRule",
    "StopUnit",
    "beam_search",
    "ctc_exhaustive_search",
    "ctc_greedy_search",
    "ctc_prefix_beam_search",
    "exhaustive_search",
    "gnmt_length_penalty",
    "greedy",
    "sample",
    "transducer_beam_search",
    "transducer_exhaustive_search",
    "transducer_greedy_search",
    "transducer_modified_beam_search",
]
