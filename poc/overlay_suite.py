"""Overlay suites: raw strategy cells x risk overlays, IS/OOS, walk-forward, verdict.

A spec (``experiments/overlays.yaml``) is an allocation grid (any
:class:`~poc.allocation.runner.AllocationConfig` axis) or, with ``strategy:
signal``, a signal grid (any :class:`~poc.engine.BacktestConfig` axis) plus an ``overlay`` axis
of overlay texts (:mod:`poc.overlays`), an ``oos_start`` (date or fraction) and
an optional ``walk_forward`` block::

    grid:
      model: [ema, regime]
      overlay: [none, "voltarget:0.10:63", "ddcontrol:0.10:0.5", "trend:200", regime]
    oos_start: "2012-01-01"
    overlay_cost_bps: 5          # per unit of exposure change, on the overlaid stream
    walk_forward: {axes: [overlay], train_years: 3, test_years: 1}

Each strategy cell runs once (:func:`poc.allocation_suite.run_allocation_suite`);
each overlay is then applied to its daily net return (cheap: a vector product).
Walk-forward chooses among the cells that differ only in ``walk_forward.axes``
(one walk-forward per value of the other axes). The verdict is computed with
:func:`poc.verdict.compute_verdict` on the headline cell's OUT-OF-SAMPLE Sharpe
and its calendar years, so a variant that only shines in sample is not green.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from poc import interrupts, metrics
from poc.allocation_suite import AllocationSpec, allocation_spec_from_dict, run_allocation_suite
from poc.catalog import Snapshot
from poc.exceptions import ConfigError
from poc.experiment import ExperimentSpec, GridCells, read_spec_file, spec_from_dict
from poc.overlays import (
    attribution_summary,
    overlay_attribution,
    overlay_exposure,
    parse_overlay,
)
from poc.periods import annual_table, resolve_oos_start, split_metrics
from poc.suite import CellResult, ProgressFn, cell_name
from poc.verdict import Verdict, VerdictInputs, compute_verdict
from poc.walkforward import PERIODS_PER_YEAR, WalkForwardResult, walk_forward

OVERLAY_AXIS = "overlay"
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
    "oos_start",
    "overlay_cost_bps",
    "walk_forward",
    "strategy",
    "signal",
    "signal_name",
}
STRATEGIES = ("allocation", "signal")


@dataclass(frozen=True)
class WalkForwardSpec:
    """Which axes walk-forward chooses along, and its window lengths in years (252 days)."""

    axes: tuple[str, ...] = (OVERLAY_AXIS,)
    train_years: float = 3.0
    test_years: float = 1.0

    @property
    def train_days(self) -> int:
        return round(self.train_years * PERIODS_PER_YEAR)

    @property
    def test_days(self) -> int:
        return round(self.test_years * PERIODS_PER_YEAR)


@dataclass(frozen=True)
class OverlaySuiteSpec(GridCells):
    """A validated overlay suite spec (strategy grid + overlay axis)."""

    name: str
    strategy: AllocationSpec | ExperimentSpec
    overlays: tuple[str, ...]
    oos_start: str | float | None = None
    overlay_cost_bps: float = 0.0
    walk_forward: WalkForwardSpec | None = None
    description: str = ""
    grid: dict[str, list[Any]] = field(default_factory=dict)
    headline: dict[str, Any] = field(default_factory=dict)
    source_path: str | None = None

    @property
    def snapshot(self) -> str | None:
        return self.strategy.snapshot

    @property
    def kind(self) -> str:
        """``allocation`` or ``signal``: what the overlays are put on."""
        return "signal" if isinstance(self.strategy, ExperimentSpec) else "allocation"


def _walk_forward_spec(raw: Any, grid: dict[str, list[Any]]) -> WalkForwardSpec | None:
    if raw in (None, False):
        return None
    if raw is True:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"walk_forward: expected a mapping such as {{axes: [overlay], train_years: 3, "
            f"test_years: 1}}, got {raw!r}"
        )
    unknown = sorted(set(raw) - {"axes", "train_years", "test_years"})
    if unknown:
        raise ConfigError(
            f"walk_forward: unknown key(s) {unknown}; use axes, train_years, test_years"
        )
    axes = raw.get("axes", [OVERLAY_AXIS])
    axes = tuple([axes] if isinstance(axes, str) else axes)
    for axis in axes:
        if axis not in grid:
            raise ConfigError(
                f"walk_forward.axes: {axis!r} is not a grid axis; axes are {list(grid)}"
            )
    try:
        spec = WalkForwardSpec(
            axes, float(raw.get("train_years", 3)), float(raw.get("test_years", 1))
        )
    except (TypeError, ValueError):
        raise ConfigError("walk_forward: train_years and test_years must be numbers") from None
    if spec.train_days < 21 or spec.test_days < 5:
        raise ConfigError(
            f"walk_forward: train_years {spec.train_years} / test_years {spec.test_years} are too "
            "short (need >= 21 and >= 5 trading days)"
        )
    return spec


def overlay_spec_from_dict(raw: dict[str, Any], source_path: str | None = None) -> OverlaySuiteSpec:
    """Validate an overlay suite spec mapping; unknown keys, axes and overlays are named."""
    if not isinstance(raw, dict):
        raise ConfigError(f"an overlay spec must be a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {unknown} in overlay spec; known keys are {sorted(TOP_LEVEL_KEYS)}"
        )
    grid_raw = dict(raw.get("grid") or {})
    overlay_values = grid_raw.pop(OVERLAY_AXIS, ["none"])
    overlay_values = [overlay_values] if isinstance(overlay_values, str) else list(overlay_values)
    if not overlay_values:
        raise ConfigError("grid.overlay: needs at least one overlay (e.g. none)")
    overlays = tuple(str(v).strip() for v in overlay_values)
    for text in overlays:
        parse_overlay(text)  # every overlay must read before anything runs
    if len(set(overlays)) != len(overlays):
        raise ConfigError(f"grid.overlay: duplicate overlay in {list(overlays)}")
    headline_raw = dict(raw.get("headline") or {})
    headline_overlay = headline_raw.pop(OVERLAY_AXIS, None)
    kind = str(raw.get("strategy") or "allocation")
    if kind not in STRATEGIES:
        raise ConfigError(f"strategy: must be one of {list(STRATEGIES)}, got {kind!r}")
    common = {
        "name": raw.get("name") or "overlays",
        "snapshot": raw.get("snapshot"),
        "start": raw.get("start"),
        "end": raw.get("end"),
        "n_jobs": raw.get("n_jobs", 1),
        "backend": raw.get("backend") or "loky",
        "grid": grid_raw,
        "headline": headline_raw,
    }
    if kind == "signal":
        # Baselines belong to the signal verdict, not to overlays: never run here.
        extra = {k: raw[k] for k in ("signal", "signal_name") if raw.get(k) is not None}
        strategy = spec_from_dict({**common, **extra, "baselines": False}, source_path)
    else:
        if raw.get("signal") or raw.get("signal_name"):
            raise ConfigError("signal: only with strategy: signal (this spec is an allocation one)")
        strategy = allocation_spec_from_dict(common, source_path)
    grid = {**strategy.grid, OVERLAY_AXIS: list(overlays)}
    headline = dict(strategy.headline)
    if headline_overlay is not None:
        if str(headline_overlay) not in overlays:
            raise ConfigError(
                f"headline.overlay: {headline_overlay!r} is not in grid.overlay {list(overlays)}"
            )
        headline[OVERLAY_AXIS] = str(headline_overlay)
    oos = raw.get("oos_start")
    if isinstance(oos, str) and oos.strip() == "":
        oos = None
    if oos is not None and not isinstance(oos, int | float | str):
        oos = str(oos)  # YAML reads 2012-01-01 as a date
    try:
        cost = float(raw.get("overlay_cost_bps", 0.0))
    except (TypeError, ValueError):
        raise ConfigError(
            f"overlay_cost_bps: must be a number, got {raw['overlay_cost_bps']!r}"
        ) from None
    if cost < 0:
        raise ConfigError(f"overlay_cost_bps: must be >= 0, got {cost}")
    return OverlaySuiteSpec(
        name=str(raw.get("name") or "overlays"),
        strategy=strategy,
        overlays=overlays,
        oos_start=oos,
        overlay_cost_bps=cost,
        walk_forward=_walk_forward_spec(raw.get("walk_forward"), grid),
        description=str(raw.get("description") or ""),
        grid=grid,
        headline=headline,
        source_path=source_path,
    )


def load_overlay_spec(path) -> OverlaySuiteSpec:
    """Read and validate an overlay suite spec file."""
    return overlay_spec_from_dict(read_spec_file(path, "overlay spec"), source_path=str(path))


# --------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------


def overlaid_stream(
    text: str, returns: pd.Series, benchmark: pd.Series, cost_bps: float
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Net overlaid returns, exposure and the overlay's own turnover (|change in exposure|).

    The overlay trades the whole book to change exposure, so a change of ``x`` in
    exposure costs ``x * cost_bps / 10,000`` of NAV that day (docs/overlays.md).
    """
    exposure = overlay_exposure(text, returns, benchmark)
    turnover = exposure.diff().abs().fillna(0.0)
    net = exposure * returns - turnover * cost_bps / 1e4
    return net.where(returns.notna()), exposure, turnover


