"""What every measure shares: the class structure of a probe batch and means over pairs of samples.

A pair statistic averages over the pairs ``i < j`` of the probe batch: ``inter`` (different classes),
``intra`` (same class) and ``all``. It is computed from totals of a symmetric pair matrix (its sum, the sum
of its same-class blocks and its diagonal), never from masks over an N x N matrix. A zero row is left out
(its unit vector is 0); a non-finite row gives NaN, never an exception.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

EPS = 1e-12
"""Added to a norm that divides, where a zero vector must give a finite number (NC2, NC3, ``rel_change``)."""


@dataclass(frozen=True)
class ClassIndex:
    """The class structure of a probe batch, computed once per measurement.

    Attributes:
        onehot: (N, K) float64 one-hot of the classes present.
        sizes: (K,) float64 class sizes.
        pairs: number of pairs i < j over ``all``, ``intra`` (same class) and ``inter`` (different classes).
    """

    onehot: torch.Tensor
    sizes: torch.Tensor
    pairs: dict[str, float]
    cache: dict[object, torch.Tensor] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, labels: torch.Tensor) -> ClassIndex:
        """The class index of ``labels`` (N,)."""
        _, index = labels.unique(return_inverse=True)
        onehot = torch.nn.functional.one_hot(index).double()
        sizes = onehot.sum(0)
        n = float(labels.shape[0])
        intra = float((sizes * (sizes - 1) / 2).sum())  # one host read per measurement, not per layer
        return cls(onehot, sizes, {"all": n * (n - 1) / 2, "intra": intra, "inter": n * (n - 1) / 2 - intra})

    def inter_mask(self, dtype: torch.dtype) -> torch.Tensor:
        """(N, N) 1 for pairs of different classes, 0 elsewhere, in ``dtype`` (computed once)."""
        if ("inter", dtype) not in self.cache:
            self.cache["inter", dtype] = (1.0 - self.onehot @ self.onehot.T).to(dtype)
        return self.cache["inter", dtype]


def flatten(x: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (N, D) in float64."""
    return x.reshape(x.shape[0], -1).double()


def one_layer_stack(x: torch.Tensor) -> torch.Tensor:
    """(N, ...) -> (1, N, D), in the input's floating dtype (a view when possible): one layer as a stack."""
    x = x if x.is_floating_point() else x.double()
    return x.reshape(1, x.shape[0], -1)


def is_finite(*tensors: torch.Tensor) -> bool:
    """Whether every entry of every tensor is finite (one host read)."""
    return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


def work_dtype(x: torch.Tensor) -> torch.dtype:
    """float64 for float64 input, float32 otherwise (half and bfloat16 features are widened)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def inverse_norms(squares: torch.Tensor) -> torch.Tensor:
    """``1 / |x_i|`` from ``|x_i|^2``: 0 for a zero row (dropped), NaN for a non-finite one (reported, not
    hidden)."""
    return torch.where(squares == 0, torch.zeros_like(squares), squares.rsqrt())


def pair_means_from_sums(
    total: torch.Tensor, same: torch.Tensor, diag: torch.Tensor, classes: ClassIndex
) -> dict[str, torch.Tensor]:
    """Means over pairs i < j of symmetric pair matrices, from their totals (all entries, same-class blocks,
    diagonal), each (L,)."""
    sums = {"all": (total - diag) / 2, "intra": (same - diag) / 2}
    sums["inter"] = sums["all"] - sums["intra"]
    return {
        k: sums[k] / classes.pairs[k] if classes.pairs[k] else torch.full_like(total, math.nan)
        for k in ("inter", "intra", "all")
    }


def inter_mean(cos: torch.Tensor, classes: ClassIndex) -> torch.Tensor:
    """Mean over inter-class pairs of a stack of symmetric pair matrices (L, N, N) float64."""
    oh = classes.onehot
    same = torch.einsum("nk,lnm,mk->l", oh, cos, oh)
    return pair_means_from_sums(cos.sum((1, 2)), same, cos.diagonal(dim1=1, dim2=2).sum(1), classes)["inter"]
