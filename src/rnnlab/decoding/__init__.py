"""Decoding: greedy search, beam search, sampling and stop rules for sequence generators,
transducers and CTC."""
