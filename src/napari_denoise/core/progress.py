"""Progress reports of the engine's generators, and driving one to its end."""

from __future__ import annotations

from dataclasses import dataclass


class Cancelled(Exception):
    """Raised by :func:`run_to_end` when the progress callback asks to stop."""


@dataclass
class Progress:
    done: int
    total: int
    message: str = ""
    elapsed: float = 0.0

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0

    @property
    def eta(self) -> float | None:
        if not self.done or not self.total:
            return None
        return self.elapsed * (self.total - self.done) / self.done


def run_to_end(gen, progress=None):
    """Drive a generator from :func:`denoise_iter`; ``progress(p)`` returning False cancels."""
    try:
        while True:
            p = next(gen)
            if progress is not None and progress(p) is False:
                gen.close()
                raise Cancelled("cancelled")
    except StopIteration as stop:
        return stop.value
