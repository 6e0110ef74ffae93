"""Log an overlay suite: parent run with the tear sheet, child runs per variant and walk-forward.

Wires :mod:`poc.overlay_suite` (computation), :mod:`poc.overlay_sheet` and
:mod:`poc.tearsheet` (rendering) and :mod:`poc.tracking` (MLflow); holds no
statistics and imports neither mlflow nor jinja2.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from poc import interrupts, tearsheet, tracking
from poc.catalog import Snapshot
from poc.overlay_sheet import overlay_context
from poc.runner import (
    RunOutcome,
    log_parent_artifacts,
    log_snapshot_input,
    stacked_daily,
    suite_config,
)


def month_end(series: pd.Series) -> pd.Series:
    """The last observation of each calendar month (the history logged to MLflow).

    A 30-year daily history is ~8,000 points per child run, and MLflow's SQL store
    writes them at roughly 2,000 a second; month ends keep the curves the UI overlays
    at ~400 points. The daily series of every cell is in ``daily.parquet``.
    """
    if series.empty:
        return series
    index = pd.DatetimeIndex(series.index)
    last = ~index.to_period("M").duplicated(keep="last")
    return series[last]


def summary_frame(result) -> pd.DataFrame:
    """One row per overlay cell: params, metrics, status."""
    return pd.DataFrame(
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


def _log_walk_forwards(run: tracking.ParentRun, result, folder: Path) -> list[str]:
    ids = []
    wf_spec = result.spec.walk_forward
    for i, w in enumerate(result.walk_forwards):
        path = folder / f"wf{i}" / "windows.csv"
        path.parent.mkdir()
        w.result.windows.to_csv(path, index=False)
        stitched = w.result.oos_returns
        ids.append(
            tracking.log_child(
                run,
                name=w.name,
                params={
                    **{k: v for k, v in w.fixed.items()},
                    "walk_forward_axes": ",".join(wf_spec.axes),
                    "train_years": wf_spec.train_years,
                    "test_years": wf_spec.test_years,
                },
                metrics=w.result.metrics(),
                tags={"kind": "walk_forward", "is_best_cell": w.result.is_best_cell or ""},
                history=month_end(
                    pd.Series(
                        np.cumprod(1.0 + stitched.fillna(0.0).to_numpy()) - 1.0,
                        index=stitched.index,
                    )
                ),
                artifacts=[path],
            )
        )
    return ids


def log_overlay_suite(
    result,
    snapshot: Snapshot,
    command: str,
    git_commit: str | None,
    attach_run_id: str | None,
    notify: Callable[[str], None] | None = None,
) -> RunOutcome:
    """Log an overlay suite to MLflow with its tear sheet; returns ids and the link.

    ``notify`` hears ``parent run: ID`` as soon as the parent is open, so an
    interruption while logging can name the run it ended.
    """
    spec = result.spec
    with tracking.parent_run(spec.name, f"{spec.name} overlays", attach_run_id) as run:
        if notify is not None:
            notify(f"parent run: {run.run_id}")
        log_snapshot_input(run, snapshot)
        interrupts.pause_for_test("logging")
        for c in result.cells:
            tracking.log_child(
                run,
                name=c.name,
                params=c.params,
                metrics=c.metrics,
                tags={
                    "kind": "overlay_cell",
                    "overlay": str(c.params.get("overlay")),
                    "headline": str(c.name == result.headline),
                    "history": "month_end",
                },
                history=None
                if c.daily is None
                else month_end(c.daily.set_index("date")["cumulative"]),
                error=c.error,
            )
        with tempfile.TemporaryDirectory(prefix="poc-wf-") as tmp:
            _log_walk_forwards(run, result, Path(tmp))
        headline = result.cell(result.headline)
        v = result.verdict
        wf_metrics = {}
        for i, w in enumerate(result.walk_forwards):
            for key, value in w.result.metrics().items():
                wf_metrics[f"{key}_{i}" if len(result.walk_forwards) > 1 else key] = value
        tracking.log_parent(
            run,
            tags={
                "kind": "overlay_suite",
                "snapshot_id": result.snapshot_id,
                "snapshot_digest": result.snapshot_digest,
                "headline_cell": result.headline,
                "oos_start": result.oos_start or "",
                "verdict": v.color,
                "grade": v.grade,
            },
            metrics={
                **{f"headline_{k}": val for k, val in headline.metrics.items()},
                **wf_metrics,
                "score": v.score,
                "n_cells": float(len(result.cells)),
                "n_failed": float(sum(not c.ok for c in result.cells)),
                "suite_seconds": result.seconds,
            },
            params={"experiment": spec.source_path or spec.name},
        )
        context = overlay_context(
            result, {"run_id": run.run_id, "git_commit": git_commit or "", "command": command}
        )
        daily = stacked_daily(result.cells)
        config = suite_config(result, command, git_commit, oos_start=result.oos_start)
        log_parent_artifacts(
            run,
            tearsheet.render("overlays.html.j2", context),
            summary_frame(result),
            daily,
            config,
        )
        link = tracking.tearsheet_link(run.run_id)
    return RunOutcome(run.run_id, run.experiment_id, v.color, v.grade, v.score, link, result)
