"""Losses that torch lacks: the RNN Transducer loss (Graves 2012). CTC comes from torch
(``torch.nn.functional.ctc_loss``).

- :func:`rnnt_loss`: torchaudio's signature and semantics on the (B, T, U+1, V) joint logits.
- :func:`rnnt_loss_additive`: the same loss for Graves 2012's additive joint
  ``softmax(f_t + g_u)`` from (B, T, V) and (B, U+1, V), without the 4-D tensor.
- :func:`rnnt_loss_reference`: the scalar α/β recursion of the paper, the slow twin.
"""

from rnnlab.losses.rnnt import rnnt_loss
from rnnlab.losses.rnnt_additive import rnnt_loss_additive
from rnnlab.losses.rnnt_reference import rnnt_loss_reference

__all__ = ["rnnt_loss", "rnnt_loss_additive", "rnnt_loss_reference"]
