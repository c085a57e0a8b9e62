"""Figures of ``convolution``: the four layers as matrices and the circulant's spectrum, the
equivariance error maps with their predicted borders, and pooling's unchanged share."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rnnlab.experiments.plots.figure import pyplot, save_figure


def matrix_figure(matrix: dict[str, Any], circulant: dict[str, Any], path: Path) -> Path:
    """(a–d) the first output map's rows of each layer's matrix (dense, locally connected,
    tiled, convolution), zeros left white: sparse interactions are the white, parameter sharing
    the repeated colours along the diagonals; (e) the eigenvalues of the circular convolution's
    matrix against the 2-D DFT of its kernel, and those of the zero-padded matrix."""
    import numpy as np

    plt = pyplot()
    pictures = matrix["figure"]
    fig, axes = plt.subplots(1, len(pictures) + 1, figsize=(4.2 * (len(pictures) + 1), 3.8))
    stats = {r["layer"]: r for r in matrix["layers"]}
    for ax, (name, rows) in zip(axes, pictures.items(), strict=False):
        values = np.array(rows)
        bound = float(np.abs(values).max()) or 1.0
        shown = np.ma.masked_equal(values, 0.0)
        ax.imshow(shown, cmap="coolwarm", vmin=-bound, vmax=bound, interpolation="nearest")
        r = stats[name]
        ax.set_title(
            f"{name}\n{r['parameters']:,} parameters, ≤ {r['nonzeros_per_row']} nonzeros a row",
            fontsize=9,
        )
        ax.set(xlabel="input pixel", ylabel="output position (map 1)")
    ax = axes[-1]
    for key, marker, label in (
        ("eigenvalues", "o", "eig(M), circular padding"),
        ("dft", "x", "2-D DFT of the kernel"),
        ("zero_padded", ".", 'eig(M), zero padding ("same")'),
    ):
        points = circulant["figure"][key]
        ax.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            marker,
            label=label,
            fillstyle="none" if marker == "o" else "full",
            markersize=7 if marker == "o" else 5,
        )
    ax.set(xlabel="real", ylabel="imaginary", title="eigenvalues of the 64×64 matrix")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def equivariance_figure(equivariance: dict[str, Any], path: Path) -> Path:
    """``log10 |f(T_s x) − T_s f(x)|`` (max over the digits and the maps) for each padding
    (rows) and the shifts of the smallest size (columns); the predicted interior is outlined,
    where the error must be rounding only."""
    import numpy as np

    plt = pyplot()
    cases = equivariance["cases"]
    smallest = min(max(abs(s) for s in c["shift"]) for c in cases)
    chosen = [c for c in cases if max(abs(s) for s in c["shift"]) == smallest]
    paddings = list(dict.fromkeys(c["padding"] for c in chosen))
    columns = math.ceil(len(chosen) / len(paddings))
    fig, axes = plt.subplots(
        len(paddings), columns, figsize=(3.2 * columns, 3.0 * len(paddings)), squeeze=False
    )
    image = None
    for c in chosen:
        row = paddings.index(c["padding"])
        column = [d for d in chosen if d["padding"] == c["padding"]].index(c)
        ax = axes[row][column]
        error = np.log10(np.array(c["error_map"]) + 1e-12)
        image = ax.imshow(error, cmap="magma", vmin=-12, vmax=1, interpolation="nearest")
        region = np.array(c["region"], dtype=float)
        if 0 < region.sum() < region.size:
            ax.contour(region, levels=[0.5], colors="cyan", linewidths=1.5)
        kind = "circular" if c["circular_shift"] else "zeros in"
        ax.set_title(f"{c['padding']}, shift {tuple(c['shift'])} ({kind})", fontsize=9)
        ax.set(xticks=[], yticks=[])
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="log10 error (cyan: predicted interior)")
    return save_figure(fig, path)


def pooling_figure(pooling: dict[str, Any], path: Path) -> Path:
    """The share of max-pooled outputs (stride 1) a shift leaves unchanged, against the shift,
    one line per pool width (1: no pooling), on the digits' pixels."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    shifts = pooling["shifts"]
    for width, shares in pooling["shares"].items():
        label = "no pooling" if width == "1" else f"max pool {width}×{width}"
        ax.plot(shifts, shares, "o-", label=label)
    ax.set(
        xlabel="shift (pixels, along one axis)",
        ylabel="share of pooled outputs unchanged",
        ylim=(-0.02, 1.02),
        xticks=shifts,
        title="max pooling absorbs small shifts (8×8 digits)",
    )
    ax.legend(fontsize=8)
    return save_figure(fig, path)
