"""MLflow logging: the only module that imports mlflow.

Layout (docs/conventions.md): one parent run per suite, tagged with the signal, the
snapshot id and digest, the verdict and the grade, holding the headline
metrics and the artifacts (``tearsheet.html``, ``summary.csv``,
``daily.parquet``, ``config.json``); one nested child run per grid cell and
per baseline with its params and metrics in one batch call and its daily
cumulative return as a metric history (so the UI overlays the curves); the
snapshot and the signal as dataset inputs with their digests.

Everything here takes plain values (dicts, arrays, paths) produced by the
computation; nothing here computes a statistic.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import mlflow
import numpy as np
import pandas as pd
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_RUN_NAME

log = logging.getLogger(__name__)

_BATCH = 1000  # MLflow's limit of metrics per log_batch call
_BATCH_PARAMS = 100  # ... and of params per call
_BATCH_TAGS = 100  # ... and of tags per call
HISTORY_POINTS = 260  # at most this many points of a child's cum_return history
HTTP_WORKERS = 4  # children logged concurrently against a tracking server
_DIGEST_CHARS = 32  # MLflow caps dataset digests at 36 characters


@dataclass(frozen=True)
class ParentRun:
    """The run a suite logs into."""

    run_id: str
    experiment_id: str
    artifact_uri: str


@contextmanager
def parent_run(
    experiment_name: str, run_name: str, attach_run_id: str | None = None
) -> Iterator[ParentRun]:
    """Open the suite's parent run; mark it FAILED if the body raises.

    Uses an explicit :class:`MlflowClient` (no global active run), so logging
    threads and callers' own runs are never disturbed.

    Parameters
    ----------
    experiment_name : str
        Experiment to log into (created when missing; ignored when attaching:
        ``mlflow run`` already chose the experiment of the run it created).
    run_name : str
        The parent's name in the UI (also given to an attached run).
    attach_run_id : str, optional
        The run ``mlflow run`` created (``MLFLOW_RUN_ID``): it becomes the parent.
    """
    from mlflow.tracking.context.registry import resolve_tags

    client = MlflowClient()
    if attach_run_id:
        info = client.get_run(attach_run_id).info
        if run_name:
            client.set_tag(attach_run_id, MLFLOW_RUN_NAME, run_name)
    else:
        experiment_id = _experiment_id(client, experiment_name)
        info = client.create_run(experiment_id, tags=resolve_tags({}), run_name=run_name).info
    _mark_model_training(client, info.experiment_id)
    run = ParentRun(info.run_id, info.experiment_id, info.artifact_uri)
    try:
        with _quiet_urls():
            yield run
    except BaseException as exc:
        # poc.lifecycle may already have ended the run (KILLED on SIGTERM, FAILED): keep
        # that status; otherwise an interruption is KILLED and any other error FAILED.
        try:
            if client.get_run(run.run_id).info.status == "RUNNING":
                killed = isinstance(exc, KeyboardInterrupt)
                status = RunStatus.KILLED if killed else RunStatus.FAILED
                client.set_terminated(run.run_id, RunStatus.to_string(status))
        except Exception:  # a failing store must not hide the error that ended the run
            log.warning("could not end run %s after an error", run.run_id)
        raise
    with _quiet_urls():
        client.set_terminated(run.run_id, RunStatus.to_string(RunStatus.FINISHED))


# The experiment's kind for MLflow 3's UI ("Model training", not GenAI): it stops the UI
# asking which kind the experiment is. Which view a link opens is chosen by the link's
# ``workflowType`` query (UI_VIEW_QUERY below), not by this tag.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"


def _mark_model_training(client: MlflowClient, experiment_id: str) -> None:
    experiment = client.get_experiment(experiment_id)
    if EXPERIMENT_KIND_TAG not in experiment.tags:
        client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING)


def _experiment_id(client: MlflowClient, name: str) -> str:
    """The id of experiment ``name``, created when missing (another process may race us)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return found.experiment_id
    try:
        return client.create_experiment(name)
    except MlflowException:
        found = client.get_experiment_by_name(name)
        if found is None:
            raise
        return found.experiment_id


def _finite(value) -> bool:
    return isinstance(value, int | float | np.floating | np.integer) and math.isfinite(value)


def _metrics(values: Mapping[str, float], step: int = 0, timestamp: int = 0) -> list[Metric]:
    # NaN metrics are skipped rather than logged: MLflow's UI sorts and plots them badly,
    # and "not measured" is better said by absence (the tear sheet says why).
    return [
        Metric(key, float(value), timestamp, step)
        for key, value in values.items()
        if _finite(value)
    ]


