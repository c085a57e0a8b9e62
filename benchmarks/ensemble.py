"""Per-member update time of ``training.train_ensemble`` against one model trained alone by
``training.train``, same process.

Run: ``python benchmarks/ensemble.py``. Prints a Markdown table and returns it from
``main()`` for benchmarks/RESULTS.md.

Workloads (one update = forward, backward, clipping at 1, SGD step at lr 0.01, minibatch drawn
from the member's stream; every run ends with one evaluation on 10 sequences):

- Pascanu et al. 2013: addition at T = 100 (L in [100, 110)), H = 50, minibatch 20;
- Hochreiter & Schmidhuber 1997: addition (their variant) at T = 100, H = 8, minibatch 1 (tiny
  nets trained online: per-operation overhead is everything).

Anchor: ``train(model, task, config)`` of one model, per update. Rows: ``train_ensemble`` with
K = 32 and 128 members (its default method: the fused scans, compiled whole:
``ensemble_tiled_scans.cpp``, products in vector registers: ``small_products.h``); the same at
K = 32 with the scans as tensor operations (their reference twins); the torch.func reference
(``method="vmap"``) at K = 32; and for the LSTM the stacked alternative a user would write:
weights stacked (K, 4H, ·), one ``baddbmm`` per step and autograd's backward; for the Elman
net on Pascanu's workload the Elman-only ``training.ElmanEnsemble`` (Pascanu's single bias and
inits; its own update loop, no evaluation); and these two for the Elman net with Pascanu's Ω
(α = 2, MSGD-CR) on every member, against one net trained alone with Ω. Per-member ratio =
(time per update / K) / anchor time per update.
"% of matmul rate" divides the update's floating-point operations in products (per member, the
forward pass and the weight gradients T · B · (I + H) · G · H multiply-adds each, the state
gradients T · B · G · H · H; two operations per multiply-add: 2 · T · B · G · H · (2 (I + H) + H),
G = 1, 3, 4 for Elman, GRU, LSTM) by the time and the machine's measured matmul rate (in the
rows with Ω, Ω's own pass through the sequence is not counted).

A third workload asks what an ensemble gives the models ``graves2014`` trains one seed at a
time, at its medium preset's sizes (copy of 1–10 vectors of 8 bits, minibatch 32, Adam,
clipping at 10): the NTM (memory 128 × 20, feed-forward controller of 100) and the LSTM (3
layers of 256). Neither has a fused scan, so ``train_ensemble`` takes each member's own
autograd pass (``method="loop"``); the torch.func reference (``"vmap"``) batches only members
whose minibatches have one length. Rows at K = 3 (the preset's seeds) and 8.

Runs of the anchor and the candidates alternate (median of the rounds); models are built
outside the timed region; one intra-op thread on both sides (a per-core comparison: the
reproductions' workers take one core each). The load average is printed: other processes slow
both sides.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from unittest import mock

import torch

sys.path.insert(0, str(Path(__file__).parent))

from common import machine_line, matmul_flops_per_second, one_thread
from rnnlab.experiments import graves2014
from rnnlab.models.factory import build_model
from rnnlab.tasks import make
from rnnlab.training import (
    TrainConfig,
    ensemble_scan,
    train,
    train_ensemble,
)
from rnnlab.training.clipping import ClipConfig
from rnnlab.training.ensemble import ElmanEnsemble, Member

GATES = {"elman": 1, "gru": 3, "lstm": 4}
WORKLOADS = {
    "Pascanu (H=50, B=20, T=100)": dict(
        task=("addition", {"length": 100}), H=50, B=20, updates=8, cells=("elman", "lstm", "gru")
    ),
    "Hochreiter (H=8, B=1, T=100)": dict(
        task=("addition", {"length": 100, "variant": "hochreiter97"}),
        H=8,
        B=1,
        updates=200,  # per timed call: one call of 40 varied by ±25% on the AMD machine
        cells=("elman", "lstm", "gru"),
    ),
}
TARGETS = {  # issue 14, at K = 32
    ("Pascanu (H=50, B=20, T=100)", "elman"): 0.06,
    ("Pascanu (H=50, B=20, T=100)", "lstm"): 0.5,
    ("Pascanu (H=50, B=20, T=100)", "gru"): 0.5,
    ("Hochreiter (H=8, B=1, T=100)", "elman"): 0.05,
    ("Hochreiter (H=8, B=1, T=100)", "lstm"): 0.05,
    ("Hochreiter (H=8, B=1, T=100)", "gru"): 0.05,
}


#: Pascanu's weight of Ω in the rows with Ω (MSGD-CR)
OMEGA = 2.0


def config(seed: int, B: int, updates: int, omega: float = 0.0, eval_size: int = 10) -> TrainConfig:
    return TrainConfig(
        seed=seed,
        batch_size=B,
        max_updates=updates,
        eval_every=updates,
        eval_size=eval_size,
        clip=ClipConfig("norm", 1.0),
        omega=omega,
    )


def timed(prepare: Callable[[], Callable[[], object]]) -> float:
    """Seconds of one call of what ``prepare()`` returns (preparation not timed)."""
    run = prepare()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def alone(task, cell: str, H: int, B: int, U: int, omega: float = 0.0) -> Callable[[], object]:
    model = build_model(task, cell, H, seed=0)
    return lambda: train(model, task, config(0, B, U, omega))


def ensemble(
    task,
    cell: str,
    H: int,
    B: int,
    U: int,
    K: int,
    method: str = "auto",
    omega: float = 0.0,
    eval_size: int = 10,
):
    models = [build_model(task, cell, H, seed=k) for k in range(K)]
    configs = [config(k, B, U, omega, eval_size) for k in range(K)]
    return lambda: train_ensemble(models, task, configs, method=method)


def patched(run: Callable[[], object], owner: object, name: str, value: object):
    """``run`` with ``owner.name`` set to ``value`` while it runs."""

    def call() -> None:
        with mock.patch.object(owner, name, value):
            run()

    return call


def tensor_steps(task, cell: str, H: int, B: int, U: int, K: int):
    """``train_ensemble`` with the scans as tensor operations (no ``ensemble_tiled_scans``)."""
    return patched(ensemble(task, cell, H, B, U, K), ensemble_scan, "USE_COMPILED", False)


def stacked_autograd(task, H: int, B: int, U: int, K: int) -> Callable[[], object]:
    """The LSTM alternative a user would write: stacked weights, one baddbmm per step,
    autograd's backward, a plain SGD step with per-member clipping."""
    models = [build_model(task, "lstm", H, seed=k) for k in range(K)]
    names = [n for n, _ in models[0].named_parameters()]
    params = {
        n: torch.stack([dict(m.named_parameters())[n].detach() for m in models]).requires_grad_()
        for n in names
    }
    generators = [torch.Generator().manual_seed(k) for k in range(K)]

    def run() -> None:
        for _ in range(U):
            batches = [task.sample(B, generator=g) for g in generators]
            T = min(b.length for b in batches)
            x = torch.stack([b.inputs[:T] for b in batches])  # (K, T, B, I)
            w_ih, w_hh = params["layer.cell.weight_ih"], params["layer.cell.weight_hh"]
            bias = params["layer.cell.bias_ih"] + params["layer.cell.bias_hh"]
            h = x.new_zeros(K, B, H)
            c = x.new_zeros(K, B, H)
            projected = torch.baddbmm(bias.unsqueeze(1), x.flatten(1, 2), w_ih.mT).view(
                K, T, B, 4 * H
            )
            for step in projected.unbind(1):  # (unbind: one backward node, not T selects)
                z = torch.baddbmm(step, h, w_hh.mT)
                i, f, g, o = z.chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
            y = torch.baddbmm(params["readout.bias"].unsqueeze(1), h, params["readout.weight"].mT)
            loss = sum(task.loss(y[k], b) for k, b in enumerate(batches))
            grads = torch.autograd.grad(loss, list(params.values()))
            with torch.no_grad():
                norm = torch.stack([g.flatten(1).norm(dim=1) for g in grads]).norm(dim=0)
                scale = torch.clamp(1.0 / (norm + 1e-6), max=1.0)
                for p, g in zip(params.values(), grads, strict=True):
                    p -= 0.01 * g * scale.view(-1, *[1] * (g.dim() - 1))

    return run


