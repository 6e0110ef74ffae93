"""The vectorized long-short backtest: config, run, result.

Timing (``docs/conventions.md``)
----------------------
A signal usable at the close of trading day ``d`` with lag ``L`` forms a book
that earns the close-to-close return of day ``d + 1 + L``. With ``from_open``
the book trades at the open after the signal is usable (the open of day
``d + 1 + L``) and is marked open to open: since ``openret[t]`` is the
open(t-1) -> open(t) return, it earns ``openret`` of day ``d + 2 + L``. Each
row of :attr:`BacktestResult.daily` is dated by the day whose return it earns.

Cross-section
-------------
The book for earning day ``e`` is formed from the signal row ``u = e - 1 - L``
(``- 1`` more with ``from_open``). Its cross-section is the names that have

* a signal on ``u`` (NaN = no position; a missing value is never carried
  forward or filled with zero),
* a return on ``e``: a name without an observed return that day cannot be
  held through it (not yet listed, delisted, halted), so it is excluded from
  the ranking rather than silently earning zero. This uses the fact that a
  name is listed on ``e``, the same assumption as trading it at the close of
  ``e - 1``; it never uses the return's value;
* with residualization, an industry (``industry``) and every style exposure
  (``all``) dated ``u`` (known at the close of ``u``).

Names dropped for each reason are counted in :attr:`BacktestResult.counts`.
The signal is residualized over that cross-section first (see
:mod:`poc.residualize`), then ranked into legs (see :mod:`poc.weights`).

Book, turnover and costs
------------------------
Each leg has gross weight 1 (equal weights, or rank-proportional within the
leg with ``weight="signal"``), optionally capped per name at ``max_weight``
with the excess redistributed by water-filling; long-short = long minus
short. Legs follow :mod:`poc.weights` (at or above the high percentile, at
or below the low one; tied values always on the same side). A day with
fewer than two names, fewer than ``mincos`` names in a leg, or legs that
would share names (one tied value spanning both percentiles) is flat: no
position, return 0. Rank-proportional weights give a long name its average
rank within the long leg (1 for its lowest value) and a short name its rank
counted from the bottom (1 for its highest value).

With ``weekly`` / ``monthly`` rebalancing the book is formed for the first
earning day of each week / month and held unchanged through the period
(flat if it was flat that day); a held name without a return on a day drops
out that day and its leg is renormalized (and re-capped); a leg left with
fewer than ``mincos`` names makes that day flat.

Turnover on day ``e`` is ``sum_i |w_e,i - w_e-1,i|`` over both legs
(entering a book from cash counts 2). Cost = turnover x ``tc_bps / 1e4``
(``naive``) or ``sum_i |dw_i| x half_spread_i`` (``spread``), where the
half-spread is the name's latest quote on or before the trade day ``e - 1``,
else its quote on ``e`` (a name trading for the first time), else that day's
cross-sectional mean. Net = gross - cost. The daily table runs from the
first to the last day with a position (the final liquidation is not charged).

Market-cap terciles (when the snapshot has caps) get their own book with
the same settings, formed within the tercile of each name's cap on ``u``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from poc import sections
from poc.books import (
    LegStats,
    equal_weight_series,
    main_leg_stats,
    tercile_leg_stats,
    trade_half_spread,
    weighted_books,
)
from poc.calendar import month_starts, week_starts
from poc.derived import CAP_TERCILES
from poc.exceptions import ConfigError
from poc.panel import Panel, require
from poc.sections import CrossSections, as_matrix, earning_window
from poc.tables import N_DECILES, daily_frame, decile_block, decile_table, summary_table
from poc.weights import rebalance_anchor

logger = logging.getLogger(__name__)

Residualize = Literal["off", "industry", "all"]
Weight = Literal["equal", "signal"]
TcModel = Literal["none", "naive", "spread"]
Rebalance = Literal["daily", "weekly", "monthly"]

RESIDUALIZE = ("off", "industry", "all")
WEIGHTS = ("equal", "signal")
TC_MODELS = ("none", "naive", "spread")
REBALANCE = ("daily", "weekly", "monthly")


# --------------------------------------------------------------------------
# Config
# --------------------------------------------------------------------------


def _choice(name: str, value, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{name}={value!r} is not valid; allowed values: {', '.join(allowed)}")
    return value


def _number(name: str, value, low: float, high: float, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{name} must be a number {what}, got {value!r}")
    value = float(value)
    if not (low <= value <= high):
        raise ConfigError(f"{name}={value!r} is out of range; allowed values: {what}")
    return value


def _date(name: str, value) -> str | None:
    if value is None or value == "":
        return None
    try:
        return pd.Timestamp(value).date().isoformat()
    except (ValueError, TypeError):
        raise ConfigError(
            f"{name}={value!r} is not a date; use ISO dates like 2015-01-31"
        ) from None


@dataclass(frozen=True)
class BacktestConfig:
    """Settings of one backtest; validated on creation.

    Attributes
    ----------
    lag : int
        Extra trading days between the usable date and the first return (>= 0).
    residualize : {"off", "industry", "all"}
        Cross-sectional OLS of the signal before ranking: nothing, industry
        dummies, or industry dummies plus the snapshot's style exposures.
    weight : {"equal", "signal"}
        Equal weights, or rank-proportional within each leg.
    fractile : (float, float)
        Low and high percentiles of the legs, ``0 <= low < high <= 100``.
    mincos : int
        Minimum names per leg (>= 1); fewer and the day is flat.
    tc_model : {"none", "naive", "spread"}
        No costs; ``tc_bps`` per unit of turnover; or each name's half-spread.
    tc_bps : float
        Cost in basis points per unit of turnover (``naive`` only).
    rebalance : {"daily", "weekly", "monthly"}
        How often the book is re-formed; weights are held in between.
    from_open : bool
        Trade at the open and earn open-to-open returns (needs ``openret``).
    max_weight : float or None
        Cap per name within a leg, ``0 < max_weight <= 1``; needs
        ``max_weight * mincos >= 1`` so a leg can always be fully invested.
    start, end : str or None
        Only earn returns on dates in ``[start, end]`` (ISO dates).
    """

    lag: int = 0
    residualize: Residualize = "off"
    weight: Weight = "equal"
    fractile: tuple[float, float] = (10.0, 90.0)
    mincos: int = 10
    tc_model: TcModel = "none"
    tc_bps: float = 0.0
    rebalance: Rebalance = "daily"
    from_open: bool = False
    max_weight: float | None = None
    start: str | None = None
    end: str | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if isinstance(self.lag, bool) or not isinstance(self.lag, int | np.integer) or self.lag < 0:
            raise ConfigError(f"lag={self.lag!r} is not valid; allowed values: an int >= 0")
        set_(self, "lag", int(self.lag))
        _choice("residualize", self.residualize, RESIDUALIZE)
        _choice("weight", self.weight, WEIGHTS)
        _choice("tc_model", self.tc_model, TC_MODELS)
        _choice("rebalance", self.rebalance, REBALANCE)
        fractile = self.fractile
        if isinstance(fractile, str) or not hasattr(fractile, "__len__") or len(fractile) != 2:
            raise ConfigError(
                f"fractile={fractile!r} is not valid; allowed values: (low, high) percentiles "
                "with 0 <= low < high <= 100, e.g. (10, 90)"
            )
        low = _number("fractile", fractile[0], 0.0, 100.0, "0 <= low < high <= 100")
        high = _number("fractile", fractile[1], 0.0, 100.0, "0 <= low < high <= 100")
        if not low < high:
            raise ConfigError(f"fractile={fractile!r} is not valid: low must be below high")
        set_(self, "fractile", (low, high))
        mincos = self.mincos
        if isinstance(mincos, bool) or not isinstance(mincos, int | np.integer) or mincos < 1:
            raise ConfigError(f"mincos={mincos!r} is not valid; allowed values: an int >= 1")
        set_(self, "mincos", int(mincos))
        tc_bps = _number("tc_bps", self.tc_bps, 0.0, 1e4, "0 <= tc_bps <= 10000")
        if tc_bps and self.tc_model != "naive":
            raise ConfigError(
                f"tc_bps={tc_bps!r} only applies with tc_model='naive' (got "
                f"tc_model={self.tc_model!r}); set tc_model='naive' or tc_bps=0"
            )
        set_(self, "tc_bps", tc_bps)
        if not isinstance(self.from_open, bool | np.bool_):
            raise ConfigError(
                f"from_open={self.from_open!r} is not valid; allowed values: True, False"
            )
        set_(self, "from_open", bool(self.from_open))
        if self.max_weight is not None:
            cap = _number("max_weight", self.max_weight, 0.0, 1.0, "None or 0 < max_weight <= 1")
            if cap <= 0:
                raise ConfigError(
                    "max_weight=0 is not valid; allowed values: None or 0 < max_weight <= 1"
                )
            if cap * self.mincos < 1.0 - 1e-12:
                raise ConfigError(
                    f"max_weight={cap} x mincos={self.mincos} = {cap * self.mincos:g} < 1: a "
                    "leg of mincos names could not reach gross weight 1; raise max_weight or mincos"
                )
            set_(self, "max_weight", cap)
        set_(self, "start", _date("start", self.start))
        set_(self, "end", _date("end", self.end))
        if self.start and self.end and self.start > self.end:
            raise ConfigError(f"start={self.start} is after end={self.end}")

    @property
    def shift(self) -> int:
        """Rows between the signal's usable day and the day whose return it earns."""
        return 1 + self.lag + int(self.from_open)


