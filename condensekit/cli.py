"""The ``condensekit`` command: run, validate, list, plugins, report (plus commands added by plugins).

User errors (bad recipes, unknown components, broken plugins a recipe needs) print one message and
exit with status 2; bugs keep their tracebacks. Importing this module does not import torch.
"""

from __future__ import annotations

import itertools
import os
import sys
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, cast

import click

from condensekit import __version__
from condensekit.catalogue import KINDS
from condensekit.environment import echo_error, one_line_warning, silence_stdout
from condensekit.errors import LINE_CHARS, CondensekitError, os_error_line
from condensekit.scaffold import KINDS as SCAFFOLD_KINDS
from condensekit.status import REPORT_ORDER, RunStatus
from condensekit.text import is_utf8, shorten


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="condensekit")
def cli() -> None:
    """Measure feature condensation across architectures and training tricks.

    Write a TOML recipe, then: condensekit run recipes/resmlp_vs_mlp.toml
    """


@cli.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("runs"), show_default=True, help="output root"
)
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="override a recipe key, e.g. train.steps=100",
)
@click.option("--force", is_flag=True, help="rerun runs that already finished")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="worker processes (the local executor; default: the recipe's, else 1)",
)
@click.option(
    "--executor",
    "executor_name",
    default=None,
    help="executor name (default: the recipe's [executor], else local)",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="no progress: print the verdict, failures and warnings only"
)
@click.pass_obj
def run(
    pm: Any,
    recipe: Path,
    out: Path,
    overrides: tuple[str, ...],
    force: bool,
    jobs: int | None,
    executor_name: str | None,
    quiet: bool,
) -> int:
    """Train every run of RECIPE, then write summary.csv and report.md and print the verdict table.

    On a terminal, live bars show the grid (runs done, failures, ETA) and each running run (step, steps/s,
    loss, phase); in a log file, one line per finished run. NO_COLOR turns colours off.
    """
    from condensekit import api
    from condensekit.executing import DONE

    if not is_utf8(str(out)):  # TensorBoard writes its event files by UTF-8 path names only
        raise CondensekitError(
            f"--out {shorten(str(out))}: the path holds bytes that are not UTF-8 text, where TensorBoard "
            "cannot write; choose a folder whose name is UTF-8"
        )
    result = api.run_recipe(
        recipe,
        out=out,
        overrides=overrides,
        force=force,
        jobs=jobs,
        executor=executor_name,
        quiet=quiet,
        plugin_manager=pm,
        check=False,  # the failed runs are listed below and make the exit code 1
    )
    _echo_verdict(result.verdict_table, result.report_path)
    _echo_answer(result.answer)
    counts = Counter(o.status for o in result.outcomes)
    if not quiet:
        shown = [
            s
            for s in REPORT_ORDER
            if s in (RunStatus.OK, RunStatus.DIVERGED, RunStatus.FAILED, RunStatus.SKIPPED) or counts[s]
        ]
        click.echo(
            f"\n{result.root.name}: {len(result.outcomes)} runs: "
            + ", ".join(f"{counts[s]} {s}" for s in shown),
            err=True,
        )
    for outcome in result.outcomes:
        if outcome.status == RunStatus.FAILED:
            click.echo(
                (
                    f"  failed: {outcome.rel_dir}: {outcome.error or '?'} "
                    f"(traceback in {out / outcome.rel_dir / 'run.json'})"
                ),
                err=True,
            )
        elif outcome.status not in DONE:
            click.echo(f"  {outcome.status}: {outcome.rel_dir}: {outcome.error or 'not done'}", err=True)
    if not quiet:
        click.echo(f"Report: {result.report_path}; TensorBoard: tensorboard --logdir {result.root}", err=True)
    # 1: some run is not done with this spec
    return 0 if all(o.status in DONE for o in result.outcomes) else 1


def _echo_verdict(table: list[dict[str, str]], report_path: Path) -> None:
    """The verdict on stdout; on a terminal fitted to its width (the full table stays in report.md)."""
    import shutil
    import textwrap

    from condensekit.report import fit_table

    width = shutil.get_terminal_size((80, 24)).columns if sys.stdout.isatty() else None
    text, shortened = fit_table(table, width)
    click.echo(text)
    if shortened:
        note = (
            "Compact table: medians across seeds; in = where the layer-mean peak fell (p1: at or before T1, "
            "p2: after); cond/coll = seeds condensed/collapsed at init; layers = hidden layers condensed on "
            "their own. The full table with [min, max] is "
            f"in {report_path}"
        )
        click.echo(
            "\n" + textwrap.fill(note, width=width or 100, break_on_hyphens=False, break_long_words=False)
        )


