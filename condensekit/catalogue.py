"""Named components (models, tricks, metrics, datasets, executors) collected through ``register``
callbacks."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from condensekit.errors import PluginError
from condensekit.metric_report import MetricReport

KINDS = ("models", "tricks", "metrics", "datasets", "executors")
"""The kinds of component, in the order ``condensekit list`` shows them; ``register_<kind>`` is each one's
hook."""


def singular(kind: str) -> str:
    """``models`` -> ``model``: how messages name one component of a kind."""
    return kind[:-1]


SINGLE_DEFAULT = ("models", "datasets", "executors")  # at most one default; every default metric is measured


class NoParams(BaseModel):
    """Used when a component registers without a params model: it takes no parameters."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Entry:
    """One registered component.

    Attributes:
        kind: ``models``, ``tricks``, ``metrics``, ``datasets`` or ``executors``.
        name: its name in recipes.
        factory: the factory (models, datasets) or class (tricks, metrics, executors) it registered.
        params: its pydantic params model.
        summary: one line for ``condensekit list``.
        plugin: the plugin that registered it.
        default: used when a recipe names none of its kind (the dataset of a recipe without ``data.use``,
            the metrics of a recipe without ``[metrics]``, the executor without ``executor.use``).
        report: a metric's :class:`condensekit.MetricReport` (figures, summary series), else None.
        info: a dataset's ``info(params) -> DataInfo``, saying the input shape and classes without loading
            the data, so ``validate`` can build each model once and catch a shape mismatch; else None.
        prepare: a dataset's ``prepare(params, root) -> None``, which makes its files available on this
            machine (downloading them once when allowed) or raises saying what is missing and how to get
            it; ``validate`` calls it once, so a missing download fails there and not in every run; else
            None.
    """

    kind: str
    name: str
    factory: Callable[..., Any]
    params: type[BaseModel]
    summary: str
    plugin: str
    default: bool = False
    report: MetricReport | None = None
    info: Callable[[Any], Any] | None = None
    prepare: Callable[[Any, Any], None] | None = None

    def build(self, params: BaseModel | Mapping[str, Any], *args: Any) -> Any:
        """``factory(validated params, *args)``: the component, from raw or validated params."""
        validated = params if isinstance(params, self.params) else self.params.model_validate(dict(params))
        return self.factory(validated, *args)


def did_you_mean(name: str, choices: list[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


@dataclass
class Catalogue:
    """All registered components, by kind and name."""

    entries: dict[str, dict[str, Entry]] = field(default_factory=lambda: {k: {} for k in KINDS})
    load_errors: dict[str, str] = field(default_factory=dict)

    def register_callback(self, kind: str, plugin: str) -> Callable[..., None]:
        """Return the ``register`` callback handed to one plugin's ``register_<kind>`` hook."""

        def register(
            name: str,
            factory: Callable[..., Any],
            params: type[BaseModel] | None = None,
            summary: str = "",
            *,
            default: bool = False,
            report: MetricReport | None = None,
            info: Callable[[Any], Any] | None = None,
            prepare: Callable[[Any, Any], None] | None = None,
        ) -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(
                    f"plugin {plugin!r} registered a {singular(kind)} with an invalid name {name!r}"
                )
            if params is not None and not (isinstance(params, type) and issubclass(params, BaseModel)):
                raise PluginError(
                    f"plugin {plugin!r}: {singular(kind)} {name!r}: params must be a pydantic BaseModel class"
                )
            if report is not None and (kind != "metrics" or not isinstance(report, MetricReport)):
                raise PluginError(
                    f"plugin {plugin!r}: {singular(kind)} {name!r}: report= "
                    "takes a condensekit.MetricReport and only metrics have one"
                )
            if info is not None and (kind != "datasets" or not callable(info)):
                raise PluginError(
                    f"plugin {plugin!r}: {singular(kind)} {name!r}: info= takes "
                    "a function params -> DataInfo and only datasets have one"
                )
            if prepare is not None and (kind != "datasets" or not callable(prepare)):
                raise PluginError(
                    f"plugin {plugin!r}: {singular(kind)} {name!r}: prepare= takes "
                    "a function (params, root) -> None and only datasets have one"
                )
            if default and kind in SINGLE_DEFAULT and self.defaults(kind):
                other = self.entries[kind][self.defaults(kind)[0]]
                raise PluginError(
                    f"two default {kind}: {other.name!r} of plugin {other.plugin!r} and {name!r} of plugin "
                    f"{plugin!r}; disable one (CONDENSEKIT_DISABLE_PLUGINS={plugin})"
                )
            existing = self.entries[kind].get(name)
            if existing is not None:
                raise PluginError(
                    f"{singular(kind)} {name!r} is registered twice: by plugin {existing.plugin!r} and by "
                    f"plugin {plugin!r}; uninstall or disable one (CONDENSEKIT_DISABLE_PLUGINS={plugin})"
                )
            doc = summary or (factory.__doc__ or "").strip().splitlines()[0:1]
            text = summary if summary else (doc[0] if doc else "")
            self.entries[kind][name] = Entry(
                kind, name, factory, params or NoParams, text, plugin, default, report, info, prepare
            )

        return register

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def defaults(self, kind: str) -> list[str]:
        """Names registered with ``default=True``, in registration order."""
        return [name for name, entry in self.entries[kind].items() if entry.default]

    def __iter__(self) -> Iterator[Entry]:
        for kind in KINDS:
            yield from (self.entries[kind][n] for n in self.names(kind))

    def unknown_message(self, kind: str, name: str) -> tuple[str, str]:
        """(message, fix) for an unknown component name, with did-you-mean and the list of names."""
        names = self.names(kind)
        msg = f"unknown {singular(kind)} {name!r}{did_you_mean(name, names)}"
        fix = f"available: {', '.join(names) or 'none'}"
        if self.load_errors:
            broken = "; ".join(f"{p} ({e})" for p, e in sorted(self.load_errors.items()))
            fix += f"; plugins that failed to load: {broken}"
        return msg, f"({fix})"

    def get(self, kind: str, name: str) -> Entry:
        """Look a component up; unknown names raise PluginError with a did-you-mean."""
        try:
            return self.entries[kind][name]
        except KeyError:
            msg, fix = self.unknown_message(kind, name)
            raise PluginError(f"{msg} {fix}") from None
