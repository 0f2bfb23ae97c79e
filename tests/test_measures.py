"""Metric math against slow, independent references: explicit pair loops and torch.func per-sample
gradients."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

from condensekit import measures
from condensekit.measures import ClassIndex, dead_fraction, similarity_statistics
from condensekit.measures.weight_grads import conv_columns, weight_grad_inner


def loop_cos(u: torch.Tensor, v: torch.Tensor) -> float:
    u, v = u.flatten().double(), v.flatten().double()
    return float(u @ v) / (float(u.norm()) * float(v.norm()) + 1e-12)


def loop_pair_means(vectors: list[torch.Tensor], labels: list[int]) -> dict[str, float]:
    sums = {"inter": 0.0, "intra": 0.0, "all": 0.0}
    counts = {"inter": 0, "intra": 0, "all": 0}
    for i in range(len(vectors)):
        for j in range(i + 1, len(vectors)):
            c = loop_cos(vectors[i], vectors[j])
            kind = "intra" if labels[i] == labels[j] else "inter"
            for k in (kind, "all"):
                sums[k] += c
                counts[k] += 1
    return {k: sums[k] / counts[k] if counts[k] else math.nan for k in sums}


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(23, 3, 4, generator=g).double() + 0.3  # a shared component, like ReLU features
    y = torch.randint(0, 4, (23,), generator=g)
    return x, y  # float64: computed in float64 throughout (float32 is checked in test_measure_precision.py)


def test_pair_similarity_matches_loops(batch):
    x, y = batch
    got = measures.pair_similarity(x, y)
    ref = loop_pair_means(list(x), y.tolist())
    for k in ("inter", "intra", "all"):
        assert got[k] == pytest.approx(ref[k], abs=1e-10)
    assert got["inter"] > 0.05  # the shared component shows up


def gram_pair_means(x: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """A second reference, vectorised: the N x N cosine matrix averaged under masks of the pairs i < j."""
    x = x.reshape(len(x), -1).double()
    norms = x.norm(dim=1)
    gram = (x @ x.T) / (norms[:, None] * norms[None, :])
    upper = torch.ones(len(x), len(x), dtype=torch.bool).triu(diagonal=1)
    same = labels[:, None] == labels[None, :]
    masks = {"inter": upper & ~same, "intra": upper & same, "all": upper}
    return {k: float(gram[m].mean()) for k, m in masks.items()}


def test_pair_similarity_matches_the_masked_gram_matrix_on_a_large_batch():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(300, 40, generator=g).double().relu()  # too many pairs for the loops
    y = torch.randint(0, 7, (300,), generator=g)
    ref = gram_pair_means(x, y)
    got = measures.pair_similarity(x, y)
    for k in ref:
        assert got[k] == pytest.approx(ref[k], abs=1e-10)
    small = gram_pair_means(x[:23], y[:23])  # the two references agree where the loops can run
    assert small == pytest.approx(loop_pair_means(list(x[:23]), y[:23].tolist()), abs=1e-10)


def test_centered_and_classmean_match_loops(batch):
    x, y = batch
    flat = x.reshape(len(x), -1).double()
    mean = sum(flat[i] for i in range(len(flat))) / len(flat)
    ref_centered = loop_pair_means([flat[i] - mean for i in range(len(flat))], y.tolist())["inter"]
    stats = similarity_statistics(x.reshape(1, len(x), -1), ClassIndex.of(y), centered=True)
    assert float(stats["inter_centered"][0]) == pytest.approx(ref_centered, abs=1e-10)
    classes = sorted(set(y.tolist()))
    mus = [
        sum(flat[i] for i in range(len(flat)) if y[i] == c) / sum(1 for v in y.tolist() if v == c)
        for c in classes
    ]
    pairs = [loop_cos(mus[a], mus[b]) for a in range(len(mus)) for b in range(a + 1, len(mus))]
    assert measures.classmean_similarity(x, y) == pytest.approx(sum(pairs) / len(pairs), abs=1e-10)


def test_identical_and_opposite_features():
    y = torch.tensor([0, 1, 0, 1])
    same = torch.ones(4, 5)
    assert measures.pair_similarity(same, y)["inter"] == pytest.approx(1.0)
    flip = torch.tensor([[1.0, 0], [-1, 0], [1, 0], [-1, 0]])
    sim = measures.pair_similarity(flip, y)
    assert sim["inter"] == pytest.approx(-1.0) and sim["intra"] == pytest.approx(1.0)
    assert math.isnan(measures.pair_similarity(torch.randn(3, 2), torch.tensor([0, 1, 2]))["intra"])


def per_sample_weight_grads(
    module: nn.Module, head: nn.Module, inputs: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """Reference: flattened per-sample gradients of the module's parameters (weight, bias) via torch.func."""
    params = {k: v.detach() for k, v in module.named_parameters()}

    def loss_of(p: dict[str, torch.Tensor], x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h = functional_call(module, p, (x.unsqueeze(0),))
        return F.cross_entropy(head(torch.tanh(h).flatten(1)), t.unsqueeze(0))

    grads = vmap(grad(loss_of), in_dims=(None, 0, 0))(params, inputs, labels)
    return torch.cat([grads[k].reshape(len(inputs), -1) for k in params], dim=1)


def features_and_grads(
    module: nn.Module, head: nn.Module, inputs: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    h = module(inputs)
    loss = F.cross_entropy(head(torch.tanh(h).flatten(1)), labels, reduction="sum")
    (g,) = torch.autograd.grad(loss, h)
    return g


@pytest.mark.parametrize("bias", [True, False])
def test_linear_weight_grad_similarity_matches_torch_func(bias):
    torch.manual_seed(1)
    layer, head = nn.Linear(6, 5, bias=bias).double(), nn.Linear(5, 3).double()
    x, y = torch.randn(17, 6, dtype=torch.float64), torch.randint(0, 3, (17,))
    g = features_and_grads(layer, head, x, y)
    got = measures.linear_weight_grad_similarity(g, x, y, bias=bias)
    per_sample = per_sample_weight_grads(layer, head, x, y)
    ref = loop_pair_means(list(per_sample), y.tolist())["inter"]
    assert got == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("method", ["gram", "blocks", "auto"])
@pytest.mark.parametrize("stride,padding,bias", [(1, 1, True), (2, 0, False)])
def test_conv_weight_grad_similarity_matches_torch_func(stride, padding, bias, method):
    torch.manual_seed(2)
    conv = nn.Conv2d(2, 3, kernel_size=3, stride=stride, padding=padding, bias=bias).double()
    x, y = torch.randn(9, 2, 6, 6, dtype=torch.float64), torch.randint(0, 3, (9,))
    out_numel = conv(x[:1]).numel()
    head = nn.Linear(out_numel, 3).double()
    g = features_and_grads(conv, head, x, y)
    cols = F.unfold(x, 3, padding=padding, stride=stride)
    got = measures.conv_weight_grad_similarity(g.flatten(2), cols, y, bias=bias, chunk=4, method=method)
    per_sample = per_sample_weight_grads(conv, head, x, y)
    ref = loop_pair_means(list(per_sample), y.tolist())["inter"]
    assert got == pytest.approx(ref, abs=1e-9)


def test_common_direction_strength_and_effective_rank():
    u = torch.randn(7, 1)
    v = torch.randn(1, 5)
    assert measures.common_direction_strength(u @ v) == pytest.approx(1.0)
    assert measures.common_direction_strength(torch.eye(4)) == pytest.approx(0.25)
    m = torch.randn(8, 6, dtype=torch.float64)
    s = torch.linalg.svdvals(m)
    assert measures.common_direction_strength(m) == pytest.approx(float(s[0] ** 2 / (s**2).sum()))
    p = s / s.sum()
    assert measures.effective_rank(m) == pytest.approx(
        math.exp(-sum(float(q) * math.log(float(q)) for q in p))
    )
    assert measures.effective_rank(torch.eye(5)) == pytest.approx(5.0)
    assert math.isnan(measures.common_direction_strength(torch.zeros(3, 3)))


def _svd_reference(m: torch.Tensor) -> tuple[float, float]:
    """rho1 and erank from ``torch.linalg.svdvals`` in float64 (what :func:`measures.spectra` replaces)."""
    s = torch.linalg.svdvals(m.reshape(m.shape[0], -1).double())
    p = s / s.sum()
    entropy = -sum(float(q) * math.log(float(q)) for q in p if q > 0)
    return float(s[0] ** 2 / (s**2).sum()), math.exp(entropy)


def _ill_conditioned(rows: int, cols: int, condition: float) -> torch.Tensor:
    """A matrix whose singular values fall geometrically from 1 to 1/condition."""
    u, _ = torch.linalg.qr(torch.randn(rows, rows, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(cols, cols, dtype=torch.float64))
    k = min(rows, cols)
    sigma = torch.logspace(0, -math.log10(condition), k, dtype=torch.float64)
    return u[:, :k] @ torch.diag(sigma) @ v[:, :k].T


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: torch.randn(6, 200, 128, dtype=torch.float64), id="random-tall"),
        pytest.param(lambda: torch.randn(5, 10, 128), id="random-wide-float32"),
        pytest.param(lambda: torch.randn(4, 128, 128) + 3.0, id="common-offset"),
        pytest.param(
            lambda: torch.stack(
                [
                    torch.randn(50, r, dtype=torch.float64) @ torch.randn(r, 64, dtype=torch.float64)
                    for r in (1, 5, 20)
                ]
            ),
            id="rank-deficient",
        ),
        pytest.param(lambda: torch.stack([_ill_conditioned(40, 30, c) for c in (1e3, 1e8, 1e14)]), id="ill"),
        pytest.param(lambda: torch.randn(3, 8, 4, 4), id="flattened"),
    ],
)
def test_spectra_of_the_smaller_gram_matrix_agree_with_svdvals(make):
    torch.manual_seed(0)
    stack = make()
    got = measures.spectra(stack)
    for i, m in enumerate(stack):
        rho1, erank = _svd_reference(m)
        assert float(got["rho1"][i]) == pytest.approx(rho1, rel=1e-10)
        assert float(got["erank"][i]) == pytest.approx(erank, rel=1e-5)
        one = measures.spectrum(m)
        assert float(one["rho1"]) == float(got["rho1"][i]) and float(one["erank"]) == float(got["erank"][i])