GRAVES2014_UPDATES = 6


def graves2014_setup(model: str):
    """The medium preset's task, model builder and config maker for ``model`` ("ntm" or "lstm")."""
    spec = next(
        s for s in graves2014.group_specs(graves2014.preset("medium")) if s["model"] == model
    )
    task = graves2014.BitCopy(length=spec["train_length"], width=spec["width"])

    def config(seed: int) -> TrainConfig:
        return TrainConfig(
            optimizer=spec["optimizer"],
            learning_rate=spec["learning_rate"],
            batch_size=spec["batch_size"],
            max_updates=GRAVES2014_UPDATES,
            clip=ClipConfig(spec["clip_mode"], spec["clip_threshold"], nonfinite="skip"),
            eval_every=GRAVES2014_UPDATES,
            eval_size=1,
            criterion="code",
            seed=seed,
        )

    return task, (lambda seed: graves2014.build_model({**spec, "seed": seed})), config


def graves2014_candidate(model: str, K: int, method: str) -> Callable[[], Callable[[], object]]:
    """What prepares one timed call: one model by ``train`` (K = 1, method "alone"), or K
    members by ``train_ensemble`` with ``method``."""
    task, build, config = graves2014_setup(model)

    def prepare() -> Callable[[], object]:
        if method == "alone":
            one = build(0)
            return lambda: train(one, task, config(0))
        models = [build(k) for k in range(K)]
        return lambda: train_ensemble(models, task, [config(k) for k in range(K)], method=method)

    return prepare


