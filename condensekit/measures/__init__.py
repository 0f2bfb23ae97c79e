"""The math behind the metrics (docs/metrics.md): pure tensor functions, no ``nn.Module`` state, no hooks.

Third-party metrics import what ``__all__`` lists from here (``from condensekit import measures``); the
shipped metrics do the same. The modules are named for what they compute:

* :mod:`~condensekit.measures.pairs`: the class structure of a probe batch (:class:`ClassIndex`) and means
  over pairs of samples, which every pair statistic shares.
* :mod:`~condensekit.measures.similarity`: mean cosines over inter-class, intra-class and all pairs, the
  energy shares and the class-mean cosine; :func:`similarity_statistics` measures a stack of layers at once
  (tensors, no host sync), the one-layer functions return floats.
* :mod:`~condensekit.measures.spectrum`: the common direction's strength ``rho1`` and the effective rank.
* :mod:`~condensekit.measures.weight_grads`: the similarity of per-sample weight gradients (``wgrad_inter``)
  for linear and convolutional layers, without forming the gradients where avoidable.
* :mod:`~condensekit.measures.collapse`: neural collapse NC1-NC4 (Papyan, Han & Donoho 2020).

Pair statistics never loop over pairs and never form an N x N matrix where class sums suffice. float64
input is computed in float64; float32 input in float32 where a sum is short, in float64 where it needs it
(within 1e-6 of float64 either way). Non-finite input gives NaN, never an exception.
"""

from __future__ import annotations

from condensekit.measures.collapse import (
    NC_SB_RTOL,
    class_means,
    nc1_within_between,
    nc2_simplex,
    nc3_self_duality,
    nc4_ncc_mismatch,
)
from condensekit.measures.pairs import EPS, ClassIndex, flatten, is_finite
from condensekit.measures.similarity import (
    classmean_similarity,
    dead_fraction,
    energy_shares,
    mean_norm,
    pair_similarity,
    similarity_statistics,
)
from condensekit.measures.spectrum import common_direction_strength, effective_rank, spectra, spectrum
from condensekit.measures.weight_grads import (
    conv_weight_grad_similarity,
    inter_mean_of_inner_products,
    linear_weight_grad_similarity,
    linear_wgrad_inter,
    module_weight_grad_inner,
)

__all__ = [
    "EPS",
    "NC_SB_RTOL",
    "ClassIndex",
    "class_means",
    "classmean_similarity",
    "common_direction_strength",
    "conv_weight_grad_similarity",
    "dead_fraction",
    "effective_rank",
    "energy_shares",
    "flatten",
    "inter_mean_of_inner_products",
    "is_finite",
    "linear_weight_grad_similarity",
    "linear_wgrad_inter",
    "mean_norm",
    "module_weight_grad_inner",
    "nc1_within_between",
    "nc2_simplex",
    "nc3_self_duality",
    "nc4_ncc_mismatch",
    "pair_similarity",
    "similarity_statistics",
    "spectra",
    "spectrum",
]
