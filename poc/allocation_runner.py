"""Run an allocation suite end to end, like :mod:`poc.runner` runs a signal suite.

The parent run is opened first, each cell is logged as a child run as soon as it
finishes (with ``allocation_history.csv``, ``trades.csv`` and the ``cell.zip`` a
resume rebuilds it from), then the tear sheet and the parent's artifacts. Runs
end FINISHED, FAILED or KILLED (:mod:`poc.lifecycle`); ``poc allocate --resume``
reuses finished cells (:mod:`poc.resume`); see ``docs/runs.md``.
"""

from __future__ import annotations

import json
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from poc import interrupts, lifecycle, resume, tearsheet, tracking
from poc.allocation_suite import ALLOCATION_TAG, TRIAL_TAG, AllocationProblem
from poc.catalog import Snapshot
from poc.exceptions import PocError
from poc.runner import (
    ALLOCATION_CUM_RETURN_DEFINITION,
    VERDICT_LEVELS,
    ChildLogger,
    Notify,
    RunOutcome,
    check_same_experiment,
    log_parent_artifacts,
    log_snapshot_input,
    open_resume,
    reuse_cells,
    store_failed,
    suite_config,
)
from poc.suite import CellResult, ProgressFn
from poc.trust_suite import with_prior_trials


def _log_allocation_cell(
    run: tracking.ParentRun,
    c: CellResult,
    headline: str,
    digests: dict[str, str] | None = None,
    problem: AllocationProblem | None = None,
) -> str:
    """One allocation child with ``allocation_history.csv`` and ``trades.csv`` (and, with
    ``digests``, the ``cell.zip`` a resume rebuilds it from).

    With ``problem`` the child carries ``allocation_digest`` and ``trial_config`` (its full
    configuration and window): later suites of the same problem count it as a prior trial
    (:func:`poc.tracking.prior_trials`).
    """
    tags = {
        "kind": "allocation",
        "headline": str(c.name == headline),
        "cum_return_definition": ALLOCATION_CUM_RETURN_DEFINITION,
    }
    if problem is not None:
        tags.update({ALLOCATION_TAG: problem.digest, TRIAL_TAG: problem.trial_key(c.params)})
    with tempfile.TemporaryDirectory(prefix="poc-cell-") as tmp:
        files = []
        if c.ok:
            folder = Path(tmp)
            files = [folder / "allocation_history.csv", folder / "trades.csv"]
            c.tables["allocation_history"].to_csv(files[0], index_label="date")
            c.tables["trades"].to_csv(files[1], index=False)
        if digests is not None:
            tags.update({resume.CELL_TAG: c.name, **digests})
            if c.ok:
                files.append(resume.pack_cell(c, Path(tmp)))
                tags["poc.cell_artifact"] = resume.CELL_ARTIFACT
        return tracking.log_child(
            run,
            name=c.name,
            params=c.params,
            metrics=c.metrics,
            tags=tags,
            history=None if c.daily is None else c.daily.set_index("date")["cumulative"],
            error=c.error,
            artifacts=files,
        )


def _allocation_frames(result) -> tuple[pd.DataFrame, pd.DataFrame]:
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
    return summary, daily


def render_allocation(result, run_id: str, command: str, git_commit: str | None) -> str:
    """The allocation suite's tear sheet HTML."""
    from poc.allocation_sheet import allocation_context

    context = allocation_context(
        result, {"run_id": run_id, "git_commit": git_commit or "", "command": command}
    )
    return tearsheet.render("allocation.html.j2", context)


def prior_allocation_trials(run: tracking.ParentRun, problem: AllocationProblem | None):
    """The experiment's earlier trials of the same allocation problem (not this suite's)."""
    if problem is None:
        return None
    return tracking.prior_trials(
        run.experiment_id,
        problem.digest,
        run.run_id,
        kind="allocation",
        digest_tag=ALLOCATION_TAG,
        metric="active_sharpe",
        key_tag=TRIAL_TAG,
    )


