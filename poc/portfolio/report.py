"""Log a portfolio suite to MLflow (through :mod:`poc.tracking` only) with its tear sheet.

Layout (docs/conventions.md, MLflow layout): one parent run tagged with the
signal, snapshot id and digest and the headline cell, holding the headline
metrics and ``tearsheet.html``, ``summary.csv``, ``daily.parquet``,
``config.json``; one nested child run per grid cell with its params, metrics,
cumulative return history and its trade ledger ``trades.csv``; the snapshot and
the signal as dataset inputs with their digests.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from poc import interrupts, tearsheet, tracking
from poc.catalog import Snapshot
from poc.portfolio.sheet import portfolio_context
from poc.runner import log_parent_artifacts, stacked_daily, suite_config


@dataclass(frozen=True)
class PortfolioOutcome:
    """What a logged portfolio suite reports back to the command line."""

    run_id: str
    experiment_id: str
    link: str
    result: object


def summary_frame(result) -> pd.DataFrame:
    """One row per cell: params, status, metrics (``summary.csv``)."""
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


def _log_inputs(run: tracking.ParentRun, result, snapshot: Snapshot) -> None:
    tracking.log_dataset(
        run,
        name=snapshot.snapshot_id,
        preview=snapshot.read("securities").head(50),
        digest=snapshot.digest,
        source=str(snapshot.path),
        context="snapshot",
    )
    tracking.log_dataset(
        run,
        name=result.spec.signal,
        preview=pd.DataFrame({"signal": [result.spec.signal]}),
        digest=result.signal_digest,
        source=result.spec.signal,
        context="signal",
    )


def _log_cells(run: tracking.ParentRun, result) -> None:
    with tempfile.TemporaryDirectory(prefix="poc-portfolio-cell-") as tmp:
        for i, c in enumerate(result.cells):
            files = []
            if c.ok:
                folder = Path(tmp) / str(i)
                folder.mkdir()
                files = [folder / "trades.csv"]
                c.tables["trades"].to_csv(files[0], index=False)
            tracking.log_child(
                run,
                name=c.name,
                params=c.params,
                metrics=c.metrics,
                tags={"kind": "portfolio", "headline": str(c.name == result.headline)},
                history=None if c.daily is None else c.daily.set_index("date")["cumulative"],
                error=c.error,
                artifacts=files,
            )


def log_portfolio_suite(
    result,
    snapshot: Snapshot,
    command: str,
    git_commit: str | None,
    attach_run_id: str | None,
    notify: Callable[[str], None] | None = None,
) -> PortfolioOutcome:
    """Log a :class:`~poc.portfolio.suite.PortfolioSuiteResult` and write its tear sheet.

    ``notify`` hears ``parent run: ID`` as soon as the parent is open, so an
    interruption while logging can name the run it ended.
    """
    spec = result.spec
    with tracking.parent_run(spec.name, f"{spec.name} portfolio", attach_run_id) as run:
        if notify is not None:
            notify(f"parent run: {run.run_id}")
        _log_inputs(run, result, snapshot)
        interrupts.pause_for_test("logging")
        _log_cells(run, result)
        headline = result.cell(result.headline)
        tracking.log_parent(
            run,
            tags={
                "kind": "portfolio_suite",
                "signal": spec.signal,
                "snapshot_id": result.snapshot_id,
                "snapshot_digest": result.snapshot_digest,
                "headline_cell": result.headline,
                "close_only": str(result.close_only),
            },
            metrics={
                **{f"headline_{k}": v for k, v in headline.metrics.items()},
                "n_cells": float(len(result.cells)),
                "n_failed": float(sum(not c.ok for c in result.cells)),
                "n_beat_control": float(
                    sum(c.metrics.get("beats_control", 0.0) == 1.0 for c in result.cells)
                ),
                "suite_seconds": result.seconds,
            },
            params={"experiment": spec.source_path or spec.name},
        )
        context = portfolio_context(
            result, {"run_id": run.run_id, "git_commit": git_commit or "", "command": command}
        )
        daily = stacked_daily(result.cells)
        config = suite_config(result, command, git_commit, signal_digest=result.signal_digest)
        log_parent_artifacts(
            run,
            tearsheet.render("portfolio.html.j2", context),
            summary_frame(result),
            daily,
            config,
            extra_tables={"ic.csv": result.ic},
        )
        link = tracking.tearsheet_link(run.run_id)
    return PortfolioOutcome(run.run_id, run.experiment_id, link, result)


def headline_summary(result) -> dict[str, float]:
    """Headline numbers the command line prints."""
    m = result.cell(result.headline).metrics
    keys = ("n_trades", "expectancy", "mean_r", "control_bound", "beats_control")
    return {k: float(m.get(k, np.nan)) for k in keys}
