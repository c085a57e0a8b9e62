"""Figures of the recurrent map's dynamics: Jacobian singular values, eigenvalues in the plane,
Lyapunov spectra and the eigen-analysis of a linear recurrence (DL book §10.7)."""

from __future__ import annotations

from pathlib import Path

from rnnlab.experiments.plots.figure import pyplot, save_figure


def singular_values_against_horizon(horizons, singular_values, path: Path, *, title: str) -> Path:
    """Singular values of the Jacobian product J_k ⋯ J_1 against the horizon k (log scale),
    the first sequence of the batch."""
    plt = pyplot()
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

    plt = pyplot()
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
    plt = pyplot()
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
    plt = pyplot()
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