def graves2014_rows() -> list[str]:
    """The third workload's rows (see the module docstring)."""
    rows = []
    for model, label in (("ntm", "NTM 128×20, ctrl 100"), ("lstm", "LSTM 3×256")):
        for K, method in ((3, "loop"), (8, "loop"), (3, "vmap")):
            anchor = graves2014_candidate(model, 1, "alone")
            t_alone, t_ens = measure(anchor, graves2014_candidate(model, K, method), 3)
            per_update, one = t_ens / GRAVES2014_UPDATES, t_alone / GRAVES2014_UPDATES
            path = "train_ensemble (loop)" if method == "loop" else "torch.func vmap"
            row = (
                f"| Graves 2014 copy (B=32, lengths 1–10) | {label} | {path} | {K} | "
                f"{1e3 * per_update:.1f} | {1e3 * per_update / K:.1f} | {1e3 * one:.1f} | "
                f"{per_update / K / one:.3f} |  |  |  |"
            )
            print(row, flush=True)
            rows.append(row)
    return rows


def elman_ensemble(
    task, H: int, B: int, U: int, K: int, alpha: float = 0.0
) -> Callable[[], object]:
    """``training.ElmanEnsemble``: U updates of K members clipped at 1, Ω weighted ``alpha``."""
    members = [Member(seed, clip=1.0, alpha=alpha) for seed in range(K)]
    chosen = ElmanEnsemble(task, members, hidden_size=H, batch_size=B)
    return lambda: chosen.train(U)


def measure(anchor, candidate, rounds: int) -> tuple[float, float]:
    """Median seconds of the anchor and the candidate, alternating."""
    timed(anchor)
    timed(candidate)  # warm up
    a, c = [], []
    for _ in range(rounds):
        a.append(timed(anchor))
        c.append(timed(candidate))
    return statistics.median(a), statistics.median(c)


