"""The portfolio day loop: a capital-constrained long-only book from a signal.

Timing (docs/conventions.md, Lag): the decision at the close of trading day
``d`` uses the signal row usable at ``d - lag`` and prices up to ``d``; its
orders fill at the next fill point, the open of ``d + 1`` when the bars have
opens, highs and lows (OHLC rules), else the close of ``d + 1`` (close-only
rules, as :mod:`poc.allocation.execution` trades at the next close).

Per day ``t`` (every step vectorized over securities):

1. Fill point. Pending exits sell first (``price x (1 - slippage)``); with
   OHLC a held stop that the open gapped through sells at the open
   (``stop_gap``, the gap slippage). Then pending entries buy at
   ``price x (1 + slippage)``; if the cash after the sells cannot pay them and
   their commission, all buys are scaled down by one factor (the allocation
   executor's rule), so cash never goes negative.
2. Intraday (OHLC only): a held name whose low reaches its stop sells at the
   stop level (``stop``), including names bought at today's open.
3. Close: positions are marked (a name without a close keeps its last one);
   on the last day everything still held is sold at the close (``end``).
4. Decisions at the close: held names are marked to exit, by priority, on a
   stop (close-only: close at or below the stop), on time (held
   ``hold_days`` fills), or on signal decay (percentile below
   ``decay_percentile``). Free slots (``max_positions`` minus names staying)
   are filled best signal first among names passing the gate, sized
   ``risk_per_trade x equity / (stop_multiple x ATR)`` and capped at
   ``max_weight x equity`` at the close.

Commission is ``commission x |notional at the fill price|`` per side. A trade's
R multiple is its net P&L (after both commissions) over ``shares x stop
distance``, the amount risked at entry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from poc.evaluation import row_ranks
from poc.exceptions import ConfigError
from poc.portfolio.config import PortfolioConfig

TIME, STOP, STOP_GAP, DECAY, END = 1, 2, 3, 4, 5
REASONS = {TIME: "time", STOP: "stop", STOP_GAP: "stop_gap", DECAY: "decay", END: "end"}
LEDGER_COLUMNS = (
    "security_id",
    "decision_date",
    "entry_date",
    "entry_price",
    "shares",
    "stop_price",
    "exit_decision_date",
    "exit_date",
    "exit_price",
    "reason",
    "days_held",
    "pnl",
    "return",
    "r_multiple",
)


@dataclass(frozen=True)
class Bars:
    """Dense (dates x securities) prices; ``open``, ``high``, ``low`` all or none.

    NaN means no price that day (not listed, halted).
    """

    dates: np.ndarray
    close: np.ndarray
    open: np.ndarray | None = None
    high: np.ndarray | None = None
    low: np.ndarray | None = None
    security_ids: np.ndarray | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "dates", np.asarray(self.dates).astype("datetime64[ns]"))
        set_(self, "close", np.asarray(self.close, dtype=np.float64))
        if self.close.ndim != 2 or self.close.shape[0] != len(self.dates):
            raise ConfigError(
                f"close must be (dates x securities) with {len(self.dates)} rows, "
                f"got shape {self.close.shape}"
            )
        given = [name for name in ("open", "high", "low") if getattr(self, name) is not None]
        if given and len(given) != 3:
            raise ConfigError(
                f"bars have {given} but not all of open, high, low; give all three or none "
                "(close-only rules)"
            )
        for name in given:
            values = np.asarray(getattr(self, name), dtype=np.float64)
            if values.shape != self.close.shape:
                raise ConfigError(
                    f"{name} has shape {values.shape}, expected {self.close.shape} like close"
                )
            set_(self, name, values)
        ids = self.security_ids
        ids = np.arange(1, self.close.shape[1] + 1) if ids is None else np.asarray(ids)
        if ids.shape != (self.close.shape[1],):
            raise ConfigError(f"security_ids must have {self.close.shape[1]} entries")
        set_(self, "security_ids", ids.astype(np.int64))

    @property
    def ohlc(self) -> bool:
        """True when opens, highs and lows are present (OHLC rules apply)."""
        return self.open is not None

    @property
    def shape(self) -> tuple[int, int]:
        return self.close.shape


@dataclass(frozen=True)
class SimulationResult:
    """A simulated book.

    Attributes
    ----------
    ledger : DataFrame
        One row per closed trade (:data:`LEDGER_COLUMNS`), in exit order.
    daily : DataFrame
        ``date, nav, cash, invested`` (position value / NAV), ``positions``,
        ``ret`` (NAV return), after the day's trades, at the close.
    orders : DataFrame
        Every decision: ``date, security_id, action`` (buy/sell), ``reason``,
        ``shares`` (planned; sells 0 = the whole position).
    close_only : bool
        True when close-only rules were used (no OHLC bars).
    """

    ledger: pd.DataFrame
    daily: pd.DataFrame
    orders: pd.DataFrame
    close_only: bool
    config: PortfolioConfig


def lagged(matrix: np.ndarray, lag: int) -> np.ndarray:
    """Row ``t`` of the result is row ``t - lag`` of ``matrix`` (NaN before the start)."""
    if lag == 0:
        return matrix
    out = np.full(matrix.shape, np.nan)
    out[lag:] = matrix[:-lag]
    return out


def signal_percentiles(score: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """Each day's cross-sectional percentile in [0, 100] (100 = highest) among ``usable`` names.

    Ties share their average rank; a day with one usable name gives it 100.
    """
    values = np.where(usable & np.isfinite(score), score, np.nan)
    ranks = row_ranks(values)
    n = np.isfinite(values).sum(axis=1, keepdims=True).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        pct = np.where(n > 1, 100.0 * (ranks - 1.0) / (n - 1.0), 100.0)
    return np.where(np.isfinite(ranks), pct, np.nan)


def average_true_range(bars: Bars, days: int) -> np.ndarray:
    """Mean true range over the last ``days`` days, using prices up to each day.

    True range = ``max(high, previous close) - min(low, previous close)``; with
    close-only bars it is ``|close - previous close|``. NaN until ``days``
    true ranges exist.
    """
    close = bars.close
    prev = np.full(close.shape, np.nan)
    prev[1:] = close[:-1]
    high = bars.high if bars.ohlc else close
    low = bars.low if bars.ohlc else close
    with np.errstate(invalid="ignore"):
        true_range = np.fmax(high, prev) - np.fmin(low, prev)
    true_range = np.where(np.isfinite(prev) & np.isfinite(close), true_range, np.nan)
    return pd.DataFrame(true_range).rolling(days, min_periods=days).mean().to_numpy()


class _Book:
    """Mutable per-security state of the loop (arrays of length N) and the ledger rows."""

    def __init__(self, n: int, cash: float) -> None:
        self.cash = cash
        self.shares = np.zeros(n)
        self.entry_price = np.full(n, np.nan)
        self.stop = np.full(n, np.nan)
        self.distance = np.full(n, np.nan)
        self.entry_day = np.full(n, -1, dtype=np.int64)
        self.decision_day = np.full(n, -1, dtype=np.int64)
        self.entry_commission = np.zeros(n)
        self.exit_pending = np.zeros(n, dtype=np.int8)
        self.exit_decided = np.full(n, -1, dtype=np.int64)
        self.buy_shares = np.zeros(n)
        self.buy_distance = np.full(n, np.nan)
        self.buy_rank = np.zeros(n)
        self.buy_decided = np.full(n, -1, dtype=np.int64)
        self.rows: list[dict[str, np.ndarray]] = []

    def sell(self, idx, price, reasons, day: int, config: PortfolioConfig) -> None:
        """Close the positions ``idx`` at ``price`` (already net of slippage)."""
        if idx.size == 0:
            return
        shares = self.shares[idx]
        notional = shares * price
        commission = config.commission * notional
        self.cash += float(notional.sum() - commission.sum())
        pnl = notional - commission - shares * self.entry_price[idx] - self.entry_commission[idx]
        decided = np.where(self.exit_decided[idx] >= 0, self.exit_decided[idx], day)
        self.rows.append(
            {
                "index": idx,
                "decision_day": self.decision_day[idx],
                "entry_day": self.entry_day[idx],
                "entry_price": self.entry_price[idx],
                "shares": shares,
                "stop_price": self.stop[idx],
                "exit_decided": decided,
                "exit_day": np.full(idx.size, day),
                "exit_price": price + np.zeros(idx.size),
                "reason": np.asarray(reasons, dtype=np.int8) + np.zeros(idx.size, np.int8),
                "pnl": pnl,
                "cost_basis": shares * self.entry_price[idx],
                "risk": shares * self.distance[idx],
            }
        )
        self.shares[idx] = 0.0
        self.exit_pending[idx] = 0
        self.exit_decided[idx] = -1

    def buy(self, idx, price, day: int, config: PortfolioConfig) -> None:
        """Fill pending entries ``idx`` at ``price`` (already with slippage), scaled to the cash."""
        if idx.size == 0:
            return
        planned = self.buy_shares[idx]
        spend = planned * price * (1.0 + config.commission)
        total = float(spend.sum())
        scale = 1.0
        if total > self.cash:
            scale = max(self.cash, 0.0) / total
            # Step down by ulps until the rounded spend fits: cash must never go negative.
            while scale > 0 and self.cash - float((spend * scale).sum()) < 0:
                scale = float(np.nextafter(scale, 0.0))
        shares = planned * scale
        keep = shares > 0
        idx, shares, price = idx[keep], shares[keep], (price + np.zeros(keep.size))[keep]
        self.cash -= float((spend * scale)[keep].sum())
        self.shares[idx] = shares
        self.entry_price[idx] = price
        self.distance[idx] = self.buy_distance[idx]
        self.stop[idx] = price - self.buy_distance[idx]
        self.entry_day[idx] = day
        self.decision_day[idx] = self.buy_decided[idx]
        self.entry_commission[idx] = config.commission * shares * price


def _ledger(book: _Book, bars: Bars) -> pd.DataFrame:
    if not book.rows:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in LEDGER_COLUMNS})
    cols = {k: np.concatenate([r[k] for r in book.rows]) for k in book.rows[0]}
    dates = bars.dates
    with np.errstate(invalid="ignore", divide="ignore"):
        ret = cols["pnl"] / cols["cost_basis"]
        r_multiple = cols["pnl"] / cols["risk"]
    return pd.DataFrame(
        {
            "security_id": bars.security_ids[cols["index"]],
            "decision_date": dates[cols["decision_day"]],
            "entry_date": dates[cols["entry_day"]],
            "entry_price": cols["entry_price"],
            "shares": cols["shares"],
            "stop_price": cols["stop_price"],
            "exit_decision_date": dates[cols["exit_decided"]],
            "exit_date": dates[cols["exit_day"]],
            "exit_price": cols["exit_price"],
            "reason": [REASONS[int(k)] for k in cols["reason"]],
            "days_held": cols["exit_day"] - cols["entry_day"],
            "pnl": cols["pnl"],
            "return": ret,
            "r_multiple": r_multiple,
        }
    )


def _check_signal(signal: np.ndarray, bars: Bars) -> np.ndarray:
    signal = np.asarray(signal, dtype=np.float64)
    if signal.shape != bars.shape:
        raise ConfigError(
            f"signal matrix has shape {signal.shape}, expected {bars.shape} (dates x securities "
            "of the bars); build it with poc.suite.dense_signal on the same panel"
        )
    return signal


def _day(book: _Book, t: int, bars: Bars, px, has_px, config: PortfolioConfig) -> None:
    """Steps 1-2 of day ``t``: the fill point (exits, gap stops, buys), then intraday stops."""
    slip = config.slippage
    held = book.shares > 0
    if held.any():
        idx = (held & (book.exit_pending > 0) & has_px).nonzero()[0]
        book.sell(idx, px[idx] * (1 - slip), book.exit_pending[idx], t, config)
        if bars.ohlc:
            idx = ((book.shares > 0) & (px <= book.stop)).nonzero()[0]
            book.sell(idx, px[idx] * (1 - slip), STOP_GAP, t, config)
    pending = book.buy_shares > 0
    if pending.any():
        idx = (pending & has_px).nonzero()[0]
        room = config.max_positions - np.count_nonzero(book.shares)
        if idx.size > room:  # an exit that could not fill keeps its slot
            idx = idx[np.argsort(book.buy_rank[idx], kind="stable")[: max(room, 0)]]
        book.buy(idx, px[idx] * (1 + slip), t, config)
        book.buy_shares[:] = 0.0  # unfilled entries are cancelled, never carried
    if bars.ohlc:
        idx = ((book.shares > 0) & (bars.low[t] <= book.stop)).nonzero()[0]
        book.sell(idx, book.stop[idx] * (1 - slip), STOP, t, config)


def simulate(
    bars: Bars, signal: np.ndarray, config: PortfolioConfig, *, use_decay: bool = True
) -> SimulationResult:
    """Run the book over every date of ``bars`` (see the module docstring for the rules).

    Parameters
    ----------
    bars : Bars
    signal : numpy.ndarray
        ``(T, N)``; row ``d`` holds the values usable at the close of ``d``
        (:func:`poc.suite.dense_signal`); the lag is applied here.
    config : PortfolioConfig
    use_decay : bool
        False switches the decay exit off whatever the config says (the
        random-entry control has no signal to decay).

    Returns
    -------
    SimulationResult
    """
    signal = _check_signal(signal, bars)
    t_count, n = bars.shape
    close, ohlc = bars.close, bars.ohlc
    fill_prices = bars.open if ohlc else close
    score = lagged(signal, config.lag)
    tradable = np.isfinite(close)
    pct = signal_percentiles(score, tradable)
    atr = average_true_range(bars, config.atr_days)
    # a name without a close is marked at its last one (0 before its first)
    marks = pd.DataFrame(close).ffill().fillna(0.0).to_numpy()
    has_fill = np.isfinite(fill_prices)
    with np.errstate(invalid="ignore"):
        eligible = np.isfinite(pct) & (atr > 0)
        if config.gate:
            eligible &= pct >= config.gate_percentile
        decaying = (
            pct < config.decay_percentile
            if use_decay and config.decay_percentile is not None
            else np.zeros((t_count, n), dtype=bool)
        )
    slip, max_pos = config.slippage, config.max_positions
    book = _Book(n, float(config.initial_cash))
    orders: list[tuple[int, np.ndarray, str, np.ndarray, np.ndarray]] = []
    nav_out, cash_out = np.empty(t_count), np.empty(t_count)
    invested_out, positions_out = np.empty(t_count), np.empty(t_count, dtype=np.int64)
    with np.errstate(invalid="ignore"):
        for t in range(t_count):
            _day(book, t, bars, fill_prices[t], has_fill[t], config)
            value = float(book.shares @ marks[t])
            held_now = book.shares > 0
            if t == t_count - 1:  # the last close liquidates what is left
                idx = held_now.nonzero()[0]
                book.sell(idx, marks[t, idx] * (1 - slip), END, t, config)
                value, held_now = 0.0, book.shares > 0
            nav = book.cash + value
            nav_out[t], cash_out[t] = nav, book.cash
            invested_out[t] = value / nav if nav > 0 else np.nan
            positions_out[t] = np.count_nonzero(held_now)
            if t == t_count - 1:
                break
            # decisions at the close of t
            held = held_now & (book.exit_pending == 0)
            if held.any():
                stop_now = held & (close[t] <= book.stop) if not ohlc else held & False
                time_now = held & (t - book.entry_day + 1 >= config.hold_days)
                decay_now = held & decaying[t]
                reason = np.where(
                    stop_now, STOP, np.where(time_now, TIME, np.where(decay_now, DECAY, 0))
                )
                out = reason.nonzero()[0]
                if out.size:
                    book.exit_pending[out] = reason[out]
                    book.exit_decided[out] = t
                    orders.append((t, out, "sell", reason[out], np.zeros(out.size)))
                    held[out] = False
            slots = max_pos - np.count_nonzero(held)
            if slots <= 0 or nav <= 0:
                continue
            idx = (eligible[t] & ~held_now).nonzero()[0]
            if idx.size == 0:
                continue
            chosen = idx[np.argsort(-score[t, idx], kind="stable")[:slots]]
            distance = config.stop_multiple * atr[t, chosen]
            shares = np.minimum(
                config.risk_per_trade * nav / distance,
                config.max_weight * nav / close[t, chosen],
            )
            book.buy_shares[chosen] = shares
            book.buy_distance[chosen] = distance
            book.buy_rank[chosen] = np.arange(chosen.size)
            book.buy_decided[chosen] = t
            orders.append((t, chosen, "buy", np.zeros(chosen.size, np.int8), shares))

    nav_series = pd.Series(nav_out)
    daily = pd.DataFrame(
        {
            "date": bars.dates,
            "nav": nav_out,
            "cash": cash_out,
            "invested": invested_out,
            "positions": positions_out,
            "ret": nav_series.pct_change().to_numpy(),
        }
    )
    return SimulationResult(
        ledger=_ledger(book, bars),
        daily=daily,
        orders=_orders(orders, bars),
        close_only=not ohlc,
        config=config,
    )


def _orders(orders, bars: Bars) -> pd.DataFrame:
    if not orders:
        return pd.DataFrame(columns=["date", "security_id", "action", "reason", "shares"])
    days = np.concatenate([np.full(idx.size, t) for t, idx, _, _, _ in orders])
    idx = np.concatenate([o[1] for o in orders])
    actions = np.concatenate([np.full(o[1].size, o[2]) for o in orders])
    codes = np.concatenate([o[3] for o in orders]).astype(np.int64)
    labels = np.array(["entry", *(REASONS[k] for k in sorted(REASONS))], dtype=object)
    return pd.DataFrame(
        {
            "date": bars.dates[days],
            "security_id": bars.security_ids[idx],
            "action": actions,
            "reason": labels[codes],
            "shares": np.concatenate([o[4] for o in orders]),
        }
    )
