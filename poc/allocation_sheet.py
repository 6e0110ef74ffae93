"""The allocation tear sheet's context: formatted tables and SVG charts (no jinja2 here).

:func:`allocation_context` turns an :class:`~poc.allocation_suite.AllocationSuiteResult`
into the context of ``tearsheets/allocation.html.j2``; :func:`poc.tearsheet.render`
renders it with the same base template, CSS and table macro as the signal sheet.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from poc import charts
from poc.oos import isoos_section
from poc.periods_sheet import periods_section
from poc.sheet_extras import extras_context
from poc.tearsheet import cells_table, fmt_int, fmt_num, fmt_pct, table, timestamp

METRIC_ROWS = (
    ("Annual return (CAGR)", "ann_ret", "benchmark_ann_ret", fmt_pct),
    ("Annual volatility", "ann_vol", None, fmt_pct),
    ("Sharpe", "sharpe", "benchmark_sharpe", fmt_num),
    ("Sortino", "sortino", None, fmt_num),
    ("Max drawdown", "max_dd", None, fmt_pct),
    ("Calmar", "calmar", None, fmt_num),
    ("Excess return vs benchmark", "excess_ann_ret", None, fmt_pct),
    ("Tracking error", "tracking_error", None, fmt_pct),
    ("Information ratio", "information_ratio", None, fmt_num),
    ("Beta to benchmark", "beta", None, fmt_num),
    ("Win rate", "win_rate", None, fmt_pct),
    ("Profit factor", "profit_factor", None, fmt_num),
    ("Daily turnover", "turnover", None, fmt_num),
    ("Total costs (share of NAV, summed)", "cost_drag_sum", None, fmt_pct),
    ("Rebalances", "n_rebalances", None, fmt_int),
    ("Allocation changes", "n_rotations", None, fmt_int),
    ("Mean days between changes", "mean_days_between_rotations", None, fmt_num),
    ("Trades", "n_trades", None, fmt_int),
)


def _metrics_table(metrics: dict[str, float], bench_daily: pd.Series) -> dict:
    from poc.metrics import annual_volatility, max_drawdown, sortino_ratio

    bench = {
        "ann_vol": annual_volatility(bench_daily),
        "max_dd": max_drawdown(bench_daily),
        "sortino": sortino_ratio(bench_daily),
    }
    rows = []
    for label, key, bench_key, fmt in METRIC_ROWS:
        other = metrics.get(bench_key) if bench_key else bench.get(key)
        rows.append([label, fmt(metrics.get(key)), fmt(other) if other is not None else "–"])
    return table(["Measure", "Portfolio", "Benchmark"], rows)


ALLOCATION_CELL_COLUMNS = (
    ("Sharpe", "sharpe", fmt_num),
    ("Ann. return", "ann_ret", fmt_pct),
    ("Excess", "excess_ann_ret", fmt_pct),
    ("Max DD", "max_dd", fmt_pct),
    ("Info. ratio", "information_ratio", fmt_num),
    ("Turnover", "turnover", lambda x: fmt_num(x, 3)),
    ("Costs", "cost_drag_sum", lambda x: fmt_pct(x, 2)),
)


def _suite_table(result) -> dict:
    return cells_table(result, "model", ALLOCATION_CELL_COLUMNS)


def _charts(result, cell) -> dict[str, str]:
    daily = cell.daily.set_index("date")
    weights = cell.tables["weights"]
    monthly = weights.groupby(weights.index.to_period("Y")).mean().T
    by_asset = cell.tables["attribution_by_asset"]["contribution"].sort_values(ascending=False)
    by_regime = cell.tables["attribution_by_regime"]["total"]
    return {
        # NAV = 1 + cum_return, the compounded definition the MLflow metric uses too; on a
        # log axis a curve that grew 300-fold keeps its early years readable.
        "nav": charts.line_chart(
            {
                "portfolio": 1.0 + daily["cumulative"],
                "benchmark": 1.0 + daily["benchmark_cumulative"],
            },
            "NAV (growth of 1 = 1 + cum_return, compounded), log scale, against the benchmark",
            highlight="portfolio",
            log_scale=True,
        ),
        "drawdown": charts.line_chart(
            {"portfolio": daily["drawdown"], "benchmark": daily["benchmark_drawdown"]},
            "Drawdown of the NAV (compounded) below its running peak, against the benchmark",
            percent=True,
            highlight="portfolio",
            size=(charts.FULL_WIDTH, 2.6),
        ),
        "stacked": charts.stacked_area_chart(
            weights, "Weights by asset (end of day; cash is the gap to 100%)"
        ),
        "heatmap": charts.heatmap(monthly, "Average weight by asset and year"),
        "by_asset": charts.bar_chart(
            by_asset.index,
            by_asset.to_numpy(),
            "Contribution by asset (sum of daily)",
            percent=True,
            horizontal=True,
            size=(charts.HALF_WIDTH, 5.0),
        ),
        "by_regime": charts.bar_chart(
            by_regime.index,
            by_regime.to_numpy(),
            "Contribution by regime (sum of daily)",
            percent=True,
            size=(charts.HALF_WIDTH, 3.2),
        ),
    }


def allocation_context(result, run: dict[str, str]) -> dict[str, Any]:
    """Context of the allocation tear sheet.

    Parameters
    ----------
    result : poc.allocation_suite.AllocationSuiteResult
    run : dict
        ``run_id``, ``git_commit``, ``command``.
    """
    cell = result.cell(result.headline)
    best = result.best
    header_rows = [
        ("Snapshot", result.snapshot_id),
        ("Snapshot digest", f"sha256 {result.snapshot_digest}"),
        *(
            [("Allocation digest", f"sha256 {result.problem.digest} (snapshot, assets, benchmark)")]
            if getattr(result, "problem", None) is not None
            else []
        ),
        ("Assets", ", ".join(result.assets)),
        ("Experiment", result.spec.name),
        ("MLflow run", run.get("run_id", "")),
        ("Git commit", run.get("git_commit", "") or "unknown"),
        ("Best cell", f"{best.name} (Sharpe {fmt_num(best.metrics['sharpe'])})" if best else "–"),
        ("Suite time", f"{result.seconds:.1f} s"),
    ]
    context: dict[str, Any] = {
        "title": f"Allocation tear sheet: {result.spec.name}",
        "name": result.spec.name,
        "generated_at": timestamp(),
        "footer": "poc allocation tear sheet · numbers computed by this run · "
        "252-day annualization",
        "header": {
            "date_range": f"{result.date_range[0]} to {result.date_range[1]}",
            "n_cells": len(result.cells),
            "n_assets": len(result.assets),
            "rows": header_rows,
            "command": run.get("command", ""),
        },
        "headline_cell": result.headline,
        "suite_table": _suite_table(result),
        "suite_note": "Every cell's weights history passed the schema check (finite, invested "
        "fraction <= 1, caps and minimums respected) before analytics ran; a cell that failed it "
        "is shown as FAILED. Costs: per-day cost / previous NAV, summed.",
        "notes": result.notes,
        **_trust_and_verdict(result),
        "isoos": isoos_section(
            cell,
            getattr(result, "oos_start", None),
            "the out-of-sample Sharpe of the active return over the benchmark",
        ),
    }
    if not cell.ok:
        context.update(
            cards=[{"label": "Headline cell", "value": "FAILED"}],
            metrics_table=table(["Measure", "Portfolio", "Benchmark"], [["error", cell.error, ""]]),
            charts={
                k: "" for k in ("nav", "drawdown", "stacked", "heatmap", "by_asset", "by_regime")
            },
            regime_table=table(["Regime"], []),
            regime_note="",
            extras=None,
            periods=None,
        )
        return context
    m = cell.metrics
    distribution = cell.tables["regime_distribution"]
    context.update(
        cards=[
            {"label": "Sharpe", "value": fmt_num(m.get("sharpe"))},
            {"label": "Annual return", "value": fmt_pct(m.get("ann_ret"))},
            {"label": "Benchmark return", "value": fmt_pct(m.get("benchmark_ann_ret"))},
            {"label": "Max drawdown", "value": fmt_pct(m.get("max_dd"))},
            {"label": "Information ratio", "value": fmt_num(m.get("information_ratio"))},
            {"label": "Average invested", "value": fmt_pct(m.get("avg_invested"))},
        ],
        metrics_table=_metrics_table(m, cell.daily.set_index("date")["benchmark"]),
        charts=_charts(result, cell),
        extras_cell=result.headline,
        extras=extras_context(
            cell.daily.set_index("date")["net"],
            cell.tables.get("turnover"),
            cell.daily.set_index("date")["benchmark"],
            compound=True,
            market_label="benchmark",
        ),
        regime_table=table(
            ["Regime", "Days", "Share"],
            [[str(k), fmt_int(r["days"]), fmt_pct(r["share"])] for k, r in distribution.iterrows()],
        ),
        periods=periods_section(
            {
                "portfolio": cell.daily.set_index("date")["net"],
                "benchmark": cell.daily.set_index("date")["benchmark"],
            },
            primary_label=f"{result.headline}, net",
            heatmap=False,  # the extras section draws the monthly heatmap
        ),
        regime_note="Regimes of the benchmark, each dated by the close whose data it uses "
        "(trend up, trend down, compression, breaking volatility, choppy); see "
        "poc.allocation.regime for the exact rules.",
    )
    return context


def _trust_and_verdict(result) -> dict[str, Any]:
    """The verdict box and the "How much to trust this" section (active returns)."""
    from poc.trust_sheet import trust_context

    v = getattr(result, "verdict", None)
    verdict = None
    if v is not None:
        verdict = {
            "color": v.color,
            "grade": v.grade,
            "score": fmt_num(v.score, 1),
            "reasons": v.reasons,
            "passed": list(getattr(v, "passed", [])),
            "headline_cell": result.headline,
            "warnings": list(v.warnings),
            "caveats": list(v.caveats),
        }
    trust = trust_context(result)
    if trust is not None:
        trust["subject"] = "active return over the benchmark"
    return {"verdict": verdict, "trust": trust}
