"""Similarity of per-sample weight gradients (``wgrad_inter``) without forming them where avoidable.

* Linear layers on 2-D inputs: :func:`linear_wgrad_inter` (a stack of layers, as tensors) and
  :func:`linear_weight_grad_similarity` (one layer, a float) never form a per-sample gradient.
* Convolutions and token-wise linear layers: :func:`conv_weight_grad_similarity` (one layer, a float) and
  :func:`weight_grad_inner`, the pair inner products ``<G_i, G_j>`` it averages.
* :func:`module_weight_grad_inner`: from a probe point's module, its input and its output gradient, the
  pair inner products of the per-sample gradients of ``[weight, bias]``, for ``nn.Linear`` on inputs of any
  rank and ``nn.Conv1d``/``nn.Conv2d`` with any padding (numbers or ``"same"``/``"valid"``), any
  ``padding_mode`` (the input is padded the way the convolution pads it before it is unfolded) and any
  ``groups``. Anything else is reported as skipped, with the reason.

Memory is bounded: per-sample gradients are held only while they fit in ``max_bytes`` and are otherwise
recomputed block by block, with blocks sized to the budget.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from condensekit.measures.pairs import ClassIndex, inter_mean, inverse_norms, one_layer_stack, work_dtype

GRADIENT_BLOCK_BYTES = 2**28
"""Memory budget of the per-sample gradients held at once (256 MiB). Larger than
:data:`condensekit.measures.similarity.COLUMN_BLOCK_BYTES` because here a smaller budget costs work: when
the gradients of every sample do not fit, they are recomputed once per pair of blocks."""


def linear_wgrad_inter(g: torch.Tensor, a: torch.Tensor, classes: ClassIndex, bias: bool) -> torch.Tensor:
    """Inter-class mean cosine of per-sample weight gradients of linear layers, (L,) float64.

    ``g`` (L, N, out) are the output gradients and ``a`` (L, N, in) the inputs of L linear layers of one
    shape. The per-sample gradient ``g_i [a_i, 1]^T`` has inner product ``(g_i . g_j)(a_i . a_j + 1)`` with
    sample j's (the 1 is the bias) and norm ``|g_i| |a_i'|``, so with ``w_i = 1 / (|g_i| |a_i'|)`` the sum of
    the cosines over inter-class pairs is ``w^T (M * (G_g * G_a')) w / 2`` (M: the inter-class mask): two
    N x N Gram matrices per layer and no per-sample gradient.
    """
    dtype = work_dtype(g)
    g, a = g.to(dtype), a.to(dtype)
    gram_g, gram_a = g @ g.transpose(1, 2), a @ a.transpose(1, 2)
    if bias:
        gram_a = gram_a + 1.0
    weights = inverse_norms(
        gram_g.diagonal(dim1=1, dim2=2).double() * gram_a.diagonal(dim1=1, dim2=2).double().clamp_min(0)
    )
    products = gram_g.mul_(gram_a).mul_(classes.inter_mask(dtype))  # in place: no third N x N matrix
    w = weights.to(dtype)
    sums = torch.einsum("ln,lnm,lm->l", w, products, w).double() / 2
    return sums / classes.pairs["inter"] if classes.pairs["inter"] else sums.fill_(math.nan)


def linear_weight_grad_similarity(
    g: torch.Tensor, a: torch.Tensor, labels: torch.Tensor, bias: bool = True
) -> float:
    """Inter-class mean cosine of per-sample weight gradients of a linear layer.

    The per-sample gradient of ``[W, b]`` is ``g_i [a_i, 1]^T``; its cosine with sample j's is
    ``cos(g_i, g_j) * cos(a_i', a_j')`` (``a'`` with the trailing 1 when ``bias``), so the per-sample
    gradients are never formed.

    Args:
        g: feature gradients ``d loss_i / d h_i``, shape (N, out).
        a: layer inputs, shape (N, in).
        labels: (N,) class labels.
        bias: whether the layer has a bias (it is part of the parameter vector).
    """
    return float(linear_wgrad_inter(one_layer_stack(g), one_layer_stack(a), ClassIndex.of(labels), bias)[0])


def inter_mean_of_inner_products(inner: torch.Tensor, classes: ClassIndex) -> torch.Tensor:
    """Inter-class mean cosine from inner products ``<G_i, G_j>`` (L, N, N), as (L,) float64."""
    inner = inner.double()
    inv = inverse_norms(inner.diagonal(dim1=1, dim2=2).clamp_min(0))
    return inter_mean(inner * inv[:, :, None] * inv[:, None, :], classes)


def conv_weight_grad_similarity(
    g: torch.Tensor,
    cols: torch.Tensor,
    labels: torch.Tensor,
    bias: bool = True,
    chunk: int = 16,
    method: str = "auto",
    max_bytes: int = GRADIENT_BLOCK_BYTES,
) -> float:
    """Inter-class mean cosine of per-sample weight gradients of a convolution (or a token-wise linear layer).

    The per-sample gradient is ``G_i = sum_p g_ip a_ip^T`` over output positions p. Two exact routes to
    the pair inner products ``<G_i, G_j>``:

    * ``"gram"``: the Gram identity ``sum_pq (g_ip . g_jq)(a_ip . a_jq)``, costing ``P^2 (C_out + K)``
      per pair; per-sample gradients are never formed.
    * ``"blocks"``: form ``G_i`` (``C_out x K`` numbers each) for a block of samples at a time and take
      inner products, costing ``C_out K`` per pair.

    ``"auto"`` picks the cheaper one: for small layers with many positions (a conv on 28x28 inputs has
    P = 784, so P^2 = 614,656 while C_out K is a few thousand) the Gram identity is hundreds of times
    slower. Both routes size their blocks of samples to ``max_bytes``.

    Args:
        g: feature gradients at the layer output, shape (N, C_out, P) (P = output positions or tokens),
            or (N, G, C_out/G, P) for a grouped convolution.
        cols: unfolded layer inputs (``torch.nn.functional.unfold``), shape (N, K, P), K = C_in*kh*kw,
            or (N, G, K/G, P) for a grouped convolution.
        labels: (N,) class labels.
        bias: whether the layer has a bias (adds a constant 1 row to ``cols``, per group).
        chunk: largest block size in samples.
        method: ``"auto"``, ``"gram"`` or ``"blocks"``.
        max_bytes: memory budget of the blocks.
    """
    inner = weight_grad_inner(g, cols, bias, chunk=chunk, method=method, max_bytes=max_bytes)
    return float(inter_mean_of_inner_products(inner[None], ClassIndex.of(labels))[0])


def weight_grad_inner(
    g: torch.Tensor,
    cols: torch.Tensor,
    bias: bool,
    chunk: int = 16,
    method: str = "auto",
    max_bytes: int = GRADIENT_BLOCK_BYTES,
) -> torch.Tensor:
    """The (N, N) float64 inner products ``<G_i, G_j>`` of per-sample gradients (see
    :func:`conv_weight_grad_similarity`).

    Samples are widened to float64 a block at a time, so the memory beyond the inputs stays within
    ``max_bytes``.
    """
    if g.dim() == 3:
        g, cols = g[:, None], cols[:, None]
    _, groups, c_out, positions = g.shape
    k = cols.shape[2] + (1 if bias else 0)
    if method == "auto":
        method = "blocks" if c_out * k <= positions * positions * (c_out + k) else "gram"
    blocks = SampleBlocks(g, cols, bias)
    if method == "blocks":
        return _inner_products_by_blocks(blocks, groups * c_out * k, chunk, max_bytes)
    if method == "gram":
        per_pair = groups * positions * positions * 8 * 2  # the two (P x P) position Grams of one pair
        return _inner_products_by_gram(blocks, max(1, min(chunk, math.isqrt(max(1, max_bytes // per_pair)))))
    raise ValueError(f"method must be 'auto', 'gram' or 'blocks', got {method!r}")


class SampleBlocks:
    """Output gradients (N, G, C, P) and input columns (N, G, K, P) of a block of samples, in float64 (plus
    the bias row)."""

    def __init__(self, g: torch.Tensor, cols: torch.Tensor, bias: bool):
        self.g, self.cols, self.bias, self.n = g, cols, bias, g.shape[0]

    def __call__(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        g, cols = self.g[start:stop].double(), self.cols[start:stop].double()
        if self.bias:
            cols = torch.cat([cols, cols.new_ones(cols.shape[0], cols.shape[1], 1, cols.shape[3])], dim=2)
        return g, cols


def _inner_products_by_gram(blocks: SampleBlocks, chunk: int) -> torch.Tensor:
    n = blocks.n
    inner = torch.empty(n, n, dtype=torch.float64, device=blocks.g.device)
    for i0 in range(0, n, chunk):
        gi, ai = blocks(i0, i0 + chunk)
        for j0 in range(i0, n, chunk):
            gj, aj = blocks(j0, j0 + chunk)
            gg = torch.einsum("igcp,jgcq->ijgpq", gi, gj)
            aa = torch.einsum("igkp,jgkq->ijgpq", ai, aj)
            block = (gg * aa).sum(dim=(2, 3, 4))
            inner[i0 : i0 + chunk, j0 : j0 + chunk] = block
            inner[j0 : j0 + chunk, i0 : i0 + chunk] = block.T
    return inner


def _inner_products_by_blocks(blocks: SampleBlocks, size: int, chunk: int, max_bytes: int) -> torch.Tensor:
    n = blocks.n

    # per-sample gradients of samples [start, stop), flattened
    def grads(start: int, stop: int) -> torch.Tensor:
        g, cols = blocks(start, stop)
        return torch.einsum("igcp,igkp->igck", g, cols).reshape(g.shape[0], size)

    if n * size * 8 <= max_bytes:
        flat = torch.cat([grads(i0, min(n, i0 + chunk)) for i0 in range(0, n, chunk)])
        return flat @ flat.T
    block = max(1, min(chunk, max_bytes // (2 * size * 8)))  # two blocks are held at once
    inner = torch.empty(n, n, dtype=torch.float64, device=blocks.g.device)
    for i0 in range(0, n, block):
        gi = grads(i0, min(n, i0 + block))
        for j0 in range(i0, n, block):
            part = gi @ grads(j0, min(n, j0 + block)).T
            inner[i0 : i0 + block, j0 : j0 + block] = part
            inner[j0 : j0 + block, i0 : i0 + block] = part.T
    return inner


def conv_padding(module: nn.Conv1d | nn.Conv2d, spatial: tuple[int, ...]) -> list[int]:
    """The padding a convolution applies, as ``F.pad`` takes it (last dimension first: left, right, top,
    bottom).

    ``padding="same"`` pads ``dilation * (kernel - 1)`` in all, the smaller half first, as torch does.
    """
    pads: list[int] = []
    for dim in reversed(range(len(spatial))):
        if module.padding == "valid":
            left = right = 0
        elif module.padding == "same":
            total = module.dilation[dim] * (module.kernel_size[dim] - 1)
            left, right = total // 2, total - total // 2
        else:
            left = right = int(module.padding[dim])  # type: ignore[index]
        pads += [left, right]
    return pads


def conv_columns(module: nn.Conv1d | nn.Conv2d, a: torch.Tensor) -> torch.Tensor:
    """The unfolded input of a convolution, (N, groups, C_in/groups * prod(kernel), P), padded as the
    convolution pads."""
    conv2d = isinstance(module, nn.Conv2d)
    x = a if conv2d else a[:, :, None, :]  # a Conv1d is a Conv2d of height 1
    pads = conv_padding(module, tuple(a.shape[2:]))
    if not conv2d:
        pads += [0, 0]
    if any(pads):
        mode = "constant" if module.padding_mode == "zeros" else module.padding_mode
        x = F.pad(x, pads, mode=mode)
    as_2d = (lambda t: t) if conv2d else (lambda t: (1, t[0]))
    cols = F.unfold(
        x, as_2d(module.kernel_size), dilation=as_2d(module.dilation), stride=as_2d(module.stride)
    )
    return cols.reshape(cols.shape[0], module.groups, -1, cols.shape[-1])


def module_weight_grad_inner(
    module: Any, a: torch.Tensor | None, g: torch.Tensor, max_bytes: int = GRADIENT_BLOCK_BYTES
) -> torch.Tensor | str:
    """``<G_i, G_j>`` (N, N) of the per-sample gradients of a probe point's ``[weight, bias]``, or why it is
    skipped.

    ``a`` is the module's input and ``g`` the gradient at its output. A linear layer applied to inputs
    ``(N, ..., in)`` (tokens, or channels-last images) sums its per-sample gradient over the middle positions,
    like a convolution. A 2-D linear layer is better served by
    :func:`linear_wgrad_inter`.
    """
    if a is None:
        return "its input was not captured"
    bias = getattr(module, "bias", None) is not None
    if isinstance(module, nn.Linear):
        n = a.shape[0]
        g3 = g.reshape(n, -1, g.shape[-1]).transpose(1, 2)  # (N, out, P)
        return weight_grad_inner(g3, a.reshape(n, -1, a.shape[-1]).transpose(1, 2), bias, max_bytes=max_bytes)
    if isinstance(module, nn.Conv1d | nn.Conv2d):
        if a.dim() != (4 if isinstance(module, nn.Conv2d) else 3):
            return f"an unbatched input of shape {tuple(a.shape)}"
        cols = conv_columns(module, a)
        g4 = g.reshape(g.shape[0], module.groups, g.shape[1] // module.groups, -1)
        return weight_grad_inner(g4, cols, bias, max_bytes=max_bytes)
    return f"{type(module).__name__} is neither nn.Linear nor nn.Conv1d/nn.Conv2d"
