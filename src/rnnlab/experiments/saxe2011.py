r"""Random filters and k-means features against raw pixels, and ranking architectures by their
random-weight accuracy (Jarrett et al. 2009; Coates, Lee & Ng 2011; Saxe et al. 2011), in
miniature on scikit-learn's 8×8 digits (protocol and published numbers:
``docs/convolution_experiments.md``, "saxe2011").

Each split seed s draws a stratified split of the 1,797 digits (``train_size`` for training,
the rest for testing); the same s seeds the random filters, the k-means and the training.
Features ``φ(x)`` are read out by a standardised logistic regression (``StandardScaler`` then
``LogisticRegression(C=1)``, a convex fit, the only trained part), scored on the test images:

- ``features`` units: raw pixels (64); random filters (:class:`~rnnlab.conv.features.ConvPool`,
  ``filters`` × r×r, no rectification / ReLU / |·|, 2×2 average pooling, none, or quadrants);
  k-means triangle features (:class:`~rnnlab.conv.features.KMeansTriangle`: per-window
  normalisation, ZCA, triangle encoding, quadrant sum pooling) for each K of ``centroids``.
- ``architecture`` units (Saxe's protocol): each architecture (filter size r × pooling ×
  number of filters; |·| rectification) is scored twice: ``random`` (its random filters, the
  readout above) and ``trained`` (the same network — ``ConvPool`` then ``nn.Linear`` — trained
  end to end from those very filters by Adam on cross-entropy, ``epochs`` passes of minibatches
  of ``batch_size``). Across architectures: Pearson and Spearman correlation of the mean random
  and mean trained accuracies, a one-sided permutation p-value of Spearman's ρ, and where the
  random-weight favourite ranks once trained.

Every unit is one (setting, split) run, so ``--workers`` runs them side by side.
"""

from __future__ import annotations

import functools
import math
import random
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab._checks import check_choice, check_size
from rnnlab.conv.features import POOLINGS, RECTIFICATIONS, ConvPool, KMeansTriangle
from rnnlab.experiments.presets import choose_preset
from rnnlab.experiments.statistics import spearman
from rnnlab.runs.executor import RunContext
from rnnlab.runs.report import Section
from rnnlab.tasks import digits

EXPERIMENT = "saxe2011"
RUN_FUNCTION = "rnnlab.experiments.saxe2011:run_unit"
IMAGE_SIZE = 8  # the digits are 8×8
CLASSES = 10
READOUT_C = 1.0  # inverse L2 strength of the logistic regression
READOUT_ITERATIONS = 3000  # lbfgs iterations before a fit counts as not converged
ARCHITECTURE_RECTIFICATION = "abs"  # Jarrett's best; the architectures vary the rest
PERMUTATIONS = 2000  # of the permutation test of Spearman's ρ
SIGNIFICANCE = 0.05

# The research notes' own numpy run of this protocol (3 splits; docs/convolution_experiments.md)
NOTES = {
    "raw pixels": "95.3 ± 0.5",
    "random 3×3 ×32, none, avg2": "94.6 ± 0.3",
    "random 3×3 ×32, relu, avg2": "97.5 ± 0.3",
    "random 3×3 ×32, abs, avg2": "98.0 ± 0.3",
    "random 3×3 ×32, abs, none": "97.6 ± 0.3",
    "random 3×3 ×32, abs, quadrant": "97.5 ± 0.2",
    "k-means K=4": "90.5 ± 0.8",
    "k-means K=8": "95.5 ± 0.2",
    "k-means K=16": "97.2 ± 0.3",
    "k-means K=32": "97.8 ± 0.3",
    "k-means K=64": "98.4 ± 0.5",
    "k-means K=128": "98.7 ± 0.3",
    "ranking": "Pearson 0.92, Spearman 0.51 (k-means filters as the trained stand-in)",
}
PAPER = {  # shown once, on the first row each applies to
    "unrectified": "Jarrett 2009: rectification (with normalisation) matters most [verified]",
    "random": "1 layer, random filters 53% vs pretrained + fine-tuned 54.2%, Caltech-101 "
    "(Jarrett 2009, quoted by Saxe 2011) [verified]",
    "kmeans": "K=1600: 77.9% [secondary], K=4000: 79.6% [verified], CIFAR-10 (Coates 2011)",
    "architecture": "random weights + SVM 95.2% on NORB (Saxe 2011) [secondary]",
    "ranking": "ranking by random weights proposed (Saxe 2011) [verified]; no correlation "
    "coefficient found in the paper",
}


