"""Progress of a distributed fit in the terminal (`progress=True`).

Each pass over the data shows Dask's own progress bar (`distributed.progress`, a text bar
that works in a terminal and a notebook alike) under a line naming the pass; the θ
optimization and PIRLS show a running count on one line ("optimizer evaluations: 37,
deviance 12345.678"), rewritten in place at most ten times a second and completed with a
final line. Off by default: nothing is printed.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from mixedfx.errors import ArgumentTypeError
from mixedfx.lmm.deviance import ProfiledDeviance


class Progress:
    """Prints the passes' progress bars and the optimizer's evaluation count when enabled."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._last = 0.0
        self._open = False

    def wait(self, futures: Any, label: str) -> None:
        """Dask's progress bar for the futures of one pass (returns when they finish)."""
        if not self.enabled:
            return
        from distributed import progress  # dask is optional (the `dask` extra): imported when used

        self._close_line()
        sys.stdout.write(f"{label}\n")
        sys.stdout.flush()
        progress(futures, notebook=False)
        sys.stdout.write(f"{label}: done\n")
        sys.stdout.flush()

    def count(self, label: str, n: int, detail: str = "", force: bool = False) -> None:
        """Rewrite the running-count line (throttled to ten updates a second)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        sys.stdout.write(f"\r{label}: {n}{detail}")
        sys.stdout.flush()
        self._open = True

    def finish(self, label: str, n: int, detail: str = "") -> None:
        """The count's final value, on its own line."""
        if not self.enabled:
            return
        self.count(label, n, detail, force=True)
        self._close_line()

    def _close_line(self) -> None:
        if self._open:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self._open = False


class ReportingDeviance(ProfiledDeviance):
    """`ProfiledDeviance` that reports each evaluation to a `Progress`."""

    def __init__(self, *args: Any, progress: Progress, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.progress = progress

    def __call__(self, theta: Any) -> float:
        value = super().__call__(theta)
        self.progress.count("optimizer evaluations", self.evaluations,
                            f", {'REML criterion' if self.reml else 'deviance'} {value:.6f}")
        return value


def check_progress(progress: Any) -> bool:
    """`progress=` must be True or False."""
    if not isinstance(progress, bool):
        raise ArgumentTypeError(f"progress must be True or False, got {type(progress).__name__}")
    return progress