def _params(values: Mapping[str, object]) -> list[Param]:
    return [Param(key, str(value)[:6000]) for key, value in values.items()]


def log_parent(
    run: ParentRun,
    tags: Mapping[str, str],
    metrics: Mapping[str, float],
    params: Mapping[str, object] | None = None,
) -> None:
    """Tags, headline metrics and (when not under ``mlflow run``) params of the parent run."""
    client = MlflowClient()
    existing = client.get_run(run.run_id).data.params
    # `mlflow run` already logged the entry point's parameters; never log them twice.
    # An empty value says nothing in the UI's columns: leave it out.
    fresh = {k: v for k, v in (params or {}).items() if k not in existing and str(v) != ""}
    client.log_batch(
        run.run_id,
        metrics=_metrics(metrics),
        params=_params(fresh),
        tags=[RunTag(k, str(v)) for k, v in tags.items()],
    )


def downsample_history(history: pd.Series, max_points: int = HISTORY_POINTS) -> pd.Series:
    """The last value of each calendar period, the finest period with at most ``max_points``.

    Weekly (``W``) when that fits, else month-end, quarter-end, year-end. The
    index keeps the actual trading dates (the last finite one of each period),
    so the curve's points are real observations, never interpolated. NaN
    values are dropped first (a day with no position has no cumulative value).
    """
    clean = history.dropna()
    if len(clean) <= max_points:
        return clean
    dates = pd.DatetimeIndex(clean.index)
    for freq in ("W", "M", "Q", "Y"):
        periods = dates.to_period(freq)
        last = ~pd.Index(periods).duplicated(keep="last")
        if int(last.sum()) <= max_points:
            return clean[last]
    step = int(np.ceil(len(clean) / max_points))  # more than 260 years: plain thinning
    return clean.iloc[step - 1 :: step]


@dataclass(frozen=True)
class ChildRecord:
    """Everything one nested child run holds; logged by :func:`log_children`.

    ``history`` is a daily series indexed by date; it is downsampled (see
    :func:`downsample_history`) and logged as the metric ``history_key`` with
    step = trading-day number and timestamp = the date. ``error`` makes the
    child FAILED with the error as a tag. ``artifacts`` are uploaded as one
    call (a folder upload when there are several files).
    """

    name: str
    params: Mapping[str, object]
    metrics: Mapping[str, float]
    tags: Mapping[str, str] = field(default_factory=dict)
    history: pd.Series | None = None
    error: str | None = None
    artifacts: Sequence[Path] = ()


def _history_metrics(history: pd.Series | None, key: str) -> list[Metric]:
    if history is None or not len(history):
        return []
    steps = pd.Series(np.arange(len(history)), index=history.index)  # trading-day numbers
    thinned = downsample_history(history)
    stamps = pd.DatetimeIndex(thinned.index).as_unit("ms").asi8
    day = steps[~steps.index.duplicated()].reindex(thinned.index).to_numpy()
    return [
        Metric(key, float(v), int(ts), int(step))
        for v, ts, step in zip(thinned.to_numpy(dtype=np.float64), stamps, day, strict=True)
        if math.isfinite(v)
    ]


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _log_one(client: MlflowClient, run: ParentRun, child: ChildRecord, history_key: str) -> str:
    """Create, fill and close one child: 3 store calls (create, one batch, terminate)."""
    tags = {MLFLOW_PARENT_RUN_ID: run.run_id, MLFLOW_RUN_NAME: child.name, **child.tags}
    created = client.create_run(run.experiment_id, tags=tags, run_name=child.name)
    child_id = created.info.run_id
    try:
        metrics = _metrics(child.metrics) + _history_metrics(child.history, history_key)
        params = _params(child.params)
        extra = [RunTag("error", child.error[:5000])] if child.error else []
        # One call when it fits in MLflow's per-call limits (always, for a suite's cell).
        m_parts, p_parts = _chunks(metrics, _BATCH), _chunks(params, _BATCH_PARAMS)
        for i in range(max(len(m_parts), len(p_parts))):
            client.log_batch(
                child_id,
                metrics=m_parts[i] if i < len(m_parts) else [],
                params=p_parts[i] if i < len(p_parts) else [],
                tags=extra if i == 0 else [],
            )
        if child.artifacts:
            _upload_once(client, child_id, child.artifacts)
        status = RunStatus.FAILED if child.error else RunStatus.FINISHED
        client.set_terminated(child_id, RunStatus.to_string(status))
    except BaseException as exc:
        # KeyboardInterrupt is not an Exception: an interrupted child ends KILLED, not RUNNING.
        killed = isinstance(exc, KeyboardInterrupt)
        status = RunStatus.KILLED if killed else RunStatus.FAILED
        client.set_terminated(child_id, RunStatus.to_string(status))
        raise
    return child_id


