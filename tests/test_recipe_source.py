"""Reading a recipe file: whatever the path or the bytes, one line naming the file, what is wrong and the fix.

A recipe saved as UTF-16 (with or without a byte-order mark) or Latin-1, a path that is a folder, a FIFO, a
device, a dangling or looping link or too long for the system: exit code 2 and one line, never a traceback,
never a hang, never a misleading "no such file". A UTF-8 byte-order mark (Windows' Notepad writes one) is
read as UTF-8.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hostile import cli, write

pytestmark = pytest.mark.hostile


def _validate(capsys: pytest.CaptureFixture[str], path: Path | str) -> tuple[int, str]:
    code, _, err = cli(capsys, "validate", path)
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize(
    ("encoding", "words"),
    [
        ("utf-16", ["is UTF-16 text", "byte-order mark", "save the recipe as UTF-8"]),
        ("utf-16-le", ["line 1", "NUL bytes", "UTF-16 text without a byte-order mark", "as UTF-8"]),
        ("utf-32", ["is UTF-32 text", "save the recipe as UTF-8"]),
        ("latin-1", ["line 2", "byte 0xe9 at column 4 is not UTF-8", "Latin-1", "save the recipe as UTF-8"]),
    ],
)
def test_a_recipe_in_another_encoding_is_one_line_naming_it_and_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str, words: list[str]
) -> None:
    text = "# a recipe\n# réglé\n" + write(tmp_path).read_text(encoding="utf-8")
    path = tmp_path / "other.toml"
    path.write_bytes(text.encode(encoding))
    code, err = _validate(capsys, path)
    assert code == 2 and err.startswith(f"condensekit: error: {path}: ") and len(err.splitlines()) == 1
    for word in words:
        assert word in err


def test_a_utf8_byte_order_mark_is_read_as_utf8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path)
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    code, err = _validate(capsys, path)
    assert code == 0, err


def _fifo(tmp_path: Path) -> Path:
    os.mkfifo(tmp_path / "pipe.toml")
    return tmp_path / "pipe.toml"


def _dangling(tmp_path: Path) -> Path:
    (tmp_path / "gone.toml").symlink_to(tmp_path / "deleted.toml")
    return tmp_path / "gone.toml"


def _loop(tmp_path: Path) -> Path:
    (tmp_path / "a.toml").symlink_to(tmp_path / "b.toml")
    (tmp_path / "b.toml").symlink_to(tmp_path / "a.toml")
    return tmp_path / "a.toml"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (_fifo, ["is a named pipe (FIFO), not a recipe file", "give the path of a .toml file"]),
        (lambda tmp_path: Path("/dev/null"), ["is a character device, not a recipe file"]),
        (_dangling, ["is a symbolic link to a file that does not exist", "fix the link"]),
        (_loop, ["cannot be opened", "Too many levels of symbolic links", "loop"]),
        (
            lambda tmp_path: tmp_path / ("r" * 300 + ".toml"),
            ["cannot be opened", "File name too long", "shorter"],
        ),
    ],
    ids=["fifo", "device", "dangling_link", "link_loop", "name_too_long"],
)
def test_a_path_that_is_no_recipe_file_is_one_line_saying_what_it_is(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make, words: list[str]
) -> None:
    path = make(tmp_path)
    code, err = _validate(capsys, path)
    assert code == 2 and len(err.splitlines()) == 1 and "no such recipe file" not in err
    for word in words:
        assert word in err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file whatever its permissions")
def test_an_unreadable_recipe_is_one_line_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path)
    path.chmod(0)
    code, err = _validate(capsys, path)
    assert code == 2 and "cannot be read: Permission denied" in err and "permissions" in err
