"""Losses that torch lacks: the RNN Transducer loss (Graves 2012). CTC comes from torch."""