def _upload_once(client: MlflowClient, run_id: str, paths: Sequence[Path]) -> None:
    paths = [Path(p) for p in paths]
    folders = {p.parent for p in paths}
    if len(paths) > 1 and len(folders) == 1 and set(next(iter(folders)).iterdir()) == set(paths):
        client.log_artifacts(run_id, str(paths[0].parent))  # the folder holds exactly these
    else:
        for path in paths:
            client.log_artifact(run_id, str(path))


def _is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "databricks"))


@contextmanager
def _quiet_urls() -> Iterator[None]:
    # MlflowClient.set_terminated prints two "View run" lines and re-reads the run from a
    # server for each child; the variable turns both off (the suite prints one link).
    key = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
    saved = os.environ.get(key)
    os.environ[key] = "true"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = saved


LogProgressFn = Callable[[int, int, str], None]


def log_children(
    run: ParentRun,
    children: Sequence[ChildRecord],
    history_key: str = "cum_return",
    progress: LogProgressFn | None = None,
    workers: int | None = None,
) -> list[str]:
    """Log nested child runs with as few store calls as possible; returns their ids in order.

    Each child costs three calls: create (with its tags), one ``log_batch``
    (params, metrics and the downsampled history) and terminate, plus one
    artifact upload when it has files. Against a tracking server the
    children are logged by ``workers`` threads (default :data:`HTTP_WORKERS`);
    against a local store one at a time (SQLite serializes writers anyway).

    Parameters
    ----------
    progress : callable, optional
        ``progress(done, total, name)`` after each child, in completion order.
    """
    client = MlflowClient()
    if workers is None:
        workers = HTTP_WORKERS if _is_server(mlflow.get_tracking_uri()) else 1
    ids: list[str | None] = [None] * len(children)
    with _quiet_urls():
        if workers <= 1:
            for i, child in enumerate(children):
                ids[i] = _log_one(client, run, child, history_key)
                if progress is not None:
                    progress(i + 1, len(children), child.name)
        else:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = {
                    pool.submit(_log_one, client, run, child, history_key): i
                    for i, child in enumerate(children)
                }
                for done, future in enumerate(as_completed(futures), start=1):
                    i = futures[future]
                    ids[i] = future.result()
                    if progress is not None:
                        progress(done, len(children), children[i].name)
    return [i for i in ids if i is not None]


def log_child(
    run: ParentRun,
    name: str,
    params: Mapping[str, object],
    metrics: Mapping[str, float],
    tags: Mapping[str, str] | None = None,
    history: pd.Series | None = None,
    history_key: str = "cum_return",
    error: str | None = None,
    artifacts: Sequence[Path] = (),
) -> str:
    """One nested child run (see :func:`log_children`); returns the child's run id.

    Parameters
    ----------
    history : Series, optional
        Daily values indexed by date, logged (downsampled to at most
        :data:`HISTORY_POINTS` period-end points) as a metric history with
        step = trading-day number and timestamp = the date.
    error : str, optional
        When given, the child ends FAILED with the error as a tag.
    """
    record = ChildRecord(name, params, metrics, tags or {}, history, error, artifacts)
    with _quiet_urls():
        return _log_one(MlflowClient(), run, record, history_key)


def log_dataset(
    run: ParentRun,
    name: str,
    preview: pd.DataFrame,
    digest: str,
    source: str,
    context: str,
) -> None:
    """Record a dataset input (snapshot or signal) with its content digest.

    ``preview`` is a small frame describing the data (MLflow stores its schema
    and profile); the digest is the real content hash, truncated to MLflow's
    36-character limit, and the full digest is kept as a tag.
    """
    # A code source holds any locator (a snapshot folder, a file, builtin:NAME) without
    # MLflow guessing its kind; the preview's columns are strings so no schema hint fires.
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    described = CodeDatasetSource(tags={"uri": source})
    preview = preview.astype(str)
    dataset = mlflow.data.from_pandas(
        preview, source=described, name=name, digest=digest[:_DIGEST_CHARS]
    )
    entry = DatasetInput(
        dataset._to_mlflow_entity(),
        tags=[InputTag(MLFLOW_DATASET_CONTEXT, context), InputTag("full_digest", digest)],
    )
    MlflowClient().log_inputs(run.run_id, datasets=[entry])


