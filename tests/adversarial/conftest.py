"""Shared by the adversarial suites: a case that blocks (on a FIFO, say) fails instead of
hanging the run. A module may set HANG_SECONDS; no wall-time assertion beyond that (a loaded
machine must not fail a case that merely ran slowly)."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest

HANG_SECONDS = 120


@pytest.fixture(autouse=True)
def _no_hang(request: pytest.FixtureRequest) -> Iterator[None]:
    seconds = int(getattr(request.module, "HANG_SECONDS", HANG_SECONDS))

    def timeout(signum: int, frame: object) -> None:
        raise TimeoutError(f"the case blocked for {seconds} s")

    old = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
