"""In-sample vs out-of-sample metrics for signal and allocation suites (spec key ``oos_start``).

The split itself lives in :mod:`poc.periods` (:func:`~poc.periods.resolve_oos_start`,
:func:`~poc.periods.split_metrics`); this module parses the spec value, checks it
against the suite's dates before any cell runs, and adds ``is_*``/``oos_*`` to
every finished cell's metrics. Without ``oos_start`` nothing changes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pandas as pd

from poc.exceptions import ConfigError
from poc.periods import resolve_oos_start, split_metrics

SPLIT_PREFIXES = ("is_", "oos_")


def parse_oos_start(value: Any) -> str | float | None:
    """A spec or command-line ``oos_start`` as an ISO date, a fraction in (0, 1), or None.

    Parameters
    ----------
    value : str, float, date or None
        ``""``/None: no split. A number (or text reading as one): the last
        ``value`` of the days are out of sample. Anything else: a date.

    Raises
    ------
    ConfigError
        A fraction outside (0, 1), a boolean, or text that is neither a number nor a date.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ConfigError(f"oos_start: expected a date or a fraction in (0, 1), got {value!r}")
    number: float | None = None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is not None:
        if not 0 < number < 1:
            raise ConfigError(
                f"oos_start: a fraction must lie in (0, 1), got {value!r}; e.g. 0.3 keeps the "
                "last 30% of days out of sample, or give a date such as 2015-01-01"
            )
        return number
    if not isinstance(value, str | dt.date):
        raise ConfigError(f"oos_start: expected a date or a fraction in (0, 1), got {value!r}")
    try:
        return pd.Timestamp(str(value).strip()).date().isoformat()
    except (TypeError, ValueError):
        raise ConfigError(
            f"oos_start: cannot read {value!r} as a date (e.g. 2015-01-01) or a fraction (e.g. 0.3)"
        ) from None


def oos_text(value: str | float | None) -> str:
    """How ``oos_start`` is written in reproduce commands (``""`` when unset)."""
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def resolve_split(dates, oos_start: str | float | None) -> str | None:
    """The first out-of-sample date (ISO) on the suite's trading dates, None without a split.

    A date outside the data, or a split leaving either side under 2 days, is a
    ConfigError naming the data's range (raised before any cell runs).
    """
    if oos_start is None:
        return None
    index = pd.DatetimeIndex(dates).sort_values()
    if isinstance(oos_start, str):
        when = pd.Timestamp(oos_start)
        if len(index) and (when <= index[0] or when > index[-1]):
            raise ConfigError(
                f"oos_start {oos_start} is outside the data ({index[0].date()} to "
                f"{index[-1].date()}); pick a date inside it or a fraction such as 0.3"
            )
    return str(resolve_oos_start(index, oos_start).date())


def with_split(cell, oos_date: str | None, column: str = "net"):
    """The cell with ``is_*``/``oos_*`` metrics of its daily ``column`` (unchanged without a split).

    Earlier split metrics (a resumed cell) are dropped first, so the split always
    matches ``oos_date``. Failed cells and cells without a daily table are returned as is.
    """
    if oos_date is None or not cell.ok or cell.daily is None or cell.daily.empty:
        return cell
    metrics = {k: v for k, v in cell.metrics.items() if not k.startswith(SPLIT_PREFIXES)}
    returns = cell.daily.set_index("date")[column]
    returns.index = pd.DatetimeIndex(returns.index)
    try:
        metrics.update(split_metrics(returns.sort_index(), oos_date))
    except ConfigError:
        # This cell's own days do not straddle the split (e.g. a long lag): no split
        # metrics, so a verdict reading its oos_sharpe has none rather than a wrong one.
        return dataclasses.replace(cell, metrics=metrics)
    return dataclasses.replace(cell, metrics=metrics)


def isoos_rows(metrics: dict[str, float]) -> list[tuple[str, float, float]]:
    """(label, in-sample, out-of-sample) rows of a cell's split metrics, for the sheets."""
    labels = (
        ("Sharpe", "sharpe"),
        ("Annual return", "ann_ret"),
        ("Annual volatility", "ann_vol"),
        ("Sortino", "sortino"),
        ("Max drawdown (compounded)", "max_dd"),
        ("Days", "days"),
    )
    nan = float("nan")
    return [(lab, metrics.get(f"is_{k}", nan), metrics.get(f"oos_{k}", nan)) for lab, k in labels]


def isoos_section(cell, oos_start: str | None, verdict_basis: str) -> dict[str, Any] | None:
    """Context of ``tearsheets/_isoos.html.j2``: the headline's IS vs OOS table, or None.

    Parameters
    ----------
    cell : poc.suite.CellResult
        The headline cell (its ``is_*``/``oos_*`` metrics).
    oos_start : str or None
        The first out-of-sample date.
    verdict_basis : str
        What the verdict's Sharpe component reads, said on the sheet.
    """
    if oos_start is None:
        return None
    from poc.tearsheet import fmt_int, fmt_num, fmt_pct, table  # the sheets' formatters

    def fmt(label: str, x: float) -> str:
        if label == "Days":
            return fmt_int(x)
        return fmt_num(x) if label in ("Sharpe", "Sortino") else fmt_pct(x)

    rows = [[label, fmt(label, a), fmt(label, b)] for label, a, b in isoos_rows(cell.metrics)]
    return {
        "cell": cell.name,
        "start": oos_start,
        "table": table(["Measure", "In sample", "Out of sample"], rows),
        "note": f"In sample: before {oos_start}; out of sample: from {oos_start} on (spec "
        f"oos_start). The verdict's Sharpe component is {verdict_basis}.",
    }
