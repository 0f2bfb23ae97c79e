"""``condensekit new-plugin NAME``: write a ready-to-install plugin package.

The package installs with ``pip install -e <folder>`` and passes its own tests unchanged: a pyproject with
the ``condensekit`` entry point, the plugin (``<module>/__init__.py``; models also get ``<module>/net.py``
holding the ``nn.Module``, imported inside the factory so that loading the plugin never imports torch), a
test using :mod:`condensekit.testing`, an example recipe and a README.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from condensekit.catalogue import KINDS as CATALOGUE_KINDS
from condensekit.catalogue import singular
from condensekit.errors import CondensekitError
from condensekit.scaffold_templates import MODULES, NET, PYPROJECT, README, RECIPE_PARTS, TESTS

KINDS = tuple(singular(kind) for kind in CATALOGUE_KINDS if kind != "executors")
"""What ``new-plugin --kind`` can write: one package per component kind (executors are not templated)."""
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class PluginNames:
    """The names one plugin goes by."""

    component: str  # what recipes write: `use = "my_model"`, `[tricks] my_trick = {}`
    distribution: str  # the pip package: condensekit-my-model
    module: str  # the import package: condensekit_my_model
    camel: str  # class-name prefix: MyModel

    @classmethod
    def from_name(cls, name: str) -> PluginNames:
        if not _NAME.match(name):
            raise CondensekitError(
                f"new-plugin: invalid name {name!r}; use letters, digits, "
                "'_' and '-', starting with a letter (e.g. my_trick)"
            )
        slug = re.sub(r"^condensekit[-_]", "", name.lower()).replace("-", "_")
        if not slug:
            raise CondensekitError(
                f"new-plugin: {name!r} leaves no name after the "
                "'condensekit-' prefix; e.g. condensekit-my-trick"
            )
        return cls(
            component=slug,
            distribution="condensekit-" + slug.replace("_", "-"),
            module="condensekit_" + slug,
            camel="".join(part.capitalize() for part in slug.split("_") if part),
        )


def plugin_files(names: PluginNames, kind: str) -> dict[str, str]:
    """Relative path -> text of every file of the package."""
    if kind not in KINDS:
        raise CondensekitError(f"new-plugin: unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    values = {
        "name": names.component,
        "dist": names.distribution,
        "module": names.module,
        "Camel": names.camel,
        "kind": kind,
        "recipe_part": Template(RECIPE_PARTS[kind]).substitute(name=names.component),
    }
    files = {
        "pyproject.toml": PYPROJECT,
        f"{names.module}/__init__.py": MODULES[kind],
        f"tests/test_{names.component}.py": TESTS[kind],
        "example.toml": RECIPE_PARTS["recipe"],
        "README.md": README,
    }
    if kind == "model":
        files[f"{names.module}/net.py"] = NET
    return {path: Template(text).substitute(values) for path, text in files.items()}


def _check_free(names: PluginNames, kind: str) -> None:
    """A name the catalogue already has would clash with it once installed; say so now."""
    from condensekit.manager import get_plugin_manager

    entries = get_plugin_manager().catalogue.entries[kind + "s"]
    if names.component in entries:
        owner = entries[names.component].plugin
        raise CondensekitError(
            f"new-plugin: a {kind} named {names.component!r} already "
            f"exists (from plugin {owner!r}); pick another name"
        )


def write_plugin(name: str, kind: str = "trick", parent: str | Path = ".") -> Path:
    """Create the package folder ``parent/condensekit-<name>`` and return it.

    Raises:
        CondensekitError: the name is invalid or taken, or the folder already exists (nothing is overwritten).
    """
    names = PluginNames.from_name(name)
    files = plugin_files(names, kind)
    folder = Path(parent) / names.distribution
    if folder.exists():
        raise CondensekitError(
            f"new-plugin: {folder} already exists; nothing was written (remove it or choose another --dir)"
        )
    _check_free(names, kind)
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder
