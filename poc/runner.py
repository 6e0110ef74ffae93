"""Run an experiment end to end: compute, render, write, log.

1. :func:`poc.suite.run_suite` computes every cell, the evaluation and the verdict;
2. the parent run is opened (the one ``mlflow run`` created, when there is one);
3. child runs are logged, the tear sheet is rendered with the run id in it, and
   ``tearsheet.html``, ``summary.csv``, ``daily.parquet`` and ``config.json`` are
   written to a temporary folder and logged as the parent's artifacts.

This module holds no statistics and imports neither mlflow nor jinja2: it wires
:mod:`poc.suite`, :mod:`poc.tearsheet` and :mod:`poc.tracking` together.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from poc import tearsheet, tracking
from poc.catalog import Snapshot
from poc.experiment import ExperimentSpec
from poc.suite import ProgressFn, SuiteResult, run_suite


@dataclass(frozen=True)
class RunOutcome:
    """What a finished experiment reports back to the command line."""

    run_id: str
    experiment_id: str
    verdict: str | None  # None for allocation suites, which have no signal verdict
    grade: str | None
    score: float
    link: str
    result: SuiteResult


def summary_frame(result: SuiteResult) -> pd.DataFrame:
    """One row per cell and baseline: params, status and metrics (``summary.csv``)."""
    rows = []
    for c in result.cells:
        row: dict[str, Any] = {"name": c.name, "kind": c.kind, "status": c.status}
        row.update({f"param_{k}": str(v) for k, v in c.params.items()})
        row.update(c.metrics)
        row["headline"] = c.kind == "cell" and c.name == result.headline
        row["error"] = c.error or ""
        rows.append(row)
    return pd.DataFrame(rows)


# What ``daily.parquet`` keeps of each cell's daily table: the returns and their inputs.
# ``cumulative`` (= net.cumsum(), the additive definition of the ``cum_return`` metric),
# ``drawdown`` and the legs (gross = long - short) are left out: they follow from these
# columns, and dropping them more than halves the file (see docs/tracking.md).
DAILY_COLUMNS = ("date", "net", "gross", "cost", "turnover", "n_long", "n_short", "n_names")


def daily_frame(result: SuiteResult) -> pd.DataFrame:
    """Every cell's daily returns stacked with ``name`` and ``kind`` (``daily.parquet``)."""
    parts = [
        c.daily.loc[:, [k for k in DAILY_COLUMNS if k in c.daily.columns]].assign(
            name=c.name, kind=c.kind
        )
        for c in result.cells
        if c.ok and c.daily is not None
    ]
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    return out.astype({"name": "category", "kind": "category"})


def config_document(result: SuiteResult, command: str, git_commit: str | None) -> dict[str, Any]:
    """Everything needed to reproduce the run (``config.json``)."""
    spec = asdict(result.spec)
    spec["grid"] = {
        k: [list(v) if isinstance(v, tuple) else v for v in vals]
        for k, vals in spec["grid"].items()
    }
    return {
        "spec": spec,
        "headline_cell": result.headline,
        "snapshot": {"id": result.snapshot_id, "digest": result.snapshot_digest},
        "signal": {
            "source": result.signal_source,
            "digest": result.signal_digest,
            "rows": result.signal_rows,
        },
        "git_commit": git_commit,
        "command": command,
        "verdict": {
            "color": result.verdict.color,
            "grade": result.verdict.grade,
            "score": result.verdict.score,
            "reasons": result.verdict.reasons,
            "components_used": result.verdict.components_used,
        },
    }


VERDICT_LEVELS = {"red": 0, "yellow": 1, "green": 2}  # numeric so the UI can sort and chart


def parent_metrics(result: SuiteResult) -> dict[str, float]:
    """Headline numbers of the parent run."""
    headline = result.cell(result.headline)
    best = result.best
    ev = result.evaluation
    out = {
        "composite_score": result.verdict.score,
        "score": result.verdict.score,
        "verdict_level": float(VERDICT_LEVELS.get(result.verdict.color, np.nan)),
        "headline_sharpe": headline.metrics.get("sharpe", np.nan),
        "best_sharpe": best.metrics["sharpe"] if best else np.nan,
        "n_cells": float(len(result.grid_cells)),
        "n_failed": float(sum(not c.ok for c in result.cells)),
        "suite_seconds": result.seconds,
        "coverage_avg_names": ev["coverage"]["avg_names"],
        "spread_mean": ev["spread"]["spread_mean"],
    }
    for h, stats in ev["ic_by_horizon"].items():
        out.update(stats.as_dict(prefix=f"h{h}_"))
    return out


def _axis_value(values: list) -> str:
    return ",".join(
        "-".join(f"{x:g}" for x in v) if isinstance(v, tuple | list) else str(v) for v in values
    )