def overlay_cell(
    base: CellResult, text: str, name: str, params: dict, oos_start, cost_bps: float
) -> CellResult:
    """One overlay variant of a finished strategy cell; never raises (FAILED instead)."""
    started = time.perf_counter()
    try:
        daily = base.daily.set_index("date")
        raw, bench = daily["net"], daily["benchmark"]
        net, exposure, turnover = overlaid_stream(text, raw, bench, cost_bps)
        attribution = overlay_attribution(raw, exposure)
        values = net.to_numpy()
        out = pd.DataFrame(
            {
                "date": daily.index,
                "net": values,
                "raw": raw.to_numpy(),
                "benchmark": bench.to_numpy(),
                "exposure": exposure.to_numpy(),
                "cumulative": np.cumprod(1.0 + np.nan_to_num(values)) - 1.0,
                "drawdown": metrics.drawdown_series(values),
                "scaling": attribution["scaling"].to_numpy(),
                "timing": attribution["timing"].to_numpy(),
            }
        )
        m = metrics.summarize(net)
        m.update(split_metrics(net, oos_start) if oos_start is not None else {})
        m.update(attribution_summary(attribution))
        m.update(
            avg_exposure=float(exposure.mean()),
            overlay_turnover=float(turnover.mean()),
            overlay_cost_ann=float(turnover.mean() * cost_bps / 1e4 * PERIODS_PER_YEAR),
            raw_sharpe=base.metrics.get("sharpe", np.nan),
            benchmark_sharpe=metrics.sharpe_ratio(bench),
        )
        return CellResult(
            name, "cell", params, "FINISHED", m, out, seconds=time.perf_counter() - started
        )
    except Exception as exc:  # a cell never takes the suite down; its error is shown
        return CellResult(
            name,
            "cell",
            params,
            "FAILED",
            error=f"{type(exc).__name__}: {exc}",
            seconds=time.perf_counter() - started,
        )


