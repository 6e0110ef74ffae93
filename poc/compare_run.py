"""``poc compare``: fetch runs' headline returns, compute the comparison, render and log it.

1. each run's ``daily.parquet`` artifact is downloaded and its headline cell (the
   run's ``headline_cell`` tag) gives a daily net return stream;
2. :mod:`poc.compare` computes the periods table, NAV curves and metric differences;
3. the sheet (``tearsheets/compare.html.j2``) is rendered and logged as
   ``compare.html`` of a new MLflow run tagged with the compared run ids.

Like :mod:`poc.runner`, this module wires and holds no statistics; it imports
neither mlflow nor jinja2.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from poc import charts, compare, interrupts, tearsheet, tracking
from poc.exceptions import PocError

DEFAULT_EXPERIMENT = "poc-compare"
METRIC_LABELS = {"sharpe": "Sharpe", "cagr": "CAGR", "max_dd": "Max drawdown", "ann_vol": "Vol"}
_FORMATS = {
    "sharpe": tearsheet.fmt_num,
    "cagr": tearsheet.fmt_pct,
    "max_dd": tearsheet.fmt_pct,
    "ann_vol": tearsheet.fmt_pct,
}


@dataclass(frozen=True)
class ComparedRun:
    """One compared run: its identity and its headline daily net returns."""

    run_id: str
    label: str
    info: dict[str, Any]
    headline: str
    returns: pd.Series


@dataclass(frozen=True)
class CompareOutcome:
    run_id: str
    link: str
    runs: list[ComparedRun]
    differences: list[compare.Difference]


def headline_returns(daily: pd.DataFrame, headline: str, run_id: str) -> pd.Series:
    """The headline cell's ``net`` column of a run's stacked ``daily.parquet``, by date."""
    rows = daily[daily["name"] == headline]
    if "kind" in daily.columns:
        rows = rows[rows["kind"] == "cell"]
    if rows.empty or "net" not in rows.columns:
        raise PocError(
            f"run {run_id!r}: daily.parquet has no rows for its headline cell {headline!r}; "
            "was the headline cell FAILED? Compare a run whose headline cell finished"
        )
    return pd.Series(rows["net"].to_numpy(dtype=float), index=pd.to_datetime(rows["date"]))


def fetch_compared_run(run_id: str, folder: Path) -> ComparedRun:
    """Run info and headline returns of ``run_id`` (PocError for unknown ids or missing data)."""
    info = tracking.fetch_run(run_id)
    headline = info["tags"].get("headline_cell")
    if not headline:
        raise PocError(
            f"run {run_id!r} ({info['name']}) has no headline_cell tag; compare parent runs of "
            "`poc run` or `poc allocate`"
        )
    target = folder / run_id
    target.mkdir(parents=True, exist_ok=True)
    daily = pd.read_parquet(tracking.download_run_artifact(run_id, "daily.parquet", target))
    label = f"{info['name']} [{run_id[:7]}]"
    return ComparedRun(run_id, label, info, headline, headline_returns(daily, headline, run_id))


def _log_axis() -> dict[str, bool]:
    """``log_scale=True`` when :func:`poc.charts.line_chart` has it (NAVs over decades stay
    readable on a log axis); a linear axis otherwise."""
    import inspect

    has = "log_scale" in inspect.signature(charts.line_chart).parameters
    return {"log_scale": True} if has else {}


def _fmt_signed(fmt, x) -> str:
    text = fmt(x)
    return text if text.startswith(("-", "–")) else f"+{text}"


def compare_context(
    runs: list[ComparedRun], diffs: list[compare.Difference], run_id: str, settings: dict[str, Any]
) -> dict[str, Any]:
    """Everything the comparison template shows, pre-formatted."""
    streams = {r.label: r.returns for r in runs}
    run_rows = []
    for r in runs:
        tags = r.info["tags"]
        run_rows.append(
            {
                "label": r.label,
                "run_id": r.run_id,
                "link": tracking.run_link(r.run_id, r.info["experiment_id"]),
                "sheet": tracking.tearsheet_link(r.run_id),
                "kind": tags.get("kind", "?"),
                "snapshot": tags.get("snapshot_id", "?"),
                "headline": r.headline,
                "days": f"{len(r.returns):,}",
                "range": f"{r.returns.index[0].date()} .. {r.returns.index[-1].date()}",
            }
        )
    periods = compare.periods_table(streams)
    period_rows, period_css = [], []
    for name, rec in zip(periods.index, periods.to_dict("records"), strict=True):
        period_rows.append([name] + [tearsheet.fmt_pct(rec[label]) for label in streams])
        period_css.append("crisis" if rec["kind"] == "crisis" else None)
    n_crises = int((periods["kind"] == "crisis").sum())
    reference = runs[0].label
    level = f"{int(settings['level'] * 100)}% interval"
    diff_tables = []
    for d in diffs:
        rows, css = [], []
        for iv in d.intervals:
            fmt = _FORMATS[iv.metric]
            rows.append(
                [
                    METRIC_LABELS[iv.metric],
                    fmt(iv.value_a),
                    fmt(iv.value_b),
                    _fmt_signed(fmt, iv.difference),
                    f"[{fmt(iv.low)}, {fmt(iv.high)}]",
                    "no" if iv.covers_zero else "yes",
                ]
            )
            css.append(None if iv.covers_zero else "significant")
        diff_tables.append(
            {
                "title": f"{d.other} minus {d.reference}",
                "note": f"{d.n_days:,} common days {d.first.date()} .. {d.last.date()}",
                "table": tearsheet.table(
                    ["Metric", "Reference", "Variant", "Difference", level, "Excludes 0"],
                    rows,
                    css,
                ),
            }
        )
    return {
        "title": f"Comparison: {' vs '.join(r.label for r in runs)}",
        "generated_at": tearsheet.timestamp(),
        "run_id": run_id,
        "reference": reference,
        "runs": run_rows,
        "nav_chart": charts.line_chart(
            compare.nav_curves(streams),
            "Growth of 1 (headline cells, net of costs)",
            ylabel="NAV",
            highlight=reference,
            **_log_axis(),
        ),
        "periods_table": tearsheet.table(["Period", *streams], period_rows, period_css),
        "n_crises": n_crises,
        "has_period_module": bool(compare.crisis_periods()),
        "diff_tables": diff_tables,
        "settings": settings,
        "footer": f"poc compare · run {run_id} · generated {tearsheet.timestamp()}",
    }


def compare_runs(
    run_ids: list[str],
    experiment: str = DEFAULT_EXPERIMENT,
    n_boot: int = 1000,
    block: float = 20.0,
    seed: int = 0,
) -> CompareOutcome:
    """Compare the headline cells of ``run_ids`` and log the sheet as a new MLflow run."""
    if len(run_ids) < 2:
        raise PocError(f"poc compare needs at least two run ids, got {len(run_ids)}")
    if len(set(run_ids)) != len(run_ids):
        raise PocError(f"run ids repeat in {run_ids}; give each run once")
    with tempfile.TemporaryDirectory(prefix="poc-compare-") as tmp:
        runs = [fetch_compared_run(rid, Path(tmp)) for rid in run_ids]
        streams = {r.label: r.returns for r in runs}
        diffs = compare.differences(streams, n_boot=n_boot, block=block, seed=seed)
        settings = {"n_boot": n_boot, "block": block, "seed": seed, "level": 0.95}
        name = "compare " + " vs ".join(r.info["name"] for r in runs)
        with tracking.parent_run(experiment, name[:250]) as run:
            interrupts.pause_for_test("logging")
            metrics: dict[str, float] = {"n_runs": float(len(runs))}
            for i, d in enumerate(diffs, start=1):
                for iv in d.intervals:
                    metrics[f"diff{i}_{iv.metric}"] = iv.difference
                    metrics[f"diff{i}_{iv.metric}_low"] = iv.low
                    metrics[f"diff{i}_{iv.metric}_high"] = iv.high
            tags = {
                "kind": "comparison",
                "compared_runs": ",".join(run_ids),
                "reference_run": run_ids[0],
                "mlflow.note.content": "Comparison of "
                + ", ".join(
                    f"[{r.label}]({tracking.run_link(r.run_id, r.info['experiment_id'])})"
                    for r in runs
                ),
            }
            tags.update({f"compared_run_{i}": rid for i, rid in enumerate(run_ids)})
            tracking.log_parent(run, tags=tags, metrics=metrics, params=settings)
            html = tearsheet.render(
                "compare.html.j2", compare_context(runs, diffs, run.run_id, settings)
            )
            path = tearsheet.write_html(html, Path(tmp) / "compare.html")
            table = pd.DataFrame(
                [
                    {"variant": d.other, "reference": d.reference, "days": d.n_days, **iv.__dict__}
                    for d in diffs
                    for iv in d.intervals
                ]
            )
            table.to_csv(Path(tmp) / "differences.csv", index=False)
            tracking.log_artifacts(run, [path, Path(tmp) / "differences.csv"])
            link = tracking.tearsheet_link(run.run_id, "compare.html")
    return CompareOutcome(run.run_id, link, runs, diffs)