def log_artifacts(run: ParentRun, paths: Sequence[Path]) -> None:
    """Upload files to the root of the parent run's artifacts."""
    client = MlflowClient()
    for path in paths:
        client.log_artifact(run.run_id, str(path))


# --------------------------------------------------------------------------
# Reading runs back (``poc compare``)
# --------------------------------------------------------------------------


def fetch_run(run_id: str) -> dict[str, object]:
    """Name, experiment, tags and artifact location of ``run_id``.

    Raises
    ------
    PocError
        When the tracking store has no such run (the message says which store).
    """
    from mlflow.exceptions import MlflowException

    from poc.exceptions import PocError

    try:
        run = MlflowClient().get_run(run_id)
    except MlflowException as exc:
        raise PocError(
            f"unknown run id {run_id!r} in the tracking store {mlflow.get_tracking_uri()!r} "
            f"({exc.error_code}); list parent runs in the MLflow UI or set MLFLOW_TRACKING_URI "
            "to the store the run was logged in"
        ) from None
    return {
        "run_id": run.info.run_id,
        "name": run.info.run_name or run.info.run_id[:8],
        "experiment_id": run.info.experiment_id,
        "status": run.info.status,
        "tags": dict(run.data.tags),
        "metrics": dict(run.data.metrics),
    }


def download_run_artifact(run_id: str, artifact: str, folder: Path) -> Path:
    """Download one artifact of ``run_id`` into ``folder``; PocError naming it when absent."""
    from mlflow.exceptions import MlflowException

    from poc.exceptions import PocError

    names = {f.path for f in MlflowClient().list_artifacts(run_id)}
    if artifact not in names:
        raise PocError(
            f"run {run_id!r} has no artifact {artifact!r} (it has {sorted(names) or 'none'}); "
            "compare parent runs of `poc run` or `poc allocate`, not their child runs"
        )
    try:
        local = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=artifact, dst_path=str(folder)
        )
    except MlflowException as exc:
        raise PocError(f"cannot download {artifact!r} of run {run_id!r}: {exc}") from None
    return Path(local)


# MLflow 3.x's UI (3.17 checked) chooses "GenAI" or "Model training" with a sidebar toggle
# read from the URL's ``workflowType`` query, else the browser's localStorage (default
# GenAI); it does not read the experiment's ``mlflow.experimentKind`` tag (that tag only
# spares the "which kind of experiment?" prompt; mlflow/mlflow#24498). So every UI link
# carries the query: it opens the runs table, the chart view and Compare.
UI_VIEW_QUERY = "?workflowType=machine_learning"


def run_link(run_id: str, experiment_id: str) -> str:
    """Where a person opens a run: the UI page on an HTTP server, else ``runs:/ID``."""
    uri = mlflow.get_tracking_uri()
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}{UI_VIEW_QUERY}"
    return f"runs:/{run_id}"


def tearsheet_link(run_id: str, artifact: str = "tearsheet.html") -> str:
    """Where a person opens the tear sheet of ``run_id``.

    The MLflow UI address of the artifact when the tracking URI is an HTTP
    server; otherwise the local file's path.
    """
    client = MlflowClient()
    run = client.get_run(run_id)
    uri = mlflow.get_tracking_uri()
    if uri.startswith(("http://", "https://")):
        base = uri.rstrip("/")
        return (
            f"{base}/#/experiments/{run.info.experiment_id}/runs/{run_id}/artifacts/"
            f"{quote(artifact)}{UI_VIEW_QUERY}"
        )
    artifact_uri = run.info.artifact_uri
    if artifact_uri.startswith("file://"):
        artifact_uri = artifact_uri[len("file://") :]
    elif "://" in artifact_uri:
        return f"{artifact_uri.rstrip('/')}/{artifact}"
    return str(Path(artifact_uri) / artifact)


def get_existing_run(run_id: str):
    """The MLflow run ``run_id``; a RunNotFoundError naming the store when absent or malformed."""
    from mlflow.exceptions import MlflowException

    from poc.exceptions import RunNotFoundError

    text = str(run_id).strip()
    if not re.fullmatch(r"[0-9a-f]{32}", text):
        raise RunNotFoundError(
            f"{run_id!r} is not an MLflow run id (32 hexadecimal characters, as printed after "
            "`parent run:`); copy the id from the run's output or the MLflow UI"
        )
    try:
        return MlflowClient().get_run(text)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            raise
        raise RunNotFoundError(
            f"no run {text} in the tracking store {mlflow.get_tracking_uri()}; check "
            "MLFLOW_TRACKING_URI points at the store the suite logged to"
        ) from None