def candidate_for(method: str, task, cell: str, H: int, B: int, U: int, K: int, omega: float = 0.0):
    """What prepares one timed call of a row's path ("alone": the anchor), every member with Ω
    weighted ``omega``."""
    if method == "alone":
        return lambda: alone(task, cell, H, B, U, omega)
    if method == "stacked":
        return lambda: stacked_autograd(task, H, B, U, K)
    if method == "elman_ensemble":
        return lambda: elman_ensemble(task, H, B, U, K, omega)
    if method == "tensor_steps":
        return lambda: tensor_steps(task, cell, H, B, U, K)
    return lambda: ensemble(task, cell, H, B, U, K, method, omega)


def main() -> str:
    torch.manual_seed(0)
    with one_thread():  # per-core comparison: a sweep's workers take one core each
        return _table()


def _table() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    rate = matmul_flops_per_second()
    header = (
        "| workload | cell | path | K | ms / update | ms / member | alone ms / update | "
        "per-member ratio | target (K=32) | met | % of matmul rate |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = []
    for workload, spec in WORKLOADS.items():
        name, options = spec["task"]
        task = make(name, **options)
        H, B, U = spec["H"], spec["B"], spec["updates"]
        T = task.length
        for cell in spec["cells"]:
            flops = 2 * T * B * GATES[cell] * H * (2 * (task.input_size + H) + H)  # per member
            cases = [("train_ensemble", 32, "auto", 0.0), ("train_ensemble", 128, "auto", 0.0)]
            cases.append(("torch.func vmap", 32, "vmap", 0.0))
            cases.append(("train_ensemble, scans as tensor ops", 32, "tensor_steps", 0.0))
            if cell == "lstm":
                cases.append(("stacked baddbmm + autograd", 32, "stacked", 0.0))
            if cell == "elman" and B > 1:
                cases.append(("ElmanEnsemble", 32, "elman_ensemble", 0.0))
                omega = f"Ω α = {OMEGA:g} on every member (anchor: alone with Ω)"
                cases.append((f"train_ensemble, {omega}", 32, "auto", OMEGA))
                cases.append((f"ElmanEnsemble, {omega}", 32, "elman_ensemble", OMEGA))
            for path, K, method, alpha in cases:
                if method == "vmap":  # seconds per update on the tiny nets
                    updates = max(2, min(U // 4, 10))
                else:
                    updates = max(2, U // 4) if K == 128 else U
                rounds = 3 if method == "vmap" or K == 128 else 5
                candidate = candidate_for(method, task, cell, H, B, updates, K, alpha)
                anchor = candidate_for("alone", task, cell, H, B, updates, 1, alpha)
                t_alone, t_ens = measure(anchor, candidate, rounds)
                per_update, one = t_ens / updates, t_alone / updates
                ratio = per_update / K / one
                mine = K == 32 and method == "auto" and alpha == 0
                target = TARGETS.get((workload, cell)) if mine else None
                met = "" if target is None else ("yes" if ratio <= target else "NO")
                share = 100 * flops * K / per_update / rate
                row = (
                    f"| {workload} | {cell} | {path} | {K} | {1e3 * per_update:.1f} | "
                    f"{1e3 * per_update / K:.3f} | {1e3 * one:.2f} | {ratio:.3f} | "
                    f"{'' if target is None else f'≤ {target}'} | {met} | {share:.1f} |"
                )
                print(row, flush=True)
                rows.append(row)
    rows += graves2014_rows()
    section = "\n".join(
        [
            "## Seed ensembles of any cell: train_ensemble vs training.train alone",
            "",
            f"Machine: {machine_line()}; measured matmul rate {rate / 1e9:.1f} GFLOP/s (fp32); "
            f"load average before the run {load}.",
            "One update = forward, backward, clipping at 1, SGD step (lr 0.01) of every member, "
            "minibatches drawn from each member's stream; per-update times from whole training "
            "calls (median of alternating rounds), one final evaluation of 10 sequences "
            "included. Anchor: training.train of one model.",
            "",
            header,
            *rows,
        ]
    )
    return section


if __name__ == "__main__":
    main()
