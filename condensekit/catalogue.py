"""Named components (models, tricks, metrics, datasets, executors) collected through ``register`` callbacks."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from condensekit.errors import PluginError

KINDS = ("models", "tricks", "metrics", "datasets", "executors")


class NoParams(BaseModel):
    """Used when a component registers without a params model: it takes no parameters."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Entry:
    """One registered component."""

    kind: str
    name: str
    factory: Callable[..., Any]
    params: type[BaseModel]
    summary: str
    plugin: str


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

        def register(name: str, factory: Callable[..., Any], params: type[BaseModel] | None = None, summary: str = "") -> None:
            if not isinstance(name, str) or not name:
                raise PluginError(f"plugin {plugin!r} registered a {kind[:-1]} with an invalid name {name!r}")
            if params is not None and not (isinstance(params, type) and issubclass(params, BaseModel)):
                raise PluginError(f"plugin {plugin!r}: {kind[:-1]} {name!r}: params must be a pydantic BaseModel class")
            existing = self.entries[kind].get(name)
            if existing is not None:
                raise PluginError(
                    f"{kind[:-1]} {name!r} is registered twice: by plugin {existing.plugin!r} and by plugin "
                    f"{plugin!r}; uninstall or disable one (CONDENSEKIT_DISABLE_PLUGINS={plugin})"
                )
            doc = summary or (factory.__doc__ or "").strip().splitlines()[0:1]
            text = summary if summary else (doc[0] if doc else "")
            self.entries[kind][name] = Entry(kind, name, factory, params or NoParams, text, plugin)

        return register

    def names(self, kind: str) -> list[str]:
        return sorted(self.entries[kind])

    def __iter__(self) -> Iterator[Entry]:
        for kind in KINDS:
            yield from (self.entries[kind][n] for n in self.names(kind))

    def unknown_message(self, kind: str, name: str) -> tuple[str, str]:
        """(message, fix) for an unknown component name, with did-you-mean and the list of names."""
        names = self.names(kind)
        msg = f"unknown {kind[:-1]} {name!r}{did_you_mean(name, names)}"
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
