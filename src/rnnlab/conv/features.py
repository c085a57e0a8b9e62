r"""Single-layer convolutional features whose filters the classifier does not train: random
filters (Jarrett et al. 2009; Saxe et al. 2011) and k-means centroids with the triangle encoding
(Coates, Lee & Ng 2011), and the poolings those papers use (``docs/convolution_experiments.md``,
"saxe2011").

Images are ``(N, C, H, W)`` as in torch. Both extractors give feature maps ``(N, K, H', W')``
with ``H' = H - r + 1`` (a "valid" r×r window at every position, stride 1), which
:func:`pool_maps` then reduces:

- :class:`ConvPool`: ``features = flatten(pool(rect(conv2d(x, weight))))``, ``weight`` (K, C,
  r, r) drawn ``N(0, 1/(C r²))`` (or trained: the same module is the first layer of a network
  trained end to end). ``rect`` is the identity, ``max(0, ·)`` or ``|·|``.
- :class:`KMeansTriangle` (Coates et al. 2011, §3): each window ``p`` (C r² values) is normalised,
  ``p̂ = (p - mean(p)) / sqrt(var(p) + ε_p)``, whitened, ``z = W_zca (p̂ - μ)``, and encoded by
  its distances ``d_k = ‖z - c_k‖`` to the K centroids (k-means on whitened training windows)::

      f_k = max(0, mean_j(d_j) - d_k)            (the "triangle" activation)

  so that a window activates the centroids closer to it than average and nothing else.

The fast paths (windows by ``F.unfold``, distances by ``torch.cdist``) have slow twins in the
tests: a numpy loop over windows and positions, and scikit-learn's ``KMeans.transform``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnlab._checks import check_choice, check_float_tensor, check_real, check_size

RECTIFICATIONS = ("none", "relu", "abs")
POOLINGS = ("none", "avg2", "max2", "quadrant")
PATCH_EPSILON = 0.01  # ε_p: variance floor of the per-window normalisation (pixels in [0, 1])
ZCA_EPSILON = 0.1  # ε of the ZCA whitening (the research notes' miniature, on digits)


def _check_images(name: str, images: object) -> Tensor:
    images = check_float_tensor(name, images)
    if images.dim() != 4:
        raise ValueError(f"{name} must be 4-D (N, C, H, W), got shape {tuple(images.shape)}")
    return images


def image_patches(images: Tensor, size: int) -> Tensor:
    """Every "valid" ``size``×``size`` window of ``images`` (N, C, H, W), stride 1, as
    ``(N, H', W', C·size²)`` with ``H' = H - size + 1``; a window's values are ordered
    (channel, row, column), i.e. ``patches[n, i, j] = images[n, :, i:i+size, j:j+size].flatten()``.
    """
    images = _check_images("images", images)
    check_size("size", size)
    N, C, H, W = images.shape
    if size > min(H, W):
        raise ValueError(f"size must be <= the image's height and width {(H, W)}, got {size}")
    H_out, W_out = H - size + 1, W - size + 1
    columns = F.unfold(images, size)  # (N, C·size², H'·W'), positions row-major
    return columns.transpose(1, 2).reshape(N, H_out, W_out, C * size * size)


def normalize_patches(patches: Tensor, epsilon: float = PATCH_EPSILON) -> Tensor:
    """``(p - mean(p)) / sqrt(var(p) + epsilon)`` over the last axis (the population variance):
    brightness and contrast removed from each window (Coates et al. 2011, §3.1.1)."""
    patches = check_float_tensor("patches", patches)
    check_real("epsilon", epsilon, positive=True)
    centred = patches - patches.mean(-1, keepdim=True)
    return centred / torch.sqrt(centred.pow(2).mean(-1, keepdim=True) + epsilon)


@dataclass(frozen=True)
class Whitening:
    """ZCA whitening ``z = (p - mean) @ matrix``, fitted on windows ``p`` (M, D)::

        Σ = cov(p) = U diag(s) Uᵀ,   matrix = U diag(1/sqrt(s + ε)) Uᵀ  (symmetric)

    so ``cov(z) = U diag(s/(s + ε)) Uᵀ``: unit variance along the directions well above ε, and
    the closest such transform to the identity (it keeps windows looking like windows).
    """

    mean: Tensor  # (D,)
    matrix: Tensor  # (D, D)

    @classmethod
    def fit(cls, patches: Tensor, epsilon: float = ZCA_EPSILON) -> Whitening:
        patches = check_float_tensor("patches", patches)
        if patches.dim() != 2 or patches.shape[0] < 2:
            raise ValueError(f"patches must be (M >= 2, D), got shape {tuple(patches.shape)}")
        check_real("epsilon", epsilon, positive=True)
        mean = patches.mean(0)
        centred = patches - mean
        covariance = centred.T @ centred / patches.shape[0]  # (D, D), population
        s, U = torch.linalg.eigh(covariance)
        return cls(mean, (U * torch.rsqrt(s.clamp(min=0) + epsilon)) @ U.T)

    def __call__(self, patches: Tensor) -> Tensor:
        """Whitened windows (..., D)."""
        return (patches - self.mean) @ self.matrix


def triangle_encode(patches: Tensor, centroids: Tensor) -> Tensor:
    """``f_k = max(0, mean_j d_j - d_k)`` with ``d_k = ‖patch - centroids[k]‖``: ``patches``
    (..., D), ``centroids`` (K, D) -> (..., K)."""
    patches = check_float_tensor("patches", patches)
    centroids = check_float_tensor("centroids", centroids)
    if centroids.dim() != 2 or centroids.shape[1] != patches.shape[-1]:
        raise ValueError(
            f"centroids must be (K, {patches.shape[-1]}) to match patches "
            f"{tuple(patches.shape)}, got shape {tuple(centroids.shape)}"
        )
    flat = patches.reshape(-1, patches.shape[-1])  # (M, D)
    distances = torch.cdist(flat, centroids.to(flat.dtype))  # (M, K)
    codes = torch.relu(distances.mean(1, keepdim=True) - distances)
    return codes.reshape(*patches.shape[:-1], centroids.shape[0])


def pool_maps(maps: Tensor, pooling: str) -> Tensor:
    """Pool feature maps (N, K, H, W):

    - ``"none"``: unchanged;
    - ``"avg2"`` / ``"max2"``: mean / max over 2×2 blocks, stride 2 -> (N, K, ⌊H/2⌋, ⌊W/2⌋) (an
      odd last row or column is dropped, as ``F.avg_pool2d`` does);
    - ``"quadrant"`` (Coates et al. 2011): the sum over each quadrant -> (N, K, 2, 2); rows
      ``[0, ⌈H/2⌉)`` and ``[⌈H/2⌉, H)``, columns likewise.
    """
    maps = _check_images("maps", maps)
    check_choice("pooling", pooling, POOLINGS)
    H, W = maps.shape[-2:]
    if pooling != "none" and min(H, W) < 2:
        raise ValueError(f"maps must be at least 2×2 to pool with {pooling!r}, got {H}×{W}")
    if pooling == "none":
        return maps
    if pooling == "avg2":
        return F.avg_pool2d(maps, 2)
    if pooling == "max2":
        return F.max_pool2d(maps, 2)
    h, w = math.ceil(H / 2), math.ceil(W / 2)
    top, bottom = maps[..., :h, :], maps[..., h:, :]
    rows = [
        torch.stack([half[..., :w].sum((-2, -1)), half[..., w:].sum((-2, -1))], -1)
        for half in (top, bottom)
    ]
    return torch.stack(rows, -2)  # (N, K, 2, 2)


class ConvPool(nn.Module):
    """One convolutional stage: ``flatten(pool(rect(conv2d(x, weight))))`` (Jarrett et al. 2009's
    filter bank, rectification and pooling, without its contrast normalisation).

    With its weight left as drawn it is a random-filter feature extractor (Saxe et al. 2011
    score an architecture this way, training a linear classifier on its output); put before a
    ``nn.Linear`` and trained, it is the same architecture with learned filters.

    Args:
        in_channels: C of the input (N, C, H, W).
        filters: K, the number of filters (output maps).
        kernel_size: r, the filters are r×r, applied "valid" with stride 1, no bias.
        rectification: ``"none"``, ``"relu"`` or ``"abs"`` (default ``"abs"``, Jarrett's best).
        pooling: one of :data:`POOLINGS` (see :func:`pool_maps`; default ``"avg2"``).
        generator: draws the weight ``N(0, 1/(C r²))``; the scale does not change a
            standardised readout (every rectification and pooling here is positively
            homogeneous), and suits training.
    """

    def __init__(
        self,
        in_channels: int,
        filters: int,
        kernel_size: int,
        *,
        rectification: str = "abs",
        pooling: str = "avg2",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_size("in_channels", in_channels)
        check_size("filters", filters)
        check_size("kernel_size", kernel_size)
        self.rectification = check_choice("rectification", rectification, RECTIFICATIONS)
        self.pooling = check_choice("pooling", pooling, POOLINGS)
        shape = (filters, in_channels, kernel_size, kernel_size)
        scale = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)
        self.weight = nn.Parameter(torch.randn(shape, generator=generator) * scale)

    def maps(self, images: Tensor) -> Tensor:
        """Rectified filter responses (N, K, H', W') of ``images`` (N, C, H, W)."""
        images = _check_images("images", images)
        if images.shape[1] != self.weight.shape[1]:
            raise ValueError(
                f"images must have {self.weight.shape[1]} channels, got shape {tuple(images.shape)}"
            )
        r = self.weight.shape[-1]
        if r > min(images.shape[-2:]):
            raise ValueError(
                f"images must be at least {r}×{r} for kernel_size {r}, got shape "
                f"{tuple(images.shape)}"
            )
        responses = F.conv2d(images, self.weight.to(images.dtype))
        if self.rectification == "relu":
            return torch.relu(responses)
        if self.rectification == "abs":
            return responses.abs()
        return responses

    def forward(self, images: Tensor) -> Tensor:
        """Features (N, F) of ``images`` (N, C, H, W)."""
        return pool_maps(self.maps(images), self.pooling).flatten(1)

    def feature_size(self, height: int, width: int) -> int:
        """F, the number of features of an H×W image."""
        probe = torch.zeros(1, self.weight.shape[1], height, width, dtype=self.weight.dtype)
        with torch.no_grad():
            return self(probe).shape[1]


class KMeansTriangle:
    """Coates, Lee & Ng 2011's single-layer features: k-means on normalised, ZCA-whitened r×r
    windows, the triangle encoding at every position, then a pooling.

    ``fit(images)`` draws up to ``max_patches`` windows of the training images, normalises them,
    fits the whitening and runs scikit-learn's ``KMeans`` (``n_init=1``) on the whitened ones;
    ``maps(images)`` gives the triangle codes (N, K, H', W') and ``transform(images)`` the
    pooled, flattened features (N, F).

    Args:
        centroids: K, the number of centroids (features per position).
        patch_size: r (default 3).
        pooling: one of :data:`POOLINGS` (default ``"quadrant"``, the paper's).
        max_patches: windows drawn for fitting (default 20,000).
        seed: seeds the draw of windows and k-means.
        patch_epsilon, zca_epsilon: the ε of :func:`normalize_patches` and :class:`Whitening`.
    """

    def __init__(
        self,
        centroids: int,
        patch_size: int = 3,
        *,
        pooling: str = "quadrant",
        max_patches: int = 20_000,
        seed: int = 0,
        patch_epsilon: float = PATCH_EPSILON,
        zca_epsilon: float = ZCA_EPSILON,
    ) -> None:
        self.count = check_size("centroids", centroids)
        self.patch_size = check_size("patch_size", patch_size)
        self.pooling = check_choice("pooling", pooling, POOLINGS)
        self.max_patches = check_size("max_patches", max_patches)
        self.seed = check_size("seed", seed, minimum=0)
        self.patch_epsilon = check_real("patch_epsilon", patch_epsilon, positive=True)
        self.zca_epsilon = check_real("zca_epsilon", zca_epsilon, positive=True)
        self.whitening: Whitening | None = None
        self.centroids: Tensor | None = None  # (K, C r²), in the whitened space

    def _whitened_inputs(self, images: Tensor) -> Tensor:
        return normalize_patches(image_patches(images, self.patch_size), self.patch_epsilon)

    def fit(self, images: Tensor) -> KMeansTriangle:
        from sklearn.cluster import KMeans  # imported here: only this class needs it

        patches = self._whitened_inputs(images)
        flat = patches.reshape(-1, patches.shape[-1])  # (M, D)
        if flat.shape[0] < self.count:
            raise ValueError(
                f"centroids must be <= the number of windows in images ({flat.shape[0]}), "
                f"got {self.count}"
            )
        generator = torch.Generator().manual_seed(self.seed)
        chosen = torch.randperm(flat.shape[0], generator=generator)[: self.max_patches]
        sample = flat[chosen]
        self.whitening = Whitening.fit(sample, self.zca_epsilon)
        kmeans = KMeans(self.count, n_init=1, random_state=self.seed)
        kmeans.fit(self.whitening(sample).double().numpy())
        self.centroids = torch.as_tensor(kmeans.cluster_centers_, dtype=torch.float64)
        return self

    def maps(self, images: Tensor) -> Tensor:
        """Triangle codes (N, K, H', W') of ``images`` (N, C, H, W)."""
        if self.whitening is None or self.centroids is None:
            raise ValueError("KMeansTriangle must be fitted (call fit(images)) before maps()")
        patches = self.whitening(self._whitened_inputs(images))  # (N, H', W', D)
        codes = triangle_encode(patches, self.centroids.to(patches.dtype))  # (N, H', W', K)
        return codes.permute(0, 3, 1, 2)

    def transform(self, images: Tensor) -> Tensor:
        """Pooled features (N, F) of ``images`` (N, C, H, W)."""
        return pool_maps(self.maps(images), self.pooling).flatten(1)
