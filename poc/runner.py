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
from poc.trust_suite import with_prior_trials


@dataclass(frozen=True)
class RunOutcome:
    """What a finished experiment reports back to the command line."""

    run_id: str
    experiment_id: str
    verdict: str | None  # None for allocation suites, which have no signal verdict
    grade: str | None
    score: float | None
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


def daily_frame(result: SuiteResult) -> pd.DataFrame:
    """Every cell's daily table stacked, with ``name`` and ``kind`` columns (``daily.parquet``)."""
    parts = [
        c.daily.assign(name=c.name, kind=c.kind)
        for c in result.cells
        if c.ok and c.daily is not None
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


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


def parent_metrics(result: SuiteResult) -> dict[str, float]:
    """Headline numbers of the parent run."""
    headline = result.cell(result.headline)
    best = result.best
    ev = result.evaluation
    out = {
        "composite_score": result.verdict.score,
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
    if result.trust is not None:
        out.update(result.trust.metrics())
    return out


def parent_tags(result: SuiteResult, snapshot: Snapshot) -> dict[str, str]:
    return {
        "signal_name": result.signal_name,
        "signal_source": result.signal_source,
        "signal_digest": result.signal_digest,
        "snapshot_id": result.snapshot_id,
        "snapshot_digest": result.snapshot_digest,
        "verdict": result.verdict.color,
        "grade": result.verdict.grade or "none",
        "headline_cell": result.headline,
        "kind": "signal_suite",
        "mlflow.note.content": f"Verdict {result.verdict.color.upper()} "
        + (
            f"({result.verdict.grade}, score {result.verdict.score:.1f})"
            if result.verdict.score is not None
            else "(no grade: the headline never traded)"
        )
        + f" for {result.signal_name} on {snapshot.snapshot_id}.",
        **({"trust_n_trials": str(result.trust.n_trials)} if result.trust is not None else {}),
    }


def _cell_history(c) -> pd.Series | None:
    if c.daily is None:
        return None
    return c.daily.set_index("date")["cumulative"]


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
        daily.to_parquet(paths[2], index=False)
        paths[3].write_text(json.dumps(config, indent=2, default=str))
        tracking.log_artifacts(run, paths)


def log_suite(
    result: SuiteResult,
    snapshot: Snapshot,
    command: str,
    git_commit: str | None,
    attach_run_id: str | None,
) -> RunOutcome:
    """Log a computed suite to MLflow with its tear sheet; returns ids and the link."""
    spec = result.spec
    with tracking.parent_run(spec.name, f"{result.signal_name} suite", attach_run_id) as run:
        # Trials of this signal already in the experiment deflate the Sharpe (docs/verdict.md).
        result = with_prior_trials(
            result, tracking.prior_trials(run.experiment_id, result.signal_digest, run.run_id)
        )
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
        for c in result.cells:
            tracking.log_child(
                run,
                name=c.name if c.kind == "cell" else f"baseline:{c.name}",
                params={**c.params, "kind": c.kind},
                metrics=c.metrics,
                tags={
                    "kind": c.kind,
                    "headline": str(c.kind == "cell" and c.name == result.headline),
                    "signal_digest": result.signal_digest,
                },
                history=_cell_history(c),
                error=c.error,
            )
        tracking.log_parent(
            run,
            tags=parent_tags(result, snapshot),
            metrics=parent_metrics(result),
            params={"experiment": spec.source_path or spec.name, "signal": spec.signal},
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
) -> RunOutcome:
    """Compute the suite, then log it with its tear sheet."""
    result = run_suite(spec, snapshot, progress=progress)
    return log_suite(result, snapshot, command, git_commit, attach_run_id)


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
                    tags={"kind": "allocation", "headline": str(c.name == result.headline)},
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
                **_allocation_verdict_tags(result),
            },
            metrics={
                **{f"headline_{k}": v for k, v in headline.metrics.items()},
                "best_sharpe": best.metrics["sharpe"] if best else np.nan,
                "n_cells": float(len(result.cells)),
                "n_failed": float(sum(not c.ok for c in result.cells)),
                "suite_seconds": result.seconds,
                **(result.trust.metrics() if getattr(result, "trust", None) else {}),
                **(
                    {"composite_score": result.verdict.score}
                    if getattr(result, "verdict", None) and result.verdict.score is not None
                    else {}
                ),
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


def _allocation_verdict_tags(result) -> dict[str, str]:
    """Verdict, grade and trial count tags of an allocation suite (judged on active returns)."""
    v = getattr(result, "verdict", None)
    if v is None:
        return {}
    return {
        "verdict": v.color,
        "grade": v.grade or "none",
        "trust_n_trials": str(result.trust.n_trials),
    }
