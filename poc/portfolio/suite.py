"""Portfolio grid suites: a signal's book over a grid of book settings (no MLflow here).

A spec (``experiments/portfolio.yaml``) names the snapshot, the signal
(``builtin:NAME`` or a file, loaded and checked like a signal suite's) and a
grid over :class:`~poc.portfolio.config.PortfolioConfig` fields: ``hold_days``,
``gate`` (on/off), ``gate_percentile``, ``max_positions``, ``risk_per_trade``,
``stop_multiple`` and the rest. Each cell runs the book and its random-entry
control (:func:`poc.portfolio.stats.evaluate_book`) through the signal suites'
joblib runner and comes back as a :class:`poc.suite.CellResult` whose
``tables["trades"]`` is the trade ledger.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from poc import evaluation, interrupts
from poc.catalog import Snapshot
from poc.contract import check_signal
from poc.exceptions import ConfigError
from poc.experiment import (
    DEFAULT_MAX_CELLS,
    GridCells,
    check_cell_count,
    check_date_window,
    parse_date_bound,
    parse_max_cells,
    parse_typed_grid,
    parse_typed_headline,
    read_spec_file,
)
from poc.metrics import drawdown_series
from poc.panel import load_panel
from poc.portfolio.config import PortfolioConfig
from poc.portfolio.simulate import Bars
from poc.portfolio.stats import evaluate_book
from poc.signals import prices
from poc.suite import CellResult, ProgressFn, cell_name, dense_signal, load_signal_table, run_cells

CONFIG_FIELDS = {f.name: f for f in dataclasses.fields(PortfolioConfig)}
SPEC_KEYS = {
    "name",
    "description",
    "snapshot",
    "signal",
    "start",
    "end",
    "n_jobs",
    "backend",
    "n_control",
    "seed",
    "max_cells",
    "grid",
    "headline",
}
SETTINGS = ("snapshot", "signal", "start", "end", "n_jobs", "backend", "n_control", "seed")
IC_HORIZONS = (1, 5, 21)
CLOSE_ONLY_NOTE = (
    "The snapshot has no opens, highs or lows, so close-only rules apply: orders fill at the "
    "next close, stops trigger on a close at or below the stop and sell at the next close "
    "(so a stop can lose more than 1R), and the ATR is the mean absolute close-to-close change."
)


@dataclass(frozen=True)
class PortfolioSpec(GridCells):
    """A validated portfolio experiment: a signal, a snapshot, a grid over PortfolioConfig."""

    name: str
    signal: str
    snapshot: str | None = None
    description: str = ""
    start: str | None = None
    end: str | None = None
    n_jobs: int = 1
    backend: str = "loky"
    n_control: int = 5
    seed: int = 0
    grid: dict[str, list[Any]] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)
    source_path: str | None = None


def _typed(axis: str, value: Any) -> Any:
    """A grid value typed like the PortfolioConfig field it sets."""
    kind = str(CONFIG_FIELDS[axis].type)
    text = str(value).strip().lower()
    try:
        if kind == "bool":
            if text in ("true", "on", "yes", "1"):
                return True
            if text in ("false", "off", "no", "0"):
                return False
            raise ValueError("expected true/false or on/off")
        if "None" in kind and text in ("none", "null", "off", ""):
            return None
        if kind == "int":
            if float(value) != int(float(value)):
                raise ValueError("not a whole number")
            return int(float(value))
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"grid.{axis}: cannot read {value!r} as {kind} ({exc})") from None


def config_for(params: dict[str, Any]) -> PortfolioConfig:
    """The PortfolioConfig of one cell; its errors name the cell."""
    try:
        return PortfolioConfig(**params)
    except ConfigError as exc:
        raise ConfigError(f"portfolio cell {params}: {exc}") from None


def portfolio_spec_from_dict(raw: dict[str, Any], source_path: str | None = None) -> PortfolioSpec:
    """Validate a portfolio spec mapping; unknown keys and axes are named."""
    if not isinstance(raw, dict):
        raise ConfigError(f"a portfolio spec must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - SPEC_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} in portfolio spec; known keys are {sorted(SPEC_KEYS)}"
        )
    if not raw.get("signal"):
        raise ConfigError("portfolio spec needs a signal: builtin:NAME or a signal file path")
    grid = parse_typed_grid(raw.get("grid") or {}, CONFIG_FIELDS, _typed, "portfolio")
    check_cell_count(grid, parse_max_cells(raw.get("max_cells", DEFAULT_MAX_CELLS)))
    start = parse_date_bound("start", raw.get("start"))
    end = parse_date_bound("end", raw.get("end"))
    check_date_window(start, end)
    headline = parse_typed_headline(raw.get("headline"), grid, _typed)
    try:
        n_jobs, n_control, seed = (
            int(raw.get(k, d)) for k, d in (("n_jobs", 1), ("n_control", 5), ("seed", 0))
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"n_jobs, n_control and seed must be integers ({exc})") from None
    if n_control < 1:
        raise ConfigError(f"n_control must be >= 1 random-entry draws, got {n_control}")
    spec = PortfolioSpec(
        name=str(raw.get("name") or "portfolio"),
        signal=str(raw["signal"]),
        snapshot=raw.get("snapshot") or None,
        description=str(raw.get("description") or ""),
        start=start,
        end=end,
        n_jobs=n_jobs,
        backend=str(raw.get("backend") or "loky"),
        n_control=n_control,
        seed=seed,
        grid=grid,
        headline=headline,
        source_path=source_path,
    )
    for params in spec.cells():
        config_for(params)  # every cell must be a valid config before anything runs
    return spec


def load_portfolio_spec(path: str | Path) -> PortfolioSpec:
    """Read and validate a portfolio spec file."""
    return portfolio_spec_from_dict(read_spec_file(path, "portfolio spec"), str(path))


def apply_portfolio_overrides(
    spec: PortfolioSpec, overrides: dict[str, str | None]
) -> PortfolioSpec:
    """Command-line overrides: comma-separated grid values, or settings; empty keeps the spec's."""
    raw = {
        **{k: getattr(spec, k) for k in ("name", "description", *SETTINGS)},
        "grid": dict(spec.grid),
        "headline": dict(spec.headline),
    }
    for key, value in overrides.items():
        if value is None or str(value).strip() == "":
            continue
        if key in CONFIG_FIELDS:
            raw["grid"][key] = [v.strip() for v in str(value).split(",") if v.strip()]
            raw["headline"].pop(key, None)
        elif key in SETTINGS:
            raw[key] = value
        else:
            raise ConfigError(f"unknown override {key!r}")
    return portfolio_spec_from_dict(raw, spec.source_path)


