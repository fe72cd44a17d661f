"""Atomic file writes and checksums: every artifact is written to a temporary name and renamed.

A process killed at any moment leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from workbench.errors import DiskFull, UserError, is_disk_full


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success fsync and rename it onto ``path``.

    On any exception (and on SIGINT/SIGTERM, which the CLI turns into exceptions) the temporary
    file is removed and ``path`` is left as it was; a full disk is a :class:`DiskFull` naming
    ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; artifacts are ordinary files
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:  # an error, a full disk, SIGINT or SIGTERM: no temporary left
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if is_disk_full(e) and not isinstance(e, UserError):
            raise DiskFull(path) from None
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as f:
        f.write(text)


def print_json(obj: Any, out: str | Path | None = None) -> None:
    """Print ``obj`` as indented JSON and, with ``out``, also write it there atomically (what
    every ``benchmarks/`` script ends with)."""
    text = json.dumps(obj, indent=2)
    if out:  # never a directory, nor a file of a run or a store
        from workbench.safety import check_output_file

        check_output_file(out)
    print(text)
    if out:
        atomic_write_text(out, text + "\n")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as f:
        f.write(data)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | Path, missing: str = "missing") -> Any:
    """A JSON file; absent (``missing`` says why), a directory, unreadable, not UTF-8, invalid,
    nested too deeply or holding ``NaN``/``Infinity`` is a one-line
    :class:`~workbench.errors.UserError` naming the file (and line). Files with a schema are read
    through :func:`workbench.artifacts.read` instead."""
    from workbench.schemas import loads, read_text

    return loads(read_text(path, missing), file=Path(path))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    """Append one JSON line (a log: a torn last line is skipped by readers)."""
    try:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
    except OSError as e:
        if is_disk_full(e):
            raise DiskFull(path, "cannot append: No space left on device (the disk is full)"
                           ) from None
        raise
