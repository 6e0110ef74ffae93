"""Run a signal experiment end to end: compute, render, write, log (allocation suites:
:mod:`poc.allocation_runner`).

1. the parent run is opened first (the one ``mlflow run`` created, when there is
   one) and its id reported, so an interruption can name what to resume;
2. :func:`poc.suite.run_suite` computes every cell, and each is logged as a child
   run as soon as it finishes (:class:`ChildLogger`), with the ``cell.zip`` that
   ``--resume`` rebuilds it from (:mod:`poc.resume`);
3. the evaluation, verdict and tear sheet are logged with ``tearsheet.html``,
   ``summary.csv``, ``daily.parquet`` and ``config.json``.

Runs end FINISHED, FAILED or KILLED, never RUNNING (:mod:`poc.lifecycle`); when the
store fails after computing, the results are written to a local folder instead.
See ``docs/runs.md``.

This module holds no statistics and imports neither mlflow nor jinja2: it wires
:mod:`poc.suite`, :mod:`poc.tearsheet` and :mod:`poc.tracking` together.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from poc import interrupts, lifecycle, resume, tearsheet, tracking
from poc.catalog import Snapshot
from poc.exceptions import PocError
from poc.experiment import ExperimentSpec
from poc.suite import CellResult, ProgressFn, SuiteResult, _cells_to_run, run_suite
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


def suite_config(result, command: str, git_commit: str | None, **extra: Any) -> dict[str, Any]:
    """``config.json`` of an allocation, overlay or portfolio suite: spec, snapshot, ``extra``
    (e.g. the OOS start or the signal digest), commit and the command that reruns it."""
    return {
        "spec": asdict(result.spec),
        "snapshot": {"id": result.snapshot_id, "digest": result.snapshot_digest},
        **extra,
        "git_commit": git_commit,
        "command": command,
    }


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
    if result.trust is not None:
        out.update(result.trust.metrics())
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
            # The same tags as a streamed child (_log_cell), signal digest included: the
            # trial count of later verdicts for this signal reads it.
            tags={
                **_child_tags(c.kind, c.name, result.headline),
                "signal_digest": result.signal_digest,
            },
            history=_cell_history(c),
            error=c.error,
        )
        for c in result.cells
    ]


def log_snapshot_input(run: tracking.ParentRun, snapshot: Snapshot) -> None:
    tracking.log_dataset(
        run,
        name=snapshot.snapshot_id,
        preview=snapshot.read("securities").head(50),
        digest=snapshot.digest,
        source=str(snapshot.path),
        context="snapshot",
    )


def stacked_daily(cells) -> pd.DataFrame:
    """The daily tables of the cells that ran, stacked with a ``name`` column."""
    parts = [c.daily.assign(name=c.name) for c in cells if c.ok and c.daily is not None]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def log_parent_artifacts(
    run: tracking.ParentRun,
    html: str,
    summary: pd.DataFrame,
    daily: pd.DataFrame,
    config: dict[str, Any],
    extra_tables: dict[str, pd.DataFrame] | None = None,
) -> None:
    """Write the parent's artifacts to a temporary folder and upload them in one call.

    ``tearsheet.html``, ``summary.csv``, ``daily.parquet`` and ``config.json``, plus one
    CSV per entry of ``extra_tables`` (file name -> table), e.g. a portfolio's ``ic.csv``.
    """
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
        for name, table in (extra_tables or {}).items():
            paths.append(folder / name)
            table.to_csv(paths[-1], index=False)
        tracking.log_artifacts(run, paths)


def _child_tags(result_kind: str, name: str, headline: str) -> dict[str, str]:
    return {
        "kind": result_kind,
        "headline": str(result_kind == "cell" and name == headline),
        "cum_return_definition": CUM_RETURN_DEFINITION,
    }


def _log_cell(
    run: tracking.ParentRun,
    c: CellResult,
    headline: str,
    digests: dict[str, str] | None = None,
    signal_digest: str | None = None,
) -> str:
    """One child run for a cell or baseline; with ``digests`` also its ``cell.zip`` (resume).

    Children carry the signal's digest as ``signal_digest``: the trial count of every later
    verdict for this signal reads it (:func:`poc.tracking.prior_trials`).
    """
    tags = _child_tags(c.kind, c.name, headline)
    signal_digest = signal_digest or (digests or {}).get(resume.SIGNAL_TAG)
    if signal_digest:
        tags["signal_digest"] = signal_digest
    artifacts: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="poc-cell-") as tmp:
        if digests is not None:
            tags.update({resume.CELL_TAG: c.name, **digests})
            if c.ok:
                artifacts = [resume.pack_cell(c, Path(tmp))]
                tags["poc.cell_artifact"] = resume.CELL_ARTIFACT
        return tracking.log_child(
            run,
            name=c.name if c.kind == "cell" else f"baseline:{c.name}",
            params={**c.params, "kind": c.kind},
            metrics=c.metrics,
            tags=tags,
            history=_cell_history(c),
            error=c.error,
            artifacts=artifacts,
        )


def _finish_suite(
    run: tracking.ParentRun,
    result: SuiteResult,
    snapshot: Snapshot,
    command: str,
    git_commit: str | None,
) -> tuple[str, SuiteResult]:
    """Datasets, parent tags and metrics, tear sheet and artifacts.

    Returns the link and the result with its verdict deflated by the experiment's
    earlier trials of the same signal.
    """
    # Trials of this signal already in the experiment deflate the Sharpe (docs/verdict.md).
    result = with_prior_trials(
        result, tracking.prior_trials(run.experiment_id, result.signal_digest, run.run_id)
    )
    log_snapshot_input(run, snapshot)
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
    tracking.log_parent(
        run,
        tags=parent_tags(result, snapshot),
        metrics=parent_metrics(result),
        params=suite_params(result),
    )
    log_parent_artifacts(
        run,
        render_suite(result, run.run_id, command, git_commit),
        summary_frame(result),
        daily_frame(result),
        config_document(result, command, git_commit),
    )
    return tracking.tearsheet_link(run.run_id), result


def render_suite(result: SuiteResult, run_id: str, command: str, git_commit: str | None) -> str:
    """The suite's tear sheet HTML."""
    context = tearsheet.suite_context(
        result,
        {
            "run_id": run_id,
            "experiment": result.spec.name,
            "git_commit": git_commit or "",
            "command": command,
        },
    )
    return tearsheet.render("suite.html.j2", context)