# --------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------


def run_portfolio_cell(
    bars: Bars,
    signal: np.ndarray,
    benchmark: np.ndarray,
    params: dict[str, Any],
    name: str,
    n_control: int,
    seed: int,
) -> CellResult:
    """One book and its random-entry control; never raises (a failure is a FAILED result)."""
    started = time.perf_counter()
    try:
        config = config_for(params)
        ev = evaluate_book(bars, signal, config, n_control, seed, benchmark_ret=benchmark)
        book = ev.result.daily
        nav = book["nav"].to_numpy() / config.initial_cash
        bench = np.nan_to_num(benchmark)
        bench[0] = 0.0
        daily = pd.DataFrame(
            {
                "date": book["date"],
                "net": book["ret"].fillna(0.0).to_numpy(),
                "cumulative": nav - 1.0,
                "benchmark_cumulative": np.cumprod(1.0 + bench) - 1.0,
                "control_cumulative": ev.control_nav - 1.0,
                "invested": book["invested"].to_numpy(),
                "positions": book["positions"].to_numpy(),
                "drawdown": drawdown_series(book["ret"].fillna(0.0).to_numpy()),
            }
        )
        metrics = dict(ev.metrics)
        for k, value in enumerate(ev.control_expectancy):
            metrics[f"control_expectancy_draw{k}"] = float(value)
        return CellResult(
            name=name,
            kind="cell",
            params=params,
            status="FINISHED",
            metrics=metrics,
            daily=daily,
            tables={"trades": ev.result.ledger},
            seconds=time.perf_counter() - started,
        )
    except Exception as exc:
        return CellResult(
            name=name,
            kind="cell",
            params=params,
            status="FAILED",
            error=f"{type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - started,
        )


def non_overlapping_ic(signal: np.ndarray, returns: np.ndarray, horizon: int, lag: int = 0):
    """Rank IC against the forward ``horizon``-day return on every ``horizon``-th day only,
    so no two windows share a return: ``(mean, t-statistic, number of windows)``."""
    ic = evaluation.cross_sectional_corr(signal, evaluation.forward_returns(returns, horizon, lag))[
        ::horizon
    ]
    ic = ic[np.isfinite(ic)]
    if ic.size < 2 or ic.std(ddof=1) == 0:
        return (float(ic.mean()) if ic.size else np.nan), np.nan, int(ic.size)
    return float(ic.mean()), float(ic.mean() / ic.std(ddof=1) * np.sqrt(ic.size)), int(ic.size)