def _finish_allocation(
    run: tracking.ParentRun, result, snapshot: Snapshot, command: str, git_commit: str | None
) -> tuple[str, Any]:
    """Snapshot input, parent tags and metrics, tear sheet and artifacts.

    Returns the link and the result with its verdict deflated by the experiment's
    earlier trials of the same allocation problem (docs/verdict.md).
    """
    prior = prior_allocation_trials(run, getattr(result, "problem", None))
    if prior is not None:
        result = with_prior_trials(result, prior)
    spec = result.spec
    log_snapshot_input(run, snapshot)
    headline = result.cell(result.headline)
    best = result.best
    tracking.log_parent(
        run,
        tags={
            "kind": "allocation_suite",
            "snapshot_id": result.snapshot_id,
            "snapshot_digest": result.snapshot_digest,
            "headline_cell": result.headline,
            **({ALLOCATION_TAG: result.problem.digest} if getattr(result, "problem", None) else {}),
            **_allocation_verdict_tags(result),
        },
        metrics={
            **{f"headline_{k}": v for k, v in headline.metrics.items()},
            "best_sharpe": best.metrics["sharpe"] if best else np.nan,
            "n_cells": float(len(result.cells)),
            "n_failed": float(sum(not c.ok for c in result.cells)),
            "suite_seconds": result.seconds,
            **(result.trust.metrics() if getattr(result, "trust", None) else {}),
            # `score` and `verdict_level` as on signal suites: one column sorts both kinds.
            **(
                {
                    "composite_score": result.verdict.score,
                    "score": result.verdict.score,
                    "verdict_level": float(VERDICT_LEVELS.get(result.verdict.color, np.nan)),
                }
                if getattr(result, "verdict", None) and result.verdict.score is not None
                else {}
            ),
        },
        params={"experiment": spec.source_path or spec.name},
    )
    summary, daily = _allocation_frames(result)
    log_parent_artifacts(
        run,
        render_allocation(result, run.run_id, command, git_commit),
        summary,
        daily,
        suite_config(result, command, git_commit),
    )
    return tracking.tearsheet_link(run.run_id), result


def _allocation_outcome(run: tracking.ParentRun, result, link: str) -> RunOutcome:
    m = result.cell(result.headline).metrics
    return RunOutcome(
        run.run_id, run.experiment_id, None, None, float(m.get("sharpe", np.nan)), link, result
    )


def write_local_allocation(
    result, folder: Path, command: str, git_commit: str | None, run_id: str
) -> Path:
    """Save an allocation suite's tear sheet, summary.csv, daily.parquet, config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    tearsheet.write_html(
        render_allocation(result, run_id, command, git_commit), folder / "tearsheet.html"
    )
    summary, daily = _allocation_frames(result)
    summary.to_csv(folder / "summary.csv", index=False)
    daily.to_parquet(folder / "daily.parquet", index=False)
    config = suite_config(result, command, git_commit)
    (folder / "config.json").write_text(json.dumps(config, indent=2, default=str))
    return folder


def run_allocation_experiment(
    spec,
    snapshot: Snapshot,
    command: str,
    git_commit: str | None = None,
    attach_run_id: str | None = None,
    progress: ProgressFn | None = None,
    resume_from: str | None = None,
    notify: Notify | None = None,
    results_dir: Path | None = None,
) -> RunOutcome:
    """Run an allocation suite like :func:`run_experiment`: parent first, each cell logged
    as it finishes, runs never left RUNNING, resumable, results saved locally when the
    store fails after computing."""
    from poc.allocation_suite import run_allocation_suite

    say = notify or (lambda line: None)
    old = open_resume(resume_from, "allocation_suite")
    experiment = tracking.experiment_name(old["experiment_id"]) if old else spec.name
    computed: dict[str, Any] = {}
    try:
        with tracking.parent_run(experiment, f"{spec.name} allocation", attach_run_id) as run:
            with lifecycle.closing_run(run.run_id, tracking.end_run):
                computed["run_id"] = run.run_id
                check_same_experiment(old, run)
                tracking.set_tags(
                    run.run_id,
                    {
                        "kind": "allocation_suite",
                        "snapshot_id": snapshot.snapshot_id,
                        "snapshot_digest": snapshot.digest,
                        **({"poc.resumed_from": old["run_id"]} if old else {}),
                    },
                )
                say(f"parent run: {run.run_id}")
                logger = ChildLogger(run, "", snapshot.digest, progress, say)
                logger.log_cell = _log_allocation_cell

                def before_cells(headline, wanted, problem):
                    logger.headline = headline
                    # Every child carries the problem's digest and its trial key.
                    logger.log_cell = partial(_log_allocation_cell, problem=problem)
                    if old is None:
                        return {}
                    return reuse_cells(
                        old, run, wanted, snapshot.digest, None, say, kind="allocation"
                    )

                result = run_allocation_suite(
                    spec, snapshot, progress=logger, before_cells=before_cells
                )
                computed["result"] = result
                if logger.error is not None:
                    raise logger.error
                interrupts.pause_for_test("logging")
                say("logging the suite: tear sheet ...")
                link, result = _finish_allocation(run, result, snapshot, command, git_commit)
    except Exception as exc:
        if isinstance(exc, PocError) or "result" not in computed or results_dir is None:
            raise
        folder = write_local_allocation(
            computed["result"], results_dir, command, git_commit, computed["run_id"]
        )
        raise store_failed(exc, folder) from exc
    return _allocation_outcome(run, result, link)


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