@cli.command()
@click.argument("recipe", type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="override a recipe key")
@click.pass_obj
def validate(pm: Any, recipe: Path, overrides: tuple[str, ...]) -> None:
    """Check RECIPE without running it; list the runs it expands to."""
    from condensekit import api

    loaded, _ = api.open_recipe(recipe, overrides, plugin_manager=pm)
    click.echo(f"{recipe}: ok, {len(loaded.specs)} runs")
    lines = (f"  {rel_dir}" for rel_dir in loaded.specs.rel_dirs())  # without building each spec
    while chunk := list(itertools.islice(lines, 10_000)):  # a million-run grid lists in seconds
        click.echo("\n".join(chunk))


@cli.command(name="list")
@click.argument("kind", required=False, type=click.Choice(KINDS))
@click.pass_obj
def list_components(pm: Any, kind: str | None) -> None:
    """List components (models, tricks, metrics, datasets, executors) with their parameters."""
    import shutil
    import textwrap

    from condensekit.field_docs import params_lines
    from condensekit.schedules import DEFAULT_METRIC_SCHEDULE

    cat = _manager(pm).catalogue
    # a pipe gets one line per parameter
    width = max(80, shutil.get_terminal_size().columns) if sys.stdout.isatty() else 10_000
    for k in [kind] if kind else KINDS:
        click.echo(_bold(k))
        for name in cat.names(k):
            entry = cat.entries[k][name]
            summary = textwrap.wrap(
                f"{entry.summary}{'  (the default)' if entry.default else ''}",
                width=max(20, width - len(name) - 4),
            ) or [""]
            click.echo(f"  {_bold(name)}  {summary[0]}")
            for more in summary[1:]:
                click.echo(f"      {more}")
            click.echo(f"      [plugin {entry.plugin}]")
            for line in params_lines(entry.params, width):
                click.echo(line)
            if k == "metrics":
                click.echo(
                    f"      every: schedule  (default: {DEFAULT_METRIC_SCHEDULE})\n          when it "
                    'is measured: "every:N" | "log:N" | "at:0,10,100"; step 0 and the last step always'
                )


@cli.command()
@click.pass_obj
def plugins(pm: Any) -> None:
    """Show every plugin with its origin, version, hooks, and any load error."""
    from condensekit.manager import hooks_of

    pm = _manager(pm)
    for name, plugin in sorted(pm.list_name_plugin()):
        origin, version = pm.origins.get(name, ("?", "?"))
        click.echo(f"{name}  {version}  ({origin})")
        click.echo(f"    hooks: {', '.join(hooks_of(pm, plugin))}")
    for name, error in sorted(pm.load_errors.items()):
        click.echo(click.style(f"{name}  FAILED TO LOAD: {error}", fg="red"))


@cli.command(name="new-plugin")
@click.argument("name")
@click.option("--kind", type=click.Choice(SCAFFOLD_KINDS), default="trick", show_default=True)
@click.option(
    "--dir",
    "parent",
    type=click.Path(path_type=Path),
    default=Path("."),
    show_default=True,
    help="folder to create the package in",
)
def new_plugin(name: str, kind: str, parent: Path) -> None:
    """Write a ready-to-install plugin package condensekit-NAME (pyproject, plugin, tests, README)."""
    from condensekit.scaffold import write_plugin

    folder = write_plugin(name, kind, parent)
    click.echo(
        f"wrote {folder}/ (a {kind} plugin). Next:\n  pip install -e {folder}\n  cd {folder} && pytest"
    )


@cli.command()
@click.argument("runs_dir", type=click.Path(path_type=Path))
def report(runs_dir: Path) -> None:
    """Rebuild summary.csv, report.md and the figures of a recipe's output folder (e.g. runs/resmlp_vs_mlp).

    Exit codes: 0 written; 1 the disk refused (full, read-only, a file-size limit: the previous report is
    left as it was); 2 no such folder, no runs in it (nothing is written), or a link where a file goes.
    """
    from condensekit.report import answer, verdict, write_report

    if not runs_dir.is_dir():
        raise CondensekitError(
            f"{runs_dir}: no such folder; give a recipe's output folder, e.g. runs/resmlp_vs_mlp"
        )
    try:
        written = write_report(runs_dir)  # writes nothing when there is no run
    except OSError as exc:  # reading (writing errors are ReportNotWritten, exit 1)
        raise CondensekitError(f"{runs_dir}: could not read the runs: {exc}") from None
    if not written.rows:
        raise CondensekitError(
            f"{runs_dir}: no runs found (no run folder below it), so nothing was written; give a recipe's "
            "output folder, e.g. runs/resmlp_vs_mlp"
        )
    _echo_verdict(verdict(written), runs_dir / "report.md")
    _echo_answer(answer(written))
    click.echo(f"\nwrote {runs_dir / 'summary.csv'} and {runs_dir / 'report.md'}", err=True)