def test_spectra_of_float32_rank_deficient_matrices_stay_within_float32_rounding_of_svdvals():
    """float32 rounding gives a rank-one product singular values near 1e-7 sigma_1: the SVD sees them, the
    Gram spectrum counts them as zero; erank then differs by about float32's rounding, rho1 not at all."""
    torch.manual_seed(2)
    stack = torch.stack([torch.randn(50, r) @ torch.randn(r, 64) for r in (1, 2, 5, 20)])
    got = measures.spectra(stack)
    for i, m in enumerate(stack):
        rho1, erank = _svd_reference(m)
        assert float(got["rho1"][i]) == pytest.approx(rho1, rel=1e-10)
        assert float(got["erank"][i]) == pytest.approx(erank, rel=1e-5)


def test_spectra_count_a_rank_deficient_matrix_at_its_rank():
    torch.manual_seed(1)
    rank3 = torch.randn(100, 3, dtype=torch.float64) @ torch.diag(torch.tensor([1.0, 1.0, 1.0]).double())
    m = rank3 @ torch.linalg.qr(torch.randn(64, 64, dtype=torch.float64))[0][:3]  # equal singular values
    assert measures.effective_rank(m) == pytest.approx(_svd_reference(m)[1], rel=1e-9)
    assert 2.5 < measures.effective_rank(m) <= 3.0 + 1e-9


