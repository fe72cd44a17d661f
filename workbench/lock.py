"""One writer per run or store: an advisory lock that a crash releases by itself.

``with exclusive(path, "training"):`` holds ``fcntl.flock`` on ``<path>.lock`` (a file beside
the directory, so it works before the directory exists). The kernel drops the lock when the
process dies, however it dies, so a crashed writer never leaves a stale lock behind; the file
itself stays and only records who held it last (for the error message).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

from workbench.errors import UserError


@contextlib.contextmanager
def exclusive(path: str | Path, what: str) -> Iterator[None]:
    path = Path(path)
    lock = path.parent / f".{path.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read(fd)
            raise UserError(
                f"another lwb process is already {holder.get('what', 'writing')} here "
                f"(pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since "
                f"{holder.get('since', '?')}); wait for it to finish or stop it", file=path
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                  "what": what,
                                  "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _read(fd: int) -> dict:
    """Who held the lock last, for the message only: anything unreadable counts as unknown."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (ValueError, OSError, RecursionError):
        return {}
    return holder if isinstance(holder, dict) else {}
