"""The portfolio tear sheet's context: formatted tables and SVG charts (no jinja2 here).

:func:`portfolio_context` turns a :class:`~poc.portfolio.suite.PortfolioSuiteResult`
into the context of ``tearsheets/portfolio.html.j2``, rendered by
:func:`poc.tearsheet.render` with the same base template, CSS and table macro
as the signal and allocation sheets.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from poc import charts
from poc.tearsheet import cells_table, fmt_int, fmt_num, fmt_pct, table, timestamp

STAT_ROWS = (
    ("Trades", "n_trades", fmt_int),
    ("Hit rate", "hit_rate", fmt_pct),
    ("Median trade (net return)", "median_trade", lambda x: fmt_pct(x, 2)),
    ("Mean R multiple", "mean_r", lambda x: fmt_num(x, 3)),
    ("Expectancy (mean net trade return)", "expectancy", lambda x: fmt_pct(x, 2)),
    ("Expectancy without the top 5% winners", "expectancy_ex_top5", lambda x: fmt_pct(x, 2)),
    ("Profit factor", "profit_factor", fmt_num),
    ("Max consecutive losses", "max_consecutive_losses", fmt_int),
    ("Mean days held", "mean_days_held", lambda x: fmt_num(x, 1)),
    ("Exposure (mean invested share of NAV)", "exposure", fmt_pct),
    ("Total return", "total_return", fmt_pct),
    ("Annual return (CAGR)", "ann_ret", fmt_pct),
    ("Sharpe", "sharpe", fmt_num),
    ("Max drawdown", "max_dd", fmt_pct),
)
CONTROL_KEYS = ("expectancy", "mean_r", "hit_rate", "total_return", "sharpe", "n_trades")
BENCHMARK_KEYS = ("total_return", "ann_ret", "sharpe", "max_dd")
CELL_COLUMNS = (
    ("Trades", "n_trades", fmt_int),
    ("Expectancy", "expectancy", lambda x: fmt_pct(x, 2)),
    ("Mean R", "mean_r", lambda x: fmt_num(x, 3)),
    ("Hit rate", "hit_rate", fmt_pct),
    ("Control bound", "control_bound", lambda x: fmt_pct(x, 2)),
    ("Beats control", "beats_control", lambda x: "yes" if x == 1.0 else "no"),
    ("CAGR", "ann_ret", fmt_pct),
    ("Max DD", "max_dd", fmt_pct),
    ("Exposure", "exposure", fmt_pct),
)


def stats_table(metrics: dict[str, float]) -> dict:
    """Measure | signal book | random-entry control (median of draws) | benchmark buy and hold."""
    rows = []
    for label, key, fmt in STAT_ROWS:
        control = metrics.get(f"control_{key}") if key in CONTROL_KEYS else None
        bench = metrics.get(f"benchmark_{key}") if key in BENCHMARK_KEYS else None
        rows.append(
            [
                label,
                fmt(metrics.get(key)),
                "–" if control is None else fmt(control),
                "–" if bench is None else fmt(bench),
            ]
        )
    return table(["Measure", "Signal book", "Random-entry control (median)", "Benchmark"], rows)


def reason_table(ledger: pd.DataFrame) -> dict:
    """Per exit reason: trades, share, hit rate, mean return, mean R, mean days held."""
    rows = []
    n = len(ledger)
    for reason, group in ledger.groupby("reason", sort=True):
        rows.append(
            [
                str(reason),
                fmt_int(len(group)),
                fmt_pct(len(group) / n),
                fmt_pct(float((group["pnl"] > 0).mean())),
                fmt_pct(float(group["return"].mean()), 2),
                fmt_num(float(group["r_multiple"].mean()), 3),
                fmt_num(float(group["days_held"].mean()), 1),
            ]
        )
    columns = ["Exit reason", "Trades", "Share", "Hit rate", "Mean return", "Mean R", "Days held"]
    return table(columns, rows)


def recent_trades(ledger: pd.DataFrame, tickers: dict[int, str], last: int = 15) -> dict:
    """The last ``last`` trades of the ledger, as in ``trades.csv``."""
    rows = []
    for _, t in ledger.tail(last).iterrows():
        rows.append(
            [
                tickers.get(int(t["security_id"]), str(int(t["security_id"]))),
                str(pd.Timestamp(t["entry_date"]).date()),
                fmt_num(t["entry_price"]),
                fmt_num(t["stop_price"]),
                str(pd.Timestamp(t["exit_date"]).date()),
                fmt_num(t["exit_price"]),
                str(t["reason"]),
                fmt_pct(t["return"], 2),
                fmt_num(t["r_multiple"], 2),
            ]
        )
    columns = [
        "Name",
        "Entry",
        "Entry price",
        "Stop",
        "Exit",
        "Exit price",
        "Reason",
        "Return",
        "R",
    ]
    return table(columns, rows, text_columns=["Reason"])


def ic_table(ic: pd.DataFrame) -> dict:
    rows = [
        [
            f"{int(r['horizon'])} d",
            fmt_num(r["ic_mean"], 4),
            fmt_num(r["ic_ir"], 3),
            fmt_num(r["ic_t_blocks"]),
            fmt_int(r["ic_blocks"]),
            fmt_pct(r["positive_share"]),
            fmt_num(r["ic_nonoverlap"], 4),
            fmt_num(r["ic_nonoverlap_t"]),
            fmt_int(r["nonoverlap_windows"]),
            "yes" if r["reliable"] else "no (too few windows)",
        ]
        for _, r in ic.iterrows()
    ]
    columns = [
        "Horizon",
        "Mean rank IC",
        "IC IR",
        "t (21-day blocks)",
        "Blocks",
        "Days IC > 0",
        "Non-overlapping IC",
        "t (non-overlapping)",
        "Windows",
        "Reliable",
    ]
    return table(columns, rows, text_columns=["Reliable"])


def control_sentence(metrics: dict[str, float], n_control: int) -> str:
    beat = metrics.get("beats_control") == 1.0
    return (
        f"Signal expectancy {fmt_pct(metrics.get('expectancy'), 3)} per trade vs the highest of "
        f"{n_control} random-entry draws {fmt_pct(metrics.get('control_bound'), 3)} (median "
        f"{fmt_pct(metrics.get('control_expectancy'), 3)}): the signal "
        + ("BEATS the control's bound." if beat else "does NOT beat the control's bound.")
    )


def _charts(cell) -> dict[str, str]:
    daily = cell.daily.set_index("date")
    return {
        "equity": charts.line_chart(
            {
                "signal book": daily["cumulative"],
                "benchmark buy and hold": daily["benchmark_cumulative"],
                "random-entry control (median)": daily["control_cumulative"],
            },
            "Cumulative return (compounded, net of costs): signal book, benchmark, "
            "random-entry control",
            percent=True,
            highlight="signal book",
        ),
        "drawdown": charts.area_chart(
            daily["drawdown"], "Drawdown of the signal book (compounded curve below its peak)"
        ),
        "r_hist": _r_histogram(cell.tables["trades"]),
    }


def _r_histogram(ledger: pd.DataFrame) -> str:
    r = ledger["r_multiple"].to_numpy(np.float64)
    r = r[np.isfinite(r)]
    if r.size == 0:
        return ""
    edges = np.arange(-3.0, 5.5, 0.5)
    counts, _ = np.histogram(np.clip(r, edges[0], edges[-1] - 1e-9), bins=edges)
    labels = [f"{lo:g}" for lo in edges[:-1]]
    return charts.bar_chart(
        labels,
        counts,
        "Trades by R multiple (bins of 0.5R; ends clipped)",
        size=(charts.FULL_WIDTH, 2.6),
    )


def portfolio_context(result, run: dict[str, str]) -> dict[str, Any]:
    """Context of the portfolio tear sheet.

    Parameters
    ----------
    result : poc.portfolio.suite.PortfolioSuiteResult
    run : dict
        ``run_id``, ``git_commit``, ``command``.
    """
    spec = result.spec
    cell = result.cell(result.headline)
    rules = "close-only (no OHLC in the snapshot)" if result.close_only else "OHLC"
    header_rows = [
        ("Signal", spec.signal),
        ("Signal digest", f"sha256 {result.signal_digest}"),
        ("Snapshot", result.snapshot_id),
        ("Snapshot digest", f"sha256 {result.snapshot_digest}"),
        ("Experiment", spec.name),
        ("Fill rules", rules),
        ("Random-entry draws per cell", str(spec.n_control)),
        ("MLflow run", run.get("run_id", "")),
        ("Git commit", run.get("git_commit", "") or "unknown"),
        ("Suite time", f"{result.seconds:.1f} s"),
    ]
    context: dict[str, Any] = {
        "title": f"Portfolio tear sheet: {spec.name}",
        "name": spec.name,
        "generated_at": timestamp(),
        "footer": "poc portfolio tear sheet · numbers computed by this run · 252-day annualization",
        "header": {
            "date_range": f"{result.date_range[0]} to {result.date_range[1]}",
            "n_cells": len(result.cells),
            "n_securities": result.n_securities,
            "rows": header_rows,
            "command": run.get("command", ""),
        },
        "close_only": result.close_only,
        "rules_note": result.notes[0] if result.close_only else "",
        "headline_cell": result.headline,
        "params": ", ".join(f"{k}={v}" for k, v in cell.params.items()),
        "suite_table": cells_table(result, "hold_days", CELL_COLUMNS),
        "ic_table": ic_table(result.ic),
        "notes": result.notes[1:] if result.close_only else result.notes,
    }
    if not cell.ok:
        context.update(
            cards=[{"label": "Headline cell", "value": "FAILED"}],
            stats_table=table(["Measure", "Signal book"], [["error", cell.error]]),
            control_sentence="",
            reason_table=table(["Exit reason"], []),
            trades_table=table(["Name"], []),
            charts={"equity": "", "drawdown": "", "r_hist": ""},
        )
        return context
    m = cell.metrics
    context.update(
        cards=[
            {"label": "Trades", "value": fmt_int(m.get("n_trades"))},
            {"label": "Expectancy / trade", "value": fmt_pct(m.get("expectancy"), 2)},
            {"label": "Mean R", "value": fmt_num(m.get("mean_r"), 3)},
            {"label": "Hit rate", "value": fmt_pct(m.get("hit_rate"))},
            {"label": "Beats random entry", "value": "yes" if m.get("beats_control") else "no"},
            {
                "label": "CAGR / benchmark",
                "value": f"{fmt_pct(m.get('ann_ret'))} / {fmt_pct(m.get('benchmark_ann_ret'))}",
            },
        ],
        stats_table=stats_table(m),
        control_sentence=control_sentence(m, spec.n_control),
        reason_table=reason_table(cell.tables["trades"]),
        trades_table=recent_trades(cell.tables["trades"], result.tickers),
        charts=_charts(cell),
    )
    return context
