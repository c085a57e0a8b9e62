"""Sequential digits: scikit-learn's 8×8 handwritten digits read one pixel (or one row) a step.

The offline stand-in for sequential and permuted MNIST (Le, Jaitly & Hinton 2015, IRNN; used by
Arjovsky et al. 2016 and Li et al. 2018): ``sklearn.datasets.load_digits``, 1,797 images of
8×8 pixels with values 0..16 (a copy of the UCI optdigits test set), shipped with scikit-learn,
so nothing is downloaded.
"""

from __future__ import annotations

import functools

import torch
from torch import Tensor

from rnnlab._checks import check_choice, check_size
from rnnlab.tasks.base import Batch, LastStepClassification, randint

ORDERS = {"pixel": (64, 1), "row": (8, 8), "permuted": (64, 1)}  # order -> (steps, inputs)
SPLITS = ("train", "test")
TEST_FRACTION = 0.2  # of each class, held out
SPLIT_SEED = 0  # fixes the split once and for all


@functools.lru_cache(maxsize=1)
def load() -> tuple[Tensor, Tensor]:
    """All 1,797 images (N, 8, 8) float64 scaled to [0, 1], and their labels (N,) int64."""
    from sklearn.datasets import load_digits  # imported here: only this task needs it

    digits = load_digits()
    images = torch.as_tensor(digits.images, dtype=torch.float64) / 16.0
    return images, torch.as_tensor(digits.target, dtype=torch.int64)


@functools.lru_cache(maxsize=1)
def split_indices() -> dict[str, Tensor]:
    """The fixed, stratified train/test split: sorted indices into ``load()`` for each split.

    Each class's images are shuffled with a generator seeded ``SPLIT_SEED``; the first
    ``round(TEST_FRACTION * n_class)`` go to the test split, the rest to training.
    """
    _, labels = load()
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    train, test = [], []
    for c in range(10):
        members = (labels == c).nonzero().squeeze(1)
        members = members[torch.randperm(len(members), generator=generator)]
        n_test = round(TEST_FRACTION * len(members))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return {"train": torch.cat(train).sort().values, "test": torch.cat(test).sort().values}


class Digits(LastStepClassification):
    """Sequential 8×8 digits: classify a handwritten digit after reading it step by step.

    The classic sequential / permuted MNIST protocol (one pixel a step, optionally in a fixed
    random order; Le, Jaitly & Hinton 2015, §4.2) on the 8×8 digits that scikit-learn ships
    (``docs/tasks.md``, "Sequential digits"). Pixel values are scaled to [0, 1]; 10 classes.

    ``order``:

    - ``"pixel"``: 64 steps of 1 input, row by row, left to right;
    - ``"row"``: 8 steps of 8 inputs, one image row a step;
    - ``"permuted"``: 64 steps of 1 input, the pixels in a fixed random order drawn from
      ``permutation_seed`` (the same for every image, split and call).

    The split is fixed and stratified: 20% of each class (seeded shuffle) is the ``"test"``
    split, the rest ``"train"`` (1,438 / 359 images); the two are disjoint. ``sample`` draws
    ``batch_size`` images of the split uniformly with replacement; ``dataset()`` gives the
    whole split at once, for evaluation.

    Loss: cross-entropy at the last step; wrong when the argmax differs. Baseline: ln 10.
    Model outputs (B, 10) logits; targets (B,) class ids.

    Args:
        length: fixed by ``order`` (64 or 8); may be given, but must match.
        variant: ``"sklearn"`` (the only one).
        order: ``"pixel"`` (default), ``"row"`` or ``"permuted"``.
        split: ``"train"`` (default) or ``"test"``.
        permutation_seed: seeds the pixel order of ``"permuted"`` (>= 0; default 0).
    """

    name = "digits"
    variants = ("sklearn",)
    output_size = 10

    def __init__(
        self,
        length: int | None = None,
        *,
        variant: str = "sklearn",
        order: str = "pixel",
        split: str = "train",
        permutation_seed: int = 0,
    ) -> None:
        self.order = check_choice("order", order, list(ORDERS))
        self.split = check_choice("split", split, list(SPLITS))
        self.permutation_seed = check_size("permutation_seed", permutation_seed, minimum=0)
        steps = ORDERS[self.order][0]
        super().__init__(steps if length is None else length, variant=variant)

    def _configure(self) -> None:
        self.min_length, self.input_size = ORDERS[self.order]

    def _check_length(self, name: str, length: object) -> int:
        check_size(name, length)
        if length != self.min_length:
            raise ValueError(
                f"{name} of digits is fixed by order={self.order!r}: {self.min_length} steps; "
                f"got {length}"
            )
        return length

    def _options(self) -> dict[str, object]:
        return {"order": self.order, "split": self.split, "permutation_seed": self.permutation_seed}

    @functools.cached_property
    def _data(self) -> tuple[Tensor, Tensor]:
        """The split as (N, L, input_size) float64 sequences and (N,) labels."""
        images, labels = load()
        index = split_indices()[self.split]
        images, labels = images[index], labels[index]
        if self.order == "row":
            return images, labels  # (N, 8 rows, 8 pixels)
        pixels = images.reshape(len(index), 64)[:, self.pixel_order]
        return pixels.unsqueeze(-1), labels  # (N, 64, 1)

    @property
    def pixel_order(self) -> Tensor:
        """(64,) which pixel (row-major index) is read at each step of ``"pixel"`` and
        ``"permuted"`` orders."""
        if self.order == "permuted":
            generator = torch.Generator().manual_seed(self.permutation_seed)
            return torch.randperm(64, generator=generator)
        return torch.arange(64)

    def __len__(self) -> int:
        """Images in the split."""
        return len(self._data[1])

    def _batch(self, index: Tensor) -> Batch:
        sequences, labels = self._data
        inputs = sequences[index].transpose(0, 1).to(torch.get_default_dtype())  # (L, B, F)
        return Batch(inputs=inputs.contiguous(), targets=labels[index])

    def _sample(self, batch_size: int, length: int, generator: torch.Generator | None) -> Batch:
        return self._batch(randint(len(self), (batch_size,), generator))

    def dataset(self) -> Batch:
        """The whole split in a fixed order, as one batch (L, N, input_size)."""
        return self._batch(torch.arange(len(self)))