@dataclass(frozen=True)
class Preset:
    name: str
    splits: tuple[int, ...]  # split seeds (each also seeds filters, k-means and training)
    train_size: int  # training images per split (stratified); the other 1,797 - n test
    random_features: tuple[tuple[str, str], ...]  # (rectification, pooling) of the feature rows
    random_filters: int  # filters of the random feature rows
    random_size: int  # their r
    centroids: tuple[int, ...]  # K of the k-means rows
    kmeans_size: int  # r of the k-means windows
    max_patches: int  # windows drawn to fit ZCA and k-means
    kernel_sizes: tuple[int, ...]  # architectures: r
    poolings: tuple[str, ...]  # architectures: pooling
    filter_counts: tuple[int, ...]  # architectures: number of filters
    epochs: int  # end-to-end training of an architecture
    learning_rate: float  # Adam's
    batch_size: int
    note: str = ""


FEATURE_VARIANTS = (("none", "avg2"), ("relu", "avg2"), ("abs", "avg2"), ("abs", "none"))
FEATURE_VARIANTS += (("abs", "quadrant"),)
DIFFERENCES = (
    "8×8 digits (1,797 images), not Caltech-101, CIFAR-10 or NORB; a logistic regression readout, "
    "not an SVM; no local contrast normalisation; 'trained' = the same one-layer network trained "
    "end to end by Adam from its random filters (not unsupervised pretraining + fine-tuning)"
)

PRESETS = {
    "paper": Preset(
        name="paper",
        splits=tuple(range(10)),
        train_size=500,
        random_features=FEATURE_VARIANTS,
        random_filters=32,
        random_size=3,
        centroids=(4, 8, 16, 32, 64, 128),
        kmeans_size=3,
        max_patches=20_000,
        kernel_sizes=(2, 3, 4, 5, 6),
        poolings=("none", "avg2", "max2", "quadrant"),
        filter_counts=(8, 32),
        epochs=60,
        learning_rate=0.01,
        batch_size=50,
        note=f"a miniature of the papers' protocols: {DIFFERENCES}; 40 architectures, 10 splits",
    ),
    "quick": Preset(
        name="quick",
        splits=(0, 1, 2, 3, 4),
        train_size=500,
        random_features=FEATURE_VARIANTS,
        random_filters=32,
        random_size=3,
        centroids=(4, 8, 16, 32, 64, 128),
        kmeans_size=3,
        max_patches=20_000,
        kernel_sizes=(2, 3, 4, 5),
        poolings=("none", "avg2", "quadrant"),
        filter_counts=(32,),
        epochs=60,
        learning_rate=0.01,
        batch_size=50,
        note=f"QUICK PRESET: 5 splits instead of 10, 12 architectures (r 2-5 × 3 poolings, 32 "
        f"filters) instead of 40; {DIFFERENCES}",
    ),
}


def preset(name: str, **overrides: Any) -> Preset:
    """A named preset, optionally changed (see :func:`.presets.choose_preset`)."""
    return choose_preset(PRESETS, name, overrides)


