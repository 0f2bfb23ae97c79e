"""Whether a finished run may be kept on a rerun: the same results-relevant spec, and its outputs intact.

A run directory whose ``run.json`` says ``ok`` or ``diverged`` holds results. They are the answer to the
question asked now only when the spec stored with them equals the spec asked for now, key by key, except
for keys that say *where or how* a run executes rather than *what* it computes (:data:`EXECUTION_KEYS`).
A finished run whose spec changed, whose outputs (``metrics.jsonl``, the event file, ...) no longer match
the SHA-256 its ``run.json`` records, or whose ``run.json`` holds no summary, is redone, and the reason is
printed (``train.lr 0.02 -> 0.05``). Finished runs of another recipe file of the same name are not replaced
without asking (:func:`refuse_other_recipe_runs`).

What is not compared: code. A new condensekit, torch or plugin version (recorded in ``run.json``) or an
edited local plugin file does not make a finished run stale; ``--force`` reruns it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from condensekit.output import LOCK_NAME, read_run_json
from condensekit.safe_files import NotAFile, OutputError, kind_of, open_regular
from condensekit.spec import RunSpec
from condensekit.status import as_status

EXECUTION_KEYS = frozenset({"recipe_path", "plugins", "device", "data.root"})
"""Spec keys that do not change what a run computes, so a change of them alone keeps a finished run:

* ``recipe_path``: where the recipe file is (moving or copying a recipe changes nothing);
* ``plugins``: where the recipe's local plugin files are, as absolute paths (the components they provide
  are compared by name and parameters like any other; their code is not compared, like any code);
* ``device``: where the run executes (``auto``, ``cpu``, ``cuda``); like the executor and the thread count
  it changes rounding, not the experiment;
* ``data.root``: where the dataset's files are found.

Not part of the spec at all, so never compared: the executor, ``--jobs``, threads, ``--out``.
"""


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else str(key))
    else:
        yield prefix, value


def _text(value: Any) -> str:
    from condensekit.text import toml_text

    return "(none)" if value is None else toml_text(value)


def comparable(spec: RunSpec | Mapping[str, Any]) -> dict[str, Any]:
    """The results-relevant keys of a spec, flattened (``{"train.lr": 0.02, ...}``); defaults filled in."""
    data = spec.to_dict() if isinstance(spec, RunSpec) else RunSpec.from_dict(dict(spec)).to_dict()
    return {key: value for key, value in _flatten(data) if key not in EXECUTION_KEYS}


def spec_changes(stored: Mapping[str, Any], spec: RunSpec, limit: int = 4) -> list[str]:
    """What differs between a stored spec and ``spec``, as ``key old -> new`` (empty when they are the same).

    A stored spec this version cannot read (written by another version) counts as changed.
    """
    try:
        old = comparable(stored)
    except Exception:  # pydantic ValidationError: keys this version does not know, or wrong types
        return ["its stored spec is not readable by this version of condensekit"]
    new = comparable(spec)
    changed = [key for key in sorted(set(old) | set(new)) if old.get(key, _MISSING) != new.get(key, _MISSING)]
    lines = [f"{key} {_text(old.get(key))} \u2192 {_text(new.get(key))}" for key in changed[:limit]]
    if len(changed) > limit:
        lines.append(f"and {len(changed) - limit} more keys")
    return lines


_MISSING = object()


def file_digest(path: Path) -> str:
    """The SHA-256 of a regular file, read without following a link or opening a FIFO
    (:class:`~condensekit.safe_files.NotAFile` otherwise)."""
    digest = hashlib.sha256()
    with open_regular(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_outputs(run_dir: Path) -> dict[str, dict[str, Any]]:
    """What the run wrote, for ``run.json``'s ``outputs``: each file's size and SHA-256 (``metrics.jsonl``,
    the event file, any file a plugin wrote), so that a finished run is trusted by its content."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(run_dir.iterdir()):
        if path.name in ("run.json", LOCK_NAME) or path.name.startswith(".") or path.is_symlink():
            continue
        if path.is_file():
            out[path.name] = {"bytes": path.stat().st_size, "sha256": file_digest(path)}
    return out


def damaged_outputs(run_dir: Path, info: Mapping[str, Any]) -> str:
    """Why the outputs ``run.json`` lists are not what the run wrote ("" when every one is there with its
    SHA-256); a link or a FIFO in their place is never followed or opened."""
    outputs = info.get("outputs")
    if not isinstance(outputs, dict):
        return "run.json lists no outputs"
    for name, expected in outputs.items():
        if not isinstance(expected, dict) or not _plain_name(name):
            return "run.json lists its outputs wrongly"
        if not isinstance(expected.get("sha256"), str):
            return f"run.json records no SHA-256 of {name} (written by an older condensekit)"
        try:
            same = file_digest(run_dir / name) == expected["sha256"]
        except FileNotFoundError:
            return f"{name} is missing"
        except OSError as exc:
            return f"{name} {exc.strerror}" if isinstance(exc, NotAFile) else f"{name}: {exc.strerror or exc}"
        if not same:
            return f"{name} was changed after the run finished (content differs)"
    return _planted(run_dir)


