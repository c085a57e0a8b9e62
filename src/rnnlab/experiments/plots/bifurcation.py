"""Figures of ``pascanu2013_dynamics``: the one-unit map's bifurcation diagram and gradients
(Pascanu et al. 2013, Fig. 3), the loss surface with its wall (Fig. 6) and Ω on it, and the
Jacobian products of random recurrent matrices (§2.1)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnlab.experiments.plots.figure import pyplot, save_figure


def bifurcation_figure(outcome: dict[str, Any], path: Path) -> Path:
    """(a) fixed points against b, attractors and basin boundaries, with the saddle-nodes;
    (b) |∂x_T/∂b| at the boundary crossing b* against T, the refined peaks and the analytic rate
    (5 sech² x₀)^T; (c) the slow sweeps."""
    import math

    plt = pyplot()
    data = outcome["figure"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    stable = [(b, x) for b, x, s in data["branches"] if s]
    unstable = [(b, x) for b, x, s in data["branches"] if not s]
    axes[0].scatter(*zip(*stable, strict=True), s=1.5, color="black", label="attractor")
    if unstable:
        axes[0].scatter(*zip(*unstable, strict=True), s=0.8, color="tab:red", label="boundary")
    for b in outcome["saddle_nodes_analytic"]:
        axes[0].axvline(b, color="grey", linestyle=":", linewidth=1)
    axes[0].set(xlabel="bias b", ylabel="fixed point x*", title="x ↦ 5 tanh(x) + b")
    axes[0].legend(markerscale=6, loc="upper left")
    horizons = list(range(1, len(data["at_crossing"]) + 1))
    axes[1].semilogy(horizons, data["at_crossing"], label="at b* (crossing)")
    rate = outcome["slope_analytic"]
    axes[1].semilogy(horizons, [math.exp(rate * T) for T in horizons], ":", label="(5 sech² x0)^T")
    peaks = sorted((int(T), p["value"]) for T, p in outcome["peaks"].items())
    axes[1].semilogy(*zip(*peaks, strict=True), "o", label="refined peak over b")
    axes[1].set(xlabel="T", ylabel="|∂x_T/∂b|", title="from x0 = 0.5: exponential in T")
    axes[1].legend()
    axes[2].plot(data["sweep_biases"], data["down"], label="b decreasing")
    axes[2].plot(data["sweep_biases"], data["up"], linestyle="--", label="b increasing")
    axes[2].set(xlabel="bias b", ylabel="settled state", title="slow sweep: hysteresis")
    axes[2].legend()
    return save_figure(fig, path)


def surface_figure(outcome: dict[str, Any], path: Path) -> Path:
    """log₁₀ ℰ over (w, b) with the wall and the gradient-descent paths (solid unclipped, dashed
    clipped), and log₁₀ Σ Ω beside it."""
    import math

    plt = pyplot()
    data = outcome["figure"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    ws, bs = data["w"], data["b"]
    extent = (ws[0], ws[-1], bs[0], bs[-1])
    for ax, name, title in (
        (axes[0], "log_loss", "log10 ℰ50 (σ(x50) - 0.7)²"),
        (axes[1], "log_omega", "log10 Σ_k Ω_k"),
    ):
        grid = [list(col) for col in zip(*data[name], strict=True)]  # (b, w) for imshow
        image = ax.imshow(grid, origin="lower", extent=extent, aspect="auto", cmap="viridis")
        fig.colorbar(image, ax=ax)
        wall_w = [w for w in ws if w > 4.26]
        sigmoid_x0 = 1 / (1 + math.exp(-0.5))
        ax.plot(wall_w, [0.5 - w * sigmoid_x0 for w in wall_w], color="white", linewidth=1)
        ax.set(xlabel="w", ylabel="b", title=title, xlim=(ws[0], ws[-1]), ylim=(bs[0], bs[-1]))
    for run in outcome["paths"]:
        w, b = zip(*run["path"], strict=True)
        style = "--" if run["clip"] else "-"
        axes[0].plot(w, b, style, color="red" if run["clip"] is None else "orange", linewidth=1)
        axes[0].plot(*run["start"], "o", color="white", markersize=3)
    return save_figure(fig, path)


def conditions_figure(outcome: dict[str, Any], path: Path) -> Path:
    """Median log₁₀‖∂x_T/∂x_k‖ against T - k, one line per (σ, λ₁γ) (linear: per ρ)."""
    plt = pyplot()
    curves = outcome["figure"]["curves"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharey=True)
    for ax, family in zip(axes, ("tanh", "sigmoid", "linear"), strict=True):
        for label, curve in curves.items():
            if label.startswith(family):
                value = label.split()[1]
                name = f"ρ = {value}" if family == "linear" else f"λ1γ = {value}"
                ax.plot(range(1, len(curve) + 1), curve, label=name)
        ax.set(xlabel="T - k", title=family)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("median log10 ‖∂x_T/∂x_k‖")
    return save_figure(fig, path)
