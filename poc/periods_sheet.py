"""The periods section of the tear sheets (``tearsheets/_periods.html.j2``): formatted tables.

:func:`periods_section` turns daily return streams into the crisis table, the
annual table and the monthly returns (a table and a heatmap) of the primary
stream, all as pre-formatted cells (templates hold no arithmetic). A first or last
year the data cover only in part is labelled so ("1990 (from 1990-03-15)"), and every
note names the sheet's one definition of a period's return and drawdown (compounded,
or additive on the signal sheet: docs/conventions.md).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from poc import charts
from poc.periods import CRISES, annual_table, crisis_table, monthly_table, partial_year_labels
from poc.tearsheet import fmt_int, fmt_num, fmt_pct, table


def _crises(streams: dict[str, pd.Series], compound: bool) -> dict:
    frame = crisis_table(streams, compound)
    columns = ["Crisis", "Start", "End", "Days"] + [
        c for c in frame.columns if c.endswith(("return", "DD"))
    ]
    rows = [
        [name, rec["start"], rec["end"], fmt_int(rec["days"])]
        + [fmt_pct(rec[c]) for c in columns[4:]]
        for name, rec in zip(frame.index, frame.to_dict("records"), strict=True)
    ]
    return table(columns, rows)


def _annual(streams: dict[str, pd.Series], oos_start, compound: bool, years: dict) -> dict:
    frame = annual_table(streams, oos_start, compound)
    columns = ["Year", *frame.columns]
    rows = [
        [years.get(year, str(year))]
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


def _monthly(returns: pd.Series, compound: bool, years: dict) -> tuple[dict, pd.DataFrame]:
    frame = monthly_table(returns, compound)
    rows = [
        [years.get(year, str(year))] + [fmt_pct(rec[c]) for c in frame.columns]
        for year, rec in zip(frame.index, frame.to_dict("records"), strict=True)
    ]
    return table(["Year", *frame.columns], rows), frame


def periods_section(
    streams: dict[str, pd.Series],
    oos_start=None,
    primary_label: str | None = None,
    heatmap: bool = True,
    compound: bool = True,
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
    compound : bool
        Compounded returns and drawdowns of the compounded curve (allocation, overlay
        sheets), or (False) sums of daily returns and drawdowns of that additive curve:
        the signal sheet's ``cum_return`` definition.
    """
    streams = {k: v.sort_index() for k, v in streams.items()}
    label, primary = next(iter(streams.items()))
    years = partial_year_labels(primary.dropna().index)
    crises = _crises(streams, compound)
    monthly, frame = _monthly(primary, compound, years)
    heat = (
        charts.heatmap(
            frame.drop(columns="Year"),
            f"Monthly returns ({primary_label or label})",
            size=(charts.FULL_WIDTH, max(2.0, 0.22 * len(frame) + 1.0)),
            cmap="RdYlGn",
            symmetric=True,  # a losing month is never green
            percent=True,
        )
        if heatmap and len(frame)
        else ""
    )
    definition = (
        "compounded return; max DD = drawdown of the compounded curve"
        if compound
        else "return = sum of daily returns (additive cum_return); max DD = fall of that "
        "sum below its running peak, in return points"
    )
    partial = (
        " A year marked from/to a date is partial: the data start or end inside it."
        if years
        else ""
    )
    return {
        "primary": primary_label or label,
        "crisis_table": crises if crises["rows"] else None,
        "crisis_note": f"Inside each named stress period that lies entirely inside the data "
        f"({definition}; {len(CRISES)} known: " + ", ".join(c.name for c in CRISES) + ").",
        "annual_table": _annual(streams, oos_start, compound, years),
        "annual_note": "Calendar-year "
        + ("compounded returns" if compound else "sums of daily returns")
        + "; Sharpe of the year's daily returns."
        + partial,
        "monthly_table": monthly,
        "monthly_heatmap": heat,
        "monthly_note": "Calendar returns are "
        + ("compounded from" if compound else "sums of")
        + " daily returns; a blank month had no observation."
        + partial,
    }