def suite_params(result: SuiteResult) -> dict[str, str]:
    """The parent's params: the spec, the signal and every grid axis with its resolved values.

    ``grid.<axis>`` holds all values of the axis (comma-separated) and
    ``headline.<axis>`` the headline cell's value, so runs of different
    specs compare axis by axis in the UI. Empty values are never logged.
    """
    spec = result.spec
    out = {
        "experiment": spec.source_path or spec.name,
        "signal": spec.signal,
        "signal_name": result.signal_name,
        "snapshot": result.snapshot_id,
        "baselines": str(spec.baselines),
        "start": spec.start or "",
        "end": spec.end or "",
    }
    headline = result.cell(result.headline).params
    for axis, values in spec.grid.items():
        out[f"grid.{axis}"] = _axis_value(list(values))
        if axis in headline:
            out[f"headline.{axis}"] = _axis_value([headline[axis]])
    return {k: v for k, v in out.items() if v != ""}


def parent_tags(result: SuiteResult, snapshot: Snapshot) -> dict[str, str]:
    return {
        "signal_name": result.signal_name,
        "signal_source": result.signal_source,
        "signal_digest": result.signal_digest,
        "snapshot_id": result.snapshot_id,
        "snapshot_digest": result.snapshot_digest,
        "verdict": result.verdict.color,
        "grade": result.verdict.grade,
        "headline_cell": result.headline,
        "kind": "signal_suite",
        "mlflow.note.content": f"Verdict {result.verdict.color.upper()} ({result.verdict.grade}, "
        f"score {result.verdict.score:.1f}) for {result.signal_name} on {snapshot.snapshot_id}.",
    }


# One definition for the MLflow ``cum_return`` metric and the tear sheet's curves: a
# long-short book that loses heavily compounds to -100% and hides every later difference.
CUM_RETURN_DEFINITION = "sum of daily net returns (additive, not compounded)"
# A long-only allocation's value compounds; its sheet plots NAV = 1 + cum_return.
ALLOCATION_CUM_RETURN_DEFINITION = "prod(1 + daily net return) - 1 (compounded)"


def _cell_history(c) -> pd.Series | None:
    if c.daily is None:
        return None
    return c.daily.set_index("date")["net"].cumsum()


def parent_run_name(spec_name: str, signal_name: str) -> str:
    """The parent run's UI name from spec and signal, e.g. ``sp500-high52w · high_52w``."""
    return spec_name if spec_name == signal_name else f"{spec_name} · {signal_name}"


def suite_children(result: SuiteResult) -> list[tracking.ChildRecord]:
    """One child record per grid cell (named by its varying axes) and per baseline."""
    return [
        tracking.ChildRecord(
            name=c.name if c.kind == "cell" else f"baseline:{c.name}",
            params={**c.params, "kind": c.kind},
            metrics=c.metrics,
            tags={
                "kind": c.kind,
                "headline": str(c.kind == "cell" and c.name == result.headline),
                "cum_return_definition": CUM_RETURN_DEFINITION,
            },
            history=_cell_history(c),
            error=c.error,
        )
        for c in result.cells
    ]


def _log_snapshot_input(run: tracking.ParentRun, snapshot: Snapshot) -> None:
    tracking.log_dataset(
        run,
        name=snapshot.snapshot_id,
        preview=snapshot.read("securities").head(50),
        digest=snapshot.digest,
        source=str(snapshot.path),
        context="snapshot",
    )


def _log_parent_artifacts(
    run: tracking.ParentRun,
    html: str,
    summary: pd.DataFrame,
    daily: pd.DataFrame,
    config: dict[str, Any],
) -> None:
    """Write the parent's four artifacts to a temporary folder and upload them."""
    with tempfile.TemporaryDirectory(prefix="poc-artifacts-") as tmp:
        folder = Path(tmp)
        paths = [
            tearsheet.write_html(html, folder / "tearsheet.html"),
            folder / "summary.csv",
            folder / "daily.parquet",
            folder / "config.json",
        ]
        summary.to_csv(paths[1], index=False)
        daily.to_parquet(paths[2], index=False, compression="zstd")
        paths[3].write_text(json.dumps(config, indent=2, default=str))
        tracking.log_artifacts(run, paths)


