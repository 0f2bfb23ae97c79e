"""Defect classes 7 (errors that name their source, at start-up) and 8 (what a recipe may execute).

A recipe file may run plugin files inside its own folder only, never ``../x.py`` or ``/abs/x.py`` (checked
before anything is imported, so ``validate`` runs no refused code); ``CONDENSEKIT_NO_PLUGIN_FILES`` refuses
all of them and ``CONDENSEKIT_DISABLE_PLUGINS`` names them by file name. Plugin environment settings that
leave no optimizer are an error at start-up; no metrics.jsonl writer is a warning; a model that cannot take
the data fails ``validate``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile import cli, write

pytestmark = pytest.mark.hostile

MARKER_PLUGIN = "from pathlib import Path\nPath(__file__).with_suffix('.ran').write_text('code ran')\n"


def _evil(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    path = where / "evil.py"
    path.write_text(MARKER_PLUGIN)
    return path


@pytest.mark.parametrize("command", ["validate", "run"])
@pytest.mark.parametrize("how", ["parent", "absolute", "link_out"])
def test_plugin_files_outside_the_recipes_folder_are_refused_and_never_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, how: str
) -> None:
    evil = _evil(tmp_path / "elsewhere")
    folder = tmp_path / "recipes" / "mine"
    name = {"parent": "../../elsewhere/evil.py", "absolute": str(evil), "link_out": "inside.py"}[how]
    write(folder, top=f"plugins = [{name!r}]".replace("'", '"'))
    if how == "link_out":
        (folder / "inside.py").symlink_to(evil)  # a link inside the folder to code outside it
    args = [command, folder / "h.toml"] + (["--out", tmp_path / "out"] if command == "run" else [])
    code, _, err = cli(capsys, *args)
    assert (
        code == 2 and "plugins[0]" in err and "outside the recipe's folder" in err and "Traceback" not in err
    )
    assert not evil.with_suffix(".ran").exists(), "refused code must not have been imported"


def test_plugin_files_inside_the_folder_and_its_subfolders_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _evil(tmp_path / "plugins")
    code, out, err = cli(capsys, "validate", write(tmp_path, top='plugins = ["./plugins/evil.py"]'))
    assert code == 0, err
    assert (tmp_path / "plugins/evil.ran").exists()


@pytest.mark.parametrize(
    ("var", "value"), [("CONDENSEKIT_NO_PLUGIN_FILES", "1"), ("CONDENSEKIT_DISABLE_PLUGINS", "evil.py")]
)
def test_environment_settings_cover_plugin_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    evil = _evil(tmp_path)
    monkeypatch.setenv(var, value)
    code, _, err = cli(capsys, "validate", write(tmp_path, top='plugins = ["evil.py"]'))
    assert code == 2 and var in err and "plugins[0]" in err
    assert not evil.with_suffix(".ran").exists()


def test_no_optimizer_is_said_at_start_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONDENSEKIT_DISABLE_PLUGINS", "condensekit.defaults.optimizer")
    for args in (["validate", write(tmp_path)], ["run", write(tmp_path), "--out", tmp_path / "out"]):
        code, _, err = cli(capsys, *args)
        assert (
            code == 2 and "no plugin provides an optimizer" in err and "condensekit.defaults.optimizer" in err
        )
        assert "zero_grad" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing ran


def test_no_jsonl_writer_is_a_warning_naming_what_the_report_loses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONDENSEKIT_DISABLE_PLUGINS", "condensekit.defaults.jsonl")
    code, _, err = cli(capsys, "validate", write(tmp_path))
    assert (
        code == 0
        and "warning: no metrics.jsonl will be written" in err
        and "CONDENSEKIT_DISABLE_PLUGINS" in err
    )


@pytest.mark.parametrize(
    ("model", "data", "words"),
    [
        ('{ use = "timm", name = "resnet18" }', '{ use = "digits" }', "needs image inputs"),
        ('{ use = "cnn" }', '{ use = "synthetic" }', "needs image inputs"),
        (
            '{ use = "timm", name = "vit_tiny_patch16_224" }',
            '{ use = "digits", image = true }',
            "cannot take inputs of shape (1, 8, 8)",
        ),
    ],
)
def test_a_model_that_cannot_take_the_data_fails_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], model: str, data: str, words: str
) -> None:
    code, _, err = cli(
        capsys, "validate", write(tmp_path), "--set", f"arms[0].model={model}", "--set", f"data={data}"
    )
    assert code == 2 and "arms[0].model: model" in err and "cannot take the data" in err and words in err, err


def test_models_that_fit_their_data_pass_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(
        capsys,
        "validate",
        write(tmp_path),
        "--set",
        'arms[0].model={ use = "cnn" }',
        "--set",
        'data={ use = "digits", image = true }',
    )
    assert code == 0, err


@pytest.mark.parametrize(
    ("name", "params"),
    [("digits", {}), ("digits", {"image": True}), ("synthetic", {"dim": 5, "num_classes": 7})],
)
def test_a_datasets_declared_info_matches_the_data_it_loads(tmp_path: Path, name: str, params: dict) -> None:
    from condensekit.manager import get_plugin_manager

    entry = get_plugin_manager().catalogue.get("datasets", name)
    assert entry.info is not None
    validated = entry.params.model_validate(params)
    declared, loaded = entry.info(validated), entry.build(params, tmp_path).info
    assert (declared.input_shape, declared.num_classes) == (loaded.input_shape, loaded.num_classes)
