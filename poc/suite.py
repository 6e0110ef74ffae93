"""Grid suites: every cell of an experiment's grid plus the baselines, run with joblib.

Workers only compute: each receives the dense panel and a dense signal
matrix (joblib memory-maps large arrays instead of copying them) and returns
a plain :class:`CellResult`; a cell that raises is returned as FAILED with its
error and the suite goes on. The parent then evaluates the signal (rank IC,
decay, exposures, baseline correlations), computes the verdict, and hands
everything to :mod:`poc.tracking` and :mod:`poc.tearsheet`.
"""

from __future__ import annotations

import hashlib
import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import joblib
import numpy as np
import pandas as pd

from poc import evaluation
from poc.catalog import Snapshot
from poc.contract import align_signal, check_signal, read_signal
from poc.engine import BacktestConfig, run_backtest
from poc.exceptions import ConfigError, NoTradesError
from poc.experiment import ExperimentSpec
from poc.metrics import sharpe_ratio
from poc.oos import resolve_split, with_split
from poc.panel import Panel, load_panel, signal_matrix
from poc.signals import BASELINES, load_builtin
from poc.trust_suite import survivorship_biased, trust_inputs, trust_report
from poc.verdict import Verdict, VerdictInputs, compute_verdict

log = logging.getLogger(__name__)

DECAY_LAGS = range(0, 6)
HORIZONS = (1, 5, 21)
CELL_METRICS = ("sharpe", "ann_ret", "ann_vol", "sortino", "max_dd", "calmar", "turnover")


@dataclass(frozen=True)
class CellResult:
    """One backtest of the suite: a grid cell or a baseline.

    ``daily``, ``summary`` and ``fractile`` are the engine's tables (None when
    the cell failed).
    """

    name: str
    kind: str  # "cell" or "baseline"
    params: dict[str, Any]
    status: str  # "FINISHED" or "FAILED"
    metrics: dict[str, float] = field(default_factory=dict)
    daily: pd.DataFrame | None = None
    summary: pd.DataFrame | None = None
    fractile: pd.DataFrame | None = None
    error: str | None = None
    seconds: float = 0.0
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # kind-specific outputs

    @property
    def ok(self) -> bool:
        return self.status == "FINISHED"


@dataclass(frozen=True)
class SuiteResult:
    """Everything a suite produced, ready to log and render."""

    spec: ExperimentSpec
    signal_name: str
    signal_source: str
    signal_digest: str
    signal_rows: int
    snapshot_id: str
    snapshot_digest: str
    date_range: tuple[str, str]
    cells: list[CellResult]
    headline: str
    evaluation: dict[str, Any]
    verdict: Verdict
    notes: list[str]
    seconds: float
    trust: Any = None  # poc.trust_suite.TrustReport of the headline cell
    verdict_inputs: VerdictInputs | None = None
    oos_start: str | None = None  # first out-of-sample date when the spec splits IS/OOS

    @property
    def grid_cells(self) -> list[CellResult]:
        return [c for c in self.cells if c.kind == "cell"]

    @property
    def baselines(self) -> list[CellResult]:
        return [c for c in self.cells if c.kind == "baseline"]

    def cell(self, name: str) -> CellResult:
        return next(c for c in self.cells if c.name == name)

    @property
    def best(self) -> CellResult | None:
        done = [c for c in self.grid_cells if c.ok and np.isfinite(c.metrics.get("sharpe", np.nan))]
        return max(done, key=lambda c: c.metrics["sharpe"]) if done else None


# --------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------


def load_signal_table(snapshot: Snapshot, signal: str, allow_pickle: bool = False) -> pd.DataFrame:
    """The raw signal table named by ``signal``: ``builtin:NAME`` or a file path."""
    if signal.startswith("builtin:"):
        return load_builtin(snapshot, signal.split(":", 1)[1])
    return read_signal(signal, allow_pickle=allow_pickle)


