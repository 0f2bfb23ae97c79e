"""Whether a finished run may be kept on a rerun: the same results-relevant spec, and its outputs intact.

A run directory whose ``run.json`` says ``ok`` or ``diverged`` holds results. They are the answer to the
question asked now only when the spec stored with them equals the spec asked for now, key by key, except
for keys that say *where or how* a run executes rather than *what* it computes (:data:`EXECUTION_KEYS`).
A finished run whose spec changed, or whose ``metrics.jsonl`` / event file was deleted or altered after it
finished, is redone, and the reason is printed (``train.lr 0.02 -> 0.05``).

What is not compared: code. A new condensekit, torch or plugin version (recorded in ``run.json``) or an
edited local plugin file does not make a finished run stale; ``--force`` reruns it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from condensekit.output import LOCK_NAME, read_run_json
from condensekit.spec import RunSpec

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

CHECKSUMMED = ("metrics.jsonl",)
"""Outputs whose content ``run.json`` records a SHA-256 of (the others: their size)."""


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
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record_outputs(run_dir: Path) -> dict[str, dict[str, Any]]:
    """What the run wrote, for ``run.json``'s ``outputs``: each file's size, and a SHA-256 of
    ``metrics.jsonl``."""
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(run_dir.iterdir()):
        if (
            path.name in ("run.json", LOCK_NAME)
            or path.name.startswith(".")
            or not path.is_file()
            or path.is_symlink()
        ):
            continue
        out[path.name] = {"bytes": path.stat().st_size}
        if path.name in CHECKSUMMED:
            out[path.name]["sha256"] = file_digest(path)
    return out


def damaged_outputs(run_dir: Path, info: Mapping[str, Any]) -> str:
    """Why the outputs ``run.json`` lists are not what the run wrote ("" when they are, or none are
    listed)."""
    for name, expected in (info.get("outputs") or {}).items():
        path = run_dir / name
        if not isinstance(expected, dict) or "/" in name:
            return "run.json lists its outputs wrongly"
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != expected.get("bytes"):
            return f"{name} was changed after the run finished (size differs)"
        if "sha256" in expected and file_digest(path) != expected["sha256"]:
            return f"{name} was changed after the run finished (content differs)"
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
    from condensekit.status import as_status

    status = as_status(info.get("status"))
    if not status.finished:
        return None, f"{NOT_FINISHED} ({status})"
    changes = spec_changes(info.get("spec") or {}, spec)
    if changes:
        return None, "changed since it finished: " + ", ".join(changes)
    damage = damaged_outputs(run_dir, info)
    if damage:
        return None, damage
    return info, ""


def same_spec(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two stored specs describe the same computation (execution keys and the seed aside)."""
    try:
        left, right = comparable(a), comparable(b)
    except Exception:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    left.pop("seed", None)
    right.pop("seed", None)
    return left == right