# --------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Everything one backtest produces.

    Attributes
    ----------
    daily : DataFrame
        One row per earning day from the first to the last day with a
        position: ``date, long, short, gross, cost, net, turnover, n_long,
        n_short, n_names, cumulative, drawdown``. ``long`` / ``short`` are the
        returns of each leg's basket, ``gross = long - short``, ``net = gross
        - cost``; ``cumulative`` and ``drawdown`` compound ``net``.
    summary : DataFrame
        ``slice`` (``overall``, ``year``, ``cap``), ``label`` (``all``, the
        year, ``small`` / ``mid`` / ``large``) and the columns of
        :func:`poc.metrics.summarize` on the net returns and turnover.
    fractile : DataFrame
        Per decile of the (residualized) signal over all days: ``decile``
        (1 lowest .. 10), ``mean_return`` (pooled mean next-period return),
        ``hit_rate`` (share of days the decile's mean return beat the day's
        cross-sectional mean), ``count`` (name-days).
    config : BacktestConfig
    by_cap : dict of str to DataFrame
        The daily table of each market-cap tercile's book (empty without caps).
    counts : dict of str to int
        Signal values used and dropped, by reason, and flat days.
    """

    daily: pd.DataFrame
    summary: pd.DataFrame
    fractile: pd.DataFrame
    config: BacktestConfig
    by_cap: dict[str, pd.DataFrame] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def _overall(self, column: str) -> float:
        rows = self.summary[self.summary["slice"] == "overall"]
        return float(rows[column].iloc[0]) if len(rows) else float("nan")

    @property
    def sharpe(self) -> float:
        """Annualized Sharpe ratio of the net daily returns."""
        return self._overall("sharpe")

    @property
    def annual_return(self) -> float:
        """Compounded annual net return."""
        return self._overall("ann_ret")

    @property
    def max_drawdown(self) -> float:
        """Maximum drawdown of the compounded net curve (<= 0)."""
        return self._overall("max_dd")

    @property
    def turnover(self) -> float:
        """Mean daily turnover."""
        return self._overall("turnover")


# --------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------


@dataclass(eq=False)
class _Streamed:
    """What one pass over the blocks of days collects."""

    stats: LegStats
    cap_stats: LegStats
    decile_sums: np.ndarray
    decile_counts: np.ndarray
    values: np.ndarray | None = None  # the general path keeps the full matrices
    returns: np.ndarray | None = None
    tradable: np.ndarray | None = None


def _is_fast(config: BacktestConfig) -> bool:
    """Equal weights rebalanced daily without spread costs: weights never materialized."""
    return config.weight == "equal" and config.rebalance == "daily" and config.tc_model != "spread"


def _stream(cross: CrossSections, shape, config: BacktestConfig, layout) -> _Streamed:
    """One pass over blocks of days: leg statistics and deciles (and full matrices if needed)."""
    rows, n = shape
    fast = _is_fast(config)
    out = _Streamed(
        LegStats(1, rows),
        LegStats(len(CAP_TERCILES), rows),
        np.zeros((rows, N_DECILES)),
        np.zeros((rows, N_DECILES), dtype=np.int64),
    )
    if not fast:
        out.values, out.returns = np.empty((rows, n)), np.empty((rows, n))
        out.tradable = np.empty((rows, n), dtype=bool)
    carry = cap_carry = None
    step = max(1, sections.BLOCK_CELLS // max(n, 1))
    for a in range(0, rows, step):
        b = min(rows, a + step)
        values, returns, tradable = cross.block(a, b)
        legs, kept, carry = main_leg_stats(values, returns, config.fractile, config.mincos, carry)
        out.decile_sums[a:b], out.decile_counts[a:b] = decile_block(
            values, legs.ordered[0], legs.n[0], returns
        )
        if not fast:
            out.values[a:b], out.returns[a:b], out.tradable[a:b] = values, returns, tradable
            continue
        out.stats.record(slice(a, b), legs, returns, kept)
        if layout is not None:
            cap_legs, earned, cap_kept, cap_carry = tercile_leg_stats(
                values,
                returns,
                layout.flat[:, a:b] - a * n,
                layout.pad[:, a:b],
                config.fractile,
                config.mincos,
                cap_carry,
            )
            out.cap_stats.record(slice(a, b), cap_legs, earned, cap_kept)
    return out


def _weighted(panel: Panel, streamed: _Streamed, config: BacktestConfig, half_spread):
    """The general path: explicit weights for the whole book and the cap terciles."""
    shift = config.shift
    anchor = spread = None
    if config.rebalance != "daily":
        starts = week_starts if config.rebalance == "weekly" else month_starts
        anchor = rebalance_anchor(starts(panel.dates)[shift:])
    if config.tc_model == "spread":
        spread = trade_half_spread(half_spread, shift)
    values = streamed.values
    rest = (streamed.returns, config, anchor, streamed.tradable, spread)
    main = weighted_books(values[None], *rest)
    if panel.cap_tercile is None:
        return main, None
    tercile = panel.cap_tercile[: len(values)]
    stacked = np.full((len(CAP_TERCILES), *values.shape), np.nan)
    for k in range(len(CAP_TERCILES)):
        np.copyto(stacked[k], values, where=tercile == k)
    return main, weighted_books(stacked, *rest)


def _counts(matrix, rows: int, cross: CrossSections, daily: pd.DataFrame, config) -> dict:
    """Signal values used and dropped by reason, days and flat days."""
    counts = {"signal_values": int(np.count_nonzero(np.isfinite(matrix)))}
    counts["beyond_calendar"] = int(np.count_nonzero(np.isfinite(matrix[rows:])))
    counts.update(cross.counts)
    if config.start is None and config.end is None:
        del counts["outside_window"]
    if config.residualize == "off":
        del counts["no_exposure"]
    flat = daily["n_long"].to_numpy() == 0
    counts["days"] = len(daily)
    counts["flat_days"] = int(flat.sum())
    counts["flat_below_mincos"] = int((flat & (daily["n_names"].to_numpy() > 0)).sum())
    return counts


def run_backtest(panel: Panel, signal, config: BacktestConfig | None = None) -> BacktestResult:
    """Backtest a signal's long-short book on a panel (see the module docstring for timing).

    Parameters
    ----------
    panel : Panel
        The snapshot's dense data (:func:`poc.panel.load_panel`).
    signal : AlignedSignal or numpy.ndarray
        An aligned signal, or a dense ``(T, N)`` matrix of values indexed by
        usable position (:func:`poc.panel.signal_matrix`); NaN = no value.
        The lag applied is always ``config.lag``.
    config : BacktestConfig, optional
        Defaults to ``BacktestConfig()``.

    Returns
    -------
    BacktestResult

    Raises
    ------
    MissingDataError
        ``from_open`` without open returns, ``tc_model='spread'`` without
        half-spreads, residualization without industries or styles.
    """
    config = BacktestConfig() if config is None else config
    if not isinstance(config, BacktestConfig):
        raise TypeError(f"config must be a BacktestConfig, got {type(config).__name__}")
    if config.from_open:
        earned = require(panel, "openret", "from_open=True (trading at the open)")
    else:
        earned = panel.ret
    half_spread = None
    if config.tc_model == "spread":
        half_spread = require(panel, "half_spread", "tc_model='spread'")
    matrix = as_matrix(signal, panel, config)
    shift = config.shift
    rows = max(panel.shape[0] - shift, 0)
    dates = panel.dates[shift:]
    window = earning_window(dates, config)
    cross = CrossSections(panel, matrix[:rows], earned[shift:], window, config)
    layout = panel.tercile_layout

    streamed = _stream(cross, (rows, panel.shape[1]), config, layout)
    if _is_fast(config):
        rate = config.tc_bps / 1e4 if config.tc_model == "naive" else 0.0
        main = equal_weight_series(streamed.stats, rate)
        caps = None if layout is None else equal_weight_series(streamed.cap_stats, rate)
    else:
        main, caps = _weighted(panel, streamed, config, half_spread)

    daily = daily_frame(dates, main, 0)
    by_cap = {}
    if caps is not None:
        by_cap = {label: daily_frame(dates, caps, k) for k, label in enumerate(CAP_TERCILES)}
    return BacktestResult(
        daily=daily,
        summary=summary_table(daily, by_cap),
        fractile=decile_table(streamed.decile_sums, streamed.decile_counts),
        config=config,
        by_cap=by_cap,
        counts=_counts(matrix, rows, cross, daily, config),
    )