@dataclass(frozen=True)
class WalkForwardRun:
    """One walk-forward: the fixed values of the other axes, and its result."""

    name: str
    fixed: dict[str, Any]
    result: WalkForwardResult


@dataclass(frozen=True)
class OverlaySuiteResult:
    """Every overlay cell, walk-forward runs and the verdict, ready to log and render."""

    spec: OverlaySuiteSpec
    snapshot_id: str
    snapshot_digest: str
    assets: list[str]
    date_range: tuple[str, str]
    oos_start: str | None
    cells: list[CellResult]
    headline: str
    walk_forwards: list[WalkForwardRun]
    verdict: Verdict
    notes: list[str]
    seconds: float

    def cell(self, name: str) -> CellResult:
        return next(c for c in self.cells if c.name == name)

    @property
    def best(self) -> CellResult | None:
        done = [c for c in self.cells if c.ok and np.isfinite(c.metrics.get("sharpe", np.nan))]
        return max(done, key=lambda c: c.metrics["sharpe"]) if done else None

    def raw_of(self, cell: CellResult) -> CellResult | None:
        """The ``overlay=none`` sibling of a cell (same strategy axes), when the grid has one."""
        want = {**cell.params, OVERLAY_AXIS: "none"}
        return next((c for c in self.cells if c.params == want), None)


