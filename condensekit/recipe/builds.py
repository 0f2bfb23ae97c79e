"""Validate-time model checks: build each distinct model of a recipe once for its data and pass two samples
through.

A model that cannot take the data (a CNN on flat vectors, a ViT on 8x8 images with a 16-pixel patch) would
otherwise pass ``validate`` and fail every run. The build happens on PyTorch's meta device (no memory, no
arithmetic); only when the meta device itself cannot run the model is it retried on the CPU with a batch of
two, so a limitation of the meta device is never reported as the recipe's fault. It needs the dataset's
``info`` (see ``register_datasets``); datasets without one are not checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from condensekit.catalogue import Catalogue, Entry
from condensekit.errors import PLUGIN_FAILURES, CondensekitError
from condensekit.recipe.problems import Problems
from condensekit.recipe.runlist import ArmPlan
from condensekit.run_hooks import hook_methods, invoke
from condensekit.text import toml_text

MAX_BUILDS = 8
"""Distinct (model, data) pairs built per recipe; a sweep over widths does not build a hundred models."""


def check_model_builds(plans: Sequence[ArmPlan], catalogue: Catalogue, problems: Problems) -> None:
    """Build each distinct model once for its data (up to :data:`MAX_BUILDS`); a failure is a problem at the
    arm's model: a factory that raised is reported as such, a model that cannot take the data's shape as
    that."""
    tried: set[tuple[str, str]] = set()
    for plan in plans:
        for model_sub in plan.section_values(("model",)):
            model = plan.validated[(("model",), model_sub)]
            for data_sub in plan.section_values(("data",)):
                data = plan.validated[(("data",), data_sub)]
                key = (f"{model.use} {toml_text(model.params)}", f"{data.use} {toml_text(data.params)}")
                if key in tried:
                    continue
                if len(tried) >= MAX_BUILDS:
                    return
                tried.add(key)
                params = {**model.params, **_overrides(catalogue, plan)}
                problem = _check_one(catalogue, model.use, params, data.use, data.params)
                where = f"arms[{plan.arm.index}].model"
                if isinstance(problem, BuildFailed):
                    plugin = catalogue.get("models", model.use).plugin
                    problems.add(
                        where,
                        f"building model {model.use!r} (plugin {plugin}) raised {problem}",
                        "fix the model's factory or what it imports",
                    )
                elif problem:
                    problems.add(
                        where,
                        f"model {model.use!r} cannot take the data {data.use!r}: {problem}",
                        (
                            "choose a model for inputs of that shape (`condensekit "
                            "list models`), or change the data's params"
                        ),
                    )


def check_data_classes(plans: Sequence[ArmPlan], catalogue: Catalogue, problems: Problems) -> None:
    """A problem at ``data`` when a dataset's ``info`` says it has fewer than two classes: condensation
    compares classes, so such data cannot answer the question (the run checks the labels themselves,
    :func:`condensekit.data.check_answerable`)."""
    tried: set[str] = set()
    for plan in plans:
        for data_sub in plan.section_values(("data",)):
            data = plan.validated[(("data",), data_sub)]
            dataset = catalogue.get("datasets", data.use)
            key = f"{data.use} {toml_text(data.params)}"
            if dataset.info is None or key in tried:
                continue
            tried.add(key)
            try:
                classes = dataset.info(dataset.params.model_validate(data.params)).num_classes
            except PLUGIN_FAILURES:  # the dataset's own info function failed: its run will report it
                continue
            if classes < 2:
                problems.add(
                    "data",
                    f"dataset {data.use!r} has {classes} class{'' if classes == 1 else 'es'} with these "
                    "params; condensation compares samples of different classes, so at least 2 are needed",
                    "choose params or a dataset with two or more classes",
                )


class BuildFailed(str):
    """What a model's factory raised (``TypeError: ... (line 12 of my_plugin.py)``), as opposed to a model
    that was built but cannot take the data."""


def _overrides(catalogue: Catalogue, plan: ArmPlan) -> dict[str, Any]:
    """The model parameters the arm's tricks set (their first grid values), as far as they say without a
    run."""
    out: dict[str, Any] = {}
    first = tuple(0 for _ in plan.keys)
    for section in (s for s in plan.sections if s[0] == "tricks"):
        try:
            trick = catalogue.get("tricks", section[1]).build(plan.get(section, first))
            hook = hook_methods(trick, f"trick {section[1]!r}").get("model_overrides")
            out.update((invoke(hook, {"run": None}) or {}) if hook is not None else {})
        except PLUGIN_FAILURES:  # needs the live run: the run itself will say
            continue
    return out


def _check_one(
    catalogue: Catalogue, model: str, params: dict[str, Any], data: str, data_params: dict[str, Any]
) -> str:
    """What goes wrong building ``model`` for ``data`` and passing two samples through it ("" when nothing
    does)."""
    dataset = catalogue.get("datasets", data)
    if dataset.info is None or params.get("pretrained"):
        return ""  # no way to know the shape without loading; or the build would fetch weights
    try:
        info = dataset.info(dataset.params.model_validate(data_params))
    except PLUGIN_FAILURES:  # the dataset's own info function failed: its run will report it properly
        return ""
    entry = catalogue.get("models", model)
    import torch

    try:
        with torch.device("meta"):
            out = _forward(entry, params, info, torch)
    except PLUGIN_FAILURES:
        # the meta device cannot run every operation: confirm on the CPU before blaming the recipe
        try:
            built = entry.build(params, info)
        except CondensekitError as exc:  # the model's own explanation (e.g. of the shapes it takes)
            return str(exc)
        except PLUGIN_FAILURES as exc:
            return BuildFailed(_raised(exc))
        try:
            with torch.no_grad():
                out = built(torch.zeros((2, *info.input_shape)))
        except CondensekitError as exc:
            return str(exc)
        except PLUGIN_FAILURES as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return f"{type(exc).__name__}: {text[:300]} (inputs of shape {tuple(info.input_shape)})"
    shape = tuple(out.shape) if isinstance(out, torch.Tensor) else None
    if shape != (2, info.num_classes):
        return (
            f"for 2 inputs of shape {tuple(info.input_shape)} it outputs "
            f"{shape or type(out).__name__}, not logits of shape (2, {info.num_classes})"
        )
    return ""


def _raised(exc: BaseException) -> str:
    """``ModuleNotFoundError: No module named 'nets' (line 12 of /r/my_plugin.py)``: the error and the last
    frame it passed through outside condensekit and torch (the user's code)."""
    import traceback
    from pathlib import Path

    import torch

    import condensekit

    ours = [Path(module.__file__ or "").parent for module in (condensekit, torch)]
    text = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
    own = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if not frame.filename.startswith("<")
        and not any(Path(frame.filename).is_relative_to(root) for root in ours)
    ]
    return f"{text} (line {own[-1].lineno} of {own[-1].filename})" if own else text


def _forward(entry: Entry, params: dict[str, Any], info: Any, torch: Any) -> Any:
    model = entry.build(params, info)
    with torch.no_grad():
        return model(torch.zeros((2, *info.input_shape)))
