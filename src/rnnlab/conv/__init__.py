"""The convolution chapter (DL book ch. 9): convolution as a matrix, layers torch lacks
(locally connected and tiled convolutions), and measurements of equivariance and invariance.

- :mod:`rnnlab.conv.matrix`: ``conv_matrix`` (1-D and 2-D; padding "valid", "same", "full",
  "circular"; any stride) and the eigenvalues of the circular (doubly block circulant) form;
- :mod:`rnnlab.conv.local`: ``LocallyConnected1d/2d``, unshared convolution (eq. 9.9);
- :mod:`rnnlab.conv.tiled`: ``TiledConv1d/2d``, t kernels cycled over positions (eq. 9.10);
- :mod:`rnnlab.conv.equivariance`: translation equivariance of convolution (and where it fails)
  and the invariance that max pooling buys;
- :mod:`rnnlab.conv.temporal`: ``TemporalConvNet``, the causal dilated temporal convolutional
  network of Bai, Kolter & Koltun 2018 (``docs/temporal_convolution.md``);
- :mod:`rnnlab.conv.features`: random-filter and k-means features with a linear readout (Saxe
  et al. 2011; Coates, Lee & Ng 2011; ``docs/convolution_experiments.md``).

Equations, shapes and sources: ``docs/convolution.md``.
"""

from rnnlab.conv.equivariance import (
    equivariance_error,
    equivariant_region,
    translate,
    unchanged_share,
)
from rnnlab.conv.features import (
    POOLINGS,
    RECTIFICATIONS,
    ConvPool,
    KMeansTriangle,
    Whitening,
    image_patches,
    normalize_patches,
    pool_maps,
    triangle_encode,
)
from rnnlab.conv.local import LocallyConnected1d, LocallyConnected2d
from rnnlab.conv.matrix import (
    circulant_eigenvalues,
    circulant_symbol,
    conv_matrix,
    locally_connected_matrix,
    output_length,
    padding_amounts,
)
from rnnlab.conv.temporal import (
    TemporalBlock,
    TemporalConvNet,
    WeightNormCausalConv1d,
    causal_conv1d_loop,
    levels_to_cover,
    receptive_field,
)
from rnnlab.conv.tiled import TiledConv1d, TiledConv2d

__all__ = [
    "POOLINGS",
    "RECTIFICATIONS",
    "ConvPool",
    "KMeansTriangle",
    "LocallyConnected1d",
    "LocallyConnected2d",
    "TemporalBlock",
    "TemporalConvNet",
    "TiledConv1d",
    "TiledConv2d",
    "WeightNormCausalConv1d",
    "Whitening",
    "causal_conv1d_loop",
    "circulant_eigenvalues",
    "circulant_symbol",
    "conv_matrix",
    "equivariance_error",
    "equivariant_region",
    "image_patches",
    "levels_to_cover",
    "locally_connected_matrix",
    "normalize_patches",
    "output_length",
    "padding_amounts",
    "pool_maps",
    "receptive_field",
    "translate",
    "triangle_encode",
    "unchanged_share",
]
