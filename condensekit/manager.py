"""Build the plugin manager: hook specs, built-ins, installed entry points and local plugin files.

Environment variables:

* ``CONDENSEKIT_LOAD_PLUGINS``: comma-separated allow-list of installed (entry-point) plugins to load;
  empty string loads none. Built-ins are always loaded.
* ``CONDENSEKIT_DISABLE_PLUGINS``: comma-separated plugin names (entry-point names, built-in module
  names, or a recipe's local plugin file by its file name, ``my_plugin.py``) not to load.
* ``CONDENSEKIT_NO_PLUGIN_FILES``: when set to a non-empty value, refuse every local plugin file a recipe
  names (a recipe's plugin files run code; see :func:`condensekit.recipe.schema.plugin_file_problem`).
* ``CONDENSEKIT_TRACE_PLUGINS``: when set to a non-empty value, print every hook call to stderr.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import os
import reprlib
import sys
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pluggy

from condensekit import hookspecs
from condensekit.catalogue import KINDS, Catalogue
from condensekit.errors import PluginError, PluginLoadWarning, Problem
from condensekit.plugin_files import import_failure, load_plugin_file

ENTRY_POINT_GROUP = "condensekit"

# The only place where condensekit/ names the shipped catalogue. Each module is an ordinary plugin.
BUILTIN_PLUGINS: tuple[str, ...] = (
    "condensekit.defaults.optimizer",
    "condensekit.defaults.tensorboard",
    "condensekit.defaults.console",
    "condensekit.defaults.jsonl",
    "condensekit.defaults.local_executor",
    "condensekit_plugins.models.mlp",
    "condensekit_plugins.models.resmlp",
    "condensekit_plugins.models.cnn",
    "condensekit_plugins.models.timm_models",
    "condensekit_plugins.tricks.batchnorm",
    "condensekit_plugins.tricks.momentum",
    "condensekit_plugins.tricks.init",
    "condensekit_plugins.tricks.weight_decay",
    "condensekit_plugins.tricks.layernorm",
    "condensekit_plugins.tricks.activation",
    "condensekit_plugins.tricks.warmup",
    "condensekit_plugins.tricks.layer_normalized_updates",
    "condensekit_plugins.tricks.grad_clip",
    "condensekit_plugins.tricks.dropout",
    "condensekit_plugins.metrics.condensation",
    "condensekit_plugins.metrics.common_direction",
    "condensekit_plugins.metrics.neural_collapse",
    "condensekit_plugins.metrics.gradient_health",
    "condensekit_plugins.data.digits",
    "condensekit_plugins.data.synthetic",
    "condensekit_plugins.data.vision",
    "condensekit_plugins.data.tiny_imagenet",
    "condensekit_plugins.executors.submitit",
    "condensekit_plugins.executors.ray",
)


def env_list(name: str) -> list[str] | None:
    """A comma-separated environment variable as a list (None when it is not set)."""
    value = os.environ.get(name)
    if value is None:
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus what condensekit knows about each plugin (origin, version, load errors)."""

    def __init__(self) -> None:
        super().__init__("condensekit")
        self.add_hookspecs(hookspecs)
        self.load_errors: dict[str, str] = {}
        self.origins: dict[str, tuple[str, str]] = {}  # plugin name -> (kind of origin, version)
        self._catalogue: Catalogue | None = None
        self.tracing = False  # CONDENSEKIT_TRACE_PLUGINS: a run's tricks and metrics trace their calls too

    @property
    def catalogue(self) -> Catalogue:
        """The components registered by every loaded plugin (built once, on first use)."""
        if self._catalogue is None:
            self._catalogue = build_catalogue(self)
        return self._catalogue

    def reset_catalogue(self) -> None:
        """Forget the catalogue, so the next use rebuilds it (after registering a plugin by hand)."""
        self._catalogue = None

    def call_plugin(self, hook_name: str, plugin: object, **kwargs: Any) -> list[Any]:
        """Call a hook on one plugin only, through pluggy (so tracing sees the call)."""
        others = [i.plugin for i in getattr(self.hook, hook_name).get_hookimpls() if i.plugin is not plugin]
        return self.subset_hook_caller(hook_name, remove_plugins=others)(**kwargs)

    def call_each(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a hook on each implementing plugin separately, returning ``(plugin name, result)`` pairs.

        Used where the caller must know who said what (clashing overrides, metric key prefixes). Plugins are
        called in pluggy's order; one that returns None is left out.
        """
        results = []
        for impl in reversed(getattr(self.hook, hook_name).get_hookimpls()):  # pluggy calls the last first
            out = self.call_plugin(hook_name, impl.plugin, **kwargs)
            if out:
                results.append((impl.plugin_name, out[0]))
        return results


def build_catalogue(pm: PluginManager) -> Catalogue:
    """Call every catalogue hook, one plugin at a time, so a broken plugin is named and skipped."""
    catalogue = Catalogue(load_errors=pm.load_errors)
    for kind in KINDS:
        hook_name = f"register_{kind}"
        for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
            register = catalogue.register_callback(kind, impl.plugin_name)
            try:
                pm.call_plugin(hook_name, impl.plugin, register=register)
            except PluginError:
                raise
            except Exception as exc:  # a broken third-party plugin must not take down the others
                pm.load_errors[impl.plugin_name] = f"{type(exc).__name__} in {hook_name}: {exc}"
                warnings.warn(
                    f"condensekit plugin {impl.plugin_name!r} failed in {hook_name}: {exc}",
                    PluginLoadWarning,
                    stacklevel=2,
                )
    return catalogue


def recipe_plugin_manager(
    local_plugins: Sequence[Path], pm: PluginManager | None = None
) -> tuple[PluginManager, list[Problem]]:
    """A plugin manager with a recipe's local plugin files; files that fail to import become Problems.

    ``pm`` is the process's manager when it has one (the command line's): the files are added to it, so a
    ``condensekit run`` builds one manager and one catalogue. Otherwise a new manager is built.

    A missing file is skipped here (the recipe's validation reports it); a file that raises on import is
    left out and reported at ``plugins[i]`` with the error and the line of the file it came from, and its
    name goes into ``load_errors`` so that an "unknown model" message can name it.
    """
    usable: list[Path] = []
    broken: dict[str, str] = {}
    problems: list[Problem] = []
    for i, path in enumerate(local_plugins):
        if not path.is_file():
            continue
        try:
            load_plugin_file(path)
        except Exception as exc:  # the user's code: report where it failed, keep validating the rest
            broken[str(path)] = import_failure(path, exc)
            problems.append(
                Problem(
                    f"plugins[{i}]",
                    f"{path} failed to import: {broken[str(path)]}",
                    "fix the plugin file or remove it from plugins",
                )
            )
            continue
        usable.append(path)
    pm = pm if pm is not None else get_plugin_manager()
    try:
        add_local_plugins(pm, usable)
    except Exception as exc:  # e.g. a hook implementation with the wrong signature
        problems.append(
            Problem(
                "plugins",
                f"a local plugin could not be registered: {type(exc).__name__}: {exc}",
                "fix the plugin file or remove it from plugins",
            )
        )
    pm.load_errors.update(broken)
    check_essentials(pm)
    return pm, problems


JSONL_WRITER = "condensekit.defaults.jsonl"


def check_essentials(pm: PluginManager) -> None:
    """Say at start-up, not in every run, when the loaded plugins cannot run or report a recipe.

    No ``make_optimizer`` implementation (the built-in SGD disabled, nothing in its place) is an error;
    no ``metrics.jsonl`` writer is a warning, since runs still work but the report's curves need that file.
    """
    disabled = env_list("CONDENSEKIT_DISABLE_PLUGINS") or []
    if not pm.hook.make_optimizer.get_hookimpls():
        why = (
            f" (CONDENSEKIT_DISABLE_PLUGINS={','.join(disabled)} disables condensekit.defaults.optimizer)"
            if "condensekit.defaults.optimizer" in disabled
            else ""
        )
        raise PluginError(
            f"no plugin provides an optimizer (the make_optimizer hook){why}; every run needs one: "
            "enable condensekit.defaults.optimizer or install a plugin that implements make_optimizer"
        )
    if pm.get_plugin(JSONL_WRITER) is None:
        why = " (CONDENSEKIT_DISABLE_PLUGINS disables it)" if JSONL_WRITER in disabled else ""
        warnings.warn(
            f"no metrics.jsonl will be written: {JSONL_WRITER} is not loaded{why}; the report's curves and "
            "figures are drawn from metrics.jsonl, so they will be missing",
            PluginLoadWarning,
            stacklevel=2,
        )


def _version_of(module_name: str) -> str:
    top = module_name.split(".")[0]
    if top in ("condensekit", "condensekit_plugins"):
        from condensekit import __version__

        return __version__
    try:
        return importlib.metadata.version(top)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def get_plugin_manager(
    local_plugins: Iterable[str | Path] = (), *, builtins: Iterable[str] | None = None
) -> PluginManager:
    """Return a fresh plugin manager with the built-ins, installed plugins and ``local_plugins`` loaded.

    Args:
        local_plugins: paths of plugin files (from a recipe's ``plugins`` list), already resolved.
        builtins: override the built-in module list (tests use this).
    """
    pm = PluginManager()
    disabled = set(env_list("CONDENSEKIT_DISABLE_PLUGINS") or [])
    for name in BUILTIN_PLUGINS if builtins is None else builtins:
        if name in disabled:
            continue
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            _skip(pm, name, exc, f"condensekit built-in plugin {name!r} failed to import")
            continue
        pm.register(module, name=name)
        pm.origins[name] = ("builtin", _version_of(name))
    _load_entry_points(pm, disabled)
    add_local_plugins(pm, [Path(p) for p in local_plugins])
    if os.environ.get("CONDENSEKIT_TRACE_PLUGINS"):
        _enable_tracing(pm)
    return pm


def add_local_plugins(pm: PluginManager, paths: Sequence[Path]) -> None:
    """Import local plugin files (a recipe's ``plugins``) and register them; the catalogue is rebuilt on next
    use."""
    added = False
    for path in paths:
        module = load_plugin_file(path)
        name = str(path)
        if pm.get_plugin(name) is None and not pm.is_registered(module):
            pm.register(module, name=name)
            pm.origins[name] = ("local file", "-")
            added = True
    if added:
        pm.reset_catalogue()


def _load_entry_points(pm: PluginManager, disabled: set[str]) -> None:
    allowed = env_list("CONDENSEKIT_LOAD_PLUGINS")
    seen: set[str] = set()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        seen.add(ep.name)
        if ep.name in disabled or (allowed is not None and ep.name not in allowed):
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        version = ep.dist.version if ep.dist is not None else "unknown"
        try:
            plugin = ep.load()
        except Exception as exc:  # one broken package must not take down the others
            what = f"condensekit plugin {ep.name!r} ({ep.value}) failed to load and is skipped"
            _skip(pm, ep.name, exc, what)
            continue
        try:
            pm.register(plugin, name=ep.name)
        except Exception as exc:
            _skip(pm, ep.name, exc, f"condensekit plugin {ep.name!r} could not be registered")
            continue
        pm.origins[ep.name] = (f"package {ep.dist.name if ep.dist else '?'}", version)
    for name in sorted(set(allowed or []) - set(pm.origins) - set(pm.load_errors) - disabled):
        # a typo in the allow-list would otherwise silently load nothing
        pm.load_errors[name] = (
            "not installed (named in CONDENSEKIT_LOAD_PLUGINS); "
            f"installed: {', '.join(sorted(seen)) or '(none)'}"
        )
        warnings.warn(
            f"CONDENSEKIT_LOAD_PLUGINS names {name!r}, which no installed package provides",
            PluginLoadWarning,
            stacklevel=2,
        )


def _skip(pm: PluginManager, name: str, exc: Exception, what: str) -> None:
    """Record a plugin that could not be loaded, and warn ``what: exc``: the others go on without it."""
    pm.load_errors[name] = f"{type(exc).__name__}: {exc}"
    warnings.warn(f"{what}: {exc}", PluginLoadWarning, stacklevel=3)


def _enable_tracing(pm: PluginManager) -> None:
    def before(hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        names = ", ".join(i.plugin_name for i in hook_impls)
        print(f"[condensekit trace] {hook_name}({', '.join(kwargs)}) -> {names}", file=sys.stderr)

    def after(outcome: Any, hook_name: str, hook_impls: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
        exc = getattr(outcome, "exception", None)
        if exc is not None:
            print(f"[condensekit trace] {hook_name} raised {type(exc).__name__}: {exc}", file=sys.stderr)
        elif outcome.get_result() not in (None, []):
            print(
                f"[condensekit trace] {hook_name} returned {reprlib.repr(outcome.get_result())}",
                file=sys.stderr,
            )

    pm.add_hookcall_monitoring(before, after)
    pm.tracing = True


def hooks_of(pm: PluginManager, plugin: object) -> list[str]:
    """Names of the hooks a plugin implements."""
    return sorted(hc.name for hc in (pm.get_hookcallers(plugin) or []))


__all__ = [
    "BUILTIN_PLUGINS",
    "ENTRY_POINT_GROUP",
    "PluginManager",
    "get_plugin_manager",
    "hooks_of",
    "load_plugin_file",
    "recipe_plugin_manager",
]
