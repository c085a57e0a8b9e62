r"""Locality: shuffle every image's pixels with one fixed permutation; a convolutional network
loses accuracy, a fully connected one does not (the NYU deep-learning course's convnet notebook,
on MNIST; here on scikit-learn's 8×8 digits. Protocol and the course's numbers:
``docs/convolution_experiments.md``, "locality").

Data: the fixed stratified split of :class:`rnnlab.tasks.digits.Digits` (1,438 training, 359
test images), standardised by the training pixels' mean and standard deviation (one scalar
each, as the course does with MNIST's). ``permuted`` images are the pixels of the task's
``order="permuted"`` (``torch.randperm(64)`` seeded with the run's seed, the same for every
image) laid back on the 8×8 grid row by row: ``x_perm.flatten()[i] = x.flatten()[π(i)]``.

Models, of about the same number of parameters (the course: ≈6.4k each on 28×28):

- ``cnn``: conv 3×3 (1 → c, padding 1), ReLU, 2×2 max pooling, conv 3×3 (c → c, padding 1),
  ReLU, 2×2 max pooling, linear (4c → h), ReLU, linear (h → 10) — the course's CNN with 3×3
  kernels for 8×8 images (c = 6, h = 32: 1,520 parameters);
- ``fc``: linear (64 → n), ReLU, linear (n → n), ReLU, linear (n → 10) — the course's FC2Layer
  (n = 16: 1,482 parameters).

A fully connected first layer sees ``W x_perm = (W P) x``: permuting its input only permutes the
columns of its weight, whose initialisation is i.i.d., so the FC network's accuracy has the same
distribution with and without the permutation. A convolution's kernel spans neighbouring grid
cells, which after the permutation hold unrelated pixels.

Training as in the course: SGD (learning rate 0.01, momentum 0.5) on cross-entropy, minibatches
of 64 in epochs of a shuffled order; ``course_updates`` (940) is the number of updates of the
course's one MNIST epoch, where the findings are judged; training goes on to ``updates``, test
accuracy every ``evaluate_every`` updates. Initialisation (uniform ±1/√fan_in, torch's default
range) and the batch order are drawn from a generator seeded with the run's seed. One unit per
(model, pixels, seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from rnnlab._checks import check_choice, check_size
from rnnlab.experiments.presets import choose_preset
from rnnlab.experiments.statistics import separated, wilson_interval
from rnnlab.runs.executor import RunContext
from rnnlab.runs.report import Section
from rnnlab.tasks.digits import Digits

EXPERIMENT = "locality"
RUN_FUNCTION = "rnnlab.experiments.locality:run_unit"
MODELS = ("cnn", "fc")
PIXELS = ("original", "permuted")
SIDE = 8  # the digits are 8×8
CLASSES = 10
MUCH = 0.05  # "loses much": a drop of at least 5 accuracy points (and separated intervals)
NONE = 0.02  # "loses none": a drop under 2 points (and overlapping intervals)
# The course's numbers (MNIST, ≈6.4k parameters each, one epoch): verified in its notes' text
COURSE = {
    ("fc", "original"): 87.0,
    ("fc", "permuted"): 85.0,
    ("cnn", "original"): 95.0,
    ("cnn", "permuted"): 83.0,
}


@dataclass(frozen=True)
class Preset:
    name: str
    seeds: tuple[int, ...]  # one run per (model, pixels, seed); the seed also draws π
    models: tuple[str, ...]
    cnn_channels: int  # c
    cnn_hidden: int  # h
    fc_hidden: int  # n
    batch_size: int
    learning_rate: float
    momentum: float
    course_updates: int  # the findings are judged here (the course's one MNIST epoch)
    updates: int  # training goes on to here
    evaluate_every: int
    note: str = ""


PRESETS = {
    "paper": Preset(
        name="paper",
        seeds=tuple(range(20)),
        models=MODELS,
        cnn_channels=6,
        cnn_hidden=32,
        fc_hidden=16,
        batch_size=64,
        learning_rate=0.01,
        momentum=0.5,
        course_updates=940,
        updates=4700,
        evaluate_every=235,
        note="the course's protocol (SGD 0.01, momentum 0.5, batch 64, its number of updates) on "
        "8×8 digits instead of MNIST: 3×3 kernels with padding, ≈1.5k parameters per model "
        "instead of ≈6.4k; 20 seeds (the course ran one); training continued to 5× the updates",
    ),
    "quick": Preset(
        name="quick",
        seeds=tuple(range(8)),
        models=MODELS,
        cnn_channels=6,
        cnn_hidden=32,
        fc_hidden=16,
        batch_size=64,
        learning_rate=0.01,
        momentum=0.5,
        course_updates=940,
        updates=2820,
        evaluate_every=235,
        note="QUICK PRESET: 8 seeds instead of 20, training continued to 3× the course's updates "
        "instead of 5×; otherwise as the paper preset (the course's protocol on 8×8 digits: 3×3 "
        "kernels, ≈1.5k parameters per model instead of ≈6.4k)",
    ),
}


def preset(name: str, **overrides: Any) -> Preset:
    """A named preset, optionally changed (see :func:`.presets.choose_preset`)."""
    return choose_preset(PRESETS, name, overrides)


def group_specs(chosen: Preset) -> list[dict[str, Any]]:
    """One spec per (model, pixels, seed)."""
    for field in ("seeds", "models"):
        value = getattr(chosen, field)
        if not isinstance(value, tuple) or not value:
            raise ValueError(f"{field} must be a non-empty tuple, got {value!r}")
    for seed in chosen.seeds:
        check_size("seeds", seed, minimum=0)
    for model in chosen.models:
        check_choice("models", model, MODELS)
    for field in ("cnn_channels", "cnn_hidden", "fc_hidden", "batch_size", "evaluate_every"):
        check_size(field, getattr(chosen, field))
    check_size("course_updates", chosen.course_updates)
    check_size("updates", chosen.updates, minimum=chosen.course_updates)
    if chosen.course_updates % chosen.evaluate_every or chosen.updates % chosen.evaluate_every:
        raise ValueError(
            f"evaluate_every must divide course_updates ({chosen.course_updates}) and updates "
            f"({chosen.updates}), got {chosen.evaluate_every}"
        )
    if not chosen.learning_rate > 0 or not 0 <= chosen.momentum < 1:
        raise ValueError(
            f"learning_rate must be > 0 and momentum in [0, 1), got {chosen.learning_rate!r} and "
            f"{chosen.momentum!r}"
        )
    settings = {
        "cnn_channels": chosen.cnn_channels,
        "cnn_hidden": chosen.cnn_hidden,
        "fc_hidden": chosen.fc_hidden,
        "batch_size": chosen.batch_size,
        "learning_rate": chosen.learning_rate,
        "momentum": chosen.momentum,
        "course_updates": chosen.course_updates,
        "updates": chosen.updates,
        "evaluate_every": chosen.evaluate_every,
    }
    return [
        {
            "experiment": EXPERIMENT,
            "preset": chosen.name,
            "model": model,
            "pixels": pixels,
            "seed": seed,
            **settings,
        }
        for model in chosen.models
        for pixels in PIXELS
        for seed in chosen.seeds
    ]


# ---------------------------------------------------------------------------- data and models
def digit_images(pixels: str, split: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The split's images (N, 1, 8, 8), pixels in their own places or permuted by the
    ``permuted`` digits task's order for ``seed``, and labels (N,)."""
    order = {"original": "pixel", "permuted": "permuted"}[check_choice("pixels", pixels, PIXELS)]
    batch = Digits(order=order, split=split, permutation_seed=seed).dataset()
    count = batch.inputs.shape[1]  # inputs (64, N, 1): one pixel a step
    return batch.inputs.squeeze(-1).T.reshape(count, 1, SIDE, SIDE), batch.targets


