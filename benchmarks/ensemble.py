"""Per-model update time of seed ensembles against one torch.nn.RNN model, same process.

Run: ``python benchmarks/ensemble.py``. Prints a Markdown table and returns it from ``main()``
for benchmarks/RESULTS.md; the last printed line is ``per-model time ratio at K=32 vs
torch.nn.RNN: <x>`` (the larger of the ratios with and without Ω).

Workload (Pascanu et al. 2013, §5): the addition task at nominal length T = 100 (so L in
[100, 110), drawn per minibatch and member), 2 inputs, an Elman layer of H = 50 tanh units
(``smart_tanh`` init), a linear readout of the last state, minibatch 20, SGD (lr 0.01) with
gradient-norm clipping at 1; with Ω (α = 2, the code's default) or without.

Anchor: ``torch.nn.RNN(2, 50)`` + ``nn.Linear(50, 1)``, ``torch.optim.SGD``,
``clip_grad_norm_`` — one model; for the rows with Ω, the anchor also adds ``α ∂⁺Ω/∂W_hh``
from :func:`rnnlab.training.omega.omega_elman` (the single-model way to train MSGD-CR).

One timed call is one update: forward, backward, clipping, step (the ensemble: K updates).
Minibatches are drawn before timing (a pool that every call cycles through), so the time is the
update's alone. Ensemble and anchor alternate (``common.compare``); medians of the rounds.
Per-model ratio = (ensemble time / K) / anchor time. Target (issue 3): ≤ 0.1 at K = 32.

The machine's load average is printed with the table: on a shared machine other processes'
load slows both sides, multi-threaded ones most (torch's default thread count is used).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from itertools import cycle
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))

import rnnlab
from common import compare, machine_line
from rnnlab.training.ensemble import ElmanEnsemble, Member
from rnnlab.training.omega import omega_elman

T, B, H = 100, 20, 50
KS = (1, 8, 32)
POOL = 16  # minibatches drawn per member before timing
TARGET = 0.1


def torch_update(task: rnnlab.tasks.Task, alpha: float) -> Callable[[], None]:
    """One update of a single torch.nn.RNN model per call (with Ω by the analytic path)."""
    generator = torch.Generator().manual_seed(0)
    batches = cycle([task.sample(B, generator=generator) for _ in range(POOL)])
    rnn, readout = nn.RNN(task.input_size, H), nn.Linear(H, task.output_size)
    params = [*rnn.parameters(), *readout.parameters()]
    optimizer = torch.optim.SGD(params, lr=0.01)

    def run() -> None:
        batch = next(batches)
        optimizer.zero_grad()
        outputs, _ = rnn(batch.inputs)
        loss = task.loss(readout(outputs[-1]), batch)
        if alpha:
            *grads, output_grads = torch.autograd.grad(loss, [*params, outputs])
            for p, g in zip(params, grads, strict=True):
                p.grad = g
            omega = omega_elman(rnn.weight_hh_l0, None, outputs.detach(), output_grads)
            rnn.weight_hh_l0.grad.add_(omega.grad_weight_hh, alpha=alpha)
        else:
            loss.backward()
        nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()

    return run


def ensemble_update(task: rnnlab.tasks.Task, K: int, alpha: float) -> Callable[[], None]:
    """One update of a K-member ensemble per call."""
    members = [Member(seed, clip=1.0, alpha=alpha) for seed in range(K)]
    ensemble = ElmanEnsemble(task, members, hidden_size=H, batch_size=B)
    pool = cycle([ensemble.sample() for _ in range(POOL)])

    def run() -> None:
        ensemble.update(next(pool))

    return run


def main() -> str:
    torch.manual_seed(0)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    task = rnnlab.tasks.make("addition", length=T)
    header = (
        "| K | Ω | ensemble ms / update | ms / model | single model ms | per-model ratio "
        "| target | met |\n|---|---|---|---|---|---|---|---|"
    )
    rows, worst = [], {}
    for alpha in (0.0, 2.0):
        anchor = torch_update(task, alpha)
        for K in KS:
            t_ens, t_torch = compare(ensemble_update(task, K, alpha), anchor, rounds=9)
            ratio = t_ens / K / t_torch
            if K == 32:
                worst[alpha] = ratio
            met = "yes" if ratio <= TARGET else "NO"
            row = (
                f"| {K} | {'α = 2' if alpha else 'none'} | {1e3 * t_ens:.2f} | "
                f"{1e3 * t_ens / K:.3f} | {1e3 * t_torch:.2f} | {ratio:.3f} | "
                f"{'≤ 0.1 at K=32' if K == 32 else ''} | {met if K == 32 else ''} |"
            )
            print(row, flush=True)
            rows.append(row)
    final = max(worst.values())
    section = "\n".join(
        [
            "## Seed ensembles: per-model update time vs one torch.nn.RNN model",
            "",
            f"Machine: {machine_line()}; load average before the run {load}.",
            "Addition, T = 100 (L in [100, 110)), input 2, H = 50 tanh (smart_tanh), batch 20, "
            "SGD lr 0.01, clipping at 1; one call = one update (forward, backward, clipping, "
            "step) of all K members; batches drawn beforehand; median of 9 alternating rounds "
            "of 3 calls. Single model: torch.nn.RNN + nn.Linear (+ omega_elman for Ω).",
            "",
            header,
            *rows,
            "",
            f"per-model time ratio at K=32 vs torch.nn.RNN: {final:.3f}",
        ]
    )
    print()
    print(f"per-model time ratio at K=32 vs torch.nn.RNN: {final:.3f}")
    return section


if __name__ == "__main__":
    main()
