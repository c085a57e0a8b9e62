"""Figures of echo state networks (Jaeger 2001): a forecast against its target and the memory
capacity against the delay."""

from __future__ import annotations

from pathlib import Path

from rnnlab.experiments.plots.figure import pyplot, save_figure


def forecast_against_truth(truth, predicted, path: Path, *, title: str) -> Path:
    """A forecast over its target (top) and the error (bottom, log scale), against the step."""
    plt = pyplot()
    figure, (top, bottom) = plt.subplots(2, 1, sharex=True, figsize=(7, 4.2))
    steps = range(len(truth))
    top.plot(steps, truth, color="black", linewidth=1.5, label="target")
    top.plot(steps, predicted, color="tab:orange", linewidth=1, linestyle="--", label="ESN")
    top.set_ylabel("y")
    top.legend(fontsize=8)
    error = [abs(p - t) for p, t in zip(predicted, truth, strict=True)]
    bottom.plot(steps, error, color="tab:red", linewidth=1)
    bottom.set_yscale("log")
    bottom.set_xlabel("test step")
    bottom.set_ylabel("|error|")
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def memory_against_delay(curves: dict[str, list[list[float]]], path: Path, *, title: str) -> Path:
    """Memory capacity per delay ``MC_k`` against k, the mean over seeds, one line per setting
    (``curves``: label -> one list of MC_k per seed)."""
    plt = pyplot()
    figure, ax = plt.subplots(figsize=(6, 3.4))
    for i, (label, runs) in enumerate(curves.items()):
        mean = [sum(values) / len(values) for values in zip(*runs, strict=True)]
        total = sum(mean)
        ax.plot(range(1, len(mean) + 1), mean, color=f"C{i}", label=f"{label} (MC {total:.1f})")
    ax.set_xlabel("delay k")
    ax.set_ylabel("MC_k (squared correlation)")
    ax.set_ylim(-0.05, 1.05)
    ax.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)
