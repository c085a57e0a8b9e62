"""Whole models built from rnnlab layers.

- :class:`SequenceModel`: a recurrent layer with a readout of the last or every step (the
  long-term-dependency tasks).
- :class:`Encoder`: frame stacking and a (bidirectional) recurrent stack over features.
- :class:`Transducer`: Graves 2012's RNN Transducer (additive or tanh-MLP joint).
- :class:`CTC`: the same encoder with a CTC head (torch's ``ctc_loss``).
- :class:`Seq2Seq`: encoder–decoder with fixed context or attention, three stop rules.
- :class:`Attention`: additive (Bahdanau) and multiplicative (Luong dot/general) attention.
- :class:`ESN`: an echo state network, a fixed :class:`~rnnlab.cells.Reservoir` and a ridge
  readout (Jaeger 2001), fitted by :func:`fit_ridge`.
- :class:`LatchUnit`: one tanh unit with trainable inputs per class, Bengio et al. 1994's latch I.
- :class:`TreeRNN`, :class:`TreeLSTM`: recursive networks over binary trees (Socher et al. 2011;
  Tai et al. 2015), evaluated level by level.
"""

from rnnlab.models.attention import Attention
from rnnlab.models.ctc import CTC
from rnnlab.models.encoder import Encoder
from rnnlab.models.esn import ESN
from rnnlab.models.latch_unit import LatchUnit
from rnnlab.models.ridge import fit_ridge
from rnnlab.models.seq2seq import Seq2Seq, Seq2SeqConfig
from rnnlab.models.sequence import SequenceModel
from rnnlab.models.transducer import Transducer
from rnnlab.models.tree import TreeLSTM, TreeNetwork, TreeRNN

__all__ = [
    "CTC",
    "ESN",
    "Attention",
    "Encoder",
    "LatchUnit",
    "Seq2Seq",
    "Seq2SeqConfig",
    "SequenceModel",
    "Transducer",
    "TreeLSTM",
    "TreeNetwork",
    "TreeRNN",
    "fit_ridge",
]