def _check_preset(chosen: Preset) -> None:
    for field in ("splits", "random_features", "centroids", "kernel_sizes", "poolings"):
        value = getattr(chosen, field)
        if not isinstance(value, tuple):
            raise ValueError(f"{field} must be a tuple, got {value!r}")
    if not chosen.splits:
        raise ValueError("splits must be a non-empty tuple of seeds, got ()")
    for seed in chosen.splits:
        check_size("splits", seed, minimum=0)
    check_size("train_size", chosen.train_size, minimum=CLASSES)
    if chosen.train_size > 1700:
        raise ValueError(
            f"train_size must leave >= 97 test images (<= 1700), got {chosen.train_size}"
        )
    for rectification, pooling in chosen.random_features:
        check_choice("random_features", rectification, RECTIFICATIONS)
        check_choice("random_features", pooling, POOLINGS)
    for name in ("random_filters", "max_patches", "epochs", "batch_size"):
        check_size(name, getattr(chosen, name))
    for name, sizes in (
        ("random_size", (chosen.random_size,)),
        ("kmeans_size", (chosen.kmeans_size,)),
        ("kernel_sizes", chosen.kernel_sizes),
    ):
        for size in sizes:  # every pooling needs maps of at least 2×2
            check_size(name, size)
            if size > IMAGE_SIZE - 1:
                raise ValueError(f"{name} must be <= {IMAGE_SIZE - 1} (8×8 images), got {size}")
    for k in chosen.centroids:
        check_size("centroids", k)
    for pooling in chosen.poolings:
        check_choice("poolings", pooling, POOLINGS)
    for count in chosen.filter_counts:
        check_size("filter_counts", count)
    if not chosen.learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {chosen.learning_rate!r}")


def group_specs(chosen: Preset) -> list[dict[str, Any]]:
    """One spec per (setting, split): the feature rows, then each architecture scored with
    random weights and trained."""
    _check_preset(chosen)
    specs = []
    for seed in chosen.splits:
        base = {
            "experiment": EXPERIMENT,
            "preset": chosen.name,
            "seed": seed,
            "train_size": chosen.train_size,
        }
        features = {**base, "part": "features"}
        specs.append({**features, "features": "raw"})
        for rectification, pooling in chosen.random_features:
            specs.append(
                {
                    **features,
                    "features": "random",
                    "filters": chosen.random_filters,
                    "kernel_size": chosen.random_size,
                    "rectification": rectification,
                    "pooling": pooling,
                }
            )
        for k in chosen.centroids:
            specs.append(
                {
                    **features,
                    "features": "kmeans",
                    "centroids": k,
                    "kernel_size": chosen.kmeans_size,
                    "pooling": "quadrant",
                    "max_patches": chosen.max_patches,
                }
            )
        for r in chosen.kernel_sizes:
            for pooling in chosen.poolings:
                for count in chosen.filter_counts:
                    architecture = {
                        **base,
                        "part": "architecture",
                        "kernel_size": r,
                        "pooling": pooling,
                        "filters": count,
                        "rectification": ARCHITECTURE_RECTIFICATION,
                    }
                    specs.append({**architecture, "scoring": "random"})
                    specs.append(
                        {
                            **architecture,
                            "scoring": "trained",
                            "epochs": chosen.epochs,
                            "learning_rate": chosen.learning_rate,
                            "batch_size": chosen.batch_size,
                        }
                    )
    return specs


