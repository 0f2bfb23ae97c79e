"""condensekit.measuring.not_finite: the divergence check before a measurement (a fast sum per tensor, and
every element looked at only when a sum is not finite), against a plain element-wise reference."""

from __future__ import annotations

import math

import pytest
import torch

from condensekit.measuring import not_finite


def reference(*groups: list[torch.Tensor]) -> bool:
    return any(not math.isfinite(float(v)) for g in groups for t in g for v in t.reshape(-1).tolist())


CASES = {
    "finite": [torch.randn(50, 7)],
    "a NaN": [torch.randn(3), torch.tensor([1.0, math.nan])],
    "an infinity": [torch.tensor([-math.inf, 0.0])],
    "finite values whose sum overflows": [torch.full((4,), 3e38)],
    "float64 near the top of its range": [torch.full((3,), 1.7e308, dtype=torch.float64)],
    "half precision, finite, sum above its range": [torch.full((8,), 6e4, dtype=torch.float16)],
    "half precision with an infinity": [torch.tensor([1.0, math.inf], dtype=torch.float16)],
    "bfloat16 NaN": [torch.tensor([math.nan], dtype=torch.bfloat16)],
    "integers (never checked)": [torch.tensor([1, 2, 3])],
    "empty tensors": [torch.empty(0), torch.randn(2)],
    "+inf and -inf that would cancel": [torch.tensor([math.inf, -math.inf])],
}


@pytest.mark.parametrize("name", list(CASES))
def test_not_finite_agrees_with_looking_at_every_element(name: str) -> None:
    tensors = CASES[name]
    assert not_finite(tensors) == reference(tensors)
    assert not_finite([torch.ones(2)], tensors) == reference(tensors)  # across groups too


def test_complex_tensors_are_checked_in_both_parts() -> None:
    assert not_finite([torch.tensor([1 + 1j, complex(0, math.inf)])])
    assert not not_finite([torch.tensor([1 + 1j, 2 - 3j])])


def test_nothing_to_check_is_finite() -> None:
    assert not not_finite() and not not_finite([])
