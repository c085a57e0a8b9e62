"""rnnlab.conv.features against slow, obviously correct twins: windows against numpy's
``sliding_window_view``, the normalisation, whitening and triangle encoding against loops over
windows and a closed form, the quadrant pooling against explicit sums, and the random-filter
features against a loop of dot products (cross-correlation, not convolution)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnlab.conv.features import (
    ConvPool,
    KMeansTriangle,
    Whitening,
    image_patches,
    normalize_patches,
    pool_maps,
    triangle_encode,
)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def images(gen):
    return torch.rand(3, 2, 6, 7, generator=gen, dtype=torch.float64)  # (N, C, H, W)


def test_patches_are_numpys_sliding_windows(images):
    patches = image_patches(images, 3)
    windows = np.lib.stride_tricks.sliding_window_view(images.numpy(), (3, 3), axis=(2, 3))
    # windows (N, C, H', W', 3, 3) -> (N, H', W', C·9), each window ordered (channel, row, col)
    expected = windows.transpose(0, 2, 3, 1, 4, 5).reshape(3, 4, 5, 18)
    np.testing.assert_array_equal(patches.numpy(), expected)


def test_normalised_patches_match_a_loop(gen):
    patches = torch.rand(5, 9, generator=gen, dtype=torch.float64)
    ours = normalize_patches(patches, 0.01).numpy()
    for row, p in zip(ours, patches.numpy(), strict=True):
        np.testing.assert_allclose(row, (p - p.mean()) / np.sqrt(p.var() + 0.01), rtol=1e-12)


def test_whitening_has_the_closed_form_covariance(gen):
    mixing = torch.randn(4, 4, generator=gen, dtype=torch.float64)
    data = torch.randn(5000, 4, generator=gen, dtype=torch.float64) @ mixing + 3.0
    whitening = Whitening.fit(data, 0.1)
    torch.testing.assert_close(whitening.matrix, whitening.matrix.T)  # ZCA: symmetric
    centred = data.numpy() - data.numpy().mean(0)
    s, U = np.linalg.eigh(centred.T @ centred / len(data))
    z = whitening(data).numpy()
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-10)
    np.testing.assert_allclose(z.T @ z / len(z), U @ np.diag(s / (s + 0.1)) @ U.T, atol=1e-10)
    nearly_white = Whitening.fit(data, 1e-9)(data)
    torch.testing.assert_close(
        nearly_white.T @ nearly_white / len(data), torch.eye(4, dtype=torch.float64)
    )


def test_triangle_encoding_matches_a_loop(gen):
    patches = torch.randn(2, 3, 5, generator=gen, dtype=torch.float64)
    centroids = torch.randn(4, 5, generator=gen, dtype=torch.float64)
    codes = triangle_encode(patches, centroids)
    assert codes.shape == (2, 3, 4)
    for index in np.ndindex(2, 3):
        p = patches[index].numpy()
        d = np.array([np.sqrt(((p - c) ** 2).sum()) for c in centroids.numpy()])
        np.testing.assert_allclose(codes[index].numpy(), np.maximum(0, d.mean() - d), atol=1e-12)
    assert (codes > 0).any() and (codes == 0).any()  # the nearer half fires, the rest is zero


@pytest.mark.parametrize("size", [(5, 5), (6, 7), (2, 3)])
def test_quadrant_pooling_sums_each_quadrant(gen, size):
    maps = torch.randn(2, 3, *size, generator=gen, dtype=torch.float64)
    pooled = pool_maps(maps, "quadrant")
    h, w = -(-size[0] // 2), -(-size[1] // 2)  # ceil: the first half takes the middle row
    for n, k in np.ndindex(2, 3):
        m = maps[n, k].numpy()
        expected = [[m[:h, :w].sum(), m[:h, w:].sum()], [m[h:, :w].sum(), m[h:, w:].sum()]]
        np.testing.assert_allclose(pooled[n, k].numpy(), expected, rtol=1e-12)


def test_block_poolings_are_torchs(gen):
    maps = torch.randn(2, 3, 5, 5, generator=gen, dtype=torch.float64)
    assert pool_maps(maps, "avg2").shape == pool_maps(maps, "max2").shape == (2, 3, 2, 2)
    assert pool_maps(maps, "avg2")[0, 0, 0, 0] == pytest.approx(maps[0, 0, :2, :2].mean().item())
    assert pool_maps(maps, "max2")[1, 2, 1, 1] == maps[1, 2, 2:4, 2:4].max()
    assert pool_maps(maps, "none") is maps


@pytest.mark.parametrize("rectification", ["none", "relu", "abs"])
def test_random_filter_features_are_rectified_dot_products(images, rectification):
    layer = ConvPool(
        2,
        4,
        3,
        rectification=rectification,
        pooling="none",
        generator=torch.Generator().manual_seed(0),
    ).double()
    with torch.no_grad():
        maps = layer.maps(images).numpy()
    weight, x = layer.weight.detach().numpy(), images.numpy()
    rect = {"none": lambda v: v, "relu": lambda v: max(v, 0.0), "abs": abs}[rectification]
    for n, k, i, j in np.ndindex(3, 4, 4, 5):  # cross-correlation: the kernel is not flipped
        value = (x[n, :, i : i + 3, j : j + 3] * weight[k]).sum()
        assert maps[n, k, i, j] == pytest.approx(rect(value), abs=1e-12)
    assert layer.feature_size(6, 7) == 4 * 4 * 5 == layer(images).shape[1]


def test_random_features_scale_with_the_filters(images):
    """Every rectification and pooling is positively homogeneous, so a standardised readout
    cannot tell N(0, 1) filters from N(0, 1/(C r²)) ones (the scale ConvPool draws)."""
    layer = ConvPool(2, 4, 3, pooling="quadrant", generator=torch.Generator().manual_seed(1))
    layer = layer.double()
    with torch.no_grad():
        features = layer(images)
        layer.weight.mul_(3.0)
        torch.testing.assert_close(layer(images), 3.0 * features)


def test_same_generator_seed_same_filters():
    a = ConvPool(1, 8, 3, generator=torch.Generator().manual_seed(5))
    b = ConvPool(1, 8, 3, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a.weight, b.weight)
    assert a.weight.std().item() == pytest.approx(1 / 3, rel=0.3)  # N(0, 1/(C r²)), r = 3


def test_kmeans_triangle_maps_match_a_loop_over_positions(gen):
    images = torch.rand(6, 1, 6, 6, generator=gen, dtype=torch.float64)
    extractor = KMeansTriangle(5, 3, max_patches=100, seed=0).fit(images)
    again = KMeansTriangle(5, 3, max_patches=100, seed=0).fit(images)
    torch.testing.assert_close(extractor.centroids, again.centroids, rtol=0, atol=0)
    maps = extractor.maps(images[:2]).numpy()
    assert maps.shape == (2, 5, 4, 4)
    mean, matrix = extractor.whitening.mean.numpy(), extractor.whitening.matrix.numpy()
    centroids = extractor.centroids.numpy()
    for n, i, j in np.ndindex(2, 4, 4):
        p = images[n, 0, i : i + 3, j : j + 3].numpy().ravel()
        p = (p - p.mean()) / np.sqrt(p.var() + 0.01)
        z = (p - mean) @ matrix
        d = np.linalg.norm(z - centroids, axis=1)
        np.testing.assert_allclose(maps[n, :, i, j], np.maximum(0, d.mean() - d), atol=1e-10)
    assert extractor.transform(images).shape == (6, 5 * 4)  # quadrant pooling: 4 per centroid


def test_kmeans_centroids_are_scikit_learns_on_the_whitened_sample(gen):
    from sklearn.cluster import KMeans

    images = torch.rand(4, 1, 5, 5, generator=gen, dtype=torch.float64)
    extractor = KMeansTriangle(3, 2, max_patches=10_000, seed=2).fit(images)  # every window
    patches = normalize_patches(image_patches(images, 2)).reshape(-1, 4)
    chosen = torch.randperm(len(patches), generator=torch.Generator().manual_seed(2))
    reference = KMeans(3, n_init=1, random_state=2).fit(
        extractor.whitening(patches[chosen]).numpy()
    )
    np.testing.assert_allclose(extractor.centroids.numpy(), reference.cluster_centers_, atol=1e-12)
    # the whitening was fitted on those windows: its mean is theirs
    torch.testing.assert_close(extractor.whitening.mean, patches.mean(0))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: image_patches(torch.zeros(2, 8, 8), 3), "images"),
        (lambda: image_patches(torch.zeros(1, 1, 4, 4), 5), "size"),
        (lambda: pool_maps(torch.zeros(1, 1, 4, 4), "sum"), "pooling"),
        (lambda: pool_maps(torch.zeros(1, 1, 1, 4), "quadrant"), "maps"),
        (lambda: triangle_encode(torch.zeros(3, 4), torch.zeros(2, 5)), "centroids"),
        (lambda: ConvPool(1, 4, 3, rectification="tanh"), "rectification"),
        (lambda: ConvPool(1, 4, 3)(torch.zeros(1, 2, 8, 8)), "channels"),
        (lambda: ConvPool(1, 4, 0), "kernel_size"),
        (lambda: KMeansTriangle(4).maps(torch.zeros(1, 1, 8, 8)), "fitted"),
        (lambda: KMeansTriangle(50, 3).fit(torch.rand(1, 1, 4, 4)), "centroids"),
        (lambda: Whitening.fit(torch.zeros(1, 3)), "patches"),
        (lambda: normalize_patches(torch.zeros(2, 3), -1.0), "epsilon"),
    ],
)
def test_bad_input_is_refused_by_name(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