def test_spectra_give_nan_for_zero_and_non_finite_matrices_and_numbers_for_the_others():
    stack = torch.randn(3, 6, 5, dtype=torch.float64)
    stack[1] = 0.0
    stack[2, 0, 0] = math.nan
    got = measures.spectra(stack)
    assert math.isfinite(float(got["rho1"][0])) and math.isfinite(float(got["erank"][0]))
    assert all(math.isnan(float(got[k][i])) for k in ("rho1", "erank") for i in (1, 2))


def test_dead_fraction_and_mean_norm():
    pre = torch.tensor([[1.0, -1.0, 0.0], [2.0, -3.0, 1.0]])
    assert measures.dead_fraction(pre) == pytest.approx(1 / 3)
    assert measures.mean_norm(torch.tensor([[3.0, 4.0], [0.0, 1.0]])) == pytest.approx(3.0)


def test_blocks_route_recomputes_when_over_budget():
    torch.manual_seed(3)
    g, cols, y = torch.randn(11, 3, 5), torch.randn(11, 4, 5), torch.randint(0, 3, (11,))
    held = measures.conv_weight_grad_similarity(g, cols, y, chunk=4, method="blocks")
    recomputed = measures.conv_weight_grad_similarity(g, cols, y, chunk=4, method="blocks", max_bytes=1)
    assert held == pytest.approx(recomputed, abs=1e-12)
    assert held == pytest.approx(
        measures.conv_weight_grad_similarity(g, cols, y, chunk=4, method="gram"), abs=1e-12
    )
    with pytest.raises(ValueError):
        measures.conv_weight_grad_similarity(g, cols, y, method="fast")


