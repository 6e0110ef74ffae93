"""HTML tear sheets: the only module that imports jinja2.

Compute, then render, then write: the suite (or the allocation run) produces
results; :func:`suite_context` turns them into a context of pre-formatted
strings, tables and inline SVG charts (templates hold no arithmetic);
:func:`render` fills a template from ``tearsheets/`` with autoescaping on;
:func:`write_html` writes the file atomically. The output is one
self-contained file: inline CSS, inline SVG, no external URL.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd

TEMPLATE_PACKAGE = "tearsheets"


def _environment() -> jinja2.Environment:
    folder = Path(str(files(TEMPLATE_PACKAGE)))
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folder),
        # Every value is escaped (signal names and error messages come from users);
        # only our own SVG charts are marked safe in the templates.
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, context: dict[str, Any]) -> str:
    """Render ``template`` (a file in ``tearsheets/``) with the inline stylesheet."""
    env = _environment()
    css = (Path(str(files(TEMPLATE_PACKAGE))) / "style.css").read_text()
    return env.get_template(template).render(css=css, **context)


def write_html(html: str, path: Path) -> Path:
    """Write ``html`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tearsheet-", suffix=".html")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(html)
    os.chmod(tmp, 0o644)  # mkstemp makes 0600; a tear sheet is meant to be shared and served
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------
# Formatting (numbers become strings here, never in templates)
# --------------------------------------------------------------------------


def _bad(x) -> bool:
    return x is None or (isinstance(x, float | np.floating) and not math.isfinite(x))


def fmt_num(x, digits: int = 2) -> str:
    """A number with fixed decimals; an en dash when missing."""
    return "–" if _bad(x) else f"{float(x):,.{digits}f}"


def fmt_pct(x, digits: int = 1) -> str:
    """A fraction as a percentage."""
    return "–" if _bad(x) else f"{float(x) * 100:,.{digits}f}%"


def fmt_int(x) -> str:
    return "–" if _bad(x) else f"{round(float(x)):,}"


def table(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    css: Sequence[str | None] | None = None,
    text_columns: Sequence[str] = (),
) -> dict[str, Any]:
    """A table for the ``table`` macro: column names and rows of already formatted cells."""
    css = list(css) if css is not None else [None] * len(rows)
    return {
        "columns": list(columns),
        "rows": [
            {"cells": [str(c) for c in row], "css": k} for row, k in zip(rows, css, strict=True)
        ],
        "text_columns": list(text_columns),
    }


def frame_table(frame: pd.DataFrame, formats: dict[str, Any], index_name: str | None = None):
    """A DataFrame as a table, formatting each column with ``formats[col]`` (default fmt_num)."""
    columns = ([index_name] if index_name else []) + list(frame.columns)
    rows = []
    for idx, rec in zip(frame.index, frame.to_dict("records"), strict=True):
        cells = [str(idx)] if index_name else []
        cells += [formats.get(col, fmt_num)(rec[col]) for col in frame.columns]
        rows.append(cells)
    return table(columns, rows)


def timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")


# --------------------------------------------------------------------------
# Signal suite tear sheet
# --------------------------------------------------------------------------

_COMPONENT_LABELS = {
    "sharpe": "Sharpe",
    "lag_stability": "Lag stability",
    "deflated_sharpe": "Deflated Sharpe",
    "overfitting": "Overfitting (1 - PBO)",
    "residualization_stability": "Residualization stability",
    "baseline_uniqueness": "Baseline uniqueness",
    "cap_consistency": "Cap consistency",
    "year_consistency": "Year consistency",
    "factor_uniqueness": "Factor uniqueness",
}


def _score_section(verdict) -> tuple[dict, str | None]:
    rows, css = [], []
    for c in verdict.components:
        rows.append(
            [
                _COMPONENT_LABELS.get(c.name, c.name),
                fmt_pct(c.weight, 0),
                fmt_pct(verdict.normalized_weight(c.name), 1) if c.used else "left out",
                fmt_num(c.score, 1) if c.used else "–",
                c.detail,
            ]
        )
        css.append(None if c.used else "muted")
    left_out = verdict.components_left_out
    note = None
    if left_out:
        note = (
            "Left out for lack of inputs: "
            + ", ".join(_COMPONENT_LABELS.get(n, n) for n in left_out)
            + ". The remaining weights were renormalized to 100%."
        )
    return (
        table(["Component", "Weight", "Weight used", "Score", "How"], rows, css, ["How"]),
        note,
    )


def cells_table(result, default_axis: str, metric_columns, label=lambda c: c.name) -> dict:
    """One row per cell of a suite: the grid axes that vary, metrics, status.

    Parameters
    ----------
    result
        A suite result with ``spec.grid``, ``cells`` and ``headline``.
    default_axis : str
        Axis shown when none varies.
    metric_columns : sequence of (column title, metric key, formatter)
    label : callable
        The row label of a cell.
    """
    axes = [a for a, v in result.spec.grid.items() if len(v) > 1] or [default_axis]
    columns = ["Cell", *axes, *(title for title, _, _ in metric_columns), "Status"]
    rows, css = [], []
    for c in result.cells:
        rows.append(
            [
                label(c),
                *[str(c.params.get(a, "")) for a in axes],
                *[fmt(c.metrics.get(key)) for _, key, fmt in metric_columns],
                c.status if c.ok else f"FAILED: {c.error}",
            ]
        )
        is_headline = c.name == result.headline and c.kind == "cell"
        css.append("failed" if not c.ok else ("headline" if is_headline else None))
    return table(columns, rows, css, ["Status"])


SIGNAL_CELL_COLUMNS = (
    ("Sharpe", "sharpe", fmt_num),
    ("Gross Sharpe", "gross_sharpe", fmt_num),
    ("Ann. return", "ann_ret", fmt_pct),
    ("Ann. vol", "ann_vol", fmt_pct),
    ("Max DD (compounded)", "max_dd", fmt_pct),
    ("Turnover", "turnover", fmt_num),
)


def _suite_table(result) -> dict:
    return cells_table(
        result,
        "lag",
        SIGNAL_CELL_COLUMNS,
        label=lambda c: c.name if c.kind == "cell" else f"baseline: {c.name}",
    )


def _slice_table(
    summary: pd.DataFrame | None, group: str, label: str, names: dict | None = None
) -> dict | None:
    if summary is None:
        return None
    part = summary[summary["slice"] == group]
    if part.empty:
        return None
    rows = [
        [
            (names or {}).get(_year_key(r["label"]), str(r["label"])),
            fmt_num(r.get("sharpe")),
            fmt_pct(r.get("ann_ret")),
            fmt_pct(r.get("ann_vol")),
            fmt_pct(r.get("max_dd")),
            fmt_num(r.get("turnover")),
            fmt_int(r.get("n_periods")),
        ]
        for r in part.to_dict("records")
    ]
    return table(
        [label, "Sharpe", "Ann. return", "Ann. vol", "Max DD (compounded)", "Turnover", "Days"],
        rows,
    )


def _year_key(label):
    """A slice label as the int year :func:`poc.periods.partial_year_labels` keys on."""
    try:
        return int(label)
    except (TypeError, ValueError):
        return label


def _partial_years(headline) -> dict:
    """'1990 (from 1990-03-15)' labels of the headline's partial first/last years."""
    from poc.periods import partial_year_labels

    if not headline.ok or headline.daily is None:
        return {}
    return partial_year_labels(headline.daily["date"])


def _baselines_table(result) -> dict | None:
    ev = result.evaluation
    if not result.baselines:
        return None
    rows = []
    for b in result.baselines:
        rows.append(
            [
                b.name,
                fmt_num(b.metrics.get("sharpe")) if b.ok else f"FAILED: {b.error}",
                fmt_pct(b.metrics.get("ann_ret")),
                fmt_num(ev["baseline_signal_corr"].get(b.name)),
                fmt_num(ev["baseline_pnl_corr"].get(b.name)),
            ]
        )
    return table(["Baseline", "Sharpe", "Ann. return", "Signal corr", "P&L corr"], rows)


def _ic_tables(ev) -> tuple[dict, dict, str]:
    rows = []
    unreliable = []
    for h, s in ev["ic_by_horizon"].items():
        rows.append(
            [
                f"{h} day{'s' if h > 1 else ''}",
                fmt_num(s.mean, 4),
                fmt_num(s.std, 4),
                fmt_num(s.ir, 3),
                fmt_num(s.t_stat, 2),
                fmt_num(s.block_t, 2),
                fmt_num(s.nw_t, 2),
                f"{s.n_windows}" + ("" if s.reliable else " (unreliable)"),
                fmt_pct(s.positive_share),
            ]
        )
        if not s.reliable:
            unreliable.append(str(h))
    horizon = table(
        [
            "Horizon",
            "IC mean",
            "IC std",
            "IR",
            "t-stat",
            "t block",
            "t NW",
            "Windows",
            "Positive days",
        ],
        rows,
    )
    decay = table(
        ["Lag", "IC (1 day)"],
        [[str(lag), fmt_num(v, 4)] for lag, v in ev["ic_decay"].items()],
    )
    note = (
        f"Daily cross-sectional Spearman IC at lag {ev['lag']}. t-stat is the more conservative of "
        "t block (means of non-overlapping 21-day windows) and t NW (Newey-West, lag = horizon "
        "- 1); the verdict uses it. Fewer than 12 windows is flagged unreliable."
    )
    if unreliable:
        note += f" Unreliable for horizon(s): {', '.join(unreliable)}."
    return horizon, decay, note


def _additive_drawdown(net: pd.Series) -> pd.Series:
    """``cum - running max(cum)`` of the additive curve ``cum = net.cumsum()`` (<= 0)."""
    cum = net.fillna(0.0).cumsum()
    return cum - np.maximum.accumulate(np.maximum(cum, 0.0))


def _charts(result) -> dict[str, str]:
    from poc import charts

    curves = {}
    for c in result.cells:
        if c.ok and c.daily is not None:
            label = c.name if c.kind == "cell" else f"baseline: {c.name}"
            # Additive: a compounded long-short curve that loses heavily pins at -100% and
            # hides every later difference between cells.
            curves[label] = c.daily.set_index("date")["net"].cumsum()
    headline = result.cell(result.headline)
    out = {
        "cumulative": charts.line_chart(
            curves,
            "cum_return = sum of daily net returns (additive), every cell and baseline",
            percent=True,
            highlight=result.headline,
        )
        if curves
        else "",
        # Drawdown of the same additive curve, in return points below its running peak:
        # the compounded curve of a losing long-short book sits at -100% and says nothing.
        "drawdown": charts.area_chart(
            _additive_drawdown(headline.daily.set_index("date")["net"]),
            f"Drawdown of cum_return (additive, return points) below its running peak "
            f"({result.headline})",
        )
        if headline.ok
        else "",
        "deciles": "",
        "ic_decay": "",
    }
    if headline.ok and headline.fractile is not None and len(headline.fractile):
        f = headline.fractile
        out["deciles"] = charts.bar_chart(
            f["decile"], f["mean_return"], "Mean next-period return by signal decile", percent=True
        )
    decay = result.evaluation["ic_decay"]
    out["ic_decay"] = charts.bar_chart(
        [f"lag {k}" for k in decay], list(decay.values()), "IC decay: 1-day rank IC by lag"
    )
    return out


def suite_context(result, run: dict[str, str]) -> dict[str, Any]:
    """The suite tear sheet's context: formatted strings, tables and SVG charts.

    Parameters
    ----------
    result : poc.suite.SuiteResult
    run : dict
        ``run_id``, ``experiment``, ``git_commit``, ``command``, ``tracking_uri``.
    """
    v = result.verdict
    ev = result.evaluation
    headline = result.cell(result.headline)
    m = headline.metrics
    cov = ev["coverage"]
    score_table, score_note = _score_section(v)
    ic_horizon, ic_decay, ic_note = _ic_tables(ev)
    has_caps = _slice_table(headline.summary, "cap", "Cap tier")
    exposures = ev["exposures"]
    best = result.best
    header_rows = [
        ("Signal", f"{result.signal_name} ({result.signal_source})"),
        ("Signal digest", f"sha256 {result.signal_digest}  ({result.signal_rows:,} rows)"),
        ("Snapshot", result.snapshot_id),
        ("Snapshot digest", f"sha256 {result.snapshot_digest}"),
        ("Experiment", run.get("experiment", "")),
        ("MLflow run", run.get("run_id", "")),
        ("Git commit", run.get("git_commit", "") or "unknown"),
        ("Best cell", f"{best.name} (Sharpe {fmt_num(best.metrics['sharpe'])})" if best else "–"),
        ("Suite time", f"{result.seconds:.1f} s"),
    ]
    return {
        "title": f"Tear sheet: {result.signal_name}",
        "signal_name": result.signal_name,
        "generated_at": timestamp(),
        "footer": "poc tear sheet · numbers computed by the suite of this run · "
        "Sharpe = mean/std x sqrt(252); cum_return, its drawdowns and the calendar tables are "
        "additive (sums of daily net returns); Ann. return (CAGR) and Max DD (compounded) are "
        "the logged metrics",
        "header": {
            "date_range": f"{result.date_range[0]} to {result.date_range[1]}",
            "n_cells": len(result.grid_cells),
            "n_baselines": len(result.baselines),
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
            "warnings": list(getattr(v, "warnings", [])),
            "caveats": list(getattr(v, "caveats", [])),
        },
        "score_table": score_table,
        "score_note": score_note,
        "headline_cards": [
            {"label": "Sharpe (net)", "value": fmt_num(m.get("sharpe"))},
            {"label": "Annual return", "value": fmt_pct(m.get("ann_ret"))},
            {"label": "Annual volatility", "value": fmt_pct(m.get("ann_vol"))},
            {"label": "Max drawdown (compounded)", "value": fmt_pct(m.get("max_dd"))},
            {"label": "Daily turnover", "value": fmt_num(m.get("turnover"))},
            {"label": "Names per day", "value": fmt_num(cov["avg_names"], 1)},
            {"label": "IC (1 day)", "value": fmt_num(ev["ic_by_horizon"][1].mean, 4)},
        ],
        "suite_table": _suite_table(result),
        "years_table": _slice_table(headline.summary, "year", "Year", _partial_years(headline))
        or table(["Year"], [["no results"]]),
        "years_note": "Each year's metrics as in summary.csv, on the compounded curve like "
        "the logged metrics (Ann. return = CAGR over the year's days, annualized)."
        + (
            " A year marked from/to a date is partial: the data start or end inside it."
            if _partial_years(headline)
            else ""
        ),
        "caps_table": has_caps,
        "caps_note": "The snapshot has no market caps, so there is no cap-tier breakdown "
        "(cap consistency is left out of the score).",
        "baselines_table": _baselines_table(result),
        "baselines_note": "; ".join(n for n in result.notes if n.startswith("baseline"))
        or "Baselines were not run (baselines: false).",
        "exposures_table": table(
            ["Style factor", "Rank correlation"],
            [[k, fmt_num(val)] for k, val in exposures.items()],
        )
        if exposures
        else None,
        "coverage_table": table(
            ["Measure", "Value"],
            [
                ["Average securities per day", fmt_num(cov["avg_names"], 1)],
                ["Share of the universe", fmt_pct(cov["universe_share"])],
                ["Unique securities", fmt_int(cov["unique_securities"])],
                ["Days with a signal", fmt_int(cov["days"])],
            ],
        ),
        "ic_horizon_table": ic_horizon,
        "ic_decay_table": ic_decay,
        "ic_note": ic_note,
        "charts": _charts(result),
        "periods": _periods(headline),
        "isoos": _isoos(result, headline),
        "notes": result.notes,
        "trust": _trust_context(result),
        **_suite_extras(result, headline),
    }


def _suite_extras(result, headline) -> dict[str, Any]:
    """The extras partial's context for the headline cell (empty when it failed)."""
    from poc.sheet_extras import extras_context

    if not headline.ok or headline.daily is None:
        return {"extras": None}
    daily = headline.daily.set_index("date")
    ev = result.evaluation
    return {
        "extras_cell": result.headline,
        "extras": extras_context(
            daily["net"],
            daily["turnover"],
            ev.get("market_daily"),
            compound=False,
            ic_daily=ev.get("ic_daily"),
            market_label="equal-weighted universe",
        ),
    }


def _trust_context(result) -> dict[str, Any] | None:
    from poc.trust_sheet import trust_context  # imports this module's formatters

    return trust_context(result)


def _isoos(result, headline) -> dict[str, Any] | None:
    """The headline's IS vs OOS table when the spec splits (``oos_start``), else None."""
    from poc.oos import isoos_section

    return isoos_section(
        headline, getattr(result, "oos_start", None), "the headline's out-of-sample Sharpe"
    )


def _periods(headline) -> dict[str, Any] | None:
    """Crisis, annual and monthly tables of the headline cell (None when it failed)."""
    if not headline.ok or headline.daily is None or headline.daily.empty:
        return None
    from poc.periods_sheet import periods_section

    net = headline.daily.set_index("date")["net"]
    # compound=False: the sheet's one definition, the additive cum_return (docs/conventions.md).
    return periods_section(
        {"net": net}, primary_label=f"{headline.name}, net", heatmap=False, compound=False
    )
