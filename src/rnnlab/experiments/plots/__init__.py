"""The reproductions' figures, one module per family, written as PNG files. Experiment modules call
these and never draw themselves."""
