"""The house rules, checked on the code itself (STYLE.md and the "one clean house" redesign).

* no module of ``condensekit/`` or ``plugins/`` over 400 lines (as ``ruff format`` lays it out);
* no import of a private (``_name``) from another module of the project;
* the core (``condensekit/``) names no built-in plugin component, except the list of built-ins it loads
  (and the plugin authors' test kit, whose tiny runs use the shipped ``mlp`` on ``synthetic`` data);
* the trainer's loop fits on one screen, with every run hook called in it or one call away.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
MODULES = sorted([*REPO.joinpath("condensekit").rglob("*.py"), *REPO.joinpath("plugins").rglob("*.py")])
PROJECT = ("condensekit", "condensekit_plugins")


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_module_is_at_most_400_lines(path: Path) -> None:
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= 400, f"{_rel(path)} has {lines} lines; split it by concept"


def _private_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    project_modules: set[str] = set()  # local names bound to project modules (import condensekit.x as y)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level or module.split(".")[0] in PROJECT:
                found += [
                    f"from {'.' * node.level}{module} import {a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
                project_modules.update(a.asname or a.name for a in node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PROJECT:
                    project_modules.add(alias.asname or alias.name.split(".")[0])
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in project_modules and base.id not in ("self", "cls"):
                found.append(f"{ast.unparse(node)}")
    return found


def test_no_private_name_is_imported_from_another_module() -> None:
    offenders = {_rel(p): found for p in MODULES if (found := _private_imports(p))}
    assert not offenders, f"private names used across modules: {offenders}"


def test_the_private_import_check_finds_one(tmp_path: Path) -> None:
    # the check above must be able to fail
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from condensekit.recipe.source import _put\nimport condensekit.output as out\nout._secret\n"
    )
    assert _private_imports(bad) == ["from condensekit.recipe.source import _put", "out._secret"]


def _builtin_component_names() -> set[str]:
    from condensekit.manager import get_plugin_manager

    cat = get_plugin_manager().catalogue
    return {entry.name for entry in cat if entry.plugin.startswith("condensekit_plugins.")}


def test_the_core_names_no_builtin_plugin() -> None:
    names = _builtin_component_names()
    assert {"mlp", "condensation", "digits", "batchnorm"} <= names  # the check knows what to look for
    offenders = []
    # condensekit/testing is exempt: its tiny runs exercise a plugin author's trick, metric or dataset on the
    # shipped `mlp` and `synthetic`, by design (its docstring says so).
    for path in (p for p in REPO.joinpath("condensekit").rglob("*.py") if "testing" not in p.parts):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
                continue
            if node.value in names:
                offenders.append(f"{_rel(path)}:{node.lineno}: {node.value!r}")
            if "condensekit_plugins" in node.value and path.name != "manager.py":
                offenders.append(f"{_rel(path)}:{node.lineno}: names the condensekit_plugins package")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom | ast.Import):
                modules = (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                )
                offenders += [
                    f"{_rel(path)}:{node.lineno}: imports {m}"
                    for m in modules
                    if m.startswith("condensekit_plugins")
                ]
    assert not offenders, "the core must not depend on a shipped plugin:\n" + "\n".join(offenders)


def test_the_builtin_list_is_the_only_place_naming_the_catalogue() -> None:
    from condensekit import manager

    text = Path(manager.__file__).read_text(encoding="utf-8")
    mentions = [line for line in text.splitlines() if "condensekit_plugins." in line]
    assert mentions and all(line.strip().startswith('"condensekit_plugins.') for line in mentions), mentions


def test_the_training_loop_fits_on_one_screen_with_its_hook_calls() -> None:
    source = REPO.joinpath("condensekit", "trainer.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    # train() sets the run up; _loop() is the step loop; _step_taker() one optimizer step
    loop = next(n for n in ast.walk(functions["_loop"]) if isinstance(n, ast.For))
    assert loop.end_lineno is not None and loop.end_lineno - loop.lineno + 1 <= 40, (
        "the step loop is longer than a screen"
    )
    lines = []
    for name in ("train", "_loop", "_step_taker"):
        function = functions[name]
        assert function.end_lineno is not None and function.end_lineno - function.lineno + 1 <= 60, (
            f"{name}() is longer than a screen"
        )
        lines += source.splitlines()[function.lineno - 1 : function.end_lineno]
    text = "\n".join(lines)
    from condensekit import hookspecs

    run_hooks = [
        name
        for name in dir(hookspecs)
        if not name.startswith(("_", "register_"))
        and callable(getattr(hookspecs, name))
        and getattr(getattr(hookspecs, name), "condensekit_spec", None) is not None
    ]
    assert "collect_metrics" in run_hooks and "run_started" in run_hooks
    for hook in run_hooks:
        direct = f"pm.hook.{hook}(" in text or f'"{hook}"' in text
        # one call away: the line calling the helper says in a comment which hook it calls
        commented = any(hook in line.split("#", 1)[1] for line in lines if "#" in line)
        assert direct or commented, (
            f"hook {hook} is neither called in train(), _loop() or _step_taker() nor named in a comment on "
            "the call that makes it"
        )
