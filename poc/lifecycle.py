"""Every MLflow run a suite opens ends with a terminal status, whatever happens.

A run ends FINISHED when its block completes, KILLED when the block is
interrupted (Ctrl-C, SIGTERM: a ``KeyboardInterrupt``, which ``except Exception``
does not catch) and FAILED on any other error. MLflow's own ``with
mlflow.start_run()`` would record an interruption as FAILED, and a process that
dies while a run is open leaves it RUNNING for ever; :func:`closing_run` ends the
run itself, before MLflow's exit handler, so the status says what happened.
A process killed with SIGKILL runs no code at all: ``poc run --resume`` closes
what it left RUNNING (:mod:`poc.resume`).

This module holds no MLflow import: the caller passes the function that ends a
run (:func:`poc.tracking.end_run`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

log = logging.getLogger(__name__)

FINISHED, FAILED, KILLED = "FINISHED", "FAILED", "KILLED"

EndRun = Callable[[str, str], None]


def status_for(exc: BaseException | None) -> str:
    """The terminal status of a run whose block ended with ``exc`` (None: no error)."""
    if exc is None:
        return FINISHED
    if isinstance(exc, KeyboardInterrupt):
        return KILLED
    return FAILED


def end_quietly(end: EndRun, run_id: str, status: str) -> bool:
    """End a run, logging rather than raising when the store cannot be reached.

    Used on the way out of an error: the original error is the one to report.
    Returns whether the run was ended.
    """
    try:
        end(run_id, status)
    except Exception as exc:  # the store may be the thing that failed
        log.warning("could not mark run %s %s: %s", run_id, status, exc)
        return False
    return True


@contextmanager
def closing_run(run_id: str, end: EndRun, finish: bool = False) -> Iterator[None]:
    """End ``run_id`` KILLED or FAILED if the block raises, then re-raise.

    Parameters
    ----------
    run_id : str
    end : callable
        ``end(run_id, status)`` sets the terminal status.
    finish : bool
        Also end the run FINISHED when the block completes (leave it to the
        caller, e.g. ``mlflow.start_run``'s context, when False).
    """
    try:
        yield
    except BaseException as exc:
        end_quietly(end, run_id, status_for(exc))
        raise
    if finish:
        end(run_id, FINISHED)
