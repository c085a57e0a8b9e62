"""The ``rnnlab`` command: one module per command group; the only part of rnnlab that prints."""

from rnnlab.cli.app import app

__all__ = ["app"]
