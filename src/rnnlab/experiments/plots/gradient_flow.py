"""Figures of gradient flow: the vanishing ratio against length, ‖∂L/∂h_t‖ against the step, and
its heat map over training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnlab.experiments.plots.figure import pyplot, save_figure


def ratio_against_length(rows: list[dict[str, Any]], path: Path, *, title: str) -> Path:
    """``‖∂L/∂h_1‖ / ‖∂L/∂h_T‖`` against T (log scales), one line per cell, at initialisation
    (solid) and after training (dashed), one panel per Ω weight."""
    plt = pyplot()
    omegas = sorted({r["omega"] for r in rows})
    figure, axes = plt.subplots(
        1, len(omegas), squeeze=False, sharey=True, figsize=(4.5 * len(omegas), 3.4)
    )
    for ax, omega in zip(axes[0], omegas, strict=True):
        for i, cell in enumerate(dict.fromkeys(r["cell"] for r in rows)):
            chosen = sorted(
                (r for r in rows if (r["cell"], r["omega"]) == (cell, omega)),
                key=lambda r: r["length"],
            )
            lengths = [r["length"] for r in chosen]
            color = f"C{i}"
            ax.plot(
                lengths,
                [r["ratio_init"] for r in chosen],
                color=color,
                marker="o",
                label=f"{cell} (init)",
            )
            ax.plot(
                lengths,
                [r["ratio_trained"] for r in chosen],
                color=color,
                marker="x",
                linestyle="--",
                label=f"{cell} (trained)",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("sequence length T")
        ax.set_title(f"Ω α = {omega:g}", fontsize=9)
    axes[0][0].set_ylabel("‖∂L/∂h_1‖ / ‖∂L/∂h_T‖")
    axes[0][-1].legend(fontsize=6)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def flow_against_step(flow, path: Path, *, title: str) -> Path:
    """``‖∂L/∂h_t‖`` against t on a log scale; one line per row of a (layers, T) flow."""
    plt = pyplot()
    rows = flow.reshape(-1, flow.shape[-1])
    figure, axes = plt.subplots(figsize=(5.5, 3.4))
    steps = range(1, rows.shape[1] + 1)
    for i, row in enumerate(rows):
        label = f"layer {i}" if rows.shape[0] > 1 else None
        axes.plot(steps, row.clamp_min(1e-300).tolist(), label=label)
    axes.set_yscale("log")
    axes.set_xlabel("step t")
    axes.set_ylabel("‖∂L/∂h_t‖")
    axes.set_title(title, fontsize=9)
    if rows.shape[0] > 1:
        axes.legend(fontsize=7)
    figure.tight_layout()
    return save_figure(figure, path)


def flow_heatmap(updates: list[int], flows: list[list[float]], path: Path, *, title: str) -> Path:
    """log10 ‖∂L/∂h_t‖ over step t (x) and training update (y), from recorded flows."""
    import math

    plt = pyplot()
    T = min(len(f) for f in flows)
    grid = [[math.log10(max(v, 1e-300)) for v in f[:T]] for f in flows]
    figure, axes = plt.subplots(figsize=(6, 3.6))
    image = axes.imshow(
        grid,
        aspect="auto",
        origin="lower",
        cmap="viridis",
        extent=(0.5, T + 0.5, updates[0], updates[-1] if len(updates) > 1 else updates[0] + 1),
    )
    figure.colorbar(image, ax=axes, label="log10 ‖∂L/∂h_t‖")
    axes.set_xlabel("step t")
    axes.set_ylabel("training update")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return save_figure(figure, path)
