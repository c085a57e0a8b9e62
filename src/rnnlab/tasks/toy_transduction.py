"""A tiny synthetic transduction task: label sequences hidden in noisy frames of unknown timing.

Made for unit tests of transducer and CTC training: it has the shape of speech recognition (a
long feature sequence in, a short label sequence out, no alignment given) but a model learns it
in seconds, because each frame shows its label directly — only where the labels start and end
is unknown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rnnlab._checks import check_real, check_size
from rnnlab.tasks.pairs import PairTask, Vocabulary

MAX_TRIES = 1000  # draws allowed per test example before giving up on finding a new sequence


def _split_seed(seed: int, split: str) -> int:
    digest = hashlib.sha256(f"toy_transduction/{seed}/{split}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class ToyTransduction(PairTask):
    """Noisy prototype frames: each label is shown for a few frames, with blank frames around.

    An example draws ``U`` uniform in ``[min_labels, max_labels]`` and labels ``y_1..y_U``
    uniform in ``{0..n_labels-1}``. Its source is, in order: ``g_0`` blank frames, then for each
    label ``y_u`` a run of ``r_u`` frames of label ``y_u`` followed by ``g_u`` blank frames,
    where the run lengths ``r_u`` are uniform in ``[1, max_run]`` and the gaps ``g_u`` uniform in
    ``[0, max_gap]`` — except that a gap between two equal labels is at least 1 (else two runs
    of the same label would merge and the target could not be read from the source). A frame of
    label ``k`` is the one-hot vector ``e_k`` of size ``n_labels + 1``, a blank frame is
    ``e_{n_labels}``, and every coordinate gets independent Gaussian noise of standard deviation
    ``noise``. So ``S = Σ r_u + Σ g_u`` frames, ``input_size = n_labels + 1``; the target is
    ``(y_1..y_U)``, ids ``0..n_labels-1`` (a CTC/transducer model appends its blank).

    Splits: ``"train"`` and ``"test"``, each drawn from its own generator seeded from
    ``(seed, split)``. No test target sequence occurs among the training targets (test draws
    that repeat one are redrawn), so the test split measures reading, not recall.

    Args:
        n_labels: label classes (>= 1; default 5).
        min_labels: fewest labels per example (>= 1; default 1).
        max_labels: most labels per example (>= min_labels; default 6).
        max_run: longest run of one label's frames (>= 1; default 3).
        max_gap: most blank frames between, before and after runs (>= 0; default 2).
        noise: standard deviation of the Gaussian noise on every frame (>= 0; default 0.1).
        n_train: training examples (>= 1; default 512).
        n_test: test examples (>= 1; default 128).
        seed: seeds every draw (>= 0; default 0).
    """

    name = "toy_transduction"
    splits = ("train", "test")

    def __init__(
        self,
        *,
        n_labels: int = 5,
        min_labels: int = 1,
        max_labels: int = 6,
        max_run: int = 3,
        max_gap: int = 2,
        noise: float = 0.1,
        n_train: int = 512,
        n_test: int = 128,
        seed: int = 0,
    ) -> None:
        self.n_labels = check_size("n_labels", n_labels)
        self.min_labels = check_size("min_labels", min_labels)
        self.max_labels = check_size("max_labels", max_labels)
        if self.max_labels < self.min_labels:
            raise ValueError(
                f"max_labels must be >= min_labels={min_labels}, got max_labels={max_labels}"
            )
        self.max_run = check_size("max_run", max_run)
        self.max_gap = check_size("max_gap", max_gap, minimum=0)
        self.noise = check_real("noise", noise)
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        self.n_train = check_size("n_train", n_train)
        self.n_test = check_size("n_test", n_test)
        self.seed = check_size("seed", seed, minimum=0)
        self.input_size = self.n_labels + 1
        self.target_vocabulary = Vocabulary([str(k) for k in range(self.n_labels)], specials=())
        self._pairs: dict[str, list[tuple[Tensor, Tensor]]] = {}

    @property
    def blank_frame(self) -> int:
        """The feature index that marks blank frames (``n_labels``)."""
        return self.n_labels

    def _options(self) -> dict[str, Any]:
        return {
            "n_labels": self.n_labels,
            "min_labels": self.min_labels,
            "max_labels": self.max_labels,
            "max_run": self.max_run,
            "max_gap": self.max_gap,
            "noise": self.noise,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "seed": self.seed,
        }

    def pairs(self, split: str) -> Sequence[tuple[Tensor, Tensor]]:
        """``split`` as ``(frames (S_i, n_labels + 1) float32, labels (U_i,) int64)`` pairs."""
        split = self._check_split(split)
        if not self._pairs:
            train = self._draw_split("train", self.n_train, forbidden=set())
            seen = {tuple(target.tolist()) for _, target in train}
            self._pairs = {"train": train, "test": self._draw_split("test", self.n_test, seen)}
        return self._pairs[split]

    def _draw_split(
        self, split: str, count: int, forbidden: set[tuple[int, ...]]
    ) -> list[tuple[Tensor, Tensor]]:
        generator = torch.Generator().manual_seed(_split_seed(self.seed, split))
        examples = []
        for _ in range(count):
            for _ in range(MAX_TRIES):
                labels = self._draw_labels(generator)
                if tuple(labels.tolist()) not in forbidden:
                    break
            else:
                raise ValueError(
                    f"could not draw a test target sequence that is not in the training split "
                    f"in {MAX_TRIES} tries: n_train={self.n_train} covers (nearly) every "
                    f"sequence of {self.min_labels}..{self.max_labels} labels out of "
                    f"{self.n_labels}; lower n_train or raise max_labels or n_labels"
                )
            examples.append((self._draw_frames(labels, generator), labels))
        return examples

    def _draw_labels(self, generator: torch.Generator) -> Tensor:
        length = int(torch.randint(self.min_labels, self.max_labels + 1, (1,), generator=generator))
        return torch.randint(self.n_labels, (length,), generator=generator)  # (U,) int64

    def _draw_frames(self, labels: Tensor, generator: torch.Generator) -> Tensor:
        U = len(labels)
        runs = torch.randint(1, self.max_run + 1, (U,), generator=generator)
        gaps = torch.randint(0, self.max_gap + 1, (U + 1,), generator=generator)  # g_0..g_U
        repeated = torch.zeros(U + 1, dtype=torch.bool)
        repeated[1:U] = labels[1:] == labels[:-1]  # gap g_u sits between y_u and y_{u+1}
        gaps = torch.where(repeated, gaps.clamp(min=1), gaps)
        symbols = [torch.full((int(gaps[0]),), self.blank_frame)]
        for u in range(U):
            symbols.append(labels[u].repeat(int(runs[u])))
            symbols.append(torch.full((int(gaps[u + 1]),), self.blank_frame))
        frame_ids = torch.cat(symbols)  # (S,) int64
        frames = torch.nn.functional.one_hot(frame_ids, self.input_size).float()  # (S, F)
        return frames + self.noise * torch.randn(frames.shape, generator=generator)
