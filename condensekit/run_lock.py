"""The lock of a run directory, held while a process executes the run (see :class:`RunLock`)."""

from __future__ import annotations

import errno
import os
import platform
import struct
import sys
import warnings
from pathlib import Path

from condensekit.safe_files import FILE_MODE, NOFOLLOW, OutputError

LOCK_NAME = ".condensekit.lock"
"""The lock file in a run directory while a process executes the run."""


class RunLock:
    """An exclusive lock on a run directory, held while a process executes the run.

    A POSIX record lock (``fcntl.lockf``) on ``<run_dir>/.condensekit.lock``: the kernel drops it when the
    holder exits, also on ``kill -9``, so a crash never leaves a stale lock, and network filesystems that
    support POSIX locks (NFSv4, Lustre mounted with ``flock``, GPFS) extend it across nodes. Where locking
    is not supported the run goes ahead unlocked, with a warning. The lock file is removed on release.
    """

    def __init__(self, run_dir: Path):
        self.path = run_dir / LOCK_NAME
        self.fd: int | None = None

    def acquire(self, wait: bool = False) -> bool:
        """Take the lock; False when another live process holds it (with ``wait``: block until it is free)."""
        try:
            import fcntl
        except ImportError:  # no POSIX locks (Windows): one process per run is up to the user
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:  # O_NOFOLLOW: a planted link named like the lock must not make us truncate its target
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | NOFOLLOW, FILE_MODE)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise OutputError(
                        f"{self.path} is a symbolic link; remove it (condensekit never writes through links)"
                    ) from None
                raise
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES):  # held by another process
                    return False
                warnings.warn(
                    f"{self.path}: file locking not supported here ({exc}); running unlocked", stacklevel=2
                )
                return True
            # The previous holder may have unlinked the file between our open and our lock: retry on a new
            # one.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                try:
                    os.ftruncate(fd, 0)
                    os.write(fd, f"{platform.node()} pid {os.getpid()}\n".encode())
                except OSError:  # a full disk: give the lock back rather than leak it, and say why
                    self.path.unlink(missing_ok=True)
                    os.close(fd)
                    raise
                self.fd = fd
                return True
            os.close(fd)

    def holder(self) -> str:
        """Who holds the lock (``host pid N``), as written by the holder."""
        try:
            return self.path.read_text(encoding="utf-8").strip() or "unknown process"
        except OSError:
            return "unknown process"

    def held_elsewhere(self) -> bool:
        """Whether another live process holds the lock now (asked without taking it)."""
        try:
            import fcntl
        except ImportError:
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY | NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
        except OSError:
            return False  # no lock file: nobody holds it
        try:
            if sys.platform == "linux" and struct.calcsize("l") == 8:  # F_GETLK with Linux's struct flock
                probe = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
                return struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, probe))[0] != fcntl.F_UNLCK
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # elsewhere: a shared lock, given back at once
            return False
        except OSError as exc:
            return exc.errno in (errno.EAGAIN, errno.EACCES)
        finally:
            os.close(fd)

    def release(self) -> None:
        """Give the lock back and remove its file; a folder that became read-only keeps the file (harmless:
        the lock itself goes with the descriptor)."""
        if self.fd is None:
            return
        # Unlink before closing (closing drops the lock), so a waiter never locks a file that is about to
        # vanish.
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
        os.close(self.fd)
        self.fd = None