def _echo_answer(sentences: list[str]) -> None:
    """One sentence per arm, generated from the numbers of the runs (the answer of report.md)."""
    if sentences:
        click.echo("\n" + "\n".join(_fill(sentence) for sentence in sentences))


def _fill(text: str) -> str:
    """On a terminal, ``text`` wrapped to its width (a pipe or a file gets one line per sentence)."""
    import shutil
    import textwrap

    if not sys.stdout.isatty():
        return text
    width = shutil.get_terminal_size((80, 24)).columns
    return textwrap.fill(
        text, width=width, subsequent_indent="  ", break_on_hyphens=False, break_long_words=False
    )


def _bold(text: str) -> str:
    """Bold on a terminal, plain under NO_COLOR (click drops the codes itself when output is not a
    terminal)."""
    return text if os.environ.get("NO_COLOR") else click.style(text, bold=True)


def _manager(pm: Any) -> Any:
    """The process's plugin manager (``main`` passes it as the click object; a bare ``cli()`` call has
    none)."""
    from condensekit.manager import get_plugin_manager

    return pm if pm is not None else get_plugin_manager()


def _plugin_manager_with_commands() -> Any:
    """The one plugin manager of this invocation, after plugins added their commands to the group."""
    from condensekit.manager import get_plugin_manager

    pm = get_plugin_manager()
    try:
        pm.hook.register_commands(cli=cli)
    except CondensekitError as exc:
        click.echo(f"condensekit: warning: plugin commands not loaded: {exc}", err=True)
    return pm


def main(argv: list[str] | None = None) -> int:
    """Run ``condensekit ARGV`` and return its exit code (never raises ``SystemExit``).

    0: done; 1: some run failed, or the operating system refused something mid-way (out of memory, too many
    open files, output that cannot be written); 2: bad input (a recipe, an option, a plugin the recipe
    needs); 130: Ctrl-C. User errors and failures of the operating system print one message without a
    traceback, each line shortened; bugs keep their tracebacks. The console script is
    :func:`console_main`, which exits with this code.
    """
    warnings.showwarning = one_line_warning
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        pm = _plugin_manager_with_commands()
        code = cli.main(args=args, prog_name="condensekit", standalone_mode=False, obj=pm)
        sys.stdout.flush()  # what is buffered reaches its file now: a full disk is said here
    except CondensekitError as exc:
        echo_error(str(exc))
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        if next((a for a in args if not a.startswith("-")), None) == "run":
            click.echo(_resume_hint(args), err=True)
        return 130
    except click.ClickException as exc:
        cast(Any, exc).message = shorten(exc.message, LINE_CHARS)  # click quotes the value it refused
        exc.show()
        return exc.exit_code
    except BrokenPipeError:  # the program reading the output stopped (| head): nobody is left to tell
        silence_stdout()
        return 1
    except OSError as exc:  # the operating system refused something that no check before foresaw
        echo_error(os_error_line(exc))
        return 1
    except MemoryError:
        echo_error("out of memory; close other programs, or use smaller models, data or batches")
        return 1
    return code if isinstance(code, int) else 0


def _resume_hint(args: list[str]) -> str:
    """What to do after Ctrl-C stopped ``condensekit run``: the same command resumes."""
    import shlex

    return (
        "The runs that were training are recorded as interrupted. To resume, run the same command again "
        f"(finished runs are skipped, the rest are redone):\n  condensekit {shlex.join(args)}"
    )


def console_main() -> None:
    """Entry point of the ``condensekit`` console script and ``python -m condensekit``: exit with
    :func:`main`'s code.

    Before anything else (torch included) is loaded: closed standard streams get ``/dev/null``, and
    thread-count variables that OpenMP cannot read are dropped with a warning
    (:mod:`condensekit.environment`).
    """
    from condensekit.environment import guard_output_streams, reopen_closed_streams, thread_count_problems
    from condensekit.threads import prefer_passive_waiting

    reopen_closed_streams()
    guard_output_streams()
    for problem in thread_count_problems():
        print(f"condensekit: warning: {problem}", file=sys.stderr)
    prefer_passive_waiting()  # before torch is loaded: OpenMP threads sleep, not spin, on a busy machine
    code = main()
    try:
        sys.stdout.flush()
    except (OSError, CondensekitError):  # main said why, or a closed pipe: nobody is left to tell
        silence_stdout()
        code = code or 1
    if getattr(sys.stdout, "failed", False):
        # stdout failed (the error is said): what stays buffered, or is written later by a thread or an exit
        # handler, goes to /dev/null, so that Python's own flush at exit does not fail again (exit 120)
        silence_stdout()
    sys.exit(code)
