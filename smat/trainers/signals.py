"""Ctrl-C and SIGTERM during training: finish the step, save, stop (a second Ctrl-C aborts)."""

from __future__ import annotations

import signal
import threading
from typing import Any


class StopSignal:
    """Turns SIGINT/SIGTERM into a flag checked after each step; a second SIGINT aborts.

    A signal that arrives once the loop has ended (`ending()`: the final test, summary and
    saves) lets the run finish and save, then raises KeyboardInterrupt on exit, so that a
    caller running several runs (a sweep) stops instead of losing the request.
    """

    def __init__(self):
        self.signum: int | None = None
        self.late: int | None = None
        self._ending = False
        self._old: dict[int, Any] = {}

    def ending(self) -> int | None:
        """The signal received so far; later ones are handled after the run is saved."""
        self._ending = True
        return self.signum

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for s in (signal.SIGINT, signal.SIGTERM):
                self._old[s] = signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.signum is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        if self._ending:
            self.late = signum
            print(
                f"\n{signal.Signals(signum).name}: the run is finishing; stopping after it",
                flush=True,
            )
            return
        self.signum = signum
        print(
            f"\n{signal.Signals(signum).name}: finishing this step and saving a checkpoint "
            "(Ctrl-C again to abort without saving)",
            flush=True,
        )

    def __exit__(self, exc_type, *exc):
        for s, old in self._old.items():
            signal.signal(s, old)
        if self.late is not None and exc_type is None:
            raise KeyboardInterrupt(f"{signal.Signals(self.late).name} while the run finished")
