"""Training: the loop, clipping and explosions, Pascanu's Ω, truncated BPTT, seed ensembles."""

from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.clipping import ClipConfig, ClipOutcome, clip_gradients
from rnnlab.training.ensemble import ElmanEnsemble, EnsembleStep, Member
from rnnlab.training.ensemble_train import train_ensemble
from rnnlab.training.loop import TrainConfig, TrainResult, evaluate, make_optimizer, train
from rnnlab.training.methods import METHODS, method_settings
from rnnlab.training.omega import OmegaResult, omega_elman, omega_generic, omega_reference
from rnnlab.training.tbptt import truncated_bptt

__all__ = [
    "METHODS",
    "ClipConfig",
    "ClipOutcome",
    "ElmanEnsemble",
    "EnsembleStep",
    "Member",
    "OmegaResult",
    "TrainConfig",
    "TrainResult",
    "clip_gradients",
    "evaluate",
    "load_checkpoint",
    "make_optimizer",
    "method_settings",
    "omega_elman",
    "omega_generic",
    "omega_reference",
    "save_checkpoint",
    "train",
    "train_ensemble",
    "truncated_bptt",
]
