"""The ``condensekit`` command: run, validate, list, plugins, report (plus commands added by plugins).

User errors (bad recipes, unknown components, broken plugins a recipe needs) print one message and
exit with status 2; bugs keep their tracebacks. Importing this module does not import torch.
"""

from __future__ import annotations

import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import click

from condensekit import __version__
from condensekit.errors import CondensekitError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="condensekit")
def cli() -> None:
    """Measure feature condensation across architectures and training tricks.

    Write a TOML recipe, then: condensekit run recipes/resmlp_vs_mlp.toml
    """


@cli.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs"), show_default=True, help="output root")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a recipe key, e.g. train.steps=100")
@click.option("--force", is_flag=True, help="rerun runs that already finished")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="worker processes for the local executor")
@click.option("--executor", "executor_name", default=None, help="executor name (default: the recipe's [executor], else local)")
def run(recipe: Path, out: Path, overrides: tuple[str, ...], force: bool, jobs: int, executor_name: str | None) -> int:
    """Train every run of RECIPE, then write summary.csv and report.md and print the verdict table."""
    from condensekit.executing import ExecContext
    from condensekit.manager import get_plugin_manager
    from condensekit.recipe import load_recipe
    from condensekit.report import render_text, write_report

    loaded = load_recipe(recipe, list(overrides))
    pm = get_plugin_manager(loaded.plugins)
    use = executor_name or loaded.executor["use"]
    params = loaded.executor["params"] if use == loaded.executor["use"] else {}
    entry = pm.catalogue.get("executors", use)
    executor = entry.factory(entry.params.model_validate(params))
    specs = loaded.specs
    arms = len({s.arm for s in specs})
    click.echo(f"{loaded.name}: {len(specs)} runs ({arms} arms x {len({s.grid_label for s in specs})} grid points x "
               f"{len({s.seed for s in specs})} seeds) -> {out / loaded.name} [executor: {use}]", err=True)  # fmt: skip

    if jobs > 1 and use != "local":
        click.echo(f"  note: --jobs applies to the local executor; {use} sizes its own workers (see docs/scaling.md)", err=True)
    done: list[Any] = []  # outcomes so far, for the [k/N] counter

    def progress(spec: Any, outcome: Any) -> None:
        # Called in this process as each run ends, whichever worker, job or task ran it.
        done.append(outcome)
        head = f"  [{len(done)}/{len(specs)}] {outcome.status:8s} {spec.rel_dir}"
        if outcome.status == "skipped":
            why = outcome.error or "finished earlier; --force reruns it"
            click.echo(f"{head} ({why})", err=True)
        elif outcome.status == "failed":
            click.echo(f"{head}: {outcome.error or 'see run.json'}", err=True)
        else:
            click.echo(f"{head} ({outcome.seconds:.1f}s)", err=True)

    outcomes = executor.execute(specs, ExecContext(out_root=out, force=force, jobs=jobs, on_outcome=progress))
    _, table = write_report(out / loaded.name)
    click.echo(render_text(table))
    counts = Counter(o.status for o in outcomes)
    known = ("ok", "diverged", "failed", "skipped")
    statuses = [*known, *sorted(set(counts) - set(known))]
    click.echo(f"\n{loaded.name}: {len(outcomes)} runs: " + ", ".join(f"{counts[s]} {s}" for s in statuses), err=True)
    for outcome in outcomes:
        if outcome.status == "failed":
            click.echo(f"  failed: {outcome.rel_dir}: {outcome.error or '?'} (traceback in {out / outcome.rel_dir / 'run.json'})", err=True)
    click.echo(f"Report: {out / loaded.name / 'report.md'}; TensorBoard: tensorboard --logdir {out / loaded.name}", err=True)
    return 1 if counts["failed"] else 0


@cli.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a recipe key")
def validate(recipe: Path, overrides: tuple[str, ...]) -> None:
    """Check RECIPE without running it; list the runs it expands to."""
    from condensekit.recipe import load_recipe

    loaded = load_recipe(recipe, list(overrides))
    click.echo(f"{recipe}: ok, {len(loaded.specs)} runs")
    for spec in loaded.specs:
        click.echo(f"  {spec.rel_dir}")


