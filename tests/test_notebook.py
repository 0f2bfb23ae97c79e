"""condensekit in a real notebook (issue 21): a grid result shows its verdict table and its figures inline,
and ``dir(condensekit)`` lists the lazily imported names, so tab completion finds them.

The notebook is executed by nbclient on an ipykernel kernel, as Jupyter would run it
(``pip install -e ".[test]"`` installs both).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import condensekit
from condensekit.testing import tiny_recipe


def test_dir_lists_the_lazy_names() -> None:
    names = dir(condensekit)
    assert {"run_recipe", "load_runs", "Probe", "GridResult", "Run", "DataInfo", "RunsFailed"} <= set(names)
    assert set(condensekit.__all__) <= set(names)
    assert not {"Any", "TYPE_CHECKING", "annotations"} & set(names)  # typing helpers are not the API


def test_the_html_repr_has_the_verdict_table_unfinished_runs_and_figures(tmp_path: Path) -> None:
    recipe = tiny_recipe(steps=8, metrics={"condensation": {"every": "every:4"}})
    result = condensekit.run_recipe(recipe, out=tmp_path / "runs", quiet=True)
    page = result._repr_html_()
    assert page.count("<tr>") == 1 + len(result.verdict_table)  # the header and one row per arm
    assert "<th>T1 (phase-1 end)</th>" in page and f"<td>{result.verdict_table[0]['arm']}</td>" in page
    assert page.count("data:image/png;base64,") == len(result.figures) > 0
    assert "did not finish" not in page
    result.rows[0]["status"], result.rows[0]["error"] = "failed", "RuntimeError: <boom>"
    assert "failed: <code>" in result._repr_html_() and "RuntimeError: &lt;boom&gt;" in result._repr_html_()


def test_an_executed_notebook_shows_the_grid_result_as_html(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason='pip install -e ".[test]"')
    nbclient = pytest.importorskip("nbclient", reason='pip install -e ".[test]"')
    pytest.importorskip("ipykernel", reason='pip install -e ".[test]"')
    recipe = tiny_recipe(steps=8, metrics={"condensation": {"every": "every:4"}})
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import condensekit\n[n for n in dir(condensekit) if n in ('run_recipe', 'Probe')]"
        ),
        nbformat.v4.new_code_cell(
            f"result = condensekit.run_recipe({json.dumps(recipe)}, out={str(tmp_path / 'runs')!r})\nresult"
        ),
    ]
    nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()
    nbformat.write(notebook, tmp_path / "executed.ipynb")  # what a user would see, saved
    names, shown = (cell.outputs for cell in notebook.cells)
    assert names[-1]["data"]["text/plain"] == "['Probe', 'run_recipe']"
    result = next(o for o in shown if o["output_type"] == "execute_result")
    page = result["data"]["text/html"]
    assert "<table" in page and "T1 (phase-1 end)" in page and "data:image/png;base64," in page
    assert result["data"]["text/plain"].startswith("GridResult(")
    progress = "".join(o.get("text", "") for o in shown if o["output_type"] == "stream")
    assert "[1/1] ok" in progress  # progress as plain lines in a notebook