def _planted(run_dir: Path) -> str:
    """A link, FIFO or device placed in a run folder after the run (the run writes regular files only)."""
    try:
        with os.scandir(run_dir) as entries:
            odd = [e for e in entries if e.name != LOCK_NAME and not e.is_dir(follow_symlinks=False)]
    except OSError as exc:
        return f"the run folder cannot be read ({exc.strerror or exc})"
    for entry in odd:
        if entry.is_symlink():
            return f"{entry.name} is a symbolic link, not followed"
        if not entry.is_file(follow_symlinks=False):
            return f"{entry.name} is {kind_of(os.lstat(entry.path).st_mode)}, not a file"
    return ""


def _plain_name(name: str) -> bool:
    return name not in ("", ".", "..") and "/" not in name and "\\" not in name and "\0" not in name


def summary_problem(info: Mapping[str, Any]) -> str:
    """Why a finished run's ``summary`` cannot give a verdict ("" when it can): missing or empty (a
    ``run.json`` edited to say ``ok``), or not a summary this version reads."""
    from pydantic import ValidationError

    from condensekit.phases import RunSummary

    if not info.get("summary"):
        return "run.json says the run finished but holds no summary"
    try:
        RunSummary.from_dict(info["summary"])
    except ValidationError:
        return "run.json's summary is not one this version of condensekit reads (edited, or another's)"
    return ""


NOT_FINISHED = "not finished last time"
"""How :func:`kept_run` starts the reason to redo a run that failed, was interrupted or left ``running``."""


def kept_run(run_dir: Path, spec: RunSpec) -> tuple[dict[str, Any] | None, str]:
    """``(run.json, "")`` when the run finished with this spec and its outputs are intact: it is kept.

    Otherwise ``(None, why it is redone)``: why a finished run is not kept (``changed since it finished:
    ...``, ``metrics.jsonl is missing``), or, for a run that did not finish, :data:`NOT_FINISHED` and its
    status (``not finished last time (interrupted)``); empty when there is no run yet.
    """
    info = read_run_json(run_dir)
    if info is None:
        return None, ""
    status = as_status(info.get("status"))
    if not status.finished:
        return None, f"{NOT_FINISHED} ({status})"
    changes = spec_changes(info.get("spec") or {}, spec)
    if changes:
        return None, "changed since it finished: " + ", ".join(changes)
    damage = summary_problem(info) or damaged_outputs(run_dir, info)
    if damage:
        return None, damage
    return info, ""


def refuse_other_recipe_runs(
    out: Path, specs: Sequence[RunSpec], rel_dirs: Iterable[str | Path], shown: int = 3
) -> None:
    """Raise :class:`~condensekit.safe_files.OutputError` when finished runs below ``out`` came from another
    recipe file of the same ``name`` (their stored ``recipe_path``, a file that is still there) and running
    ``specs`` would replace them (their spec differs): say which file, which runs, and how to keep both.

    ``rel_dirs`` are the specs' folders, in their order: a spec is only built where its folder holds a run.
    A recipe that was moved, copied or edited in place is the same recipe: its runs are rerun as usual.
    """
    replaced, files, name = [], [], ""
    for index, rel_dir in enumerate(rel_dirs):
        if not os.path.lexists(out / rel_dir / "run.json"):
            continue
        spec = specs[index]
        info = read_run_json(out / spec.rel_dir) or {}
        stored = info.get("spec")
        if not isinstance(stored, dict) or not as_status(info.get("status")).finished:
            continue
        other = stored.get("recipe_path")
        if not (isinstance(other, str) and _another_file(other, spec.recipe_path)):
            continue
        if changes := spec_changes(stored, spec, limit=2):
            replaced.append(f"{spec.label} ({', '.join(changes)})")
            files += [other] if other not in files else []
            name = spec.recipe_name
    if not replaced:
        return
    more = f", and {len(replaced) - shown} more" if len(replaced) > shown else ""
    raise OutputError(
        f"{out / name} holds {len(replaced)} finished run{'s' if len(replaced) > 1 else ''} of another "
        f"recipe file named {name!r} ({', '.join(files)}) that this recipe would replace: "
        f"{'; '.join(replaced[:shown])}{more}. To keep both, give this recipe its own folder: --out "
        f"<another folder>, or --set name=<another name>; to replace them, run again with --force"
    )


def _another_file(stored: str, current: str) -> bool:
    """Whether the recipe file a run came from is another file than ``current``, and still there."""
    if not stored or stored == current or not os.path.isfile(stored):
        return False
    try:
        return not (current and os.path.samefile(stored, current))
    except OSError:
        return True


def same_spec(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two stored specs describe the same computation (execution keys and the seed aside)."""
    try:
        left, right = comparable(a), comparable(b)
    except Exception:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    left.pop("seed", None)
    right.pop("seed", None)
    return left == right