def _walk_forwards(
    spec: OverlaySuiteSpec, cells: list[CellResult]
) -> tuple[list[WalkForwardRun], list[str]]:
    if spec.walk_forward is None:
        return [], []
    wf, runs, notes = spec.walk_forward, [], []
    others = [a for a in spec.grid if a not in wf.axes]
    groups: dict[tuple, list[CellResult]] = {}
    for c in cells:
        if c.ok:
            groups.setdefault(tuple(c.params[a] for a in others), []).append(c)
    for key, members in groups.items():
        fixed = dict(zip(others, key, strict=True))
        if len(members) < 2:
            notes.append(f"walk-forward {fixed}: only one cell to choose from; skipped")
            continue
        matrix = pd.concat({c.name: c.daily.set_index("date")["net"] for c in members}, axis=1)
        try:
            result = walk_forward(
                matrix,
                wf.train_days,
                wf.test_days,
                params={c.name: {a: c.params[a] for a in wf.axes} for c in members},
            )
        except ConfigError as exc:
            notes.append(f"walk-forward {fixed}: {exc}")
            continue
        label = " ".join(f"{k}={v}" for k, v in fixed.items() if len(spec.grid[k]) > 1)
        runs.append(WalkForwardRun(f"walk-forward {label}".strip(), fixed, result))
    return runs, notes


def _verdict(headline: CellResult, oos_start) -> Verdict:
    """The verdict on the headline cell's out-of-sample Sharpe (all its Sharpe if no split)."""
    if not headline.ok:
        return compute_verdict(VerdictInputs(sharpe=None))
    m = headline.metrics
    sharpe = m.get("oos_sharpe", m.get("sharpe")) if oos_start is not None else m.get("sharpe")
    net = headline.daily.set_index("date")["net"]
    years = annual_table({"net": net})["net return"].dropna()
    return compute_verdict(
        VerdictInputs(
            sharpe=float(sharpe) if sharpe is not None and np.isfinite(sharpe) else None,
            positive_years=int((years > 0).sum()),
            total_years=len(years),
        )
    )


@dataclass(frozen=True)
class StrategyCells:
    """The raw strategy cells (daily ``date, net, benchmark``) and where they came from."""

    cells: list[CellResult]
    snapshot_id: str
    snapshot_digest: str
    assets: list[str]
    date_range: tuple[str, str]
    notes: list[str]


def _signal_cells(spec: OverlaySuiteSpec, snapshot: Snapshot) -> StrategyCells:
    """Run the signal grid and attach the snapshot's benchmark to each cell's daily net."""
    from poc.suite import run_suite

    if not snapshot.has_table("benchmark"):
        needs = [t for t in spec.overlays if parse_overlay(t).needs_benchmark]
        if needs:
            raise ConfigError(
                f"overlays {needs} read the benchmark, and snapshot {snapshot.snapshot_id!r} "
                "has none; drop them or use a snapshot with a benchmark table"
            )
        bench = pd.Series(dtype=float)
    else:
        table = snapshot.read("benchmark")
        bench = pd.Series(table["ret"].to_numpy(), index=pd.DatetimeIndex(table["date"]))
    result = run_suite(spec.strategy, snapshot)
    cells = []
    for c in result.grid_cells:
        daily = None
        if c.ok:
            dates = pd.DatetimeIndex(c.daily["date"])
            daily = pd.DataFrame(
                {
                    "date": dates,
                    "net": c.daily["net"].to_numpy(),
                    "benchmark": bench.reindex(dates).to_numpy(),
                }
            )
        cells.append(dataclasses.replace(c, daily=daily, summary=None, fractile=None))
    return StrategyCells(
        cells,
        result.snapshot_id,
        result.snapshot_digest,
        [str(t) for t in snapshot.read("securities")["ticker"]],
        result.date_range,
        list(result.notes),
    )


def _strategy_cells(spec: OverlaySuiteSpec, snapshot: Snapshot) -> StrategyCells:
    if spec.kind == "signal":
        return _signal_cells(spec, snapshot)
    base = run_allocation_suite(spec.strategy, snapshot, progress=None)
    return StrategyCells(
        base.cells, base.snapshot_id, base.snapshot_digest, base.assets, base.date_range, base.notes
    )


