"""How many torch CPU threads a run gets by default: one per ``FLOPS_PER_THREAD`` of work in a training step.

Intra-op threads pay only when each operation has enough arithmetic to split: a 12x128 MLP at batch 100
(0.1 GFLOP per step) runs no faster with two threads than with one, and many times slower on a busy
machine, where every parallel region waits for a thread the scheduler has put aside (see
``docs/performance.md`` and ``benchmarks/threads.py``, ``benchmarks/load.py``). So the local executor
counts the work of one training step of each run -- forward and backward at the recipe's batch size, on
PyTorch's meta device (no memory, no arithmetic) -- and gives the run one thread per ``FLOPS_PER_THREAD``,
at least one and at most its share of the cores.

The choice depends only on the recipe and on the number of cores this process may use, never on how busy
the machine is when the run starts, so a rerun on the same machine uses the same count (results can differ
in the last bits between thread counts). ``[executor] threads`` overrides it; ``threads = 1`` gives
numbers that do not depend on the machine. ``run.json`` records the count each run used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from condensekit.catalogue import Catalogue

FLOPS_PER_THREAD = 2e9
"""Floating-point operations of one training step that make one more thread worth its cost. Measured on 2
shared cores (load average 3.7, passive waiting) with ``benchmarks/threads.py``: a second thread made steps
of 0.1-1.4 GFLOP 1.1-2.9x slower and steps of 3.8-10 GFLOP 1.3-2.1x faster; a step must carry its own
share of the work to win back what waiting for the other thread costs."""


def default_threads(flops: float | None, cores: int) -> int:
    """Threads for a run whose training step costs ``flops``, given ``cores`` (its share of the machine).

    Unknown work (``None``: the model could not be sized without data) gets the whole share, as torch
    would give it.
    """
    cores = max(1, cores)
    if flops is None:
        return cores
    return max(1, min(cores, int(flops // FLOPS_PER_THREAD)))


def threads_for_spec(spec: Any, catalogue: Catalogue, cores: int) -> int:
    """The default thread count of one run (:class:`condensekit.spec.RunSpec`) with ``cores`` to share."""
    flops = step_flops(
        catalogue, spec.model.use, spec.model.params, spec.data.use, spec.data.params, spec.data.batch_size
    )
    return default_threads(flops, cores)


def step_flops(
    catalogue: Catalogue,
    model: str,
    model_params: Mapping[str, Any],
    data: str,
    data_params: Mapping[str, Any],
    batch_size: int,
) -> float | None:
    """Floating-point operations of one training step (forward, cross-entropy, backward) at ``batch_size``.

    Counted with ``torch.utils.flop_counter`` on the meta device, from the dataset's declared ``info``
    (see ``register_datasets``). ``None`` when that is not possible: a dataset without ``info``, a
    pretrained model (building it would fetch weights), a model the meta device cannot run. Cached per
    (model, data, batch size) for the life of the process.
    """
    from condensekit.text import toml_text

    key = (model, toml_text(dict(model_params)), data, toml_text(dict(data_params)), batch_size)
    return _cached_flops(catalogue, key, dict(model_params), dict(data_params))


_FLOPS: dict[tuple[int, tuple[Any, ...]], float | None] = {}
"""Counted work by (catalogue, model, data, batch size): a grid has few distinct models."""


def _cached_flops(
    catalogue: Catalogue, key: tuple[Any, ...], model_params: dict[str, Any], data_params: dict[str, Any]
) -> float | None:
    full_key = (id(catalogue), key)
    if full_key not in _FLOPS:
        _FLOPS[full_key] = _count(catalogue, key[0], model_params, key[2], data_params, key[4])
    return _FLOPS[full_key]


def _count(
    catalogue: Catalogue,
    model: str,
    model_params: dict[str, Any],
    data: str,
    data_params: dict[str, Any],
    batch_size: int,
) -> float | None:
    dataset = catalogue.get("datasets", data)
    if dataset.info is None or model_params.get("pretrained"):
        return None
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    try:
        info = dataset.info(dataset.params.model_validate(data_params))
        with torch.device("meta"):
            net = catalogue.get("models", model).build(model_params, info)
            x = torch.zeros((batch_size, *info.input_shape))
            y = torch.zeros((batch_size,), dtype=torch.long)
            with FlopCounterMode(display=False) as counter:
                F.cross_entropy(net(x), y).backward()
        return float(counter.get_total_flops())
    except Exception:  # the meta device cannot run this model, or its params are wrong (the run will say)
        return None


def prefer_passive_waiting(environ: Any = None) -> None:
    """Ask OpenMP to put idle threads to sleep instead of spinning (``OMP_WAIT_POLICY=PASSIVE``), unless set.

    By default OpenMP's threads spin for a while at the end of every parallel region, waiting for work.
    On a machine whose cores are shared, a spinning thread takes the core the thread it waits for needs:
    a 10x256 MLP stepped 60 times slower with two threads than with one (``benchmarks/threads.py`` beside
    other jobs, load average 4); with passive waiting, small models were at most 3 times slower, and large
    ones kept their gain. OpenMP reads the variable once, when torch is loaded, so this acts only on processes
    that have not imported torch yet: the ``condensekit`` command and the local executor's workers (which
    inherit ``environ``, this process's environment by default). Setting ``OMP_WAIT_POLICY`` yourself wins.
    """
    import os

    (os.environ if environ is None else environ).setdefault("OMP_WAIT_POLICY", "PASSIVE")
