"""Progress of the transaction stage on the command line: a run of several minutes is never
silent.

The CLI (``run``, ``check``) turns it on (:func:`reporting`); the engines mark each step
they enter (:func:`step`: reading, typing and the rules, the summary, the aggregates, the
clean rows written) with the rows or customers so far. On a terminal one line is rewritten
in place, with the seconds in the step ticking; in a log (stderr not a terminal) each step
is a plain line, and a step that runs on is repeated every :data:`LOG_EVERY` seconds with
its time. Nothing is said in the first :data:`QUIET_FOR` seconds. Off (tests, notebooks)
it costs a function call.
"""
from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, TextIO

__all__ = ["QUIET_FOR", "LOG_EVERY", "TTY_EVERY", "reporting", "recording", "step", "done"]

#: a stage shorter than this says nothing (a small file's run, or its one-line error, stays
#: as it was); after it, every step is said
QUIET_FOR = 5.0
#: seconds between the lines of a step that runs on, in a log and on a terminal
LOG_EVERY, TTY_EVERY = 15.0, 0.5


class _Reporter:
    def __init__(self, stream: TextIO):
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.text, self.since = "", self.start
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._tick, daemon=True, name="progress")

    def show(self, text: str) -> None:
        with self.lock:
            self.text, self.since = text, time.perf_counter()
            self._write(final=False)

    def _write(self, final: bool) -> None:
        now = time.perf_counter()
        if now - self.start < QUIET_FOR:
            return
        line = f"  stage 1: {self.text} ({now - self.since:.0f} s in this step, " \
               f"{now - self.start:.0f} s in all)"
        if self.tty:
            self.stream.write("\r" + line[:140].ljust(140) + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def _tick(self) -> None:
        every = TTY_EVERY if self.tty else LOG_EVERY
        while not self.stop.wait(every):
            with self.lock:
                if self.text:
                    self._write(final=False)

    def clear(self) -> None:
        with self.lock:
            if self.tty and self.text:
                self.stream.write("\r" + " " * 140 + "\r")
                self.stream.flush()
            self.text = ""

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=2)
        self.clear()


_ACTIVE: list[_Reporter] = []
#: the step marks being recorded (:func:`recording`)
_MARKS: list[list[tuple[str, float]]] = []


@contextmanager
def reporting(stream: TextIO | None = None) -> Iterator[None]:
    """Report the stage's steps on ``stream`` (stderr) while the block runs."""
    rep = _Reporter(stream or sys.stderr)
    _ACTIVE.append(rep)
    rep.thread.start()
    try:
        yield
    finally:
        _ACTIVE.remove(rep)
        rep.close()


@contextmanager
def recording() -> Iterator[list[tuple[str, float]]]:
    """The seconds of each step the stage enters while the block runs, as (step, seconds)
    in the list given (filled when the block ends): where a stage's time goes, for the
    benchmarks."""
    marks: list[tuple[str, float]] = [("", time.perf_counter())]
    out: list[tuple[str, float]] = []
    _MARKS.append(marks)
    try:
        yield out
    finally:
        _MARKS.remove(marks)
        marks.append(("", time.perf_counter()))
        out.extend((name or "start", round(t1 - t0, 2)) for (name, t0), (_, t1)
                   in zip(marks, marks[1:]) if t1 - t0 >= 0.005 or name)


def step(what: str, **counts: Any) -> None:
    """The stage enters ``what`` (``rows=10_000_000`` and the like said after it)."""
    for marks in _MARKS:
        marks.append((what, time.perf_counter()))
    if not _ACTIVE:
        return
    said = ", ".join(f"{v:,} {k}" if isinstance(v, int) else f"{v} {k}"
                     for k, v in counts.items())
    _ACTIVE[-1].show(what + (f" ({said})" if said else ""))


def done() -> None:
    """The stage is over: its line goes (what follows, the notebooks, reports itself)."""
    if _ACTIVE:
        _ACTIVE[-1].clear()