def run_overlay_suite(
    spec: OverlaySuiteSpec, snapshot: Snapshot, progress: ProgressFn | None = None
) -> OverlaySuiteResult:
    """Run the strategy grid, apply every overlay, walk forward, and grade the headline."""
    started = time.perf_counter()
    base = _strategy_cells(spec, snapshot)
    interrupts.pause_for_test("compute")
    notes = list(base.notes)
    first_ok = next((c for c in base.cells if c.ok), None)
    oos = None
    if spec.oos_start is not None and first_ok is not None:
        dates = pd.DatetimeIndex(first_ok.daily["date"])
        oos = str(resolve_oos_start(dates, spec.oos_start).date())
    varying = [a for a, v in spec.grid.items() if len(v) > 1]
    cells: list[CellResult] = []
    total = len(base.cells) * len(spec.overlays)
    for b in base.cells:
        for text in spec.overlays:
            params = {**b.params, OVERLAY_AXIS: text}
            name = cell_name(params, varying)
            if b.ok:
                cell = overlay_cell(b, text, name, params, oos, spec.overlay_cost_bps)
            else:
                cell = CellResult(name, "cell", params, "FAILED", error=f"strategy cell: {b.error}")
            cells.append(cell)
            if progress is not None:
                progress(len(cells), total, cell)
    headline_params = spec.headline_cell()
    headline = next(c.name for c in cells if c.params == headline_params)
    walk_runs, wf_notes = _walk_forwards(spec, cells)
    notes += wf_notes + [f"cell {c.name!r} FAILED: {c.error}" for c in cells if not c.ok]
    return OverlaySuiteResult(
        spec=spec,
        snapshot_id=base.snapshot_id,
        snapshot_digest=base.snapshot_digest,
        assets=base.assets,
        date_range=base.date_range,
        oos_start=oos,
        cells=cells,
        headline=headline,
        walk_forwards=walk_runs,
        verdict=_verdict(next(c for c in cells if c.name == headline), oos),
        notes=notes,
        seconds=time.perf_counter() - started,
    )


def overlay_spec_with(spec: OverlaySuiteSpec, overrides: dict[str, str | None]) -> OverlaySuiteSpec:
    """Command-line overrides: ``snapshot``, ``oos_start`` and ``overlay`` (comma-separated).

    An empty or missing value keeps the spec's. Overriding the overlays drops a
    headline overlay that is no longer in the grid (the first overlay is then graded).
    """
    raw = spec_to_dict(spec)
    for key, value in overrides.items():
        if value is None or str(value).strip() == "":
            continue
        if key == "snapshot":
            raw["snapshot"] = str(value)
        elif key == "oos_start":
            text = str(value).strip()
            try:
                raw["oos_start"] = float(text)
            except ValueError:
                raw["oos_start"] = text
        elif key == OVERLAY_AXIS:
            values = [v.strip() for v in str(value).split(",") if v.strip()]
            raw["grid"][OVERLAY_AXIS] = values
            if raw["headline"].get(OVERLAY_AXIS) not in values:
                raw["headline"].pop(OVERLAY_AXIS, None)
        else:
            raise ConfigError(f"unknown override {key!r}; use snapshot, oos_start or overlay")
    return overlay_spec_from_dict(raw, spec.source_path)


def spec_to_dict(spec: OverlaySuiteSpec) -> dict[str, Any]:
    """The mapping :func:`overlay_spec_from_dict` reads back into an equal spec."""
    wf = spec.walk_forward
    signal = (
        {
            "strategy": "signal",
            "signal": spec.strategy.signal,
            "signal_name": spec.strategy.signal_name,
        }
        if spec.kind == "signal"
        else {}
    )
    return {
        **signal,
        "name": spec.name,
        "description": spec.description,
        "snapshot": spec.strategy.snapshot,
        "start": spec.strategy.start,
        "end": spec.strategy.end,
        "n_jobs": spec.strategy.n_jobs,
        "backend": spec.strategy.backend,
        "grid": {k: list(v) for k, v in spec.grid.items()},
        "headline": dict(spec.headline),
        "oos_start": spec.oos_start,
        "overlay_cost_bps": spec.overlay_cost_bps,
        "walk_forward": None
        if wf is None
        else {"axes": list(wf.axes), "train_years": wf.train_years, "test_years": wf.test_years},
    }