# ------------------------------------------ found unpinned by the mutation check: each names its mutants


def test_a_unit_exactly_zero_on_every_sample_is_dead() -> None:  # measures-10
    torch.manual_seed(0)
    x = torch.randn(6, 4).abs() + 0.1
    x[:, 1] = 0.0  # a unit whose weights and bias are zero: ReLU passes no gradient, it is dead
    x[:, 2] = -x[:, 2]
    stats = similarity_statistics(x[None], ClassIndex.of(torch.tensor([0, 1, 0, 1, 0, 1])), dead=True)
    assert float(stats["dead_frac"][0]) == 0.5 and dead_fraction(x) == 0.5


def test_the_budgeted_blocks_route_gives_the_same_inner_products() -> None:  # measures-27
    torch.manual_seed(0)
    g, cols = torch.randn(7, 3, 5, dtype=torch.float64), torch.randn(7, 4, 5, dtype=torch.float64)
    whole = weight_grad_inner(g, cols, bias=True, method="blocks")
    per_sample = 3 * (4 + 1) * 8  # bytes of one per-sample gradient
    # blocks of 2 samples
    blocked = weight_grad_inner(g, cols, bias=True, method="blocks", max_bytes=2 * 2 * per_sample)
    assert torch.allclose(blocked, whole) and torch.allclose(blocked, blocked.T)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize(
    ("make", "shape"),
    [
        (lambda: nn.Conv2d(2, 3, 4, padding="same"), (3, 2, 6, 6)),  # an even kernel: the padding is uneven
        (lambda: nn.Conv2d(2, 4, (2, 3), padding="same", padding_mode="reflect", groups=2), (3, 2, 5, 6)),
        (lambda: nn.Conv1d(2, 3, 2, padding="same", padding_mode="replicate"), (3, 2, 7)),
        (lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), (3, 2, 5, 5)),
    ],
)
def test_unfolded_columns_reproduce_the_convolution(make, shape) -> None:  # measures-28, measures-29
    torch.manual_seed(1)
    conv, a = make().double(), torch.randn(*shape, dtype=torch.float64)
    cols = conv_columns(conv, a)  # (N, groups, K, P)
    w = conv.weight.detach().reshape(conv.groups, conv.out_channels // conv.groups, -1)
    out = (
        torch.einsum("gok,ngkp->ngop", w, cols).reshape(len(a), conv.out_channels, -1)
        + conv.bias.detach()[:, None]
    )
    assert torch.allclose(out, conv(a).detach().reshape(len(a), conv.out_channels, -1))
