"""Where a run's wall time goes: exclusive seconds per phase, compilation counted apart.

A trainer opens phases (`with timings.phase("evaluation"):`); time spent in a nested phase is
charged to the inner one only, and XLA compilation (JAX's own compile events: tracing, lowering,
backend compile) is moved from whichever phase triggered it to `compile`, so the phases add up
to the wall time they cover. Compilation goes to the innermost phase open anywhere in the
process, which is the right run when one run starts another (a student training its teacher).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from jax import monitoring

# JAX's compile-time events (jax/_src/dispatch.py); each covers a disjoint part of a compile.
COMPILE_EVENTS = (
    "/jax/core/compile/jaxpr_trace_duration",
    "/jax/core/compile/jaxpr_to_mlir_module_duration",
    "/jax/core/compile/backend_compile_duration",
)

_open: list[Timings] = []  # the instances with an open phase, innermost last
_lock = threading.Lock()
_listening = False


def _on_event(event: str, seconds: float, **_) -> None:
    if event in COMPILE_EVENTS and _open:
        _open[-1].moved_to_compile(seconds)


def _listen() -> None:
    global _listening
    with _lock:
        if not _listening:
            monitoring.register_event_duration_secs_listener(_on_event)
            _listening = True


class Timings:
    """Exclusive wall seconds per phase name; `seconds` survives a resume (`load`)."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._stack: list[str] = []
        self._mark = time.perf_counter()
        _listen()

    def _add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    def _charge(self) -> None:
        now = time.perf_counter()
        if self._stack:
            self._add(self._stack[-1], now - self._mark)
        self._mark = now

    def moved_to_compile(self, seconds: float) -> None:
        self._add("compile", seconds)
        if self._stack:
            self._add(self._stack[-1], -seconds)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Charges the time inside to `name` (minus nested phases and compilation)."""
        self._charge()
        self._stack.append(name)
        _open.append(self)
        try:
            yield
        finally:
            self._charge()
            self._stack.pop()
            _open.remove(self)

    def load(self, seconds: dict[str, float]) -> None:
        """Adds the phases of the run's earlier processes (from its checkpoint)."""
        for name, s in seconds.items():
            self._add(name, s)

    def rounded(self) -> dict[str, float]:
        """The phases, largest first, to 0.1 s."""
        return {k: round(v, 1) for k, v in sorted(self.seconds.items(), key=lambda kv: -kv[1])}


def format_phases(seconds: dict[str, float]) -> str:
    """`train 301s (62%) · evaluation 90s (19%) · ...`, as the summary prints it."""
    total = sum(seconds.values()) or 1.0
    return " · ".join(f"{k} {v:.0f}s ({100 * v / total:.0f}%)" for k, v in seconds.items())
