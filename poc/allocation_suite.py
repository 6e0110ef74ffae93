"""Allocation grid suites: every cell of an allocation grid, run like a signal suite.

A spec (``experiments/allocation.yaml``) names the snapshot and a grid over
:class:`~poc.allocation.runner.AllocationConfig` fields (model, max and min
weight, rebalance frequency, delay, volatility threshold and scale, costs...).
Cells run through the same joblib runner as signal suites
(:func:`poc.suite.run_cells`) and come back as :class:`poc.suite.CellResult`
so the same tracking code logs them; the allocation history and trades of each
cell travel in ``CellResult.tables``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from poc.allocation.feasibility import check_cells_feasible
from poc.allocation.inputs import allocation_inputs, allocation_sectors
from poc.allocation.runner import AllocationConfig, fit_model, model_key, run_allocation
from poc.allocation.sleeves import check_regime_sectors
from poc.catalog import Snapshot
from poc.exceptions import ConfigError, NoTradesError
from poc.experiment import (
    DEFAULT_MAX_CELLS,
    GridCells,
    check_cell_count,
    check_date_window,
    parse_date_bound,
    parse_max_cells,
    parse_n_jobs,
    parse_typed_grid,
    parse_typed_headline,
    read_spec_file,
)
from poc.metrics import drawdown_series
from poc.oos import parse_oos_start, resolve_split, with_split
from poc.suite import CellResult, ProgressFn, cell_name, run_cells
from poc.trust_suite import active_sharpe, allocation_trust, survivorship_biased

CONFIG_FIELDS = {f.name: f for f in dataclasses.fields(AllocationConfig)}
TOP_LEVEL_KEYS = {
    "name",
    "description",
    "snapshot",
    "start",
    "end",
    "n_jobs",
    "backend",
    "grid",
    "headline",
    "max_cells",
    "oos_start",
}
DEFAULT_GRID: dict[str, list[Any]] = {"model": ["ema", "regime", "hrp"]}


@dataclass(frozen=True)
class AllocationSpec(GridCells):
    """A validated allocation experiment: grid over AllocationConfig fields."""

    name: str
    snapshot: str | None = None
    description: str = ""
    start: str | None = None
    end: str | None = None
    n_jobs: int = 1
    backend: str = "loky"
    grid: dict[str, list[Any]] = field(default_factory=lambda: dict(DEFAULT_GRID))
    headline: dict[str, Any] = field(default_factory=dict)
    source_path: str | None = None
    max_cells: int = DEFAULT_MAX_CELLS
    oos_start: str | float | None = None  # IS/OOS split: ISO date or fraction (poc.oos)


def _typed(axis: str, value: Any) -> Any:
    """A grid value typed like the AllocationConfig field it sets."""
    kind = CONFIG_FIELDS[axis].type
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    try:
        if kind == "int":
            if float(value) != int(float(value)):
                raise ValueError("not a whole number")
            return int(float(value))
        if kind == "float":
            return float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"grid.{axis}: cannot read {value!r} as {kind} ({exc})") from None
    return str(value)


def allocation_spec_from_dict(
    raw: dict[str, Any], source_path: str | None = None
) -> AllocationSpec:
    """Validate an allocation spec mapping; unknown keys and axes are named."""
    if not isinstance(raw, dict):
        raise ConfigError(f"an allocation spec must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} in allocation spec; known keys are {sorted(TOP_LEVEL_KEYS)}"
        )
    grid = parse_typed_grid(
        raw.get("grid") or {}, CONFIG_FIELDS, _typed, "allocation", DEFAULT_GRID
    )
    max_cells = parse_max_cells(raw.get("max_cells", DEFAULT_MAX_CELLS))
    check_cell_count(grid, max_cells)
    start = parse_date_bound("start", raw.get("start"))
    end = parse_date_bound("end", raw.get("end"))
    check_date_window(start, end)
    headline = parse_typed_headline(raw.get("headline"), grid, _typed)
    spec = AllocationSpec(
        name=str(raw.get("name") or "allocation"),
        snapshot=raw.get("snapshot") or None,
        description=str(raw.get("description") or ""),
        start=start,
        end=end,
        n_jobs=parse_n_jobs(raw.get("n_jobs", 1)),
        backend=str(raw.get("backend") or "loky"),
        grid=grid,
        headline=headline,
        source_path=source_path,
        max_cells=max_cells,
        oos_start=parse_oos_start(raw.get("oos_start")),
    )
    for params in spec.cells():
        config_for(params)  # every cell must be a valid config before anything runs
    return spec


def load_allocation_spec(path: str | Path) -> AllocationSpec:
    """Read and validate an allocation spec file."""
    raw = read_spec_file(path, "allocation spec")
    return allocation_spec_from_dict(raw, source_path=str(path))


def apply_allocation_overrides(
    spec: AllocationSpec, overrides: dict[str, str | None]
) -> AllocationSpec:
    """Command-line overrides (comma-separated grid values; empty keeps the spec's)."""
    raw = {
        "name": spec.name,
        "snapshot": spec.snapshot,
        "description": spec.description,
        "start": spec.start,
        "end": spec.end,
        "n_jobs": spec.n_jobs,
        "backend": spec.backend,
        "grid": dict(spec.grid),
        "headline": dict(spec.headline),
        "max_cells": spec.max_cells,
        "oos_start": spec.oos_start,
    }
    for key, value in overrides.items():
        if value is None or str(value).strip() == "":
            continue
        if key in CONFIG_FIELDS:
            raw["grid"][key] = [v.strip() for v in str(value).split(",") if v.strip()]
            raw["headline"].pop(key, None)
        elif key in ("snapshot", "start", "end", "backend", "n_jobs", "max_cells", "oos_start"):
            raw[key] = value
        else:
            raise ConfigError(f"unknown override {key!r}")
    return allocation_spec_from_dict(raw, spec.source_path)


def config_for(params: dict[str, Any]) -> AllocationConfig:
    """The AllocationConfig of one cell; its errors become ConfigError naming the cell."""
    try:
        return AllocationConfig(**params)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"allocation cell {params}: {exc}") from exc


