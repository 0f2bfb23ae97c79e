"""condensekit.run_hooks: a run's tricks and metrics are called directly, with the arguments they take, in the
run's order and before the process's plugins; their hook methods are checked when the run starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import condensekit
from condensekit.api import open_recipe
from condensekit.errors import PluginError, RecipeError
from condensekit.manager import PluginManager
from condensekit.recipe import RecipeSource
from condensekit.run_hooks import Component, RunHooks, hook_methods
from condensekit.testing import tiny_recipe


class Step:
    """A trick that records its before_step calls, taking only the optimizer."""

    def __init__(self, log: list[Any], tag: str, answer: Any = None):
        self.log, self.tag, self.answer = log, tag, answer

    @condensekit.hookimpl
    def before_step(self, optimizer: Any) -> None:
        self.log.append((self.tag, optimizer))

    @condensekit.hookimpl
    def make_optimizer(self, options: Any) -> Any:
        self.log.append((self.tag, "make_optimizer"))
        return self.answer

    @condensekit.hookimpl
    def model_overrides(self, run: Any) -> dict[str, Any]:
        return {"norm": self.tag}

    @condensekit.hookimpl
    def collect_metrics(self, run: Any, probe: Any) -> dict[str, float]:
        self.log.append((self.tag, "collect_metrics"))
        return {"x": 1.0}


class Plugin:
    """A process plugin (registered with the manager), taking every argument."""

    def __init__(self, log: list[Any], answer: Any = None, norm: str | None = None):
        self.log, self.answer, self.norm = log, answer, norm

    @condensekit.hookimpl
    def before_step(self, run: Any, model: Any, optimizer: Any) -> None:
        self.log.append(("plugin", optimizer))

    @condensekit.hookimpl
    def make_optimizer(self, run: Any, params: Any, options: Any) -> Any:
        self.log.append(("plugin", "make_optimizer"))
        return self.answer

    @condensekit.hookimpl
    def model_overrides(self, run: Any) -> dict[str, Any] | None:
        return None if self.norm is None else {"norm": self.norm}

    @condensekit.hookimpl
    def collect_metrics(self, run: Any, probe: Any) -> dict[str, float]:
        return {"y": 2.0}


def hooks_of(*components: tuple[str, str, Any], plugin: Any = None) -> RunHooks:
    pm = PluginManager()
    if plugin is not None:
        pm.register(plugin, name="proc")
    return RunHooks(pm, [Component(k, n, o, hook_methods(o, f"{k} {n!r}")) for k, n, o in components])


def two_tricks_two_metrics_and_a_plugin(log: list[Any]) -> RunHooks:
    """Tricks a, b and metrics m1, m2, in the order a run lists them, and a process plugin."""
    runs = [("trick", "a"), ("trick", "b"), ("metric", "m1"), ("metric", "m2")]
    return hooks_of(*((kind, name, Step(log, name)) for kind, name in runs), plugin=Plugin(log))


def test_components_get_only_their_arguments_the_last_listed_first_then_the_plugins() -> None:
    log: list[Any] = []
    hooks = two_tricks_two_metrics_and_a_plugin(log)
    assert hooks.call("before_step", run=None, model=None, optimizer="opt") == []
    assert log == [("m2", "opt"), ("m1", "opt"), ("b", "opt"), ("a", "opt"), ("plugin", "opt")]


def test_make_optimizer_takes_the_first_answer_components_before_plugins() -> None:
    log: list[Any] = []
    args = {"run": None, "params": [], "options": {"lr": 0.1}}
    hooks = hooks_of(("trick", "a", Step(log, "a")), plugin=Plugin(log, answer="sgd"))
    assert hooks.first_result("make_optimizer", **args) == "sgd"  # the trick said None
    assert log == [("a", "make_optimizer"), ("plugin", "make_optimizer")]
    log.clear()
    hooks = hooks_of(("trick", "a", Step(log, "a", answer="adam")), plugin=Plugin(log, answer="sgd"))
    assert hooks.first_result("make_optimizer", **args) == "adam"
    assert log == [("a", "make_optimizer")]  # the plugin was not asked
    assert hooks_of().first_result("make_optimizer", **args) is None


def test_overrides_that_clash_name_both_the_trick_and_the_plugin() -> None:
    hooks = hooks_of(("trick", "bn", Step([], "batch")), plugin=Plugin([], norm="layer"))
    with pytest.raises(
        PluginError, match="'norm' is set to 'batch' by trick 'bn' and to 'layer' by plugin 'proc'"
    ):
        hooks.merged("model_overrides", "model parameter", run=None)
    agreeing = hooks_of(("trick", "bn", Step([], "batch")), plugin=Plugin([], norm="batch"))
    assert agreeing.merged("model_overrides", "model parameter", run=None) == (
        {"norm": "batch"},
        {"norm": "plugin 'proc'"},
    )


def test_collect_metrics_asks_the_due_metrics_in_the_run_order_never_a_trick_then_the_plugins() -> None:
    log: list[Any] = []
    hooks = two_tricks_two_metrics_and_a_plugin(log)
    got = hooks.collect_metrics(["m1", "m2"], run=None, probe=None)
    assert got == [
        ("metric 'm1'", "m1", {"x": 1.0}),
        ("metric 'm2'", "m2", {"x": 1.0}),
        ("plugin 'proc'", "proc", {"y": 2.0}),
    ]
    assert [tag for tag, _ in log] == ["m1", "m2"]
    log.clear()
    assert [label for label, _, _ in hooks.collect_metrics(["m2"], run=None, probe=None)] == [
        "metric 'm2'",
        "plugin 'proc'",
    ]


class Typo:
    @condensekit.hookimpl
    def after_stpe(self, run: Any) -> None: ...


class Catalogue:
    @condensekit.hookimpl
    def register_models(self, register: Any) -> None: ...


class UnknownArgument:
    @condensekit.hookimpl
    def after_step(self, run: Any, loss: Any) -> None: ...


class Ordered:
    @condensekit.hookimpl(tryfirst=True)
    def after_step(self, run: Any) -> None: ...


class Twice:
    @condensekit.hookimpl(specname="after_step")
    def one(self, run: Any) -> None: ...

    @condensekit.hookimpl(specname="after_step")
    def two(self, run: Any) -> None: ...


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (Typo, "after_stpe .*no run hook; did you mean 'after_step'"),
        (Catalogue, "register_models .*catalogue hook"),
        (UnknownArgument, "takes loss, which hook after_step does not pass; it passes run, model, optimizer"),
        (Ordered, "asks for tryfirst"),
        (Twice, "implements after_step a second time"),
    ],
)
def test_a_broken_hook_method_is_refused_naming_the_component_and_the_method(cls: type, message: str) -> None:
    with pytest.raises(PluginError, match=f"trick 'x': .*{message}"):
        hook_methods(cls(), "trick 'x'")


class Unmarked:
    def before_step(self, run: Any) -> None: ...  # no @hookimpl: not a hook

    @condensekit.hookimpl(specname="after_step")
    def clip(self, model: Any, run: Any, scale: float = 2.0) -> None: ...


def test_only_marked_methods_are_hooks_and_specname_and_defaults_work_as_in_pluggy() -> None:
    methods = hook_methods(Unmarked(), "trick 'x'")
    assert list(methods) == ["after_step"]
    assert methods["after_step"][1] == ("model", "run")  # an argument with a default keeps its default


def test_tracing_prints_each_call_of_a_component(capsys: pytest.CaptureFixture[str]) -> None:
    pm = PluginManager()
    pm.tracing = True
    obj = Step([], "a", answer="adam")
    hooks = RunHooks(pm, [Component("trick", "a", obj, hook_methods(obj, "trick 'a'"))])
    hooks.first_result("make_optimizer", run=None, params=[], options={})
    err = capsys.readouterr().err
    assert "[condensekit trace] make_optimizer(options) -> trick 'a'" in err
    assert "[condensekit trace] make_optimizer returned 'adam'" in err


TYPO_TRICK = """
import condensekit


class Typo:
    def __init__(self, params):
        pass

    @condensekit.hookimpl
    def befor_step(self, optimizer):
        pass


@condensekit.hookimpl
def register_tricks(register):
    register("typo", Typo)
"""


def test_a_tricks_broken_hook_method_fails_the_recipe_before_any_run(tmp_path: Path) -> None:
    (tmp_path / "typo.py").write_text(TYPO_TRICK)
    recipe = {**tiny_recipe(tricks={"typo": {}}), "plugins": [str(tmp_path / "typo.py")]}
    with pytest.raises(RecipeError, match="befor_step .*did you mean 'before_step'"):
        open_recipe(RecipeSource.from_dict(recipe, folder=tmp_path))