# ---------------------------------------------------------------------------- data and readout
@functools.lru_cache(maxsize=8)
def digit_split(seed: int, train_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified (train, test) indices into :func:`rnnlab.tasks.digits.load` (scikit-learn's
    ``train_test_split`` with ``random_state=seed``)."""
    from sklearn.model_selection import train_test_split

    _, labels = digits.load()
    train, test = train_test_split(
        torch.arange(len(labels)).numpy(),
        train_size=train_size,
        stratify=labels.numpy(),
        random_state=seed,
    )
    return torch.as_tensor(train), torch.as_tensor(test)


def images_and_labels() -> tuple[torch.Tensor, torch.Tensor]:
    """The digits as (N, 1, 8, 8) float64 in [0, 1] and their labels (N,)."""
    images, labels = digits.load()
    return images[:, None], labels


def readout(features: torch.Tensor, labels: torch.Tensor, train, test) -> dict[str, Any]:
    """Test accuracy of ``StandardScaler`` + ``LogisticRegression(C=1)`` fitted on the training
    rows of ``features`` (N, F). A fit that reaches ``READOUT_ITERATIONS`` is recorded as not
    converged (scikit-learn's ConvergenceWarning is turned into that flag, not printed)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = features.double().numpy(), labels.numpy()
    model = make_pipeline(
        StandardScaler(), LogisticRegression(C=READOUT_C, max_iter=READOUT_ITERATIONS)
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        model.fit(x[train], y[train])
    iterations = int(model[-1].n_iter_.max())
    correct = int((model.predict(x[test]) == y[test]).sum())
    return {
        "accuracy": correct / len(test),
        "correct": correct,
        "test_size": len(test),
        "features": x.shape[1],
        "iterations": iterations,
        "converged": iterations < READOUT_ITERATIONS,
    }


# ---------------------------------------------------------------------------- units
def _random_extractor(spec: dict[str, Any]) -> ConvPool:
    """The random filters of a spec: drawn from a generator seeded with its split."""
    return ConvPool(
        1,
        spec["filters"],
        spec["kernel_size"],
        rectification=spec["rectification"],
        pooling=spec["pooling"],
        generator=torch.Generator().manual_seed(spec["seed"]),
    ).double()


def _features(spec: dict[str, Any]) -> dict[str, Any]:
    images, labels = images_and_labels()
    train, test = digit_split(spec["seed"], spec["train_size"])
    if spec["features"] == "raw":
        features = images.flatten(1)
    elif spec["features"] == "random":
        with torch.no_grad():
            features = _random_extractor(spec)(images)
    else:
        extractor = KMeansTriangle(
            spec["centroids"],
            spec["kernel_size"],
            pooling=spec["pooling"],
            max_patches=spec["max_patches"],
            seed=spec["seed"],
        )
        features = extractor.fit(images[train]).transform(images)
    return readout(features, labels, train, test)


def _trained(spec: dict[str, Any]) -> dict[str, Any]:
    """The architecture trained end to end: ``ConvPool`` (started from the random filters the
    ``random`` scoring uses) then ``nn.Linear`` (uniform ±1/√F, torch's default range), Adam on
    cross-entropy, minibatches in an order drawn from the split's generator; float32."""
    images, labels = images_and_labels()
    train, test = digit_split(spec["seed"], spec["train_size"])
    generator = torch.Generator().manual_seed(spec["seed"])
    features = ConvPool(
        1,
        spec["filters"],
        spec["kernel_size"],
        rectification=spec["rectification"],
        pooling=spec["pooling"],
        generator=generator,
    )
    size = features.feature_size(IMAGE_SIZE, IMAGE_SIZE)
    head = nn.Linear(size, CLASSES)
    bound = 1 / math.sqrt(size)
    with torch.no_grad():
        head.weight.uniform_(-bound, bound, generator=generator)
        head.bias.uniform_(-bound, bound, generator=generator)
    network = nn.Sequential(features, head)
    optimizer = torch.optim.Adam(network.parameters(), lr=spec["learning_rate"])
    x = images.float()
    losses = []
    for _ in range(spec["epochs"]):
        order = train[torch.randperm(len(train), generator=generator)]
        for start in range(0, len(order), spec["batch_size"]):
            batch = order[start : start + spec["batch_size"]]
            loss = F.cross_entropy(network(x[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
    with torch.no_grad():
        predicted = network(x).argmax(1)
    correct = int((predicted[test] == labels[test]).sum())
    batches = math.ceil(len(train) / spec["batch_size"])
    return {
        "accuracy": correct / len(test),
        "correct": correct,
        "test_size": len(test),
        "features": size,
        "train_accuracy": float((predicted[train] == labels[train]).double().mean()),
        "final_loss": sum(losses[-batches:]) / batches,
    }


def run_unit(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    """Compute one unit, with scikit-learn's and numpy's thread pools held to torch's thread
    count (one per worker under ``--workers``)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=torch.get_num_threads()):
        if spec["part"] == "architecture" and spec["scoring"] == "trained":
            return _trained(spec)
        if spec["part"] == "architecture":
            return _features({**spec, "features": "random"})
        return _features(spec)


# ---------------------------------------------------------------------------- summary
def setting_label(spec: dict[str, Any]) -> str:
    """``"raw pixels"``, ``"random 3×3 ×32, abs, avg2"``, ``"k-means K=16"`` or, for an
    architecture, ``"r=3, avg2, 32 filters"``."""
    if spec["part"] == "architecture":
        return f"r={spec['kernel_size']}, {spec['pooling']}, {spec['filters']} filters"
    if spec["features"] == "raw":
        return "raw pixels"
    if spec["features"] == "random":
        r = spec["kernel_size"]
        return f"random {r}×{r} ×{spec['filters']}, {spec['rectification']}, {spec['pooling']}"
    return f"k-means K={spec['centroids']}"


def _mean_sd(values: list[float]) -> tuple[float, float]:
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def pearson(xs: list[float], ys: list[float]) -> float:
    """Pearson's correlation coefficient (0 when either is constant)."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(xs, ys, strict=True))
    sx = math.sqrt(sum((a - mx) ** 2 for a in xs))
    sy = math.sqrt(sum((b - my) ** 2 for b in ys))
    return cov / (sx * sy) if sx and sy else 0.0


def permutation_p_value(
    xs: list[float], ys: list[float], permutations: int = PERMUTATIONS
) -> float:
    """One-sided p-value of Spearman's ρ > 0: the share of random pairings (``ys`` shuffled,
    seeded) whose ρ is at least the observed one, counting the observed pairing itself."""
    observed = spearman(xs, ys)
    shuffler = random.Random(2011)
    shuffled, at_least = list(ys), 1
    for _ in range(permutations):
        shuffler.shuffle(shuffled)
        at_least += spearman(xs, shuffled) >= observed - 1e-12
    return at_least / (permutations + 1)


def summarize(records) -> list[dict[str, Any]]:
    """Rows per preset: each feature setting and each architecture over its splits, then one
    ``ranking`` row (random against trained across architectures)."""
    groups: dict[tuple, dict[str, Any]] = {}
    for record in records:
        spec, out = record.spec, record.outcome or {}
        label = setting_label(spec)
        key = (spec["preset"], spec["part"], label)
        row = groups.setdefault(
            key,
            {
                "preset": spec["preset"],
                "part": spec["part"],
                "setting": label,
                **{
                    k: spec[k]
                    for k in ("features", "rectification", "centroids", "kernel_size")
                    if k in spec
                },
                **({"pooling": spec["pooling"]} if "pooling" in spec else {}),
                **({"filters": spec["filters"]} if "filters" in spec else {}),
                "splits": {},
            },
        )
        scoring = spec.get("scoring", "readout")
        row["splits"].setdefault(scoring, {})[str(spec["seed"])] = {
            "accuracy": out["accuracy"],
            "converged": out.get("converged", True),
        }
    rows = []
    for key in sorted(groups, key=_row_order):
        row = groups[key]
        for scoring, by_split in sorted(row.pop("splits").items()):
            seeds = sorted(by_split, key=int)
            accuracies = [by_split[s]["accuracy"] for s in seeds]
            mean, sd = _mean_sd(accuracies)
            row[scoring] = {
                "seeds": [int(s) for s in seeds],
                "accuracies": accuracies,
                "mean": mean,
                "sd": sd,
                "unconverged": sum(not by_split[s]["converged"] for s in seeds),
            }
        rows.append(row)
    for name in dict.fromkeys(r["preset"] for r in rows):
        ranking = _ranking([r for r in rows if r["preset"] == name])
        if ranking:
            rows.append({"preset": name, "part": "ranking", "setting": "ranking", **ranking})
    return rows


def _row_order(key: tuple) -> tuple:
    """Raw pixels, the random rows (by rectification, then avg2, none, max2, quadrant), k-means
    by K, then the architectures."""
    preset_name, part, label = key
    if part == "architecture":
        return (preset_name, 3, 0, 0, label)
    if label == "raw pixels":
        return (preset_name, 0, 0, 0, label)
    if label.startswith("k-means"):
        return (preset_name, 2, int(label.split("=")[1]), 0, label)
    rectification, pooling = label.split(", ")[1:]
    poolings = ("avg2", "none", "max2", "quadrant")
    return (preset_name, 1, RECTIFICATIONS.index(rectification), poolings.index(pooling), label)


def _ranking(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Random against trained accuracy across the architectures scored both ways (on the same
    splits); None with fewer than 3."""
    both = [
        r
        for r in rows
        if r["part"] == "architecture"
        and "random" in r
        and "trained" in r
        and r["random"]["seeds"] == r["trained"]["seeds"]
    ]
    if len(both) < 3:
        return None
    randoms = [r["random"]["mean"] for r in both]
    trained = [r["trained"]["mean"] for r in both]
    best_random = max(range(len(both)), key=lambda i: randoms[i])
    trained_order = sorted(range(len(both)), key=lambda i: -trained[i])
    return {
        "architectures": len(both),
        "pearson": pearson(randoms, trained),
        "spearman": spearman(randoms, trained),
        "p_value": permutation_p_value(randoms, trained),
        "random_best": both[best_random]["setting"],
        "random_best_trained_rank": trained_order.index(best_random) + 1,
        "trained_best": both[trained_order[0]]["setting"],
    }


def _percent(score: dict[str, Any]) -> str:
    text = f"{100 * score['mean']:.1f} ± {100 * score['sd']:.1f}"
    if score["unconverged"]:
        text += f" ({score['unconverged']} fits not converged)"
    return text


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and cells: setting, rnnlab's test accuracy (% mean ± sd over splits), the research
    notes' numpy run of the same protocol, and the papers' numbers (on the first row each
    concerns)."""
    header = ["part", "setting", "rnnlab (digits, %)", "notes' run (digits, %)", "papers"]
    cells, shown = [], set()

    def paper(kind: str) -> str:
        if kind in shown:
            return ""
        shown.add(kind)
        return PAPER[kind]

    for r in rows:
        if r["part"] == "features":
            kind = r["features"]
            if kind == "random" and r["rectification"] == "none":
                published = paper("unrectified")
            else:
                published = paper(kind) if kind != "raw" else ""
            part = {"raw": "features", "random": "random filters", "kmeans": "k-means"}[kind]
            note = NOTES.get(r["setting"], "—")
            cells.append([part, r["setting"], _percent(r["readout"]), note, published])
        elif r["part"] == "architecture":
            scores = [
                f"{scoring} {_percent(r[scoring])}"
                for scoring in ("random", "trained")
                if scoring in r
            ]
            cells.append(
                ["architecture", r["setting"], "; ".join(scores), "—", paper("architecture")]
            )
        else:
            cells.append(
                [
                    "ranking",
                    f"{r['architectures']} architectures: random vs trained",
                    f"Pearson {r['pearson']:.2f}, Spearman {r['spearman']:.2f} "
                    f"(p = {r['p_value']:.3f}); random-weight best ({r['random_best']}) is "
                    f"#{r['random_best_trained_rank']} trained",
                    NOTES["ranking"],
                    paper("ranking"),
                ]
            )
    return header, cells


def _paired(row: dict[str, Any], baseline: dict[str, Any]) -> list[float]:
    """Per-split differences ``row - baseline`` on the splits both have."""
    a = dict(zip(row["seeds"], row["accuracies"], strict=True))
    b = dict(zip(baseline["seeds"], baseline["accuracies"], strict=True))
    return [a[s] - b[s] for s in sorted(set(a) & set(b))]


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """One line per finding, with the numbers that decide it (criteria:
    ``docs/convolution_experiments.md``, "saxe2011")."""
    lines = []
    for name in dict.fromkeys(r["preset"] for r in rows):
        mine = [r for r in rows if r["preset"] == name]
        features = {r["setting"]: r for r in mine if r["part"] == "features"}
        raw = features.get("raw pixels")
        randoms = [r for r in features.values() if r["features"] == "random"]
        unrectified = [r for r in randoms if r["rectification"] == "none"]
        rectified = [r for r in randoms if r["rectification"] != "none" and r["pooling"] == "avg2"]
        if raw and unrectified:
            r = unrectified[0]
            diffs = _paired(r["readout"], raw["readout"])
            below = sum(d < 0 for d in diffs)
            ok = sum(diffs) < 0 and 2 * below > len(diffs)
            lines.append(
                f"random filters without rectification score below raw pixels: "
                f"{100 * r['readout']['mean']:.1f}% vs {100 * raw['readout']['mean']:.1f}%, "
                f"below on {below}/{len(diffs)} splits — {'SHOWN' if ok else 'NOT shown'}"
            )
        if raw and rectified:
            parts, ok = [], True
            for r in rectified:
                diffs = _paired(r["readout"], raw["readout"])
                above = sum(d > 0 for d in diffs)
                ok = ok and sum(diffs) > 0 and 2 * above > len(diffs)
                parts.append(
                    f"{r['rectification']} {100 * r['readout']['mean']:.1f}% "
                    f"(above on {above}/{len(diffs)})"
                )
            lines.append(
                f"rectification lifts random filters above raw pixels "
                f"({100 * raw['readout']['mean']:.1f}%): {', '.join(parts)} — "
                f"{'SHOWN' if ok else 'NOT shown'}"
            )
        kmeans = sorted(
            (r for r in features.values() if r["features"] == "kmeans"),
            key=lambda r: r["centroids"],
        )
        if len(kmeans) >= 2:
            ks = [r["centroids"] for r in kmeans]
            means = [r["readout"]["mean"] for r in kmeans]
            rho = spearman(ks, means)
            ok = rho >= 0.9 and means[-1] > means[0]
            lines.append(
                f"k-means accuracy rises with K: {100 * means[0]:.1f}% at K={ks[0]} to "
                f"{100 * means[-1]:.1f}% at K={ks[-1]}, Spearman {rho:.2f} — "
                f"{'SHOWN' if ok else 'NOT shown'}"
            )
        ranking = next((r for r in mine if r["part"] == "ranking"), None)
        if ranking:
            ok = ranking["spearman"] > 0 and ranking["p_value"] < SIGNIFICANCE
            lines.append(
                f"random-weight accuracy ranks architectures as training does "
                f"({ranking['architectures']} architectures): Spearman {ranking['spearman']:.2f} "
                f"(one-sided permutation p = {ranking['p_value']:.3f}), Pearson "
                f"{ranking['pearson']:.2f} — {'SHOWN' if ok else 'NOT shown'}"
            )
            rank = ranking["random_best_trained_rank"]
            lines.append(
                f"the random-weight favourite ({ranking['random_best']}) is among the 3 best "
                f"once trained: #{rank} (trained best: {ranking['trained_best']}) — "
                f"{'SHOWN' if rank <= 3 else 'NOT shown'}"
            )
    return lines


def report_sections(store, records, out: Path) -> list[Section]:
    from rnnlab.experiments.plots import saxe2011 as plots

    rows = summarize(records)
    sections = []
    for name in dict.fromkeys(r["preset"] for r in rows):
        mine = [r for r in rows if r["preset"] == name]
        header, cells = table_rows(mine)
        sections.append(
            Section(
                f"{EXPERIMENT}, {name} preset: random filters, k-means features and architecture "
                "ranking on the digits",
                PRESETS[name].note if name in PRESETS else "",
                header=header,
                rows=cells,
                images=[plots.saxe2011_figure(mine, out / f"saxe2011_{name}.png")],
            )
        )
    return sections