def log_suite(
    result: SuiteResult,
    snapshot: Snapshot,
    command: str,
    git_commit: str | None,
    attach_run_id: str | None,
    log_progress: tracking.LogProgressFn | None = None,
    experiment_name: str | None = None,
) -> RunOutcome:
    """Log a computed suite to MLflow with its tear sheet; returns ids and the link.

    ``log_progress(done, total, name)`` is called as each child run is logged;
    ``experiment_name`` overrides the experiment named by the spec.
    """
    spec = result.spec
    name = parent_run_name(spec.name, result.signal_name)
    with tracking.parent_run(experiment_name or spec.name, name, attach_run_id) as run:
        _log_snapshot_input(run, snapshot)
        tracking.log_dataset(
            run,
            name=result.signal_name,
            preview=pd.DataFrame(
                {
                    "signal": [result.signal_source],
                    "rows": [result.signal_rows],
                    "first": [result.date_range[0]],
                    "last": [result.date_range[1]],
                }
            ),
            digest=result.signal_digest,
            source=result.signal_source,
            context="signal",
        )
        tracking.log_children(run, suite_children(result), progress=log_progress)
        tracking.log_parent(
            run,
            tags=parent_tags(result, snapshot),
            metrics=parent_metrics(result),
            params=suite_params(result),
        )
        context = tearsheet.suite_context(
            result,
            {
                "run_id": run.run_id,
                "experiment": spec.name,
                "git_commit": git_commit or "",
                "command": command,
            },
        )
        _log_parent_artifacts(
            run,
            tearsheet.render("suite.html.j2", context),
            summary_frame(result),
            daily_frame(result),
            config_document(result, command, git_commit),
        )
        link = tracking.tearsheet_link(run.run_id)
    v = result.verdict
    return RunOutcome(run.run_id, run.experiment_id, v.color, v.grade, v.score, link, result)


def run_experiment(
    spec: ExperimentSpec,
    snapshot: Snapshot,
    command: str,
    git_commit: str | None = None,
    attach_run_id: str | None = None,
    progress: ProgressFn | None = None,
    log_progress: tracking.LogProgressFn | None = None,
    experiment_name: str | None = None,
) -> RunOutcome:
    """Compute the suite, then log it with its tear sheet."""
    result = run_suite(spec, snapshot, progress=progress)
    return log_suite(
        result, snapshot, command, git_commit, attach_run_id, log_progress, experiment_name
    )


# --------------------------------------------------------------------------
# Allocation suites
# --------------------------------------------------------------------------


def log_allocation_suite(
    result,
    snapshot: Snapshot,
    command: str,
    git_commit: str | None,
    attach_run_id: str | None,
) -> RunOutcome:
    """Log an allocation suite: parent with tear sheet, one child per cell with its
    ``allocation_history.csv`` and ``trades.csv``."""
    from poc.allocation_sheet import allocation_context

    spec = result.spec
    with tracking.parent_run(spec.name, f"{spec.name} allocation", attach_run_id) as run:
        _log_snapshot_input(run, snapshot)
        with tempfile.TemporaryDirectory(prefix="poc-cell-") as tmp:
            for i, c in enumerate(result.cells):
                files = []
                if c.ok:
                    folder = Path(tmp) / str(i)
                    folder.mkdir()
                    files = [folder / "allocation_history.csv", folder / "trades.csv"]
                    c.tables["allocation_history"].to_csv(files[0], index_label="date")
                    c.tables["trades"].to_csv(files[1], index=False)
                tracking.log_child(
                    run,
                    name=c.name,
                    params=c.params,
                    metrics=c.metrics,
                    tags={
                        "kind": "allocation",
                        "headline": str(c.name == result.headline),
                        "cum_return_definition": ALLOCATION_CUM_RETURN_DEFINITION,
                    },
                    history=None if c.daily is None else c.daily.set_index("date")["cumulative"],
                    error=c.error,
                    artifacts=files,
                )
        headline = result.cell(result.headline)
        best = result.best
        tracking.log_parent(
            run,
            tags={
                "kind": "allocation_suite",
                "snapshot_id": result.snapshot_id,
                "snapshot_digest": result.snapshot_digest,
                "headline_cell": result.headline,
            },
            metrics={
                **{f"headline_{k}": v for k, v in headline.metrics.items()},
                "best_sharpe": best.metrics["sharpe"] if best else np.nan,
                "n_cells": float(len(result.cells)),
                "n_failed": float(sum(not c.ok for c in result.cells)),
                "suite_seconds": result.seconds,
            },
            params={"experiment": spec.source_path or spec.name},
        )
        context = allocation_context(
            result, {"run_id": run.run_id, "git_commit": git_commit or "", "command": command}
        )
        summary = pd.DataFrame(
            [
                {
                    "name": c.name,
                    "status": c.status,
                    "headline": c.name == result.headline,
                    **{f"param_{k}": v for k, v in c.params.items()},
                    **c.metrics,
                    "error": c.error or "",
                }
                for c in result.cells
            ]
        )
        daily = pd.concat(
            [c.daily.assign(name=c.name) for c in result.cells if c.ok and c.daily is not None]
            or [pd.DataFrame()],
            ignore_index=True,
        )
        config = {
            "spec": asdict(spec),
            "snapshot": {"id": result.snapshot_id, "digest": result.snapshot_digest},
            "git_commit": git_commit,
            "command": command,
        }
        _log_parent_artifacts(
            run, tearsheet.render("allocation.html.j2", context), summary, daily, config
        )
        link = tracking.tearsheet_link(run.run_id)
    m = headline.metrics
    return RunOutcome(
        run.run_id, run.experiment_id, None, None, float(m.get("sharpe", np.nan)), link, result
    )
