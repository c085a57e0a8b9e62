"""Figure of ``saxe2011``: random-filter features against raw pixels, k-means accuracy against
K, and each architecture's random-weight accuracy against its trained accuracy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnlab.experiments.plots.figure import pyplot, save_figure


def saxe2011_figure(rows: list[dict[str, Any]], path: Path) -> Path:
    """(a) test accuracy of raw pixels and the random-filter rows (mean ± sd over splits, each
    split a dot); (b) k-means triangle features against K (log scale), raw pixels dashed; (c)
    random-weight against trained accuracy per architecture, with Pearson and Spearman."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(17, 4.8))
    features = [r for r in rows if r["part"] == "features" and r["features"] in ("raw", "random")]
    for i, r in enumerate(features):
        score = r["readout"]
        axes[0].errorbar(
            i, 100 * score["mean"], yerr=100 * score["sd"], fmt="o", capsize=4, color="C0"
        )
        axes[0].scatter(
            [i] * len(score["accuracies"]),
            [100 * a for a in score["accuracies"]],
            s=8,
            color="0.5",
            zorder=3,
        )
    axes[0].set_xticks(range(len(features)))
    axes[0].set_xticklabels(
        [r["setting"].replace("random ", "").replace(", ", "\n") for r in features], fontsize=7
    )
    axes[0].set(ylabel="test accuracy (%)", title="raw pixels and random filters")
    raw = next((r for r in features if r["features"] == "raw"), None)
    kmeans = sorted(
        (r for r in rows if r["part"] == "features" and r["features"] == "kmeans"),
        key=lambda r: r["centroids"],
    )
    if kmeans:
        ks = [r["centroids"] for r in kmeans]
        means = [100 * r["readout"]["mean"] for r in kmeans]
        sds = [100 * r["readout"]["sd"] for r in kmeans]
        axes[1].errorbar(ks, means, yerr=sds, fmt="o-", capsize=4, label="k-means triangle")
        if raw:
            axes[1].axhline(100 * raw["readout"]["mean"], ls="--", color="0.4", label="raw pixels")
        axes[1].set(xscale="log", xlabel="centroids K", ylabel="test accuracy (%)")
        axes[1].set_xticks(ks)
        axes[1].set_xticklabels([str(k) for k in ks])
        axes[1].legend()
    axes[1].set_title("k-means features against K")
    architectures = [
        r for r in rows if r["part"] == "architecture" and "random" in r and "trained" in r
    ]
    for r in architectures:
        x, y = 100 * r["random"]["mean"], 100 * r["trained"]["mean"]
        axes[2].scatter(x, y, color="C1")
        axes[2].annotate(
            r["setting"].replace(" filters", ""),
            (x, y),
            fontsize=6,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ranking = next((r for r in rows if r["part"] == "ranking"), None)
    title = "architectures: random vs trained"
    if ranking:
        title += f"\nPearson {ranking['pearson']:.2f}, Spearman {ranking['spearman']:.2f}"
    axes[2].set(
        xlabel="random weights, readout only (%)", ylabel="trained end to end (%)", title=title
    )
    return save_figure(fig, path)
