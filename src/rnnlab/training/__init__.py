"""Training: the loop, clipping and explosions, Pascanu's Ω, truncated BPTT, seed ensembles."""

from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.clipping import ClipConfig, ClipOutcome, clip_gradients
from rnnlab.training.loop import TrainConfig, TrainResult, evaluate, make_optimizer, train
from rnnlab.training.tbptt import truncated_bptt

__all__ = [
    "ClipConfig",
    "ClipOutcome",
    "TrainConfig",
    "TrainResult",
    "clip_gradients",
    "evaluate",
    "load_checkpoint",
    "make_optimizer",
    "save_checkpoint",
    "train",
    "truncated_bptt",
]