def describe_run(run_id: str) -> dict[str, object]:
    """Tags, metrics and status of a run (for ``poc tearsheet link``)."""
    run = get_existing_run(run_id)
    return {
        "status": run.info.status,
        "tags": dict(run.data.tags),
        "metrics": dict(run.data.metrics),
        "experiment_id": run.info.experiment_id,
    }


# --------------------------------------------------------------------------
# Run lifecycle and resume (poc.lifecycle, poc.resume)
# --------------------------------------------------------------------------


def end_run(run_id: str, status: str) -> None:
    """Give ``run_id`` a terminal status (FINISHED, FAILED, KILLED).

    When it is the active fluent run it is ended through ``mlflow.end_run`` so
    MLflow's own context exit does not overwrite the status afterwards.
    """
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        mlflow.end_run(status)
    else:
        MlflowClient().set_terminated(run_id, status)


def set_tags(run_id: str, tags: Mapping[str, str]) -> None:
    """Set tags on any run (also a terminated one), in one batch."""
    MlflowClient().log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def run_summary(run_id: str) -> dict[str, object]:
    """Status, tags, params, metrics and experiment of a run."""
    run = MlflowClient().get_run(run_id)
    return {
        "run_id": run.info.run_id,
        "status": run.info.status,
        "experiment_id": run.info.experiment_id,
        "tags": dict(run.data.tags),
        "params": dict(run.data.params),
        "metrics": dict(run.data.metrics),
    }


def child_runs(parent_run_id: str, experiment_id: str) -> list[dict[str, object]]:
    """Every run whose parent is ``parent_run_id`` (any status), as :func:`run_summary` dicts."""
    client = MlflowClient()
    query = f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{parent_run_id}'"
    out, token = [], None
    while True:
        page = client.search_runs([experiment_id], query, max_results=1000, page_token=token)
        out += [
            {
                "run_id": r.info.run_id,
                "status": r.info.status,
                "experiment_id": r.info.experiment_id,
                "tags": dict(r.data.tags),
                "params": dict(r.data.params),
                "metrics": dict(r.data.metrics),
            }
            for r in page
        ]
        token = page.token
        if not token:
            return out


def download_artifact(run_id: str, path: str, destination: Path) -> Path:
    """Download one artifact of a run into ``destination``; returns the local path."""
    local = MlflowClient().download_artifacts(run_id, path, str(destination))
    return Path(local)


def experiment_name(experiment_id: str) -> str:
    """The name of an experiment, from its id."""
    return MlflowClient().get_experiment(experiment_id).name


def prior_trials(
    experiment_id: str,
    signal_digest: str,
    exclude_parent: str | None = None,
    *,
    kind: str = "cell",
    digest_tag: str = "signal_digest",
    metric: str = "sharpe",
    key_tag: str | None = None,
):
    """Cell configurations already run for this signal in the experiment, with their Sharpe.

    Reads the child runs tagged ``kind=cell`` and ``signal_digest=<digest>`` (every
    suite tags its cells so), skipping the children of ``exclude_parent`` (the suite
    being logged). Returns a :class:`poc.trust_suite.PriorTrials`: one mean Sharpe per
    distinct configuration (its params), and the number of runs read.

    Allocation suites pass ``kind="allocation"``, ``digest_tag="allocation_digest"``,
    ``metric="active_sharpe"`` and ``key_tag="trial_config"``: the configuration is then
    read from that tag (the full config and window) instead of the params (grid axes only).
    """
    from poc.trust_suite import PriorTrials, config_key

    client = MlflowClient()
    query = f"tags.kind = '{kind}' and tags.{digest_tag} = '{signal_digest}'"
    by_config: dict[str, list[float]] = {}
    runs = 0
    token = None
    while True:
        page = client.search_runs(
            [experiment_id], filter_string=query, max_results=1000, page_token=token
        )
        for r in page:
            if exclude_parent and r.data.tags.get(MLFLOW_PARENT_RUN_ID) == exclude_parent:
                continue
            if r.info.status != "FINISHED":  # killed or failed: not a completed trial
                continue
            runs += 1
            sharpe = r.data.metrics.get(metric, float("nan"))
            key = r.data.tags.get(key_tag) if key_tag else None
            by_config.setdefault(key or config_key(dict(r.data.params)), []).append(sharpe)
        token = page.token
        if not token:
            break
    sharpes = {
        k: float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")
        for k, v in by_config.items()
    }
    return PriorTrials(sharpes=sharpes, runs=runs)
