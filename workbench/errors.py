"""User-facing errors: one line, naming the file, line and field, exit status 2.

Anything a user can cause (a malformed file, an unknown token, a corrupt checkpoint, a bad
argument) raises :class:`UserError`. The CLI prints ``lwb: error: <message>`` and exits with
status 2, without a traceback. Code deeper down raises with what it knows (the field) and callers
higher up add what they know (the file and line) with :meth:`UserError.at`.
"""

from __future__ import annotations

import errno
from pathlib import Path

EXIT_USER_ERROR = 2


class UserError(Exception):
    """An error caused by user input; printed as one line, exit status 2."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field

    def at(
        self, *, file: str | Path | None = None, line: int | None = None, field: str | None = None
    ) -> UserError:
        """Fill in location details that are not known yet; returns self for ``raise e.at(...)``."""
        if self.file is None and file is not None:
            self.file = str(file)
        if self.line is None and line is not None:
            self.line = line
        if self.field is None and field is not None:
            self.field = field
        return self

    def __reduce__(self):  # crosses process boundaries (the demo's workers) with its location
        return (type(self), (self.message,),
                {"file": self.file, "line": self.line, "field": self.field})

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file + (f":{self.line}" if self.line is not None else "") + ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        field = f"field '{self.field}': " if self.field else ""
        return " ".join(f"{where}{field}{self.message}".split())


#: errno values that mean the disk (or the user's quota) is full
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFull(UserError, OSError):
    """No space left on the device while writing ``file``: one line naming the file (a
    :class:`UserError`, exit status 2) that is still an :class:`OSError` for callers that
    catch those."""

    def __init__(self, file: str | Path, message: str = "") -> None:
        UserError.__init__(
            self, message or "cannot write: No space left on device (the disk is full); the "
            "file was left as it was", file=file)
        self.errno = errno.ENOSPC
        self.strerror = "No space left on device"
        self.filename = str(file)

    def __reduce__(self):  # picklable like any exception (multiprocessing, pytest-xdist)
        return (type(self), (self.file, self.message))


def is_disk_full(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in DISK_FULL