def log_suite(
    result: SuiteResult,
    snapshot: Snapshot,
    command: str,
    git_commit: str | None,
    attach_run_id: str | None,
    log_progress: tracking.LogProgressFn | None = None,
    experiment_name: str | None = None,
) -> RunOutcome:
    """Log an already computed suite to MLflow with its tear sheet; returns ids and the link.

    The children go in bulk (:func:`poc.tracking.log_children`: three store calls
    each, threads against a server); ``log_progress(done, total, name)`` follows them.
    ``experiment_name`` overrides the experiment named by the spec.
    """
    spec = result.spec
    name = parent_run_name(spec.name, result.signal_name)
    with tracking.parent_run(experiment_name or spec.name, name, attach_run_id) as run:
        with lifecycle.closing_run(run.run_id, tracking.end_run):
            tracking.log_children(run, suite_children(result), progress=log_progress)
            link, result = _finish_suite(run, result, snapshot, command, git_commit)
    v = result.verdict
    return RunOutcome(run.run_id, run.experiment_id, v.color, v.grade, v.score, link, result)


# --------------------------------------------------------------------------
# Running a suite: parent first, children logged as cells finish, resumable
# --------------------------------------------------------------------------

Notify = Callable[[str], None]


class StoreFailedError(PocError, OSError):
    """The tracking store failed after the suite was computed; results were saved locally."""


