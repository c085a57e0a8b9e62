"""Figure of ``locality``: test accuracy against updates for the CNN and the fully connected
net, on original and permuted pixels, and one digit with its pixels permuted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnnlab.experiments.plots.figure import pyplot, save_figure
from rnnlab.experiments.statistics import wilson_interval


def locality_figure(rows: list[dict[str, Any]], path: Path) -> Path:
    """(a) mean test accuracy over seeds against updates, the 95% Wilson band of the pooled
    counts shaded, the course's number of updates dotted; (b) the accuracies at that number,
    each seed a dot; (c) a test digit and the same digit permuted (seed of the first run)."""
    from rnnlab.experiments.locality import digit_images

    plt = pyplot()
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2), width_ratios=(3, 2, 1, 1))
    styles = {"original": "-", "permuted": "--"}
    colours = {"cnn": "C0", "fc": "C1"}
    judged_at = next((r["updates"] for r in rows if r["judged"]), None)
    conditions = sorted({(r["model"], r["pixels"]) for r in rows})
    for model, pixels in conditions:
        curve = sorted(
            (r for r in rows if r["model"] == model and r["pixels"] == pixels),
            key=lambda r: r["updates"],
        )
        xs = [r["updates"] for r in curve]
        bands = [wilson_interval(r["correct"], r["trials"]) for r in curve]
        axes[0].plot(
            xs,
            [100 * r["mean"] for r in curve],
            styles[pixels],
            color=colours[model],
            label=f"{model}, {pixels} ({curve[0]['parameters']:,} parameters)",
        )
        axes[0].fill_between(
            xs,
            [100 * b[0] for b in bands],
            [100 * b[1] for b in bands],
            color=colours[model],
            alpha=0.15,
        )
    if judged_at:
        axes[0].axvline(judged_at, ls=":", color="0.4")
    axes[0].set(xlabel="updates", ylabel="test accuracy (%)", title="accuracy during training")
    axes[0].legend(fontsize=8)
    judged = [r for r in rows if r["judged"]]
    for i, r in enumerate(judged):
        axes[1].bar(
            i,
            100 * r["mean"],
            color=colours[r["model"]],
            hatch="//" if r["pixels"] == "permuted" else None,
            alpha=0.7,
        )
        axes[1].scatter(
            [i] * len(r["accuracies"]), [100 * a for a in r["accuracies"]], s=8, color="k", zorder=3
        )
    if judged:
        low = min(min(r["accuracies"]) for r in judged)
        axes[1].set_ylim(100 * low - 3, 100)
    axes[1].set_xticks(range(len(judged)))
    axes[1].set_xticklabels([f"{r['model']}\n{r['pixels']}" for r in judged], fontsize=8)
    axes[1].set(ylabel="test accuracy (%)", title=f"at {judged_at:,} updates" if judged_at else "")
    seed = rows[0]["seeds"][0] if rows else 0
    for ax, pixels in zip(axes[2:], ("original", "permuted"), strict=True):
        images, labels = digit_images(pixels, "test", seed)
        ax.imshow(images[0, 0].numpy(), cmap="gray_r")
        ax.set_title(f"a test '{int(labels[0])}', {pixels}")
        ax.axis("off")
    return save_figure(fig, path)