def signal_ic(signal: np.ndarray, returns: np.ndarray, lag: int) -> pd.DataFrame:
    """Per horizon: daily rank IC stats (t on 21-day block means) and the non-overlapping IC."""
    rows = []
    for h, stats in evaluation.ic_by_horizon(signal, returns, IC_HORIZONS, lag).items():
        mean, t_stat, windows = non_overlapping_ic(signal, returns, h, lag)
        rows.append(
            {
                "horizon": h,
                "ic_mean": stats.mean,
                "ic_ir": stats.ir,
                "ic_t_blocks": stats.t_stat,
                "ic_blocks": stats.n_windows,
                "positive_share": stats.positive_share,
                "ic_nonoverlap": mean,
                "ic_nonoverlap_t": t_stat,
                "nonoverlap_windows": windows,
                "reliable": windows >= evaluation.MIN_WINDOWS,
            }
        )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PortfolioSuiteResult:
    """Every portfolio cell of a spec, ready to log and render."""

    spec: PortfolioSpec
    snapshot_id: str
    snapshot_digest: str
    signal_digest: str
    n_securities: int
    date_range: tuple[str, str]
    close_only: bool
    cells: list[CellResult]
    headline: str
    ic: pd.DataFrame
    notes: list[str]
    seconds: float
    tickers: dict[int, str] = field(default_factory=dict)

    def cell(self, name: str) -> CellResult:
        return next(c for c in self.cells if c.name == name)


def _window(dates: np.ndarray, start: str | None, end: str | None) -> slice:
    lo = 0 if not start else int(np.searchsorted(dates, np.datetime64(pd.Timestamp(start))))
    hi = (
        len(dates)
        if not end
        else int(np.searchsorted(dates, np.datetime64(pd.Timestamp(end)), side="right"))
    )
    if hi - lo < 30:
        raise ConfigError(
            f"only {max(hi - lo, 0)} trading days between start {start!r} and end {end!r}; "
            "a portfolio run needs at least 30"
        )
    return slice(lo, hi)


def run_portfolio_suite(
    spec: PortfolioSpec, snapshot: Snapshot, progress: ProgressFn | None = None
) -> PortfolioSuiteResult:
    """Run every cell of a portfolio grid on a snapshot and evaluate the signal's IC."""
    from poc.suite import table_digest

    started = time.perf_counter()
    panel = load_panel(snapshot)
    raw = load_signal_table(snapshot, spec.signal)
    clean = check_signal(raw, panel.dates, panel.security_ids)
    window = _window(panel.dates, spec.start, spec.end)
    signal = dense_signal(panel, clean)[window]
    dates = panel.dates[window]
    bars = Bars(dates, prices(panel)[window], security_ids=panel.security_ids)
    benchmark = np.full(len(dates), np.nan)
    if snapshot.has_table("benchmark"):
        bench = snapshot.read("benchmark", ["date", "ret"])
        series = pd.Series(bench["ret"].to_numpy(), index=pd.DatetimeIndex(bench["date"]))
        benchmark = series.reindex(pd.DatetimeIndex(dates)).to_numpy(np.float64)
    notes = [CLOSE_ONLY_NOTE] if not bars.ohlc else []
    if not snapshot.has_table("benchmark"):
        notes.append("the snapshot has no benchmark table: the benchmark line is flat")
    varying = [axis for axis, values in spec.grid.items() if len(values) > 1]
    cells = [(cell_name(params, varying), params) for params in spec.cells()]
    headline = next(name for name, params in cells if params == spec.headline_cell())
    tasks = [
        (run_portfolio_cell, (bars, signal, benchmark, p, n, spec.n_control, spec.seed))
        for n, p in cells
    ]
    interrupts.pause_for_test("compute")
    results = run_cells(tasks, spec.n_jobs, spec.backend, progress)
    notes += [f"cell {r.name!r} FAILED: {r.error}" for r in results if not r.ok]
    lag = int(spec.headline_cell().get("lag", 0))
    return PortfolioSuiteResult(
        spec=spec,
        snapshot_id=snapshot.snapshot_id,
        snapshot_digest=snapshot.digest,
        signal_digest=table_digest(clean),
        n_securities=int(panel.shape[1]),
        date_range=(str(pd.Timestamp(dates[0]).date()), str(pd.Timestamp(dates[-1]).date())),
        close_only=not bars.ohlc,
        cells=results,
        headline=headline,
        ic=signal_ic(signal, panel.ret[window], lag),
        notes=notes,
        seconds=time.perf_counter() - started,
        tickers=_tickers(snapshot),
    )


def _tickers(snapshot: Snapshot) -> dict[int, str]:
    securities = snapshot.read("securities")
    if "ticker" not in securities.columns:
        return {}
    ids = securities["security_id"].astype(int)
    return dict(zip(ids, securities["ticker"].astype(str), strict=True))