def write_local_results(
    result: SuiteResult, folder: Path, command: str, git_commit: str | None, run_id: str
) -> Path:
    """Save the tear sheet, summary.csv, daily.parquet and config.json in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    html = render_suite(result, run_id, command, git_commit)
    tearsheet.write_html(html, folder / "tearsheet.html")
    summary_frame(result).to_csv(folder / "summary.csv", index=False)
    daily_frame(result).to_parquet(folder / "daily.parquet", index=False, compression="zstd")
    config = config_document(result, command, git_commit)
    (folder / "config.json").write_text(json.dumps(config, indent=2, default=str))
    return folder


class ChildLogger:
    """Progress callback that logs each cell as a child run as soon as it finishes.

    A store error stops the logging (the suite still computes, see
    :func:`run_experiment`) instead of aborting minutes of work.
    """

    def __init__(self, run, headline, snapshot_digest, progress, notify):
        self.log_cell = _log_cell
        self.run = run
        self.headline = headline
        self.digests = {resume.SNAPSHOT_TAG: snapshot_digest}
        self.progress = progress
        self.notify = notify
        self.error: Exception | None = None

    def set_signal_digest(self, digest: str) -> None:
        self.digests[resume.SIGNAL_TAG] = digest

    def __call__(self, done: int, total: int, cell: CellResult) -> None:
        if self.error is None:
            try:
                self.log_cell(self.run, cell, self.headline, self.digests)
            except Exception as exc:
                self.error = exc
                self.notify(f"  logging stopped, the tracking store failed: {exc}")
        if self.progress is not None:
            self.progress(done, total, cell)
        if done == 1:
            interrupts.pause_for_test("compute")


def reuse_cells(
    old: dict[str, Any],
    run: tracking.ParentRun,
    wanted: dict[tuple[str, str], dict[str, Any]],
    snapshot_digest: str,
    signal_digest: str | None,
    notify: Notify,
    kind: str | None = None,
) -> dict[tuple[str, str], CellResult]:
    """Apply a resume plan: close stale runs, move reused children, rebuild their cells.

    ``kind`` is the child runs' ``kind`` tag when it differs from the cells' (allocation
    children are tagged ``allocation`` and log no ``kind`` param).
    """
    children = tracking.child_runs(old["run_id"], old["experiment_id"])
    as_tagged = {(name, kind or k): params for (name, k), params in wanted.items()}
    back = {(name, kind or k): (name, k) for name, k in wanted}
    plan = resume.plan_resume(
        old, children, as_tagged, snapshot_digest, signal_digest, with_kind=kind is None
    )
    for run_id in plan.stale:
        lifecycle.end_quietly(tracking.end_run, run_id, lifecycle.KILLED)
    for run_id in plan.replaced:
        tracking.set_tags(run_id, {"poc.replaced_by": run.run_id})
    tracking.set_tags(old["run_id"], {"poc.resumed_by": run.run_id})
    cells: dict[tuple[str, str], CellResult] = {}
    with tempfile.TemporaryDirectory(prefix="poc-resume-") as tmp:
        for tagged, child_id in plan.reuse.items():
            key = back[tagged]
            path = tracking.download_artifact(child_id, resume.CELL_ARTIFACT, Path(tmp) / child_id)
            cells[key] = resume.unpack_cell(path, wanted[key])
            tracking.set_tags(
                child_id, {"mlflow.parentRunId": run.run_id, "poc.resumed_from": old["run_id"]}
            )
    notify(
        f"resuming {old['run_id']}: reusing {len(cells)} of {len(wanted)} cells, "
        f"computing {len(wanted) - len(cells)}; "
        f"{len(plan.stale)} stale RUNNING run(s) closed KILLED"
    )
    return cells


def open_resume(resume_from: str | None, kind: str) -> dict[str, Any] | None:
    """The run summary of the suite to resume (checked), or None."""
    if not resume_from:
        return None
    try:
        old = tracking.run_summary(resume_from)
    except Exception as exc:
        raise resume.ResumeError(
            f"--resume {resume_from}: no such run in the tracking store ({exc}); pass the "
            "parent run id that `poc run` printed"
        ) from None
    resume.check_resumable(old, kind)
    return old


def check_same_experiment(old: dict[str, Any] | None, run: tracking.ParentRun) -> None:
    # Under `mlflow run` the experiment is mlflow's choice; reused children must not
    # end up under a parent in another experiment.
    if old and run.experiment_id != old["experiment_id"]:
        raise resume.ResumeError(
            f"--resume {old['run_id']}: that suite is in experiment {old['experiment_id']}, "
            f"this run in {run.experiment_id}; run with --experiment-id {old['experiment_id']}"
        )


def store_failed(exc: Exception, folder: Path) -> StoreFailedError:
    return StoreFailedError(
        f"the tracking store failed after the suite was computed ({type(exc).__name__}: "
        f"{str(exc)[:300]}); nothing is lost: tear sheet, summary.csv and daily.parquet "
        f"are in {folder}"
    )


def run_experiment(
    spec: ExperimentSpec,
    snapshot: Snapshot,
    command: str,
    git_commit: str | None = None,
    attach_run_id: str | None = None,
    progress: ProgressFn | None = None,
    resume_from: str | None = None,
    notify: Notify | None = None,
    results_dir: Path | None = None,
    experiment_name: str | None = None,
) -> RunOutcome:
    """Run a suite: open the parent run, compute and log each cell as it finishes, then
    log the evaluation, verdict and tear sheet.

    Parameters
    ----------
    resume_from : str, optional
        Parent run id of an interrupted suite: its finished, matching cells are
        reused (:mod:`poc.resume`) and the new parent logs into its experiment.
    notify : callable, optional
        Receives one-line status messages (the parent run id first).
    results_dir : Path, optional
        Where to save the results when the tracking store fails after the suite
        was computed (:class:`StoreFailedError` names it). Without it the store's
        error is raised.
    experiment_name : str, optional
        The experiment of a new suite (default: the spec's ``name``).

    The parent and every child end FINISHED, FAILED or KILLED (Ctrl-C, SIGTERM),
    never RUNNING (:mod:`poc.lifecycle`).
    """
    say = notify or (lambda line: None)
    old = open_resume(resume_from, "signal_suite")
    experiment = (
        tracking.experiment_name(old["experiment_id"]) if old else experiment_name or spec.name
    )
    headline = headline_cell_name(spec)
    computed: dict[str, Any] = {}
    try:
        name = parent_run_name(spec.name, spec.display_name)
        with tracking.parent_run(experiment, name, attach_run_id) as run:
            with lifecycle.closing_run(run.run_id, tracking.end_run):
                computed["run_id"] = run.run_id
                check_same_experiment(old, run)
                tracking.set_tags(
                    run.run_id,
                    {
                        "kind": "signal_suite",
                        "snapshot_id": snapshot.snapshot_id,
                        "snapshot_digest": snapshot.digest,
                        **({"poc.resumed_from": old["run_id"]} if old else {}),
                    },
                )
                say(f"parent run: {run.run_id}")
                logger = ChildLogger(run, headline, snapshot.digest, progress, say)

                def before_cells(signal_digest, wanted):
                    logger.set_signal_digest(signal_digest)
                    if old is None:
                        return {}
                    return reuse_cells(old, run, wanted, snapshot.digest, signal_digest, say)

                result = run_suite(spec, snapshot, progress=logger, before_cells=before_cells)
                computed["result"] = result
                if logger.error is not None:
                    raise logger.error
                interrupts.pause_for_test("logging")
                say("logging the suite: evaluation, verdict, tear sheet ...")
                link, result = _finish_suite(run, result, snapshot, command, git_commit)
    except Exception as exc:
        if isinstance(exc, PocError) or "result" not in computed or results_dir is None:
            raise
        folder = write_local_results(
            computed["result"], results_dir, command, git_commit, computed["run_id"]
        )
        raise store_failed(exc, folder) from exc
    v = result.verdict
    return RunOutcome(run.run_id, run.experiment_id, v.color, v.grade, v.score, link, result)


def headline_cell_name(spec: ExperimentSpec) -> str:
    """The name of the spec's headline cell (as :func:`poc.suite.run_suite` names it)."""
    base = spec.headline_cell()
    return next(name for name, params in _cells_to_run(spec) if params == base)


# Former private names, kept for modules written against them.
_log_parent_artifacts = log_parent_artifacts
_log_snapshot_input = log_snapshot_input
