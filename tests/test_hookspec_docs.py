"""docs/plugins.md's hook reference matches condensekit/hookspecs.py: every hook, its exact signature, in
order."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from condensekit import hookspecs

DOC = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
HEADING = re.compile(r"^#### `(\w+)\((.*)\) -> (.+)`$", re.MULTILINE)


def _specs() -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(f)
        for name, f in vars(hookspecs).items()
        if getattr(f, "condensekit_spec", None) is not None
    }


def _rendered(sig: inspect.Signature) -> tuple[str, str]:
    # hookspecs uses `from __future__ import annotations`, so annotations are the source strings
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return params, str(sig.return_annotation)


def _documented() -> dict[str, tuple[str, str]]:
    return {m.group(1): (m.group(2), m.group(3)) for m in HEADING.finditer(DOC.read_text(encoding="utf-8"))}


def test_every_hook_is_documented_and_nothing_else() -> None:
    specs, documented = _specs(), _documented()
    assert sorted(set(specs) - set(documented)) == [], "hooks missing from docs/plugins.md's reference"
    assert sorted(set(documented) - set(specs)) == [], (
        "docs/plugins.md documents hooks that hookspecs.py does not declare"
    )


def test_documented_signatures_match_the_specs() -> None:
    documented = _documented()
    for name, sig in _specs().items():
        assert documented[name] == _rendered(sig), (
            f"docs/plugins.md: the signature of {name} differs from hookspecs.py"
        )


def test_reference_follows_the_order_of_hookspecs() -> None:
    assert [n for n in _documented()] == list(_specs())


def test_first_result_hooks_say_so() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name, f in vars(hookspecs).items():
        opts = getattr(f, "condensekit_spec", None)
        if opts is not None and opts.get("firstresult"):
            section = text.split(f"#### `{name}(", 1)[1].split("\n#### ", 1)[0]
            assert "First result wins" in section, f"docs/plugins.md: say that {name} is firstresult"


def test_the_check_catches_a_changed_signature() -> None:
    # the comparison must be able to fail: a spec with one more argument no longer matches
    def after_step(run: int, model: int, optimizer: int, extra: int) -> None: ...

    assert _rendered(inspect.signature(after_step)) != _documented()["after_step"]
