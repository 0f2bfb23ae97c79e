"""Files below an output folder: written whole or not at all, never through a link; read without following
a link or waiting on a FIFO.

Every file condensekit writes below ``--out`` (``run.json``, ``summary.csv``, ``report.md``, the figures, the
dashboard's event file) goes through :func:`write_files`, and every file it removes there too:

* the folder is reached from the root one name at a time, each opened with ``O_NOFOLLOW``: a symbolic link
  on the way, or a file where a folder belongs, is refused with :class:`OutputError`, whatever it points
  to (the root itself may be a link: users point ``runs`` at a scratch disk);
* a link or a folder where a file is to go is refused before anything is written;
* each file is written to a temporary file in its own folder, flushed and fsynced, and only once every
  file of the call is written that way are they renamed over the old ones: a full disk, a file-size limit,
  a read-only folder or Ctrl-C leaves every old file as it was (and no temporary file), never a cut one.

Files read back from a run folder go through :func:`open_regular`: opened with ``O_NOFOLLOW`` and
``O_NONBLOCK`` and checked to be a regular file, so a planted link is not followed and a FIFO does not hang
the reader; :class:`NotAFile` says what was found instead.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from condensekit.errors import CondensekitError

NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
CLOEXEC = getattr(os, "O_CLOEXEC", 0)
FOLDER_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | NOFOLLOW | CLOEXEC
TEMPORARY_PREFIX = ".condensekit-tmp."
"""Temporary files while writing (no ``tfevents`` in the name: TensorBoard must not read a half-written
one)."""


class OutputError(CondensekitError):
    """The output folder cannot be used as asked (a file, read-only, a symbolic link, a name too long)."""


class NotAFile(OSError):
    """A file condensekit reads is a symbolic link, a FIFO, a folder or a device, not a regular file."""


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it (``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


FILE_MODE = 0o666 & ~_umask()
"""The permissions of every file condensekit writes: what ``open()`` gives other outputs (0644 under umask
022)."""


def kind_of(mode: int) -> str:
    """What a file of this mode is, in words: ``a FIFO (named pipe)``, ``a folder``."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"


def link_refusal(path: Path, target: str) -> OutputError:
    """The error for a symbolic link below ``--out`` where condensekit would write or delete."""
    return OutputError(
        f"{path} is a symbolic link (to {target}); condensekit never writes or deletes through links below "
        "--out; remove the link, or give its target as --out"
    )


def open_regular(path: Path) -> BinaryIO:
    """Open a file for reading, without following a link or blocking on a FIFO.

    Raises:
        NotAFile: ``path`` is a symbolic link, a FIFO, a folder or a device (the message says which).
        OSError: it cannot be opened (missing, no permission).
    """
    try:
        fd = os.open(path, os.O_RDONLY | NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EMLINK and os.path.islink(path)):
            raise NotAFile(errno.ELOOP, "is a symbolic link, not followed", str(path)) from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotAFile(errno.EINVAL, f"is {kind_of(mode)}, not a file", str(path))
    return os.fdopen(fd, "rb")


def read_bytes(path: Path) -> bytes:
    """The content of a regular file (see :func:`open_regular`)."""
    with open_regular(path) as f:
        return f.read()


def create_file(path: Path, append: bool = False) -> BinaryIO:
    """A new file for a run to write into (``append``: or the existing one, to add to), never through a
    link: a link named ``path`` is refused with :class:`OutputError`."""
    flags = os.O_WRONLY | os.O_CREAT | NOFOLLOW | CLOEXEC | (os.O_APPEND if append else os.O_EXCL)
    try:
        fd = os.open(path, flags, FILE_MODE)
    except OSError as exc:
        if exc.errno == errno.ELOOP or (exc.errno == errno.EEXIST and os.path.islink(path)):
            raise link_refusal(path, os.readlink(path)) from None
        raise
    return os.fdopen(fd, "ab" if append else "wb")


def _parts(rel: str | PurePosixPath) -> tuple[str, ...]:
    """The names of a path relative to the root; each must be a plain name (no ``..``, not absolute)."""
    parts = PurePosixPath(rel).parts
    if not parts or any(p in ("", ".", "..", "/") or "\0" in p or "/" in p for p in parts):
        raise OutputError(f"{rel!r} is not a plain path below the output folder; nothing was written")
    return parts


