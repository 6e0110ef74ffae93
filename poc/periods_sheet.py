"""The periods section of the tear sheets (``tearsheets/_periods.html.j2``): formatted tables.

:func:`periods_section` turns daily return streams into the crisis table, the
annual table and the monthly returns (a table and a heatmap) of the primary
stream, all as pre-formatted cells (templates hold no arithmetic).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from poc import charts
from poc.periods import CRISES, annual_table, crisis_table, monthly_table
from poc.tearsheet import fmt_int, fmt_num, fmt_pct, table


def _crises(streams: dict[str, pd.Series]) -> dict:
    frame = crisis_table(streams)
    columns = ["Crisis", "Start", "End", "Days"] + [
        c for c in frame.columns if c.endswith(("return", "DD"))
    ]
    rows = [
        [name, rec["start"], rec["end"], fmt_int(rec["days"])]
        + [fmt_pct(rec[c]) for c in columns[4:]]
        for name, rec in zip(frame.index, frame.to_dict("records"), strict=True)
    ]
    return table(columns, rows)


def _annual(streams: dict[str, pd.Series], oos_start) -> dict:
    frame = annual_table(streams, oos_start)
    columns = ["Year", *frame.columns]
    rows = [
        [str(year)]
        + [
            rec[c]
            if c == "sample"
            else (fmt_num(rec[c]) if c.endswith("Sharpe") else fmt_pct(rec[c]))
            for c in frame.columns
        ]
        for year, rec in zip(frame.index, frame.to_dict("records"), strict=True)
    ]
    css = ["muted" if r[-1] == "IS" else None for r in rows] if oos_start is not None else None
    return table(columns, rows, css=css)


def _monthly(returns: pd.Series) -> tuple[dict, pd.DataFrame]:
    frame = monthly_table(returns)
    rows = [
        [str(year)] + [fmt_pct(rec[c]) for c in frame.columns]
        for year, rec in zip(frame.index, frame.to_dict("records"), strict=True)
    ]
    return table(["Year", *frame.columns], rows), frame


def periods_section(
    streams: dict[str, pd.Series],
    oos_start=None,
    primary_label: str | None = None,
    heatmap: bool = True,
) -> dict[str, Any]:
    """Context of the periods partial.

    Parameters
    ----------
    streams : dict
        Label -> daily returns (DatetimeIndex); the first is the primary stream
        whose monthly returns are shown and whose dates decide the crises.
    oos_start : optional
        Marks annual rows IS / OOS (see :func:`poc.periods.resolve_oos_start`).
    primary_label : str, optional
        How the sheet names the primary stream (defaults to its label).
    heatmap : bool
        Draw the monthly heatmap; sheets that already show one (the extras section
        of the signal and allocation sheets) pass False so a month has one colour.
    """
    streams = {k: v.sort_index() for k, v in streams.items()}
    label, primary = next(iter(streams.items()))
    crises = _crises(streams)
    monthly, frame = _monthly(primary)
    heat = (
        charts.heatmap(
            frame.drop(columns="Year"),
            f"Monthly returns ({primary_label or label})",
            size=(8.0, max(2.0, 0.22 * len(frame) + 1.0)),
            cmap="RdYlGn",
            symmetric=True,  # a losing month is never green
            percent=True,
        )
        if heatmap and len(frame)
        else ""
    )
    return {
        "primary": primary_label or label,
        "crisis_table": crises if crises["rows"] else None,
        "crisis_note": "Compounded return and max drawdown inside each named stress period "
        "that lies entirely inside the data (of "
        f"{len(CRISES)} known: " + ", ".join(c.name for c in CRISES) + ").",
        "annual_table": _annual(streams, oos_start),
        "monthly_table": monthly,
        "monthly_heatmap": heat,
    }
