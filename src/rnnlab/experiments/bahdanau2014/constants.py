"""What every module of the :mod:`~rnnlab.experiments.bahdanau2014` reproduction shares: its
name, the variants, the splits and parts, the metrics and the paper's numbers."""

from __future__ import annotations

EXPERIMENT = "bahdanau2014"

# name -> (attention, training mode, stop rule)
VARIANTS: dict[str, tuple[str, str, str]] = {
    "fixed": ("none", "teacher_forcing", "eos"),
    "attention": ("additive", "teacher_forcing", "eos"),
    "scheduled": ("additive", "scheduled", "eos"),
    "unit": ("additive", "teacher_forcing", "unit"),
    "length": ("additive", "teacher_forcing", "length"),
}
SPLITS = ("valid", "test")  # held-out of the training lengths; longer (length) or any (random)
PARTS = {  # part -> what it is called in tables and figures
    "random": "in distribution (random split)",
    "length": "extrapolation (split by length)",
    "sentences": "German→English sentences (random split)",
}
METRICS = ("exact", "exact_beam", "bleu", "bleu_beam", "length_error", "exact_length")
MODES = {"teacher_forcing": "teacher forcing", "scheduled": "scheduled (inv. sigmoid)"}
PAPER = (
    "Bahdanau et al. 2014 (WMT'14 En→Fr, Table 1 and Fig. 2): BLEU 17.82 RNNencdec-50 vs 26.75 "
    "RNNsearch-50 on all test sentences; RNNencdec's BLEU falls as sentences grow past ~20 "
    "words, RNNsearch-50's does not."
)
