"""Work on a second thread while the main thread goes on: a run has two cores, and the
transaction stage and the notebooks' kernel keep one of them busy at a time."""
from __future__ import annotations

import threading
from typing import Any, Callable

__all__ = ["Background"]


class Background:
    """``fn(*args)`` on a daemon thread; :meth:`result` waits for it and returns its value
    or raises its exception in the caller's thread."""

    def __init__(self, name: str, fn: Callable[..., Any], *args: Any):
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(fn, args), name=name,
                                        daemon=True)
        self._thread.start()

    def _run(self, fn: Callable[..., Any], args: tuple) -> None:
        try:
            self._value = fn(*args)
        except BaseException as exc:
            self._error = exc

    def join(self) -> None:
        """Wait for the work to end, whatever its outcome."""
        self._thread.join()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value
