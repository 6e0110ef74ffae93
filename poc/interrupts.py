"""Signals while a suite runs: SIGINT and SIGTERM become one catchable interruption.

Python turns SIGINT into ``KeyboardInterrupt`` but lets SIGTERM kill the process
outright, skipping every ``finally`` block, so a ``kill`` (or ``mlflow run``
cancelling its entry point) would leave runs RUNNING for ever. While a suite
runs, :func:`handling_interrupts` makes both signals raise :class:`Interrupted`
(a ``KeyboardInterrupt``) in the main thread, so the run-closing code in
:mod:`poc.lifecycle` gets to run. After the first signal, further ones are
ignored: a second Ctrl-C (or the SIGTERM ``mlflow run`` sends after forwarding
Ctrl-C) must not abort the clean-up half way.

The module also holds the test hook ``POC_TEST_PAUSE_AT``: tests that signal a
real subprocess set it so the process sleeps at a named point and the signal
lands there deterministically.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

PAUSE_ENV = "POC_TEST_PAUSE_AT"
PAUSE_SECONDS_ENV = "POC_TEST_PAUSE_SECONDS"

# Shell convention: a process ended by signal N exits 128 + N.
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class Interrupted(KeyboardInterrupt):
    """The suite was interrupted by a signal (Ctrl-C or SIGTERM).

    A ``KeyboardInterrupt`` so code that already treats Ctrl-C specially treats a
    SIGTERM the same way; ``signum`` says which signal it was.
    """

    def __init__(self, signum: int = signal.SIGINT):
        self.signum = signum
        super().__init__(signal.Signals(signum).name)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 128 + int(self.signum))


def exit_code(exc: BaseException) -> int:
    """The process exit code for an interruption: 130 for Ctrl-C, 143 for SIGTERM."""
    return exc.exit_code if isinstance(exc, Interrupted) else EXIT_CODES[signal.SIGINT]


@contextmanager
def handling_interrupts() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` once.

    Outside the main thread (where Python cannot install handlers) the block runs
    unchanged. The previous handlers are restored on exit.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    watched = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in watched}

    def _raise_once(signum, frame):
        # Ignore the next ones while the first interruption closes the runs.
        for s in watched:
            signal.signal(s, signal.SIG_IGN)
        raise Interrupted(signum)

    for s in watched:
        signal.signal(s, _raise_once)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def pause_for_test(point: str) -> None:
    """Sleep when ``$POC_TEST_PAUSE_AT`` names ``point`` (only tests set it).

    Prints ``paused at POINT`` to stderr first, so a test knows when to signal.
    """
    if os.environ.get(PAUSE_ENV) != point:
        return
    print(f"paused at {point}", file=sys.stderr, flush=True)
    time.sleep(float(os.environ.get(PAUSE_SECONDS_ENV, "60")))
