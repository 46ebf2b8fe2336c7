"""A run's workdir: a folder it can write, held by one live process at a time.

The lock is an advisory `flock` on `<workdir>/.lock`: the kernel drops it when its process
exits, however it exits (kill -9 included), so a lock left by a dead run never blocks a restart.
The file names the holder (pid, host, start time) for the message a second process gets.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import json
import os
import socket

from smat.errors import ConfigError

LOCK_FILE = ".lock"


class WorkdirBusy(ConfigError):
    """Another live process holds the workdir."""


def write_text(path: str, text: str) -> None:
    """Writes `path` atomically (a temporary file, then a rename): a kill at any moment leaves
    the old file or the new one, never a torn one."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def prepare(workdir: str) -> str:
    """Creates `workdir` if needed; one-line ConfigError if it is a file or not writable."""
    workdir = os.path.abspath(workdir)
    parent = workdir
    while not os.path.exists(parent):  # the nearest existing ancestor says what is wrong
        parent = os.path.dirname(parent)
    if not os.path.isdir(parent):
        raise ConfigError(
            f"workdir {workdir}: {parent} is a file, not a folder; remove it or choose another "
            "--workdir"
        )
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as e:  # no permission, a read-only file system
        raise ConfigError(
            f"workdir {workdir}: cannot create it in {parent} ({e.strerror}); choose a folder "
            "you can write (--workdir)"
        ) from None
    if not os.access(workdir, os.W_OK | os.X_OK):
        raise ConfigError(
            f"workdir {workdir} is not writable by this user; fix its permissions or choose "
            "another --workdir"
        )
    return workdir


def finished(workdir: str) -> bool:
    """Whether the run in `workdir` has finished: a run writes summary.json last."""
    return os.path.isfile(os.path.join(workdir, "summary.json"))


def holder(workdir: str) -> dict | None:
    """The live process holding `workdir` ({"pid", "host", "since"}), or None if it is free."""
    path = os.path.join(workdir, LOCK_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(path)
    return None


def _read_holder(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):  # written in the instant between lock and write
        return {"pid": "?", "host": "?", "since": "?"}


def describe(info: dict) -> str:
    return f"pid {info.get('pid')} on {info.get('host')} (since {info.get('since')})"


@contextlib.contextmanager
def exclusive(path: str):
    """Waits for, then holds, an exclusive `flock` on `path` (created) for a short
    read-modify-write of a shared file, e.g. two sweeps starting on one root."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


class WorkdirLock:
    """Holds `<workdir>/.lock` until `release()` (or the process ends)."""

    def __init__(self, workdir: str):
        self.path = os.path.join(workdir, LOCK_FILE)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            raise WorkdirBusy(
                f"workdir {workdir} is in use by {describe(_read_holder(self.path))}; wait for "
                "that run to end (or stop it), or use another --workdir"
            ) from None
        self._fd: int | None = fd
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.datetime.now().isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
