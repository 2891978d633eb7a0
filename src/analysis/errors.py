"""Errors the user can act on.

Every problem with the user's data or parameters is raised as :class:`InputError`
(or a subclass). The CLI turns it into one readable paragraph and exit code 2;
it never shows a traceback from inside pandas.
"""
from __future__ import annotations

from typing import Any, Mapping

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C), as a shell reports it
EXIT_TERMINATED = 143   # SIGTERM


def _fmt_row(row: Mapping[str, Any] | None) -> str:
    if not row:
        return ""
    parts = [f"{k}={v!r}" for k, v in row.items()]
    return "{" + ", ".join(parts) + "}"


class InputError(Exception):
    """Bad data or bad parameters: the message names what and where.

    Parameters
    ----------
    problem : what is wrong, in plain words.
    file : the file concerned (data file or parameter file).
    column : the column (or parameter key) concerned.
    row : an example of an offending row (line number and values), if any.
    hint : what the user can do about it.
    """

    exit_code = EXIT_BAD_INPUT

    def __init__(self, problem: str, *, file: str | None = None, column: str | None = None,
                 row: Mapping[str, Any] | None = None, line: int | None = None,
                 hint: str | None = None):
        self.problem = problem
        self.file = file
        self.column = column
        self.row = dict(row) if row else None
        self.line = line
        self.hint = hint
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.column:
            where.append(f"column {self.column!r}")
        if self.line is not None:
            where.append(f"line {self.line}")
        text = self.problem.rstrip(".") + "."
        if where:
            text = f"{text} ({', '.join(where)})"
        if self.row:
            text += f" Example row: {_fmt_row(self.row)}."
        if self.hint:
            text += f" {self.hint.rstrip('.')}."
        return text


class ParamError(InputError):
    """A parameter (YAML file, -p override, or notebook parameter) is unknown or invalid."""
