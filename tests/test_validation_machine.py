"""Caught once, at validation (issue 21): a device this machine lacks, data that cannot be had, a model
factory that raises; and local plugin files that import the modules beside them."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
from hostile import cli, write

import condensekit

PLUGIN_WITH_SIBLINGS = """
import condensekit
from pydantic import BaseModel, ConfigDict

from skip_net import SkipMLP  # a module beside this file, imported when the file is


class SkipParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    width: int = 8


def build_skip(params, info):
    return SkipMLP(info.input_shape[0], params.width, info.num_classes)


def build_lazy(params, info):
    from lazy_net import make  # another module beside this file, imported only when a model is built

    return make(info.input_shape[0], info.num_classes)


def build_raising(params, info):
    raise ValueError("width 8 is not supported by this factory")


def build_missing_import(params, info):
    import no_such_module_anywhere  # noqa: F401


@condensekit.hookimpl
def register_models(register):
    register("skip_mlp", build_skip, params=SkipParams)
    register("lazy_mlp", build_lazy)
    register("raising", build_raising)
    register("missing_import", build_missing_import)
"""

SKIP_NET = """
import torch.nn as nn


class SkipMLP(nn.Module):
    def __init__(self, inputs, width, classes):
        super().__init__()
        self.inp, self.hidden = nn.Linear(inputs, width), nn.Linear(width, width)
        self.out = nn.Linear(width, classes)

    def forward(self, x):
        h = self.inp(x).relu()
        return self.out(h + self.hidden(h).relu())
"""

LAZY_NET = """
import torch.nn as nn


def make(inputs, classes):
    return nn.Sequential(nn.Linear(inputs, 8), nn.ReLU(), nn.Linear(8, classes))
"""


def _recipe_with_plugin(folder: Path, model: str) -> Path:
    plugins = folder / "plugins"  # a sub-folder of the recipe's folder, as the docs allow
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "models.py").write_text(PLUGIN_WITH_SIBLINGS)
    (plugins / "skip_net.py").write_text(SKIP_NET)
    (plugins / "lazy_net.py").write_text(LAZY_NET)
    return write(
        folder,
        top='plugins = ["./plugins/models.py"]',
        rest=f'\n[[arms]]\nname = "{model}"\nmodel = {{ use = "{model}" }}\n',
    )


def test_a_local_plugin_imports_its_sibling_modules_at_import_and_inside_a_factory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for model in ("skip_mlp", "lazy_mlp"):
        recipe = _recipe_with_plugin(tmp_path / model, model)
        code, _, err = cli(capsys, "run", recipe, "--out", tmp_path / model / "runs", "-q")
        assert code == 0, err
        assert (tmp_path / model / "runs" / "h" / model / "base" / "seed=0" / "run.json").is_file()


RAISE_LINE = PLUGIN_WITH_SIBLINGS.splitlines().index(
    '    raise ValueError("width 8 is not supported by this factory")'
)


@pytest.mark.parametrize(
    ("model", "raised"),
    [
        ("raising", f"ValueError: width 8 is not supported by this factory (line {RAISE_LINE + 1} of "),
        ("missing_import", "ModuleNotFoundError: No module named 'no_such_module_anywhere' (line "),
    ],
)
def test_a_factory_that_raises_is_reported_as_what_it_raised_not_as_a_shape_problem(
    model: str, raised: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = _recipe_with_plugin(tmp_path, model)
    code, _, err = cli(capsys, "validate", recipe)
    plugin = str((tmp_path / "plugins" / "models.py").resolve())
    assert code == 2
    assert f"arms[1].model: building model '{model}' (plugin {plugin}) raised {raised}" in err
    assert f"of {plugin}); fix the model's factory or what it imports" in err  # the line of the user's code
    assert "cannot take the data" not in err and "shape" not in err


def test_a_model_that_cannot_take_the_data_is_still_a_shape_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recipe = write(tmp_path, rest='\n[[arms]]\nname = "cnn"\nmodel = { use = "cnn" }\n')
    code, _, err = cli(capsys, "validate", recipe)
    assert code == 2 and "model 'cnn' cannot take the data 'synthetic'" in err and "building" not in err


def test_a_cuda_device_this_machine_lacks_stops_validate_and_run_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    device = "cuda" if not torch.cuda.is_available() else f"cuda:{torch.cuda.device_count()}"
    recipe = write(tmp_path).read_text().replace('device = "cpu"', f'device = "{device}"')
    path = tmp_path / "gpu.toml"
    path.write_text(recipe)
    for command in ("validate", "run"):
        code, _, err = (
            cli(capsys, command, path, "--out", tmp_path / "runs")
            if command == "run"
            else cli(capsys, command, path)
        )
        assert code == 2, err
        lines = [line for line in err.splitlines() if line.strip()]
        assert len(lines) == 1, err
        assert lines[0].startswith(f"condensekit: error: {path}: device: '{device}', but ")
        assert lines[0].endswith('use device = "auto" (CUDA when present, else the CPU) or device = "cpu"')
    assert not (tmp_path / "runs" / "h").exists()  # no run started


def test_a_device_on_a_cluster_executor_is_not_checked_here(tmp_path: Path) -> None:
    recipe = write(tmp_path).read_text()
    recipe = recipe.replace('device = "cpu"', 'device = "cuda:99"').replace(
        'use = "local"\nthreads = 1', 'use = "submitit"'
    )
    loaded, _ = condensekit.api.open_recipe(recipe)  # the runs land on the cluster's nodes: checked there
    assert loaded.specs[0].device == "cuda:99"


MNIST_NO_FILES = """
[data]
use = "mnist"
root = "{root}"
download = {download}
flatten = true
"""


def _mnist_recipe(tmp_path: Path, download: str) -> Path:
    text = write(tmp_path, seeds=(0, 1, 2)).read_text()
    start, end = text.index("[data]"), text.index("[train]")
    data = MNIST_NO_FILES.format(root=tmp_path / "data", download=download)
    path = tmp_path / "mnist.toml"
    path.write_text(text[:start] + data + text[end:])
    return path


def test_data_that_is_not_here_and_not_downloaded_stops_validate_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _mnist_recipe(tmp_path, "false")
    code, _, err = cli(capsys, "run", path, "--out", tmp_path / "runs")
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert f"{path}: data: not available on this machine: dataset 'mnist': files not found" in lines[0]
    assert "download = false" in lines[0] and "put train-images-idx3-ubyte" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_a_download_that_fails_offline_is_tried_once_at_validation_not_in_every_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from torchvision import datasets

    tries = []

    def offline(self: object) -> None:
        tries.append(1)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(datasets.MNIST, "download", offline)
    with pytest.raises(condensekit.RecipeError) as caught:
        condensekit.run_recipe(_mnist_recipe(tmp_path, "true"), out=tmp_path / "runs", quiet=True)
    assert len(tries) == 1  # three seeds, one data table: one try, before any run
    [problem] = caught.value.problems
    assert problem.key == "data" and "could not download them: URLError" in problem.message
    assert "Temporary failure in name resolution" in problem.message
    assert not (tmp_path / "runs").exists()
