"""User-facing errors: one line, naming the file, line and field, exit status 2.

Anything a user can cause (a malformed file, an unknown token, a corrupt checkpoint, a bad
argument) raises :class:`UserError`. The CLI prints ``lwb: error: <message>`` and exits with
status 2, without a traceback. Code deeper down raises with what it knows (the field) and callers
higher up add what they know (the file and line) with :meth:`UserError.at`.
"""

from __future__ import annotations

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

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file + (f":{self.line}" if self.line is not None else "") + ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        field = f"field '{self.field}': " if self.field else ""
        return " ".join(f"{where}{field}{self.message}".split())
