"""An inter-process lock on a file, for folders that several runs share (the demo dataset, a data folder).

:class:`FileLock` holds an operating-system lock on an open file (``fcntl.flock`` on Linux/macOS,
``msvcrt.locking`` on Windows). The OS drops it when the holding process exits, however it exits, so a crashed
or killed run never leaves a stale lock behind and there is no lock age to guess. The lock file itself stays in
place (deleting it would let two processes lock two different files); it records the holder's pid and host so
that a waiting process can say whom it waits for.

Notebook: 01_data_and_eda.ipynb
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

__all__ = ["FileLock", "LockTimeout"]


class LockTimeout(TimeoutError):
    """The lock stayed held by another process for longer than the timeout."""


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except (BlockingIOError, PermissionError):
        return False


def _unlock(fd: int) -> None:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        return
    fcntl.flock(fd, fcntl.LOCK_UN)


class FileLock:
    """An exclusive lock between processes (and between threads that each hold their own ``FileLock``).

    Parameters
    ----------
    path : path
        The lock file (created if needed; its folder must exist).
    poll : float
        Seconds between attempts while waiting.

    Examples
    --------
    >>> with FileLock(root / ".demo.lock"):           # doctest: +SKIP
    ...     generate(root)
    """

    def __init__(self, path, *, poll: float = 0.1):
        self.path = Path(path)
        self.poll = float(poll)
        self._fd: int | None = None

    @property
    def locked(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def holder(self) -> str:
        """Who holds (or last held) the lock, as recorded in the file: ``"pid 123 on host"``, or ``""``."""
        try:
            return self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return ""

    def acquire(self, timeout: float | None = None, *, on_wait=None) -> bool:
        """Take the lock, waiting up to ``timeout`` seconds (``None``: forever; ``0``: one attempt).

        Parameters
        ----------
        on_wait : callable or None
            Called once, with :meth:`holder`, when the lock is busy and this call starts waiting.

        Returns
        -------
        bool
            True once held; False when ``timeout`` passed with the lock still busy.
        """
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already locked by this FileLock (it is not re-entrant)")
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = None if timeout is None else time.monotonic() + timeout
        told = False
        while not _try_lock(fd):
            if deadline is not None and time.monotonic() >= deadline:
                os.close(fd)
                return False
            if not told and on_wait is not None:
                on_wait(self.holder())
                told = True
            time.sleep(self.poll if deadline is None else max(0.0, min(self.poll, deadline - time.monotonic())))
        self._fd = fd
        try:  # who holds it, for the messages of the ones who wait (informative only)
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
        except OSError:
            pass
        return True

    def release(self) -> None:
        """Drop the lock (a no-op when not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            _unlock(fd)
        finally:
            os.close(fd)

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def __del__(self):  # a forgotten lock is released with its object, as the OS would at exit
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
