"""Local plugin files: the Python files a recipe names in ``plugins = [...]``, imported by path.

A plugin file is imported under a unique module name (two recipes may each have a ``my_plugin.py``), with
its own folder on ``sys.path``, first, as Python does for a script: the file can import the modules and
packages beside it (``from nets import SkipMLP`` for a ``nets.py`` next to it), also later, inside a
factory. Which files a recipe may name is decided before anything is imported
(:func:`condensekit.recipe.schema.plugin_file_problem`: only files inside the recipe's folder), so the
folder put on ``sys.path`` is always inside the recipe's folder. Give sibling modules names of their own:
a name already imported in the process (``utils``, another recipe's ``nets``) is not imported again.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from condensekit.errors import PluginError

__all__ = ["import_failure", "load_plugin_file"]


def load_plugin_file(path: Path) -> ModuleType:
    """Import a local plugin file (named by a recipe's ``plugins`` list) under a unique module name.

    Its folder goes first on ``sys.path`` (once), so it can import its sibling modules.

    Raises:
        PluginError: the file cannot be imported; the error it raised is the cause.
    """
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"condensekit_local_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"{path}: cannot be imported as a Python module")
    folder = str(path.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # sys.exit() in a plugin file must not end condensekit
        del sys.modules[module_name]
        raise PluginError(f"{path}: local plugin failed to import: {type(exc).__name__}: {exc}") from exc
    return module


def import_failure(path: Path, exc: BaseException) -> str:
    """``RuntimeError: boom (line 3)``: the error and the last line of the plugin file it passed through."""
    cause = exc.__cause__ or exc
    if isinstance(cause, SyntaxError):  # its message already names the file and line
        return f"SyntaxError: {cause}"
    line = None
    for frame in traceback.extract_tb(cause.__traceback__):
        if Path(frame.filename).resolve() == path.resolve():
            line = frame.lineno
    text = f"{type(cause).__name__}: {cause}"
    return f"{text} (line {line})" if line else text
