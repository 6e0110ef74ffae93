"""The overlay tear sheet's context: formatted tables and SVG charts (no jinja2 here).

:func:`overlay_context` turns an :class:`~poc.overlay_suite.OverlaySuiteResult`
into the context of ``tearsheets/overlays.html.j2`` (raw vs overlay variants,
IS/OOS, attribution, walk-forward, crisis and calendar tables).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from poc import charts
from poc.periods_sheet import periods_section
from poc.tearsheet import cells_table, fmt_int, fmt_num, fmt_pct, table, timestamp

VARIANT_COLUMNS = (
    ("Sharpe", "sharpe", fmt_num),
    ("IS Sharpe", "is_sharpe", fmt_num),
    ("OOS Sharpe", "oos_sharpe", fmt_num),
    ("Ann. return", "ann_ret", fmt_pct),
    ("Ann. vol", "ann_vol", fmt_pct),
    ("Max DD", "max_dd", fmt_pct),
    ("Calmar", "calmar", fmt_num),
    ("Avg exposure", "avg_exposure", fmt_pct),
)


def _group(result, cell) -> list:
    """Cells with the same strategy axes as ``cell`` (its overlay variants), in grid order."""
    fixed = {k: v for k, v in cell.params.items() if k != "overlay"}
    return [
        c
        for c in result.cells
        if c.ok and {k: v for k, v in c.params.items() if k != "overlay"} == fixed
    ]


def _isoos_table(result) -> dict:
    rows, css = [], []
    for c in result.cells:
        m = c.metrics
        rows.append(
            [
                c.name,
                fmt_num(m.get("is_sharpe")),
                fmt_num(m.get("oos_sharpe")),
                fmt_num(m.get("oos_sharpe", float("nan")) - m.get("is_sharpe", float("nan"))),
                fmt_pct(m.get("is_ann_ret")),
                fmt_pct(m.get("oos_ann_ret")),
                fmt_pct(m.get("is_max_dd")),
                fmt_pct(m.get("oos_max_dd")),
            ]
        )
        css.append("headline" if c.name == result.headline else None)
    columns = ["Cell", "IS Sharpe", "OOS Sharpe", "OOS - IS", "IS return", "OOS return"]
    return table([*columns, "IS max DD", "OOS max DD"], rows, css)


def _attribution_table(result) -> dict:
    rows, css = [], []
    for c in result.cells:
        m = c.metrics
        rows.append(
            [
                c.name,
                fmt_pct(m.get("raw_ann"), 2),
                fmt_pct(m.get("overlay_ann"), 2),
                fmt_pct(m.get("difference_ann"), 2),
                fmt_pct(m.get("scaling_ann"), 2),
                fmt_pct(m.get("timing_ann"), 2),
                fmt_pct(m.get("overlay_cost_ann"), 2),
                fmt_pct(m.get("avg_exposure")),
            ]
        )
        css.append("headline" if c.name == result.headline else None)
    columns = ["Cell", "Raw", "Overlay (gross)", "Difference", "Scaling", "Timing", "Costs"]
    return table([*columns, "Avg exposure"], rows, css)


def _walk_forward_section(result, run) -> dict[str, Any]:
    wf = run.result
    windows = wf.windows
    axes = list(result.spec.walk_forward.axes)
    label = [" ".join(str(r[a]) for a in axes) if r["cell"] else "–" for _, r in windows.iterrows()]
    categories = list(
        dict.fromkeys(" ".join(str(v) for v in combo) for combo in _combos(result, axes))
    )
    rows = [
        [
            str(r["test_start"].date()),
            str(r["test_end"].date()),
            chosen,
            fmt_num(r["train_sharpe"]),
            fmt_num(r["test_sharpe"]),
            str(r["train_start"].date()),
        ]
        for (_, r), chosen in zip(windows.iterrows(), label, strict=True)
    ]
    m = wf.metrics()
    best = result.cell(wf.is_best_cell) if wf.is_best_cell else None
    # Growth of 1, compounded: the definition of the walk-forward child's cum_return history.
    curves = {"walk-forward (stitched OOS)": _growth(wf.oos_returns)}
    if best is not None:
        net = best.daily.set_index("date")["net"].reindex(wf.oos_returns.index)
        curves[f"hindsight best: {best.name}"] = _growth(net)
    return {
        "name": run.name,
        "summary": table(
            ["Measure", "Value"],
            [
                ["OOS Sharpe (stitched test windows)", fmt_num(m["wf_oos_sharpe"])],
                ["In-sample best Sharpe (hindsight, same days)", fmt_num(m["wf_is_best_sharpe"])],
                ["In-sample best cell", wf.is_best_cell or "–"],
                ["OOS / in-sample best", fmt_num(m["wf_ratio_to_best"])],
                ["Mean Sharpe of the choices in training", fmt_num(m["wf_mean_train_sharpe"])],
                ["OOS annual return", fmt_pct(m["wf_oos_ann_ret"])],
                ["OOS max drawdown", fmt_pct(m["wf_oos_max_dd"])],
                [
                    "Windows / changes of choice",
                    f"{fmt_int(m['wf_windows'])} / {fmt_int(m['wf_choice_changes'])}",
                ],
            ],
        ),
        "windows": table(
            ["Test start", "Test end", "Chosen", "Train Sharpe", "Test Sharpe", "Train start"], rows
        ),
        "stability": charts.choice_chart(
            windows["test_start"],
            label,
            categories,
            f"Parameter stability: chosen {', '.join(axes)}",
        ),
        "nav": charts.line_chart(
            curves,
            "Growth of 1 over the test windows (compounded), log scale",
            highlight="walk-forward (stitched OOS)",
            size=(charts.FULL_WIDTH, 3.0),
            log_scale=True,
        ),
    }


def _growth(returns: pd.Series) -> pd.Series:
    """Growth of 1 compounded from daily returns (a missing day earns nothing)."""
    return (1.0 + returns.astype(float).fillna(0.0)).cumprod()


def _combos(result, axes):
    seen = []
    for c in result.cells:
        combo = tuple(c.params[a] for a in axes)
        if combo not in seen:
            seen.append(combo)
    return seen


def _charts(result, cell, group) -> dict[str, str]:
    daily = cell.daily.set_index("date")
    # NAV = 1 + cum_return, compounded like the children's MLflow cum_return history and
    # the drawdowns below; the log axis keeps 30 years of variants apart.
    curves = {c.params["overlay"]: _growth(c.daily.set_index("date")["net"]) for c in group}
    curves["benchmark"] = _growth(daily["benchmark"])
    raw = result.raw_of(cell)
    drawdowns = {f"overlay {cell.params['overlay']}": daily["drawdown"]}
    if raw is not None:
        drawdowns = {"raw (none)": raw.daily.set_index("date")["drawdown"], **drawdowns}
    overlays = [c.params["overlay"] for c in group]
    oos = f"; out of sample from {result.oos_start}" if result.oos_start else ""
    return {
        "nav": charts.line_chart(
            curves,
            f"NAV (growth of 1 = 1 + cum_return, compounded), log scale, by overlay{oos}",
            highlight=cell.params["overlay"],
            log_scale=True,
        ),
        "drawdown": charts.line_chart(
            drawdowns,
            "Drawdown of the NAV (compounded) below its running peak: raw against the "
            "headline overlay",
            percent=True,
            size=(charts.FULL_WIDTH, 2.6),
            legend_loc="lower left",
        ),
        "exposure": charts.line_chart(
            {cell.params["overlay"]: daily["exposure"]},
            f"Exposure of {cell.params['overlay']} (decided at the previous close)",
            size=(charts.FULL_WIDTH, 2.4),
        ),
        "timing": charts.bar_chart(
            overlays,
            [c.metrics.get("timing_ann") for c in group],
            "Timing part (annualized mean)",
            percent=True,
            size=(charts.HALF_WIDTH, 3.0),
        ),
        "scaling": charts.bar_chart(
            overlays,
            [c.metrics.get("scaling_ann") for c in group],
            "Scaling part (annualized mean)",
            percent=True,
            size=(charts.HALF_WIDTH, 3.0),
        ),
    }


def _period_streams(cell, raw) -> dict[str, pd.Series]:
    daily = cell.daily.set_index("date")
    streams = {"overlay": daily["net"]}
    if raw is not None:
        streams["raw"] = raw.daily.set_index("date")["net"]
    streams["benchmark"] = daily["benchmark"]
    return streams


def overlay_context(result, run: dict[str, str]) -> dict[str, Any]:
    """Context of the overlay tear sheet.

    Parameters
    ----------
    result : poc.overlay_suite.OverlaySuiteResult
    run : dict
        ``run_id``, ``git_commit``, ``command``.
    """
    cell = result.cell(result.headline)
    v = result.verdict
    best = result.best
    wf = result.spec.walk_forward
    header_rows = [
        ("Snapshot", result.snapshot_id),
        ("Snapshot digest", f"sha256 {result.snapshot_digest}"),
        ("Assets", ", ".join(result.assets)),
        ("Experiment", result.spec.name),
        ("Out of sample from", result.oos_start or "no split (oos_start not set)"),
        ("Overlay cost", f"{result.spec.overlay_cost_bps:g} bps per unit of exposure change"),
        (
            "Walk-forward",
            f"choose {', '.join(wf.axes)} on {wf.train_years:g} y, trade {wf.test_years:g} y"
            if wf
            else "off",
        ),
        ("MLflow run", run.get("run_id", "")),
        ("Git commit", run.get("git_commit", "") or "unknown"),
        (
            "Best cell (full period)",
            f"{best.name} (Sharpe {fmt_num(best.metrics['sharpe'])})" if best else "–",
        ),
        ("Suite time", f"{result.seconds:.1f} s"),
    ]
    context: dict[str, Any] = {
        "title": f"Overlay tear sheet: {result.spec.name}",
        "name": result.spec.name,
        "generated_at": timestamp(),
        "footer": "poc overlay tear sheet · numbers computed by this run · 252-day annualization",
        "header": {
            "date_range": f"{result.date_range[0]} to {result.date_range[1]}",
            "n_cells": len(result.cells),
            "n_assets": len(result.assets),
            "rows": header_rows,
            "command": run.get("command", ""),
        },
        "verdict": {
            "color": v.color,
            "grade": v.grade,
            "score": fmt_num(v.score, 1),
            "reasons": v.reasons,
            "passed": list(getattr(v, "passed", [])),
            "headline_cell": result.headline,
            "basis": "out-of-sample Sharpe from " + result.oos_start
            if result.oos_start
            else "full-period Sharpe (no oos_start in the spec)",
        },
        "variants_table": cells_table(result, "overlay", VARIANT_COLUMNS),
        "isoos_table": _isoos_table(result),
        "isoos_note": (
            f"In sample: before {result.oos_start}; out of sample: from {result.oos_start} on. "
            if result.oos_start
            else "No oos_start in the spec: there is no out-of-sample part. "
        )
        + "Overlay parameters are fixed in the spec, not fitted, so the split shows whether "
        "a gain holds up later.",
        "attribution_table": _attribution_table(result),
        "walk_forwards": [_walk_forward_section(result, w) for w in result.walk_forwards],
        "notes": result.notes,
        "headline_cell": result.headline,
    }
    if not cell.ok:
        context.update(
            cards=[{"label": "Headline cell", "value": "FAILED"}], charts=None, periods=None
        )
        return context
    m = cell.metrics
    raw = result.raw_of(cell)
    rm = raw.metrics if raw is not None else {}
    context.update(
        cards=[
            {"label": "Sharpe raw", "value": fmt_num(rm.get("sharpe"))},
            {"label": "Sharpe overlay", "value": fmt_num(m.get("sharpe"))},
            {"label": "IS Sharpe overlay", "value": fmt_num(m.get("is_sharpe"))},
            {"label": "OOS Sharpe overlay", "value": fmt_num(m.get("oos_sharpe"))},
            {"label": "Max DD raw", "value": fmt_pct(rm.get("max_dd"))},
            {"label": "Max DD overlay", "value": fmt_pct(m.get("max_dd"))},
            {"label": "Average exposure", "value": fmt_pct(m.get("avg_exposure"))},
        ],
        charts=_charts(result, cell, _group(result, cell)),
        periods=periods_section(
            _period_streams(cell, raw),
            oos_start=result.oos_start,
            primary_label=f"overlay {cell.params['overlay']}",
        ),
    )
    return context
