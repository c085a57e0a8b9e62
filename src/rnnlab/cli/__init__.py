"""The ``rnnlab`` command: one module per command group, and the only part of rnnlab that prints.

``app`` (in :mod:`rnnlab.cli.app`) is the entry point; the commands call the library and the
experiments and show what they return with rich.
"""

from rnnlab.cli.main import app

__all__ = ["app"]