@cli.command(name="list")
@click.argument("kind", required=False, type=click.Choice(["models", "tricks", "metrics", "datasets", "executors"]))
def list_components(kind: str | None) -> None:
    """List components (models, tricks, metrics, datasets, executors) with their parameters."""
    from condensekit.catalogue import KINDS
    from condensekit.manager import get_plugin_manager

    cat = get_plugin_manager().catalogue
    for k in [kind] if kind else KINDS:
        click.echo(click.style(k, bold=True))
        for name in cat.names(k):
            entry = cat.entries[k][name]
            click.echo(f"  {name}  - {entry.summary}  [{entry.plugin}]")
            for field_name, info in entry.params.model_fields.items():
                annotation = getattr(info.annotation, "__name__", None) or str(info.annotation).replace("typing.", "")
                default = "required" if info.is_required() else f"default {info.get_default(call_default_factory=True)!r}"
                click.echo(f"      {field_name}: {annotation} ({default}) {info.description or ''}".rstrip())
            if k == "metrics":
                click.echo('      every: schedule (default "log:100") "every:N" | "log:N" | "at:0,10,100"')


@cli.command()
def plugins() -> None:
    """Show every plugin with its origin, version, hooks, and any load error."""
    from condensekit.manager import get_plugin_manager, hooks_of

    pm = get_plugin_manager()
    for name, plugin in sorted(pm.list_name_plugin()):
        origin, version = pm.origins.get(name, ("?", "?"))
        click.echo(f"{name}  {version}  ({origin})")
        click.echo(f"    hooks: {', '.join(hooks_of(pm, plugin))}")
    for name, error in sorted(pm.load_errors.items()):
        click.echo(click.style(f"{name}  FAILED TO LOAD: {error}", fg="red"))


@cli.command(name="new-plugin")
@click.argument("name")
@click.option("--kind", type=click.Choice(["model", "trick", "metric", "dataset"]), default="trick", show_default=True)
@click.option("--dir", "parent", type=click.Path(path_type=Path), default=Path("."), show_default=True, help="folder to create the package in")
def new_plugin(name: str, kind: str, parent: Path) -> None:
    """Write a ready-to-install plugin package condensekit-NAME (pyproject, plugin, tests, README)."""
    from condensekit.scaffold import write_plugin

    folder = write_plugin(name, kind, parent)
    click.echo(f"wrote {folder}/ (a {kind} plugin). Next:\n  pip install -e {folder}\n  cd {folder} && pytest")


@cli.command()
@click.argument("runs_dir", type=click.Path(path_type=Path))
def report(runs_dir: Path) -> None:
    """Rebuild summary.csv and report.md of a recipe's output folder (e.g. runs/resmlp_vs_mlp)."""
    from condensekit.report import render_text, write_report

    if not runs_dir.is_dir():
        raise CondensekitError(f"{runs_dir}: no such folder; give a recipe's output folder, e.g. runs/resmlp_vs_mlp")
    rows, table = write_report(runs_dir)
    if not rows:
        raise CondensekitError(f"{runs_dir}: no runs found (no run.json below it); give a recipe's output folder")
    click.echo(render_text(table))
    click.echo(f"\nwrote {runs_dir / 'summary.csv'} and {runs_dir / 'report.md'}", err=True)


def _add_plugin_commands() -> None:
    from condensekit.manager import get_plugin_manager

    try:
        get_plugin_manager().hook.register_commands(cli=cli)
    except CondensekitError as exc:
        click.echo(f"condensekit: warning: plugin commands not loaded: {exc}", err=True)


def _one_line_warnings(message: Any, category: Any, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
    print(f"condensekit: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``condensekit`` console script."""
    warnings.showwarning = _one_line_warnings
    _add_plugin_commands()
    try:
        code = cli.main(args=argv, prog_name="condensekit", standalone_mode=False)
    except CondensekitError as exc:
        click.echo(f"condensekit: error: {exc}" if "\n" not in str(exc) else f"condensekit: error:\n{exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    sys.exit(code if isinstance(code, int) else 0)