# --------------------------------------------------------------------------
# The allocation problem: what trials of the same search share
# --------------------------------------------------------------------------

ALLOCATION_TAG = "allocation_digest"  # child and parent tag: the problem's digest
TRIAL_TAG = "trial_config"  # child tag: the cell's full configuration and window


def allocation_digest(snapshot_digest: str, assets: list[str], benchmark: pd.Series) -> str:
    """sha256 of what is being allocated: the snapshot, the asset set and the benchmark.

    Two allocation suites with the same digest search over the same problem, so their
    cells are trials of one search (:func:`poc.tracking.prior_trials`). The window and
    every AllocationConfig field are part of a trial's configuration instead
    (:meth:`AllocationProblem.trial_key`): a different window or cap is another trial
    of the same problem, not a new problem.
    """
    bench = pd.util.hash_pandas_object(benchmark, index=True).to_numpy()
    document = {
        "snapshot_digest": snapshot_digest,
        "assets": sorted(str(a) for a in assets),
        "benchmark": hashlib.sha256(bench.tobytes()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class AllocationProblem:
    """The allocation problem a suite searches (digest) and its window (part of each trial)."""

    digest: str
    start: str
    end: str

    def trial_key(self, params: dict[str, Any]) -> str:
        """A cell's configuration key: every AllocationConfig field (defaults filled in,
        so grids over different axes compare) plus the window."""
        from poc.trust_suite import config_key

        return config_key({**config_for(params).to_params(), "start": self.start, "end": self.end})


# --------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------


def _daily_table(result) -> pd.DataFrame:
    """Per day: net return, benchmark, cost drag (cost / previous NAV), exposure, curves."""
    execution = result.execution
    returns = result.returns
    drag = (execution.costs / execution.nav.shift(1)).reindex(returns.index).fillna(0.0)
    exposure = result.exposure.reindex(returns.index)
    net = returns.to_numpy()
    bench = result.benchmark.reindex(returns.index).to_numpy()
    return pd.DataFrame(
        {
            "date": returns.index,
            "net": net,
            "benchmark": bench,
            "cost_drag": drag.to_numpy(),
            "invested": exposure["invested"].to_numpy(),
            "nav": execution.nav.reindex(returns.index).to_numpy(),
            "cumulative": np.cumprod(1.0 + np.nan_to_num(net)) - 1.0,
            "benchmark_cumulative": np.cumprod(1.0 + np.nan_to_num(bench)) - 1.0,
            "drawdown": drawdown_series(net),
            "benchmark_drawdown": drawdown_series(bench),
        }
    )


# Per worker process: fitted models by (model key, price fingerprint). Cells that differ
# only in execution settings (delay, costs) reuse one fit; HRP fits take seconds.
_FITTED: dict[tuple, object] = {}
_FITTED_MAX = 8


def _price_fingerprint(prices: pd.DataFrame) -> tuple:
    hashed = pd.util.hash_pandas_object(prices, index=True).to_numpy()
    return (prices.shape, tuple(prices.columns), int(hashed.sum(dtype=np.uint64)))


def fitted_model(prices, benchmark, sectors, config: AllocationConfig):
    """The fitted model for ``config``, from this process's cache when an equal one was fitted."""
    key = (model_key(config), _price_fingerprint(prices))
    if key not in _FITTED:
        if len(_FITTED) >= _FITTED_MAX:
            _FITTED.pop(next(iter(_FITTED)))
        _FITTED[key] = fit_model(prices, benchmark, config, sectors=sectors)
    return _FITTED[key]


def allocation_no_trades_reason(
    daily: pd.DataFrame, n_trades: int, params: dict, n_days: int
) -> str:
    """Why an allocation cell never held a position, or ``""`` when it traded.

    Such a cell has only NaN performance; grading it would score the suite on
    everything but performance, so it is FAILED (as signal cells are, see
    :func:`poc.suite.no_trades_reason`).
    """
    invested = daily["invested"].to_numpy(dtype=float) if len(daily) else np.zeros(0)
    if n_trades > 0 and np.nanmax(np.abs(invested), initial=0.0) > 0:
        return ""
    days = n_days  # trading days of the data (the daily table may be empty)
    delay = int(params.get("delay", 0) or 0)
    if delay >= days:
        return (
            f"never traded: delay {delay} pushes every target past the end of the data "
            f"({days:,} days); use a smaller delay"
        )
    return (
        f"never traded: no target was executed and no position held on any of {days:,} days "
        f"(model {params.get('model')}); check the warm-up windows (slow_span, lookback, "
        "momentum_window) against the data's length, delay and invested"
    )


def run_allocation_cell(
    prices: pd.DataFrame,
    benchmark: pd.Series,
    sectors: dict[str, str],
    params: dict[str, Any],
    name: str,
    oos_date: str | None = None,
) -> CellResult:
    """One allocation backtest; never raises (a failure is a FAILED result).

    A cell that never held a position is FAILED with a :class:`NoTradesError`
    message (:func:`allocation_no_trades_reason`).

    With ``oos_date`` its metrics gain ``is_*``/``oos_*`` (:func:`poc.oos.with_split`).
    """
    started = time.perf_counter()
    try:
        config = config_for(params)
        model = fitted_model(prices, benchmark, sectors, config)
        result = run_allocation(prices, benchmark, config, sectors=sectors, fitted=model)
        daily = _daily_table(result)
        reason = allocation_no_trades_reason(
            daily, len(result.execution.trades), params, len(prices)
        )
        if reason:
            raise NoTradesError(reason)
        metrics = dict(result.metrics)
        metrics.update(
            # The Sharpe trials of this allocation problem are compared on (docs/verdict.md).
            active_sharpe=float(active_sharpe(daily)),
            net_return_sum=float(daily["net"].sum()),
            cost_drag_sum=float(daily["cost_drag"].sum()),
            total_costs=float(result.execution.costs.sum()),
            final_nav=float(result.execution.nav.iloc[-1]),
            n_trades=float(len(result.execution.trades)),
            **{k: float(v) for k, v in result.rotation.items()},
            avg_invested=float(daily["invested"].mean()),
        )
        tables = {
            "allocation_history": result.execution.weights_history,
            "trades": result.execution.trades,
            "attribution_by_asset": result.attribution_by_asset,
            "attribution_by_regime": result.attribution_by_regime,
            "regime_distribution": result.regime_distribution,
            "weights": result.weights,
            "turnover": result.execution.turnover,  # daily, for the sheet's turnover chart
        }
        cell = CellResult(
            name=name,
            kind="cell",
            params=params,
            status="FINISHED",
            metrics=metrics,
            daily=daily,
            tables=tables,
            seconds=time.perf_counter() - started,
        )
        return with_split(cell, oos_date)
    except Exception as exc:
        return CellResult(
            name=name,
            kind="cell",
            params=params,
            status="FAILED",
            error=f"{type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - started,
        )


@dataclass(frozen=True)
class AllocationSuiteResult:
    """Every allocation cell of a spec, ready to log and render."""

    spec: AllocationSpec
    snapshot_id: str
    snapshot_digest: str
    assets: list[str]
    date_range: tuple[str, str]
    cells: list[CellResult]
    headline: str
    notes: list[str]
    seconds: float
    trust: Any = None  # poc.trust_suite.TrustReport on active returns
    verdict: Any = None  # poc.verdict.Verdict on active returns (docs/verdict.md)
    oos_start: str | None = None  # first out-of-sample date when the spec splits IS/OOS
    problem: AllocationProblem | None = None  # digest and window: how prior trials are found
    survivorship: bool = False  # the snapshot's universe is today's survivors (verdict caveat)

    def cell(self, name: str) -> CellResult:
        return next(c for c in self.cells if c.name == name)

    @property
    def best(self) -> CellResult | None:
        done = [c for c in self.cells if c.ok and np.isfinite(c.metrics.get("sharpe", np.nan))]
        return max(done, key=lambda c: c.metrics["sharpe"]) if done else None


def run_allocation_suite(
    spec: AllocationSpec,
    snapshot: Snapshot,
    progress: ProgressFn | None = None,
    before_cells: Callable[[str, dict, AllocationProblem], dict[tuple[str, str], CellResult]]
    | None = None,
) -> AllocationSuiteResult:
    """Run every cell of an allocation grid on a snapshot's prices and benchmark.

    ``before_cells(headline_name, wanted, problem)``, when given, is called before any
    cell runs with every cell's params by ``(name, "cell")`` and the
    :class:`AllocationProblem` (its digest and trial keys tag the child runs); it returns
    finished cells to reuse instead of recomputing (``poc allocate --resume``).
    """
    started = time.perf_counter()
    prices, benchmark = allocation_inputs(snapshot)
    digest = allocation_digest(snapshot.digest, list(prices.columns), benchmark)
    if spec.start:
        prices = prices[prices.index >= pd.Timestamp(spec.start)]
    if spec.end:
        prices = prices[prices.index <= pd.Timestamp(spec.end)]
    if len(prices) < 300:
        raise ConfigError(
            f"only {len(prices)} trading days between start and end; allocation models need "
            "at least 300 (a year of history plus a test window)"
        )
    # IS/OOS split (spec oos_start): checked on the suite's dates before any cell runs.
    oos_date = resolve_split(prices.index, spec.oos_start)
    sectors = allocation_sectors(snapshot)
    varying = [axis for axis, values in spec.grid.items() if len(values) > 1]
    cells = [(cell_name(params, varying), params) for params in spec.cells()]
    # Caps that cannot hold the invested fraction on this universe: refuse before any cell runs.
    check_cells_feasible(((name, config_for(p)) for name, p in cells), prices.shape[1])
    if any(params.get("model") == "regime" for _, params in cells):
        # The regime model's matrix is per GICS sector: refuse up front, not cell by cell.
        check_regime_sectors(list(prices.columns), sectors, snapshot.snapshot_id)
    headline = next(name for name, params in cells if params == spec.headline_cell())
    problem = AllocationProblem(digest, str(prices.index[0].date()), str(prices.index[-1].date()))
    tasks = [
        (run_allocation_cell, (prices, benchmark, sectors, params, name, oos_date))
        for name, params in cells
    ]
    # A resumed suite hands back the cells an earlier run finished (poc.resume).
    wanted = {(name, "cell"): params for name, params in cells}
    reused = before_cells(headline, wanted, problem) if before_cells is not None else {}
    todo = [task for task, key in zip(tasks, wanted, strict=True) if key not in reused]
    computed = {r.name: r for r in run_cells(todo, spec.n_jobs, spec.backend, progress)}
    results = [with_split(reused.get(key) or computed[key[0]], oos_date) for key in wanted]
    notes = [f"cell {r.name!r} FAILED: {r.error}" for r in results if not r.ok]
    result = AllocationSuiteResult(
        spec=spec,
        snapshot_id=snapshot.snapshot_id,
        snapshot_digest=snapshot.digest,
        assets=list(prices.columns),
        date_range=(problem.start, problem.end),
        cells=results,
        headline=headline,
        notes=notes,
        seconds=time.perf_counter() - started,
        oos_start=oos_date,
        problem=problem,
        survivorship=survivorship_biased(snapshot.manifest),
    )
    # Trials of this grid only; poc.allocation_runner adds the experiment's prior trials.
    report, verdict = allocation_trust(result, result.survivorship)
    return dataclasses.replace(result, trust=report, verdict=verdict)