def _refuse_entry(folder_fd: int, name: str, where: Path, want_folder: bool) -> bool:
    """Whether ``name`` is in the folder; raise :class:`OutputError` when it is a link, or a folder where a
    file belongs (or a file where a folder belongs)."""
    try:
        mode = os.stat(name, dir_fd=folder_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(mode):
        raise link_refusal(where, os.readlink(name, dir_fd=folder_fd))
    if stat.S_ISDIR(mode) != want_folder:
        noun = "a file, not a folder" if want_folder else "a folder, not a file"
        raise OutputError(f"{where} is {noun}; condensekit writes its {where.name} there: move it away")
    return True


@contextmanager
def _open_folder(root_fd: int, root: Path, parts: tuple[str, ...]) -> Iterator[int]:
    """A descriptor of ``root/parts...``, created where missing, reached without following a link."""
    fd = os.dup(root_fd)
    try:
        here = root
        for part in parts:
            here = here / part
            if not _refuse_entry(fd, part, here, want_folder=True):
                with _ignore_missing(errno.EEXIST):  # made by another process meanwhile
                    os.mkdir(part, dir_fd=fd)
            try:
                inner = os.open(part, FOLDER_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # swapped for a link meanwhile
                    _refuse_entry(fd, part, here, want_folder=True)
                raise
            os.close(fd)
            fd = inner
        yield fd
    finally:
        os.close(fd)


@contextmanager
def _locked(fd: int, lock: bool) -> Iterator[None]:
    """An exclusive lock on a folder while files in it are replaced and stale ones removed, so that two
    processes writing one report never remove each other's new file (no lock where none is supported)."""
    try:
        import fcntl

        if lock:
            fcntl.flock(fd, fcntl.LOCK_EX)
    except (ImportError, OSError):
        pass
    yield  # closing the descriptor gives the lock back


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _stage(folder_fd: int, data: bytes) -> str:
    """Write ``data`` to a new temporary file in the folder, flushed to disk; return its name."""
    name = TEMPORARY_PREFIX + secrets.token_hex(8)
    fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW | CLOEXEC, 0o600, dir_fd=folder_fd)
    try:
        if hasattr(os, "fchmod"):  # private while it is written; then as the other outputs read
            os.fchmod(fd, FILE_MODE)
        _write_all(fd, data)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(name, dir_fd=folder_fd)
        raise
    os.close(fd)
    return name


def write_files(
    root: Path, files: Mapping[str, bytes], remove_stale: Mapping[str, str] | None = None
) -> None:
    """Write ``files`` (path relative to ``root`` -> content) whole or not at all, never through a link.

    Every file is staged (a temporary file in its folder, fsynced) before any is renamed over the old one,
    so when one cannot be written (a full disk, a file-size limit, a read-only folder, Ctrl-C) every old
    file stays as it was and no temporary file is left.

    Args:
        root: the folder the paths are relative to (it may itself be a link).
        files: relative path (``summary.csv``, ``figures/curves.png``) -> bytes.
        remove_stale: folder -> name prefix: afterwards, remove the files of that folder whose name starts
            with the prefix and that were not written now (the dashboard's previous event file); the root
            is locked meanwhile, so that a concurrent writer's new file is never removed.

    Raises:
        OutputError: a link or folder where a file goes, a link or file where a folder goes, a path that is
            not plain (``..``, absolute); nothing is written then.
        OSError: the disk refused (full, read-only, a limit), with the file's name; nothing is replaced.
    """
    if not NOFOLLOW or os.open not in os.supports_dir_fd:
        _write_files_by_path(root, files)
        return
    by_folder: dict[tuple[str, ...], dict[str, bytes]] = {}
    for rel, data in files.items():
        parts = _parts(rel)
        by_folder.setdefault(parts[:-1], {})[parts[-1]] = data
    stale = {_parts(folder): prefix for folder, prefix in (remove_stale or {}).items()}
    for folder in stale:
        by_folder.setdefault(folder, {})
    with ExitStack() as stack:
        root_fd = os.open(root, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | CLOEXEC)
        stack.callback(os.close, root_fd)
        stack.enter_context(_locked(root_fd, bool(stale)))
        fds = {folder: stack.enter_context(_open_folder(root_fd, root, folder)) for folder in by_folder}
        for folder, named in by_folder.items():
            for name in named:
                _refuse_entry(fds[folder], name, root.joinpath(*folder, name), want_folder=False)
        staged = _stage_all(root, fds, by_folder)
        for fd, temporary, name in staged:
            os.replace(temporary, name, src_dir_fd=fd, dst_dir_fd=fd)
        for folder, prefix in stale.items():
            fd, written = fds[folder], by_folder[folder]
            with os.scandir(fd) as entries:
                old = [e.name for e in entries if e.name.startswith(prefix) and e.name not in written]
            for name in old:
                with _ignore_missing():
                    os.unlink(name, dir_fd=fd)  # a link is removed itself, never its target
        for fd in fds.values():
            with _ignore_missing(errno.EINVAL, errno.EROFS, errno.EBADF):
                os.fsync(fd)  # the renames themselves reach the disk


def _stage_all(
    root: Path, fds: Mapping[tuple[str, ...], int], by_folder: Mapping[tuple[str, ...], Mapping[str, bytes]]
) -> list[tuple[int, str, str]]:
    """Every file written aside in its folder: ``(folder descriptor, temporary name, name)``; when one
    cannot be written, none is left (and the error names the file)."""
    staged: list[tuple[int, str, str]] = []
    try:
        for folder, named in by_folder.items():
            for name, data in named.items():
                try:
                    staged.append((fds[folder], _stage(fds[folder], data), name))
                except OSError as exc:
                    raise OSError(exc.errno, exc.strerror, str(root.joinpath(*folder, name))) from None
    except BaseException:
        for fd, temporary, _ in staged:
            os.unlink(temporary, dir_fd=fd)
        raise
    return staged


def disk_error_words(exc: OSError) -> str:
    """What the disk said, in words, with the file: ``figures/curves.png: file too large (...)``."""
    words = {
        errno.ENOSPC: "no space left on the device",
        errno.EFBIG: "file too large for a file-size limit (ulimit -f) or the file system",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "operation not permitted",
        getattr(errno, "EDQUOT", -1): "disk quota exceeded",
    }.get(exc.errno or 0, exc.strerror or str(exc))
    return f"{exc.filename}: {words}" if exc.filename else words


def disk_error_fix(exc: OSError) -> str:
    """How to get past a refusal of the disk, in a few words."""
    if exc.errno == errno.EFBIG:
        return "raise the file-size limit (ulimit -f) or free space"
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return "make the folder writable"
    return "free space"


@contextmanager
def _ignore_missing(*more: int) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, *more):
            raise


