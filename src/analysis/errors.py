"""Errors the user can act on.

Every problem with the user's data or parameters is raised as :class:`InputError`
(or a subclass). The CLI turns it into one readable paragraph and exit code 2;
it never shows a traceback from inside pandas. A run that stops for any other reason
(a signal, a full disk, a failed notebook) says why in one line (:func:`fail_line`,
:func:`error_line`) with its exit code.
"""
from __future__ import annotations

import re
import signal
from typing import Any, Mapping

__all__ = ["EXIT_OK", "EXIT_FAILED", "EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "EXIT_TERMINATED",
           "EXIT_HANGUP", "InputError", "ParamError", "Terminated", "TERMINATED", "HANGUP",
           "INTERRUPTED", "SIGNAL_EXIT", "STOP_SIGNALS", "on_sigterm", "catch_stop_signals",
           "restore_signals", "error_line", "fail_line", "cut"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130  # SIGINT (Ctrl-C), as a shell reports it
EXIT_TERMINATED = 143   # SIGTERM
EXIT_HANGUP = 129       # SIGHUP


#: how much of one cell (or of the problem text) an error line shows
CELL_CHARS, PROBLEM_CHARS = 200, 2000


def cut(text: str, limit: int = CELL_CHARS) -> str:
    """A cell's text as an error line shows it: at most ``limit`` characters, and how long
    it was when cut (a 50 MB cell must not become a 50 MB line)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"


def _fmt_row(row: Mapping[str, Any] | None) -> str:
    if not row:
        return ""
    parts = [f"{k}={cut(repr(v))}" for k, v in row.items()]
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

    def _render_traceback_(self) -> list[str]:
        """How IPython shows it in a notebook (JupyterLab, papermill): the one line the
        command line prints, not a traceback from deep inside the package."""
        return [f"error: {self.message}"]

    @property
    def message(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.column:
            where.append(f"column {self.column!r}")
        if self.line is not None:
            where.append(f"line {self.line}")
        text = cut(self.problem.rstrip("."), PROBLEM_CHARS)
        text += "" if text.endswith(("?", "!")) else "."
        if where:
            text = f"{text} ({', '.join(where)})"
        if self.row:
            text += f" Example row: {_fmt_row(self.row)}."
        if self.hint:
            text += f" {self.hint.rstrip('.')}."
        return text


class ParamError(InputError):
    """A parameter (YAML file, -p override, or notebook parameter) is unknown or invalid."""


# -- a run that stops: why, in one line, and its exit code ---------------------------------

class Terminated(BaseException):
    """SIGTERM (or SIGHUP: the terminal closed) arrived: stop, mark the run failed, keep
    earlier runs as they are."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__(signum)
        self.signum = signum

    @property
    def reason(self) -> str:
        return HANGUP if self.signum == signal.SIGHUP else TERMINATED


#: the reasons a stopped run gives, and its exit code
TERMINATED, HANGUP, INTERRUPTED = ("terminated by SIGTERM", "terminated by SIGHUP (the "
                                   "terminal closed)", "interrupted (SIGINT)")
SIGNAL_EXIT = {TERMINATED: EXIT_TERMINATED, HANGUP: EXIT_HANGUP, INTERRUPTED: EXIT_INTERRUPTED}

#: the signals that stop a run the way SIGTERM does
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def on_sigterm(signum, frame):
    raise Terminated(signum)


def catch_stop_signals(handler=on_sigterm) -> dict[int, Any]:
    """Install ``handler`` for SIGTERM and SIGHUP; returns the handlers they had (for
    :func:`restore_signals`)."""
    return {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}


def restore_signals(previous: Mapping[int, Any] | None) -> None:
    for sig, handler in (previous or {}).items():
        signal.signal(sig, handler)


def error_line(exc: BaseException) -> str:
    """One line for a failed notebook: the exception name and message from the kernel."""
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = getattr(exc, "evalue", str(exc))
    text = f"{ename}: {evalue}".strip()
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return " ".join(text.split())[:2000]


def fail_line(exc: BaseException) -> tuple[str, int]:
    """(one line for the manifest and the console, exit code) for a failure of the runner
    itself (not of a notebook): signals, a full disk, anything unexpected."""
    if isinstance(exc, Terminated):
        return exc.reason, SIGNAL_EXIT[exc.reason]
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED, EXIT_INTERRUPTED
    if isinstance(exc, OSError):
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        return (f"could not write the run folder: {exc.strerror or exc}{where}",
                EXIT_FAILED)
    return f"the run failed: {error_line(exc)}", EXIT_FAILED
