"""The run hooks of one run: its own tricks and metrics called directly, the process's plugins through pluggy.

A run's tricks and metrics are objects built for that run from the recipe (``cls(params)``); they live and
die with it. Their hook methods are found once, when the run starts: every ``@condensekit.hookimpl`` method
named after a run hook (or given its ``specname``), taking any subset of the hook's arguments, as pluggy
allows. They are then called as plain methods, so nothing is registered with the plugin manager for one
run, no subset caller is built per metric and measurement, and no name tells a run's component from a
plugin. Plugins that live as long as the process (the built-ins, installed packages, a recipe's plugin
files) are called through pluggy, in pluggy's order (``tryfirst``, ``trylast``, the last registered first).

Order: the run's components first, the last one listed first (its metrics, then its tricks: the order
pluggy gave them when they were registered per run), then the process's plugins. A component's hook
method may not be a wrapper nor ask for ``tryfirst``/``trylast``: it is called in the run's order.
"""

from __future__ import annotations

import inspect
import reprlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from condensekit import hookimpl, hookspecs
from condensekit.catalogue import did_you_mean
from condensekit.errors import PluginError

if TYPE_CHECKING:
    from condensekit.manager import PluginManager
    from condensekit.spec import RunSpec

_IMPL_ATTR = f"{hookimpl.project_name}_impl"  # where @condensekit.hookimpl leaves its options
_SPEC_ATTR = f"{hookimpl.project_name}_spec"
_ORDER_OPTIONS = ("hookwrapper", "wrapper", "tryfirst", "trylast")


def _hook_arguments() -> dict[str, tuple[str, ...]]:
    """Every hook spec's argument names, by hook."""
    return {
        name: tuple(inspect.signature(spec).parameters)
        for name, spec in vars(hookspecs).items()
        if getattr(spec, _SPEC_ATTR, None) is not None
    }


HOOK_ARGUMENTS = _hook_arguments()
RUN_HOOKS = tuple(name for name in HOOK_ARGUMENTS if not name.startswith("register_"))
"""The run hooks, in the order hookspecs.py lists them."""

Method = tuple[Callable[..., Any], tuple[str, ...]]  # a bound hook method and the arguments it takes


def hook_methods(obj: Any, label: str) -> dict[str, Method]:
    """The run hooks a trick or metric object implements: hook name -> (bound method, its argument names).

    Raises:
        PluginError: naming ``label`` (``trick 'l1'``) and the method, when a marked method names no run hook
            (a catalogue hook, or a typo), takes an argument its hook does not pass, is a wrapper or asks for
            ``tryfirst``/``trylast``, or when two methods implement one hook.
    """
    found: dict[str, Method] = {}
    for attr in dir(obj):
        method = getattr(obj, attr, None)
        options = getattr(method, _IMPL_ATTR, None)
        if not (inspect.isroutine(method) and isinstance(options, dict)):
            continue
        hook = options.get("specname") or attr
        where = f"{label}: {attr}"
        if hook not in RUN_HOOKS:
            kind = "a catalogue hook, called once per process on plugins" if hook in HOOK_ARGUMENTS else None
            raise PluginError(
                f"{where} is marked @condensekit.hookimpl but {hook!r} is "
                f"{kind or 'no run hook' + did_you_mean(hook, list(RUN_HOOKS))}; "
                f"a run's trick or metric implements run hooks only ({', '.join(RUN_HOOKS)})"
            )
        asked = [name for name in _ORDER_OPTIONS if options.get(name)]
        if asked:
            raise PluginError(
                f"{where} asks for {', '.join(asked)}; a run's tricks and metrics are called in the run's "
                "order, before the process's plugins: drop the option"
            )
        wanted = _required_arguments(method)
        unknown = [name for name in wanted if name not in HOOK_ARGUMENTS[hook]]
        if unknown:
            raise PluginError(
                f"{where} takes {', '.join(unknown)}, which hook {hook} does not pass; "
                f"it passes {', '.join(HOOK_ARGUMENTS[hook])} (take any of them, by those names)"
            )
        if hook in found:
            raise PluginError(f"{where} implements {hook} a second time; keep one method per hook")
        found[hook] = (method, wanted)
    return found


