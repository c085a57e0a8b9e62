"""Training: the loop, clipping and explosions, Pascanu's Ω, truncated BPTT, seed ensembles; and
the alternatives to gradient descent that Bengio et al. 1994 compared, on small problems seen as
functions of a flat parameter vector (``docs/bengio_alternatives.md``)."""

from rnnlab.training.checkpoint import load_checkpoint, save_checkpoint
from rnnlab.training.clipping import ClipConfig, ClipOutcome, clip_gradients
from rnnlab.training.discrete_error_propagation import FlipFlopNet, discrete_error_propagation
from rnnlab.training.ensemble import ElmanEnsemble, EnsembleStep, Member
from rnnlab.training.ensemble_train import train_ensemble
from rnnlab.training.flat_gradient_descent import gradient_descent
from rnnlab.training.flat_problem import FlatProblem, SearchResult
from rnnlab.training.loop import TrainConfig, TrainResult, evaluate, make_optimizer, train
from rnnlab.training.methods import METHODS, method_settings
from rnnlab.training.multigrid_search import multigrid_search
from rnnlab.training.omega import OmegaResult, omega_elman, omega_generic, omega_reference
from rnnlab.training.pseudo_newton import pseudo_newton
from rnnlab.training.simulated_annealing import simulated_annealing
from rnnlab.training.small_problems import GuessingNetProblem, LatchProblem
from rnnlab.training.tbptt import truncated_bptt
from rnnlab.training.weight_guessing import GuessingNet, guess

__all__ = [
    "METHODS",
    "ClipConfig",
    "ClipOutcome",
    "ElmanEnsemble",
    "EnsembleStep",
    "FlatProblem",
    "FlipFlopNet",
    "GuessingNet",
    "GuessingNetProblem",
    "LatchProblem",
    "Member",
    "OmegaResult",
    "SearchResult",
    "TrainConfig",
    "TrainResult",
    "clip_gradients",
    "discrete_error_propagation",
    "evaluate",
    "gradient_descent",
    "guess",
    "load_checkpoint",
    "make_optimizer",
    "method_settings",
    "multigrid_search",
    "omega_elman",
    "omega_generic",
    "omega_reference",
    "pseudo_newton",
    "save_checkpoint",
    "simulated_annealing",
    "train",
    "train_ensemble",
    "truncated_bptt",
]
