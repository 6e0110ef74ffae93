"""Errors raised on purpose by :mod:`poc.allocation`.

They subclass :class:`poc.exceptions.PocError` and ``ValueError``, so callers can
catch the package's errors, bad values in general, or exactly these.
"""

from __future__ import annotations

from poc.exceptions import PocError


class AllocationError(PocError, ValueError):
    """An allocation request cannot be met (infeasible caps, bad config, bad input)."""


class WeightsHistoryError(AllocationError):
    """A weights table breaks its schema or its caps; the message names dates and assets."""
