"""The experiments' figures, written as PNG files (matplotlib, no screen needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnlab.experiments.report import save_figure

METHOD_STYLE = {
    "MSGD": ("tab:red", "o"),
    "MSGD-C": ("tab:blue", "s"),
    "MSGD-CR": ("tab:green", "^"),
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def success_against_length(rows: list[dict[str, Any]], path: Path, *, title: str) -> Path:
    """Pascanu et al. 2013 Fig. 7: success rate against length, one panel per (task, init).

    ``rows`` hold ``task, init, method, length, solved, runs``.
    """
    plt = _pyplot()
    tasks = sorted({r["task"] for r in rows})
    inits = list(dict.fromkeys(r["init"] for r in rows))
    figure, axes = plt.subplots(
        len(tasks),
        len(inits),
        squeeze=False,
        sharey=True,
        figsize=(3.6 * len(inits), 2.8 * len(tasks)),
    )
    for i, task in enumerate(tasks):
        for j, scheme in enumerate(inits):
            ax = axes[i][j]
            for method, (color, marker) in METHOD_STYLE.items():
                points = sorted(
                    (r["length"], r["solved"] / r["runs"])
                    for r in rows
                    if (r["task"], r["init"], r["method"]) == (task, scheme, method)
                )
                if points:
                    ax.plot(*zip(*points, strict=True), color=color, marker=marker, label=method)
            ax.set_title(f"{task}, {scheme}", fontsize=9)
            ax.set_ylim(-0.05, 1.05)
            ax.set_xlabel("sequence length T")
            if j == 0:
                ax.set_ylabel("success rate")
    axes[0][0].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def learning_curves(
    series: dict[str, list[tuple[int, float]]], path: Path, *, title: str, ylabel: str
) -> Path:
    """One line per series (label -> [(update, value)]); colour by the label's first part
    (the method, for ``"MSGD-C/3"``)."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5, 3.2))
    seen = set()
    for label, points in sorted(series.items()):
        group = label.split("/", 1)[0]
        color = METHOD_STYLE.get(group, (None, None))[0]
        axes.plot(
            *zip(*points, strict=True),
            color=color,
            alpha=0.8,
            linewidth=1,
            label=group if group not in seen else None,
        )
        seen.add(group)
    axes.set_xlabel("update")
    axes.set_ylabel(ylabel)
    axes.set_title(title, fontsize=9)
    if seen:
        axes.legend(fontsize=7)
    figure.tight_layout()
    return save_figure(figure, path)


def error_against_length(rows: list[dict[str, Any]], path: Path, *, title: str) -> Path:
    """Test error rate of each seed against test length (log-log-ish), one panel per task;
    the 1% line is the paper's success threshold."""
    plt = _pyplot()
    tasks = sorted({r["task"] for r in rows})
    figure, axes = plt.subplots(1, len(tasks), squeeze=False, figsize=(4.5 * len(tasks), 3.2))
    for ax, task in zip(axes[0], tasks, strict=True):
        chosen = sorted((r for r in rows if r["task"] == task), key=lambda r: r["length"])
        lengths = [r["length"] for r in chosen]
        for seed in range(len(chosen[0]["error_rates"])):
            rates = [max(r["error_rates"][seed], 1e-4) for r in chosen]
            ax.plot(lengths, rates, marker="o", label=f"seed {seed}")
        ax.axhline(0.01, color="gray", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_ylim(5e-5, 1.5)
        ax.set_xlabel("test length T")
        ax.set_ylabel("error rate (0 drawn at 1e-4)")
        ax.set_title(task, fontsize=9)
        ax.legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def ratio_against_length(rows: list[dict[str, Any]], path: Path, *, title: str) -> Path:
    """``‖∂L/∂h_1‖ / ‖∂L/∂h_T‖`` against T (log scales), one line per cell, at initialisation
    (solid) and after training (dashed), one panel per Ω weight."""
    plt = _pyplot()
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
    plt = _pyplot()
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

    plt = _pyplot()
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


def singular_values_against_horizon(horizons, singular_values, path: Path, *, title: str) -> Path:
    """Singular values of the Jacobian product J_k ⋯ J_1 against the horizon k (log scale),
    the first sequence of the batch."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 3.4))
    values = singular_values[:, 0, :].clamp_min(1e-300)  # (K, S)
    for i in range(values.shape[1]):
        axes.plot(
            horizons.tolist(),
            values[:, i].tolist(),
            color="tab:blue",
            alpha=0.9 if i == 0 else 0.25,
            linewidth=1.5 if i == 0 else 0.8,
        )
    axes.set_yscale("log")
    axes.set_xlabel("horizon k")
    axes.set_ylabel("singular values of ∏ ∂h_t/∂h_{t-1}")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return save_figure(figure, path)


def eigenvalues_in_the_plane(eigenvalues, path: Path, *, title: str) -> Path:
    """Eigenvalues (complex) with the unit circle: outside it, directions that explode."""
    import math

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(4, 4))
    angles = [2 * math.pi * i / 200 for i in range(201)]
    axes.plot(
        [math.cos(a) for a in angles], [math.sin(a) for a in angles], color="gray", linewidth=1
    )
    axes.scatter(eigenvalues.real.tolist(), eigenvalues.imag.tolist(), s=12)
    axes.set_aspect("equal")
    axes.set_xlabel("Re λ")
    axes.set_ylabel("Im λ")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return save_figure(figure, path)


def lyapunov_spectrum(exponents, path: Path, *, title: str) -> Path:
    """Lyapunov exponents in decreasing order; above 0, nearby trajectories diverge."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5, 3.2))
    axes.plot(range(1, len(exponents) + 1), exponents.tolist(), marker="o", markersize=3)
    axes.axhline(0.0, color="gray", linewidth=1)
    axes.set_xlabel("index i")
    axes.set_ylabel("λ_i (nats per step)")
    axes.set_title(title, fontsize=9)
    figure.tight_layout()
    return save_figure(figure, path)


def eigen_components_against_step(demo, path: Path) -> Path:
    """Measured |c_{t,i}| (markers) and the closed form |λ_i|^t |c_{0,i}| (lines), log scale."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(5.5, 3.6))
    steps = list(range(demo.measured.shape[0]))
    for i, lam in enumerate(demo.eigenvalues.tolist()):
        color = f"C{i % 10}"
        axes.plot(
            steps,
            demo.predicted[:, i].clamp_min(1e-300).tolist(),
            color=color,
            label=f"|λ| = {abs(lam):.2f}",
        )
        axes.plot(
            steps,
            demo.measured[:, i].clamp_min(1e-300).tolist(),
            color=color,
            marker=".",
            linestyle="none",
        )
    axes.set_yscale("log")
    axes.set_xlabel("step t")
    axes.set_ylabel("|component along eigenvector|")
    axes.set_title("h_t = W h_(t-1): measured (dots) vs |λ|^t |c_0| (lines)", fontsize=9)
    axes.legend(fontsize=7)
    figure.tight_layout()
    return save_figure(figure, path)


def forecast_against_truth(truth, predicted, path: Path, *, title: str) -> Path:
    """A forecast over its target (top) and the error (bottom, log scale), against the step."""
    plt = _pyplot()
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
    plt = _pyplot()
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
