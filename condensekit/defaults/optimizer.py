"""The default optimizer: plain SGD with whatever options tricks asked for (momentum, weight decay)."""

from __future__ import annotations

from typing import Any

import condensekit


@condensekit.hookimpl(trylast=True)
def make_optimizer(run: condensekit.Run, params: list[Any], options: dict[str, Any]) -> Any:
    import torch

    try:
        return torch.optim.SGD(params, **options)
    except TypeError as exc:
        raise condensekit.CondensekitError(
            f"SGD does not take the optimizer options {sorted(options)}: {exc}"
        ) from None
