"""The module the ``condensekit`` entry point names: one catalogue hook per kind of component.

It is written only against condensekit's public API: ``condensekit.hookimpl``, ``condensekit.DataInfo``,
``condensekit.DataBundle`` and the functions of ``condensekit.measures``.
"""

from __future__ import annotations

from typing import Any

import condensekit
from condensekit_example.feature_spread import FeatureSpread, FeatureSpreadParams
from condensekit_example.funnel import FunnelParams, build_funnel
from condensekit_example.orthogonality import Orthogonality, OrthogonalityParams
from condensekit_example.rings import RingsParams, make_rings


@condensekit.hookimpl
def register_models(register: Any) -> None:
    register(
        "funnel_mlp",
        build_funnel,
        params=FunnelParams,
        summary="MLP whose width shrinks linearly with depth (example plugin)",
    )


@condensekit.hookimpl
def register_tricks(register: Any) -> None:
    register(
        "orthogonality",
        Orthogonality,
        params=OrthogonalityParams,
        summary="penalty pulling hidden weight rows apart (example plugin)",
    )


@condensekit.hookimpl
def register_metrics(register: Any) -> None:
    register(
        "feature_spread",
        FeatureSpread,
        params=FeatureSpreadParams,
        summary="effective rank, norm and class separation of features (example plugin)",
    )


@condensekit.hookimpl
def register_datasets(register: Any) -> None:
    register(
        "rings",
        make_rings,
        params=RingsParams,
        summary="concentric noisy rings, one class per ring (example plugin)",
    )