def _required_arguments(method: Callable[..., Any]) -> tuple[str, ...]:
    """The arguments a hook method takes by name (those with defaults are left to their defaults, as pluggy
    does)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = inspect.signature(method).parameters.values()
    return tuple(p.name for p in params if p.kind in kinds and p.default is inspect.Parameter.empty)


@dataclass(frozen=True)
class Component:
    """One trick or metric object of a run and the run hooks it implements."""

    kind: str  # "trick" or "metric"
    name: str
    obj: Any
    methods: dict[str, Method]

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name!r}"


class RunHooks:
    """Calls a run hook on the run's components (directly) and on the process's plugins (through pluggy).

    Args:
        pm: the process's plugin manager.
        components: the run's tricks and metrics, in the order the run lists them.
    """

    def __init__(self, pm: PluginManager, components: list[Component]):
        self.pm, self.components = pm, components
        trace = getattr(pm, "tracing", False)
        # hook -> (component, a function of all the hook's arguments), the last listed component first
        self._calls: dict[str, list[tuple[Component, Callable[..., Any]]]] = {}
        for c in reversed(components):
            for hook, method in c.methods.items():
                call = _traced(c, hook, _caller(hook, method)) if trace else _caller(hook, method)
                self._calls.setdefault(hook, []).append((c, call))
        self._metric_calls = {
            c.name: f for c, f in self._calls.get("collect_metrics", ()) if c.kind == "metric"
        }
        # the hooks some process plugin implements, looked up once: most run hooks have none
        hooks = (getattr(pm.hook, hook) for hook in RUN_HOOKS)
        self._plugins = {caller.name: caller for caller in hooks if caller.get_hookimpls()}

    @classmethod
    def for_run(cls, pm: PluginManager, spec: RunSpec) -> RunHooks:
        """Build the run's tricks and metrics (``cls(params)`` of each) and find their hook methods."""
        components = []
        tables = {
            "trick": ("tricks", spec.tricks),
            "metric": ("metrics", {name: metric.params for name, metric in spec.metrics.items()}),
        }
        for kind, (kinds, table) in tables.items():
            for name, params in table.items():
                obj = pm.catalogue.get(kinds, name).build(params)
                components.append(Component(kind, name, obj, hook_methods(obj, f"{kind} {name!r}")))
        return cls(pm, components)

    def without_plugins(self, metrics: list[str]) -> RunHooks:
        """The run's tricks and the named ``metrics`` alone, without the process's plugins: what a replay of
        training steps calls (:mod:`condensekit.replay`)."""
        hooks = RunHooks(self.pm, [c for c in self.components if c.kind == "trick" or c.name in metrics])
        hooks._plugins = {}
        return hooks

    def call(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call ``hook`` on every component and plugin; the results that are not None, in calling order."""
        results = [r for _, call in self._calls.get(hook, ()) if (r := call(**kwargs)) is not None]
        plugins = self._plugins.get(hook)
        return results + plugins(**kwargs) if plugins is not None else results

    def first_result(self, hook: str, **kwargs: Any) -> Any:
        """The first result that is not None (a ``firstresult`` hook: ``make_optimizer``), or None."""
        for _, call in self._calls.get(hook, ()):
            if (result := call(**kwargs)) is not None:
                return result
        plugins = self._plugins.get(hook)
        return plugins(**kwargs) if plugins is not None else None

    def each(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """``(label, result)`` of each component and each plugin separately, in calling order: for callers
        that must know who said what (clashing overrides)."""
        out = [(c.label, call(**kwargs)) for c, call in self._calls.get(hook, ())]
        if hook in self._plugins:
            out += [(f"plugin {name!r}", result) for name, result in self.pm.call_each(hook, **kwargs)]
        return out

    def collect_metrics(self, due: list[str], **kwargs: Any) -> list[tuple[str, str, Any]]:
        """``(label, key prefix, result)`` of ``collect_metrics`` on the metrics ``due`` (in the order the run
        lists them), then on each plugin that implements it (tricks are not asked: they measure nothing).

        A metric's keys are prefixed with its name, a plugin's with its plugin name.
        """
        calls = self._metric_calls
        out = [(f"metric {n!r}", n, calls[n](**kwargs)) for n in due if n in calls]
        if "collect_metrics" in self._plugins:
            plugins = self.pm.call_each("collect_metrics", **kwargs)
            out += [(f"plugin {name!r}", name, result) for name, result in plugins]
        return out

    def merged(self, hook: str, what: str, **kwargs: Any) -> tuple[dict[str, Any], dict[str, str]]:
        """Merge the dicts a hook returns (``model_overrides``, ``optimizer_overrides``): ``(values, who set
        each key)``.

        Raises:
            PluginError: when two of them set one key to different values, naming both.
        """
        merged: dict[str, Any] = {}
        owner: dict[str, str] = {}
        for label, result in self.each(hook, **kwargs):
            for key, value in (result or {}).items():
                if key in merged and merged[key] != value:
                    raise PluginError(
                        f"{what} {key!r} is set to {merged[key]!r} by {owner[key]} "
                        f"and to {value!r} by {label}; remove one of them"
                    )
                merged[key], owner[key] = value, label
        return merged, owner


def invoke(method: Method, kwargs: dict[str, Any]) -> Any:
    """Call a hook method (from :func:`hook_methods`) with the arguments of ``kwargs`` it takes."""
    function, wanted = method
    return function(**{name: kwargs[name] for name in wanted})


def _caller(hook: str, method: Method) -> Callable[..., Any]:
    """A hook method as a function of all the hook's arguments: the method itself when it takes them all
    (nothing to pick per call, on the training step's path), else a function passing on those it takes."""
    function, wanted = method
    if set(wanted) == set(HOOK_ARGUMENTS[hook]):
        return function
    return lambda **kwargs: function(**{name: kwargs[name] for name in wanted})


def _traced(component: Component, hook: str, call: Callable[..., Any]) -> Callable[..., Any]:
    """``call`` printing each call and its result to stderr, as ``CONDENSEKIT_TRACE_PLUGINS`` asks."""
    wanted = component.methods[hook][1]

    def traced(**kwargs: Any) -> Any:
        print(f"[condensekit trace] {hook}({', '.join(wanted)}) -> {component.label}", file=sys.stderr)
        result = call(**kwargs)
        if result is not None:
            print(f"[condensekit trace] {hook} returned {reprlib.repr(result)}", file=sys.stderr)
        return result

    return traced