def _write_files_by_path(root: Path, files: Mapping[str, bytes]) -> None:
    """:func:`write_files` where the system cannot open a file relative to a folder (Windows): the same
    checks by path, then each file through a temporary file and a rename."""
    for rel, data in files.items():
        path = root.joinpath(*_parts(rel))
        here = root
        for part in _parts(rel):
            here = here / part
            if here.is_symlink():
                raise link_refusal(here, os.readlink(here))
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.parent / (TEMPORARY_PREFIX + secrets.token_hex(8))
        try:
            with open(temporary, "xb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same folder and an atomic rename.

    A crash or a full disk leaves the previous file (or none), never a half-written one; a link named
    ``path`` is refused, never written through.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    write_files(path.parent, {path.name: text.encode("utf-8", "backslashreplace")})


def overwrite_in_place(path: Path, text: str) -> None:
    """Rewrite an existing regular file in place (no temporary file, no rename, no link followed).

    The last resort for a small failure record in a folder that takes no new file (its permissions were
    taken away while a run trained): the file itself may still be writable.
    """
    fd = os.open(path, os.O_WRONLY | NOFOLLOW | CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotAFile(errno.EINVAL, "is not a regular file", str(path))
        os.ftruncate(fd, 0)
        _write_all(fd, text.encode("utf-8", "backslashreplace"))
        os.fsync(fd)
    finally:
        os.close(fd)
