"""condensekit.plugin_files: a recipe's plugin files run only from its own folder and its subfolders, whatever
the environment says."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile import cli, write

MARKER_PLUGIN = "from pathlib import Path\nPath(__file__).with_suffix('.ran').write_text('code ran')\n"


def _evil(where: Path) -> Path:
    where.mkdir(parents=True, exist_ok=True)
    path = where / "evil.py"
    path.write_text(MARKER_PLUGIN)
    return path


@pytest.mark.hostile
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


@pytest.mark.hostile
def test_plugin_files_inside_the_folder_and_its_subfolders_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _evil(tmp_path / "plugins")
    code, out, err = cli(capsys, "validate", write(tmp_path, top='plugins = ["./plugins/evil.py"]'))
    assert code == 0, err
    assert (tmp_path / "plugins/evil.ran").exists()


@pytest.mark.hostile
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