def table_digest(frame: pd.DataFrame) -> str:
    """sha256 of a signal table's content (row order independent)."""
    ordered = frame.sort_values(["security_id", "date_sig"], kind="stable").reset_index(drop=True)
    hashed = pd.util.hash_pandas_object(ordered, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def _signal_dates(panel: Panel, clean: pd.DataFrame) -> pd.DatetimeIndex:
    """The panel's trading dates from the signal's first to its last date."""
    dates = pd.DatetimeIndex(panel.dates)
    first, last = clean["date_sig"].min(), clean["date_sig"].max()
    return dates[(dates >= first) & (dates <= last)]


def _restrict_dates(frame: pd.DataFrame, start: str | None, end: str | None) -> pd.DataFrame:
    if start:
        frame = frame[frame["date_sig"] >= pd.Timestamp(start)]
    if end:
        frame = frame[frame["date_sig"] <= pd.Timestamp(end)]
    return frame


def dense_signal(panel: Panel, clean: pd.DataFrame) -> np.ndarray:
    """A clean signal as a (dates x securities) matrix indexed by the day it becomes usable."""
    return signal_matrix(align_signal(clean, panel.dates, lag=0), panel)


# --------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------


def cell_name(params: dict[str, Any], varying: list[str]) -> str:
    """A short readable name from the axes that vary in the grid, e.g. ``lag=1 resid=industry``."""
    short = {"residualize": "resid", "fractile": "frac", "rebalance": "rebal"}
    parts = []
    for axis in varying:
        value = params[axis]
        if axis == "fractile":
            value = f"{value[0]:g}-{value[1]:g}"
        parts.append(f"{short.get(axis, axis)}={value}")
    return " ".join(parts) or "base"


def config_for(params: dict[str, Any]) -> BacktestConfig:
    """The engine config of one cell; bad values come back as ConfigError naming the axis."""
    return BacktestConfig(**params)


def _cell_metrics(result) -> dict[str, float]:
    overall = result.summary[result.summary["slice"] == "overall"].iloc[0].to_dict()
    metrics = {k: float(overall.get(k, np.nan)) for k in CELL_METRICS}
    daily = result.daily
    metrics["gross_sharpe"] = sharpe_ratio(daily["gross"].to_numpy())
    metrics["avg_names_long"] = float(daily["n_long"].mean())
    metrics["avg_names_short"] = float(daily["n_short"].mean())
    metrics["cost_total"] = float(daily["cost"].sum())
    return metrics


def no_trades_reason(counts: dict[str, int], daily: pd.DataFrame, params: dict[str, Any]) -> str:
    """Why a backtest never held a position, or ``""`` when it traded.

    A cell without a single day of positions has only NaN performance (Sharpe,
    returns, turnover); grading it would score the suite on everything but
    performance, so it is a FAILED cell instead.
    """
    turnover = daily["turnover"].to_numpy(dtype=float) if len(daily) else np.zeros(0)
    if counts.get("days", 0) and np.nansum(np.abs(turnover)) > 0:
        return ""
    total = counts.get("signal_values", 0)
    if total and counts.get("beyond_calendar", 0) == total:
        return (
            f"never traded: lag {params.get('lag')} pushes all {total:,} signal values past the "
            "end of the snapshot's calendar; use a smaller lag"
        )
    fractile = params.get("fractile")
    if isinstance(fractile, tuple | list):
        fractile = ",".join(f"{v:g}" for v in fractile)
    return (
        f"never traded: no day had a position ({counts.get('used', 0):,} of {total:,} signal "
        f"values used; fractile {fractile}, mincos {params.get('mincos')}); "
        "widen the fractile (e.g. 10,90), lower mincos or check the signal's dates"
    )


def run_cell(
    panel: Panel,
    signal: np.ndarray,
    params: dict[str, Any],
    name: str,
    kind: str,
    oos_date: str | None = None,
) -> CellResult:
    """Backtest one cell; never raises (a failure becomes a FAILED result with the error).

    A cell that never held a position is FAILED with a :class:`NoTradesError`
    message (see :func:`no_trades_reason`). With ``oos_date`` its metrics gain
    ``is_*``/``oos_*`` (:func:`poc.oos.with_split`), logged with the child run.
    """
    started = time.perf_counter()
    try:
        result = run_backtest(panel, signal, config_for(params))
        reason = no_trades_reason(result.counts, result.daily, params)
        if reason:
            raise NoTradesError(reason)
        cell = CellResult(
            name=name,
            kind=kind,
            params=params,
            status="FINISHED",
            metrics=_cell_metrics(result),
            daily=result.daily,
            summary=result.summary,
            fractile=result.fractile,
            seconds=time.perf_counter() - started,
        )
        return with_split(cell, oos_date)
    except Exception as exc:
        return CellResult(
            name=name,
            kind=kind,
            params=params,
            status="FAILED",
            error=f"{type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - started,
        )


# --------------------------------------------------------------------------
# The suite
# --------------------------------------------------------------------------


def _cells_to_run(spec: ExperimentSpec) -> list[tuple[str, dict[str, Any]]]:
    varying = [axis for axis, values in spec.grid.items() if len(values) > 1]
    return [(cell_name(params, varying), params) for params in spec.cells()]


def _same_except(params: dict, base: dict, axis: str, value) -> bool:
    return params[axis] == value and all(params[k] == base[k] for k in base if k != axis)


def _sharpe_where(results: list[CellResult], base: dict, axis: str, value) -> float | None:
    for r in results:
        if r.kind == "cell" and r.ok and _same_except(r.params, base, axis, value):
            s = r.metrics.get("sharpe")
            return s if s is not None and np.isfinite(s) else None
    return None


def _years_and_caps(
    summary: pd.DataFrame | None,
) -> tuple[int | None, int | None, float | None, float | None]:
    if summary is None:
        return None, None, None, None
    years = summary[summary["slice"] == "year"]
    positive = int((years["ann_ret"] > 0).sum()) if len(years) else None
    total = len(years) if len(years) else None
    caps = summary[summary["slice"] == "cap"].set_index("label")["sharpe"]
    large = float(caps["large"]) if "large" in caps else None
    small = float(caps["small"]) if "small" in caps else None
    return positive, total, large, small


def verdict_inputs(
    results: list[CellResult],
    headline: CellResult,
    base: dict,
    evaluation_: dict,
    oos_date: str | None = None,
) -> VerdictInputs:
    """What the verdict needs, read off the suite's results.

    ``sharpe`` is the headline's full-period Sharpe, or its out-of-sample Sharpe
    (``oos_sharpe``) when the suite has an IS/OOS split (``oos_date``).
    """
    positive, total, large, small = _years_and_caps(headline.summary)
    baseline_corrs = [
        abs(v) for v in evaluation_["baseline_signal_corr"].values() if np.isfinite(v)
    ]
    factor_corrs = [abs(v) for v in evaluation_["exposures"].values() if np.isfinite(v)]
    key = "oos_sharpe" if oos_date is not None else "sharpe"
    sharpe = headline.metrics.get(key) if headline.ok else None
    return VerdictInputs(
        sharpe=sharpe if sharpe is not None and np.isfinite(sharpe) else None,
        sharpe_lag0=_sharpe_where(results, base, "lag", 0),
        sharpe_lag2=_sharpe_where(results, base, "lag", 2),
        sharpe_resid_off=_sharpe_where(results, base, "residualize", "off"),
        sharpe_resid_industry=_sharpe_where(results, base, "residualize", "industry"),
        max_baseline_corr=max(baseline_corrs) if baseline_corrs else None,
        max_factor_corr=max(factor_corrs) if factor_corrs else None,
        large_cap_sharpe=large,
        small_cap_sharpe=small,
        positive_years=positive,
        total_years=total,
        **_inference_inputs(headline, evaluation_),
    )


def _finite_or_none(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _not_nan_or_none(x) -> float | None:
    return float(x) if x is not None and not np.isnan(x) else None


def _inference_inputs(headline: CellResult, evaluation_: dict) -> dict[str, Any]:
    """IC t at 21 days (the conservative one), 1-day IC t at lags 0 and 1, turnover."""
    by_h = evaluation_["ic_by_horizon"]
    by_lag = evaluation_.get("ic_t_by_lag", {})
    return {
        "ic_t": _finite_or_none(by_h[21].t_stat) if 21 in by_h else None,
        "ic_t_lag0": _not_nan_or_none(by_lag.get(0)),  # +inf: a perfect IC every day
        "ic_t_lag1": _not_nan_or_none(by_lag.get(1)),
        "turnover": _finite_or_none(headline.metrics.get("turnover")) if headline.ok else None,
    }


def evaluate_signal(
    panel: Panel,
    signal: np.ndarray,
    lag: int,
    baseline_signals: dict[str, np.ndarray],
    headline: CellResult,
    baseline_results: list[CellResult],
) -> dict[str, Any]:
    """Rank IC by horizon and lag, quintile spread, coverage, exposures, baseline correlations."""
    returns = panel.ret
    headline_net = (
        headline.daily.set_index("date")["net"]
        if headline.ok and headline.daily is not None
        else None
    )
    pnl_corr = {}
    for b in baseline_results:
        if headline_net is None or not b.ok:
            pnl_corr[b.name] = np.nan
            continue
        other = b.daily.set_index("date")["net"].reindex(headline_net.index)
        pnl_corr[b.name] = evaluation.pnl_correlation(headline_net.to_numpy(), other.to_numpy())
    ranked = evaluation.RankedSignal(signal, returns)  # each array sorted once
    return {
        "ic_by_horizon": evaluation.ic_by_horizon(signal, returns, HORIZONS, lag, ranked),
        "ic_decay": evaluation.ic_decay(signal, returns, DECAY_LAGS, ranked=ranked),
        "spread": evaluation.quantile_spread(signal, returns, 5, lag),
        "coverage": evaluation.coverage(signal, returns),
        "exposures": evaluation.exposure_correlations(signal, panel.styles),
        "baseline_signal_corr": {
            name: evaluation.mean_cross_sectional_corr(signal, b)
            for name, b in baseline_signals.items()
        },
        "baseline_pnl_corr": pnl_corr,
        "lag": lag,
        # Series for the tear sheet's extras: the daily IC at the headline lag, and the
        # equal-weighted mean return of the universe as the market for rolling beta.
        "ic_daily": pd.Series(ranked.daily_ic(1, lag), index=pd.DatetimeIndex(panel.dates)),
        "market_daily": pd.Series(
            _row_mean(returns), index=pd.DatetimeIndex(panel.dates), name="market"
        ),
        # 1-day IC t at lag 0 and 1: a huge lag-0 t that collapses at lag 1 smells of lookahead.
        "ic_t_by_lag": {k: evaluation.ic_stats(ranked.daily_ic(1, k)).t_stat for k in (0, 1)},
        "residual_ic": evaluation.residual_ic(
            signal, returns, list(baseline_signals.values()), HORIZONS[-1], lag
        ),
    }


def _row_mean(values: np.ndarray) -> np.ndarray:
    finite = np.isfinite(values)
    count = finite.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, np.where(finite, values, 0.0).sum(axis=1) / count, np.nan)


def judge(
    results: list[CellResult],
    headline: CellResult,
    base: dict,
    grid: dict[str, list],
    evaluation_: dict,
    manifest: dict,
    oos_date: str | None = None,
) -> tuple[Any, VerdictInputs, Verdict]:
    """The trust report, the verdict inputs and the verdict of a computed suite.

    With an IS/OOS split (``oos_date``) the verdict's Sharpe is the headline's
    out-of-sample Sharpe (docs/conventions.md, IS/OOS split).
    """
    report = trust_report(results, headline, base, grid, evaluation_)
    inputs = replace(
        trust_inputs(verdict_inputs(results, headline, base, evaluation_, oos_date), report),
        survivorship=survivorship_biased(manifest),
    )
    return report, inputs, compute_verdict(inputs)


ProgressFn = Callable[[int, int, CellResult], None]


def run_cells(
    tasks: list[tuple[Callable[..., CellResult], tuple]],
    n_jobs: int,
    backend: str,
    progress: ProgressFn | None = None,
    scheduler: str | None = None,
) -> list[CellResult]:
    """Run ``func(*args)`` for every task with joblib; results come back in task order.

    Each ``func`` must return a :class:`CellResult` and never raise (a failed
    cell is a FAILED result). Large numpy arguments are memory-mapped to the
    workers by joblib instead of copied. ``progress`` is called in the parent
    as each cell finishes, in completion order.
    """
    from poc.scaleout import engine

    results: list[CellResult | None] = [None] * len(tasks)
    with engine(backend, scheduler), joblib.parallel_config(backend=backend, n_jobs=n_jobs):
        parallel = joblib.Parallel(return_as="generator_unordered")
        jobs = (joblib.delayed(_indexed)(i, func, args) for i, (func, args) in enumerate(tasks))
        outputs = parallel(jobs)
        # An interruption (Ctrl-C) leaves finished tasks unread; joblib would warn about them
        # over the one line the command prints. Close the generator here, warning silenced.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "[0-9]+ tasks have been successfully executed")
            try:
                for done, (index, result) in enumerate(outputs, start=1):
                    results[index] = result
                    if progress is not None:
                        progress(done, len(tasks), result)
            finally:
                outputs.close()
    return [r for r in results if r is not None]


def _indexed(index: int, func: Callable[..., CellResult], args: tuple) -> tuple[int, CellResult]:
    return index, func(*args)


def run_suite(
    spec: ExperimentSpec,
    snapshot: Snapshot,
    progress: ProgressFn | None = None,
    allow_pickle: bool = False,
    before_cells: Callable[[str, dict], dict[tuple[str, str], CellResult]] | None = None,
) -> SuiteResult:
    """Run an experiment: every grid cell and baseline, the evaluation and the verdict.

    Parameters
    ----------
    spec : ExperimentSpec
    snapshot : Snapshot
        Already opened (and verified) by the caller.
    progress : callable, optional
        Called as ``progress(done, total, cell_result)`` after each computed cell.
    before_cells : callable, optional
        Called as ``before_cells(signal_digest, wanted)`` (``wanted``: every cell's
        params by ``(name, kind)``) once the signal is checked and before any cell
        runs; returns already-finished cells by ``(name, kind)``,
        which are reused instead of recomputed (``poc run --resume``).

    Raises
    ------
    SignalContractError
        When the signal breaks the contract (nothing is run).
    ConfigError
        When a grid value is rejected by the engine (before anything is run).
    """
    started = time.perf_counter()
    notes: list[str] = []
    panel = load_panel(snapshot)
    raw = _restrict_dates(
        load_signal_table(snapshot, spec.signal, allow_pickle), spec.start, spec.end
    )
    clean = check_signal(raw, panel.dates, panel.security_ids)
    signal = dense_signal(panel, clean)
    # IS/OOS split (spec oos_start): checked on the signal's dates before any cell runs.
    oos_date = resolve_split(_signal_dates(panel, clean), spec.oos_start)

    cells = _cells_to_run(spec)
    for _, params in cells:
        config_for(params)  # fail fast on a bad grid value, before any work
    base = spec.headline_cell()
    headline_name = next(name for name, params in cells if params == base)

    baseline_signals: dict[str, np.ndarray] = {}
    if spec.baselines:
        for name in BASELINES:
            if spec.signal == f"builtin:{name}":
                notes.append(f"baseline {name} skipped: it is the signal under test")
                continue
            try:
                table = _restrict_dates(load_builtin(snapshot, name), spec.start, spec.end)
            except Exception as exc:
                notes.append(f"baseline {name} skipped: {exc}")
                continue
            baseline_signals[name] = dense_signal(panel, check_signal(table, panel.dates))

    tasks = [(run_cell, (panel, signal, params, name, "cell", oos_date)) for name, params in cells]
    tasks += [
        (run_cell, (panel, matrix, base, name, "baseline", oos_date))
        for name, matrix in baseline_signals.items()
    ]
    signal_digest = table_digest(clean)
    # A resumed suite hands back the cells an earlier run already finished (poc.resume).
    keys = [(args[3], args[4]) for _, args in tasks]
    wanted = {key: args[2] for key, (_, args) in zip(keys, tasks, strict=True)}
    reused = before_cells(signal_digest, wanted) if before_cells is not None else {}
    todo = [task for task, key in zip(tasks, keys, strict=True) if key not in reused]
    ran = run_cells(todo, spec.n_jobs, spec.backend, progress, spec.scheduler)
    computed = {(r.name, r.kind): r for r in ran}
    results = [with_split(reused.get(key) or computed[key], oos_date) for key in keys]

    headline = next(r for r in results if r.name == headline_name and r.kind == "cell")
    for r in results:
        if not r.ok:
            notes.append(f"{r.kind} {r.name!r} FAILED: {r.error}")
    evaluation_ = evaluate_signal(
        panel,
        signal,
        int(base["lag"]),
        baseline_signals,
        headline,
        [r for r in results if r.kind == "baseline"],
    )
    report, inputs, verdict = judge(
        results, headline, base, dict(spec.grid), evaluation_, snapshot.manifest, oos_date
    )
    dates = clean["date_sig"]
    return SuiteResult(
        spec=spec,
        signal_name=spec.display_name,
        signal_source=spec.signal,
        signal_digest=signal_digest,
        signal_rows=len(clean),
        snapshot_id=snapshot.snapshot_id,
        snapshot_digest=snapshot.digest,
        date_range=(str(dates.min().date()), str(dates.max().date())),
        cells=results,
        headline=headline_name,
        evaluation=evaluation_,
        verdict=verdict,
        notes=notes,
        seconds=time.perf_counter() - started,
        trust=report,
        verdict_inputs=inputs,
        oos_start=oos_date,
    )


def check_backend(name: str) -> str:
    """Refuse an unknown joblib backend early, listing the ones available."""
    from joblib.parallel import BACKENDS

    if name == "dask":  # registered when the cluster client is created (poc.scaleout)
        return name
    if name not in BACKENDS:
        raise ConfigError(
            f"backend {name!r} is not a joblib backend; available: {sorted(BACKENDS)}"
        )
    return name