def network(model: str, spec: dict[str, Any]) -> nn.Sequential:
    """The ``cnn`` or ``fc`` network of a spec (torch's default initialisation; see
    :func:`initialize`)."""
    check_choice("model", model, MODELS)
    if model == "fc":
        n = spec["fc_hidden"]
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(SIDE * SIDE, n),
            nn.ReLU(),
            nn.Linear(n, n),
            nn.ReLU(),
            nn.Linear(n, CLASSES),
        )
    c, h = spec["cnn_channels"], spec["cnn_hidden"]
    return nn.Sequential(
        nn.Conv2d(1, c, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c, c, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c * (SIDE // 4) ** 2, h),  # (N, c, 2, 2) flattened
        nn.ReLU(),
        nn.Linear(h, CLASSES),
    )


def initialize(net: nn.Module, generator: torch.Generator) -> nn.Module:
    """Every weight and bias of ``net``'s conv and linear layers drawn uniform on ±1/√fan_in
    (the range of torch's default initialisation) from ``generator``, layer by layer."""
    with torch.no_grad():
        for layer in net.modules():
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                bound = 1 / math.sqrt(layer.weight[0].numel())  # fan_in
                layer.weight.uniform_(-bound, bound, generator=generator)
                layer.bias.uniform_(-bound, bound, generator=generator)
    return net


def _train(spec: dict[str, Any], run: RunContext | None = None) -> dict[str, Any]:
    train_x, train_y = digit_images(spec["pixels"], "train", spec["seed"])
    test_x, test_y = digit_images(spec["pixels"], "test", spec["seed"])
    mean, std = train_x.mean(), train_x.std()  # scalars: the permutation leaves them unchanged
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    generator = torch.Generator().manual_seed(spec["seed"])
    net = initialize(network(spec["model"], spec), generator)
    optimizer = torch.optim.SGD(
        net.parameters(), lr=spec["learning_rate"], momentum=spec["momentum"]
    )
    checkpoints, correct, order, position = [], [], torch.empty(0, dtype=torch.long), 0
    for update in range(1, spec["updates"] + 1):
        if position + spec["batch_size"] > len(order):  # a new epoch (the last partial batch
            order, position = torch.randperm(len(train_y), generator=generator), 0  # is dropped)
        batch = order[position : position + spec["batch_size"]]
        position += spec["batch_size"]
        loss = F.cross_entropy(net(train_x[batch]), train_y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if update % spec["evaluate_every"] == 0:
            with torch.no_grad():
                right = int((net(test_x).argmax(1) == test_y).sum())
            checkpoints.append(update)
            correct.append(right)
            if run is not None:
                run.progress(update, {"accuracy": right / len(test_y)}, spec["updates"])
    return {
        "updates": checkpoints,
        "correct": correct,
        "test_size": len(test_y),
        "parameters": sum(p.numel() for p in net.parameters()),
    }


def run_unit(spec: dict[str, Any], run: RunContext) -> dict[str, Any]:
    """Train one (model, pixels, seed) and record its test accuracy along the way."""
    return _train(spec, run)


# ---------------------------------------------------------------------------- summary
def summarize(records) -> list[dict[str, Any]]:
    """One row per (preset, model, pixels, checkpoint): correct answers pooled over seeds, the
    per-seed accuracies."""
    groups: dict[tuple, list] = {}
    for record in records:
        spec = record.spec
        groups.setdefault((spec["preset"], spec["model"], spec["pixels"]), []).append(record)
    rows = []
    for (name, model, pixels), members in sorted(groups.items()):
        members.sort(key=lambda r: r.spec["seed"])
        first = members[0]
        for i, update in enumerate(first.outcome["updates"]):
            accuracies = [m.outcome["correct"][i] / m.outcome["test_size"] for m in members]
            mean = sum(accuracies) / len(accuracies)
            sd = (
                math.sqrt(sum((a - mean) ** 2 for a in accuracies) / (len(accuracies) - 1))
                if len(accuracies) > 1
                else 0.0
            )
            rows.append(
                {
                    "preset": name,
                    "model": model,
                    "pixels": pixels,
                    "updates": update,
                    "judged": update == first.spec["course_updates"],
                    "final": update == first.spec["updates"],
                    "parameters": first.outcome["parameters"],
                    "seeds": [m.spec["seed"] for m in members],
                    "accuracies": accuracies,
                    "mean": mean,
                    "sd": sd,
                    "correct": sum(m.outcome["correct"][i] for m in members),
                    "trials": sum(m.outcome["test_size"] for m in members),
                }
            )
    return rows


def _accuracy_text(row: dict[str, Any]) -> str:
    low, high = wilson_interval(row["correct"], row["trials"])
    return f"{100 * row['mean']:.1f} [{100 * low:.1f}, {100 * high:.1f}]"


def table_rows(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and cells at the course's number of updates and at the end of training."""
    header = [
        "model (parameters)",
        "pixels",
        "updates",
        "rnnlab test accuracy % [95% Wilson, pooled]",
        "per seed: mean ± sd (seeds)",
        "course (MNIST, 1 epoch)",
    ]
    cells = []
    shown = [r for r in rows if r["judged"] or r["final"]]
    for r in sorted(shown, key=lambda r: (not r["judged"], r["model"], r["pixels"])):
        course = f"{COURSE[r['model'], r['pixels']]:g}%" if r["judged"] else "—"
        cells.append(
            [
                f"{r['model']} ({r['parameters']:,})",
                r["pixels"],
                f"{r['updates']:,}",
                _accuracy_text(r),
                f"{100 * r['mean']:.1f} ± {100 * r['sd']:.1f} ({len(r['seeds'])})",
                course,
            ]
        )
    return header, cells


def _drop(rows: list[dict[str, Any]], model: str) -> tuple[dict, dict] | None:
    found = {r["pixels"]: r for r in rows if r["model"] == model}
    if set(found) != set(PIXELS):
        return None
    return found["original"], found["permuted"]


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """Judged at the course's number of updates: the CNN loses at least ``MUCH`` with the
    Wilson intervals of the pooled counts apart; the FC loses less than ``NONE`` with the
    intervals overlapping; on the original pixels the CNN beats the FC (the course's first
    point)."""
    lines = []
    for name in dict.fromkeys(r["preset"] for r in rows):
        judged = [r for r in rows if r["preset"] == name and r["judged"]]
        final = [r for r in rows if r["preset"] == name and r["final"]]
        cnn, fc = _drop(judged, "cnn"), _drop(judged, "fc")
        if cnn:
            original, permuted = cnn
            drop = original["mean"] - permuted["mean"]
            apart = separated(
                (original["correct"], original["trials"]), (permuted["correct"], permuted["trials"])
            )
            ok = drop >= MUCH and apart == 1
            later = _drop(final, "cnn")
            after = ""
            if later and later[0]["updates"] != original["updates"]:
                late_drop = later[0]["mean"] - later[1]["mean"]
                after = f"; {100 * late_drop:.1f} after {later[0]['updates']:,} updates"
            lines.append(
                f"the CNN loses much accuracy on permuted pixels (course: 95% → 83%): "
                f"{100 * original['mean']:.1f}% → {100 * permuted['mean']:.1f}%, "
                f"{100 * drop:.1f} points at {original['updates']:,} updates (intervals "
                f"{'apart' if apart else 'overlap'}){after} — {'SHOWN' if ok else 'NOT shown'}"
            )
        if fc:
            original, permuted = fc
            drop = original["mean"] - permuted["mean"]
            apart = separated(
                (original["correct"], original["trials"]), (permuted["correct"], permuted["trials"])
            )
            ok = drop < NONE and apart == 0
            lines.append(
                f"the fully connected net loses nothing (course: 87% → 85%): "
                f"{100 * original['mean']:.1f}% → {100 * permuted['mean']:.1f}%, "
                f"a drop of {100 * drop:.1f} points (intervals {'apart' if apart else 'overlap'}) "
                f"— {'SHOWN' if ok else 'NOT shown'}"
            )
        if cnn and fc:
            c, f = cnn[0], fc[0]
            ahead = separated((c["correct"], c["trials"]), (f["correct"], f["trials"]))
            lines.append(
                f"with about as many parameters the CNN beats the FC net on the original pixels "
                f"(course: 95% vs 87%): {100 * c['mean']:.1f}% vs {100 * f['mean']:.1f}% — "
                f"{'SHOWN' if ahead == 1 else 'NOT shown'}"
            )
    return lines


def report_sections(store, records, out: Path) -> list[Section]:
    from rnnlab.experiments.plots import locality as plots

    rows = summarize(records)
    sections = []
    for name in dict.fromkeys(r["preset"] for r in rows):
        mine = [r for r in rows if r["preset"] == name]
        header, cells = table_rows(mine)
        sections.append(
            Section(
                f"{EXPERIMENT}, {name} preset: permuted pixels, CNN against fully connected",
                PRESETS[name].note if name in PRESETS else "",
                header=header,
                rows=cells,
                images=[plots.locality_figure(mine, out / f"locality_{name}.png")],
            )
        )
    return sections
