"""Figures of ``bengio1994``: latch I's success density against length and noise, and the
decay of a latched state's gradient against the theory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnlab.experiments.plots.figure import pyplot, save_figure
from rnnlab.experiments.statistics import wilson_interval


def latching_figure(rows: list[dict[str, Any]], path: Path) -> Path:
    """(a) success density of gradient descent against T with 95% Wilson intervals; (b) against
    the noise variance; (c) mean log|∂y/∂h| of a latched unit against T, with the predicted
    slopes log(w(1 - x*²)) as dotted lines."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for ax, part, key, label in (
        (axes[0], "latch_bptt", "length", "T"),
        (axes[1], "latch_noise", "noise", "noise variance s"),
    ):
        chosen = sorted((r for r in rows if r["part"] == part), key=lambda r: r[key])
        if not chosen:
            continue
        xs = [r[key] for r in chosen]
        density = [r["solved"] / r["runs"] for r in chosen]
        bands = [wilson_interval(r["solved"], r["runs"]) for r in chosen]
        ax.plot(xs, density, "o-", label="BPTT (gradient descent)")
        ax.fill_between(xs, [b[0] for b in bands], [b[1] for b in bands], alpha=0.2)
        ax.set(xscale="log", xlabel=label, ylabel="success density", ylim=(-0.02, 1.02))
        ax.legend()
    axes[0].set_title("latch I: success against length")
    axes[1].set_title("latch I: success against noise")
    for r in (r for r in rows if r["part"] == "latch_theory"):
        lengths, logs = r["lengths"], r["log_gradient"]
        line = axes[2].plot(lengths, logs, label=f"w = {r['w']:g}, s = {r['noise']:g}")[0]
        anchor = logs[0] - r["predicted"] * lengths[0]
        axes[2].plot(
            lengths,
            [anchor + r["predicted"] * T for T in lengths],
            ":",
            color=line.get_color(),
        )
    axes[2].set(xlabel="T", ylabel="mean log|∂y/∂h|", title="latched: decays at log(w(1-x*²))")
    axes[2].legend(fontsize=8)
    return save_figure(fig, path)


def methods_figure(rows: list[dict[str, Any]], path: Path) -> Path:
    """The methods comparison, one panel per (problem, T): each method's share of runs solved
    (bar, with 95% Wilson interval) and its mean presentations (text above the bar)."""
    plt = pyplot()
    cases = list(dict.fromkeys((r["problem"], r["length"]) for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, axes = plt.subplots(1, len(cases), figsize=(3.2 * len(cases), 3.6), sharey=True,
                             squeeze=False)  # fmt: skip
    cell = {(r["problem"], r["length"], r["method"]): r for r in rows}
    for ax, (problem, T) in zip(axes[0], cases, strict=True):
        for x, method in enumerate(methods):
            r = cell[problem, T, method]
            share = r["solved"] / r["runs"]
            low, high = wilson_interval(r["solved"], r["runs"])
            ax.bar(x, share, yerr=[[share - low], [high - share]], color=f"C{x}", capsize=2)
            ax.text(x, min(high, 1.0) + 0.03, f"{r['mean_presentations']:,.0f}", ha="center",
                    rotation=90, fontsize=6)  # fmt: skip
        ax.set_xticks(range(len(methods)), methods, rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{problem.replace('_', '-')}, T = {T}", fontsize=9)
        ax.set_ylim(0, 1.45)
    axes[0][0].set_ylabel("share of runs solved (mean presentations above)")
    fig.tight_layout()
    return save_figure(fig, path)
