"""Execution simulator: target weights -> orders -> fills -> positions, cash and NAV.

Timing convention (as ``docs/conventions.md``'s lag): a target computed at the close of
trading day ``d`` is traded at the close of day ``d + 1 + delay``. A delay of 0
means the next close, never the close that produced the signal.

Orders
    On each rebalance date ``d`` (``daily``, ``weekly``, ``monthly``; see
    :mod:`poc.allocation.schedule`) the latest target row dated ``<= d`` is
    sent for execution at ``d + 1 + delay``. With ``no_trade_band = 0`` every
    tradable asset is traded to its target. With a band ``b > 0`` an asset whose
    weight is within ``b`` of its target is left alone, unless leaving it would
    break a rule after the trade: its weight above ``max_weight``, positive
    below ``min_weight``, or the buys not fitting in the cash.

Sizing on the post-trade NAV
    Costs lower the NAV, so shares sized on the pre-trade NAV end up slightly
    above their target weight after the trade (the old engine's "cap slightly
    exceeded in rare cases"). Here the post-trade NAV ``V`` is solved first:
    ``V = NAV_pre - sum_i k_i |w_i V - x_i|`` (``x_i`` current value, ``k_i``
    the cost rate of a buy or a sell), a contraction for any cost rate below
    100%, iterated to machine precision. Traded assets then hold exactly
    ``w_i V``, so post-trade weights equal targets to rounding.

Fills and costs
    Prices are closes; a buy fills at ``close x (1 + slippage)``, a sell at
    ``close x (1 - slippage)``; commission is ``commission x |notional at the
    fill price|``. Slippage cost (``|shares| x close x slippage``) and
    commission are both logged per trade and per day. Sells execute before
    buys; if the cash after sells cannot pay for the buys and their
    commission, all buys are scaled down by one factor, so cash never goes
    negative. Shares are fractional.

Marking
    Positions are marked daily at the close; an asset without a price on a
    date (halted, not yet listed) is marked at its last close and cannot be
    traded that day. ``NAV = cash + sum(shares x mark)`` every day, and
    ``NAV_t = NAV_(t-1) + sum(shares_(t-1) x (mark_t - mark_(t-1))) - cost_t``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from poc.allocation.errors import AllocationError
from poc.allocation.schedule import Rebalance, rebalance_mask
from poc.allocation.schema import check_prices, check_target_weights

logger = logging.getLogger(__name__)

_RULE_TOL = 1e-12  # relative slack before a band-held weight counts as a breach


@dataclass(frozen=True)
class ExecutionResult:
    """What the simulator produced; every table is dated by trading date.

    Attributes
    ----------
    signal_history : DataFrame
        Rebalance (signal) dates x assets: the targets sent for execution,
        including any still pending at the end of the data.
    weights_history : DataFrame
        Execution dates x assets: actual weights right after the trades, at the
        close (the allocation history).
    schedule : DataFrame
        ``signal_date, execution_date`` per signal (``NaT`` when pending).
    trades : DataFrame
        ``date, signal_date, asset, side, shares, price, notional, commission,
        slippage, cost``; ``price`` is the fill price, ``notional = shares x price``.
    nav, cash : Series
        Daily, at the close after any trades.
    positions : DataFrame
        Daily shares held per asset.
    marks : DataFrame
        Daily marking prices (closes, carried forward over missing ones).
    costs : Series
        Daily total cost (commission + slippage).
    turnover : Series
        Daily traded value at the close / NAV before the trades.
    """

    signal_history: pd.DataFrame
    weights_history: pd.DataFrame
    schedule: pd.DataFrame
    trades: pd.DataFrame
    nav: pd.Series
    cash: pd.Series
    positions: pd.DataFrame
    marks: pd.DataFrame
    costs: pd.Series
    turnover: pd.Series


@dataclass(frozen=True)
class _Rates:
    slippage: float
    commission: float
    band: float
    max_weight: float
    min_weight: float

    @property
    def buy(self) -> float:
        return self.slippage + self.commission * (1.0 + self.slippage)

    @property
    def sell(self) -> float:
        return self.slippage + self.commission * (1.0 - self.slippage)


def _check_settings(delay, commission_bps, slippage_bps, no_trade_band, initial_cash) -> None:
    if isinstance(delay, bool) or not isinstance(delay, int | np.integer) or delay < 0:
        raise AllocationError(f"delay must be an integer >= 0 (trading days), got {delay!r}")
    for name, value in (("commission_bps", commission_bps), ("slippage_bps", slippage_bps)):
        if not (isinstance(value, int | float) and 0 <= value < 1000):
            raise AllocationError(f"{name} must be in [0, 1000) basis points, got {value!r}")
    if not (isinstance(no_trade_band, int | float) and 0 <= no_trade_band < 1):
        raise AllocationError(f"no_trade_band must be in [0, 1), got {no_trade_band!r}")
    if not (
        isinstance(initial_cash, int | float) and math.isfinite(initial_cash) and initial_cash > 0
    ):
        raise AllocationError(f"initial_cash must be a positive number, got {initial_cash!r}")


def _post_trade_nav(nav_pre, values, target, trade, rates: _Rates) -> float:
    """Solve ``V = nav_pre - sum_traded k |target V - value|`` by fixed-point iteration."""
    w, x = target[trade], values[trade]
    nav = nav_pre
    for _ in range(200):
        delta = w * nav - x
        cost = rates.buy * delta[delta > 0].sum() - rates.sell * delta[delta < 0].sum()
        new = nav_pre - cost
        if abs(new - nav) <= 1e-15 * nav_pre:
            return new
        nav = new
    return nav


def _choose_trades(values, nav_pre, target, tradable, rates: _Rates):
    """Which assets trade, and the post-trade NAV they are sized on."""
    if rates.band == 0.0:
        trade = tradable.copy()
    else:
        trade = tradable & (np.abs(target - values / nav_pre) > rates.band)
    for _ in range(values.size + 2):
        nav = _post_trade_nav(nav_pre, values, target, trade, rates)
        held = tradable & ~trade
        weight = values / nav
        force = held & (weight > rates.max_weight * (1 + _RULE_TOL))
        force |= held & (weight > 0) & (weight < rates.min_weight * (1 - _RULE_TOL))
        cash_after = nav - nav * target[trade].sum() - values[~trade].sum()
        if cash_after < -_RULE_TOL * nav:
            force |= held & (values > target * nav)
        if not force.any():
            return trade, nav
        trade |= force
    return trade, nav


def _fill(dq, price, cash, rates: _Rates):
    """Sells first, then buys scaled to fit the cash.

    Returns ``(dq, cash, fill, commission, slippage)``, per asset where relevant.
    """
    dq = dq.copy()
    sells, buys = dq < 0, dq > 0
    fill = np.where(buys, price * (1 + rates.slippage), price * (1 - rates.slippage))
    notional = np.abs(dq) * fill
    commission = rates.commission * notional
    cash = cash + notional[sells].sum() - commission[sells].sum()
    spend = notional[buys] + commission[buys]
    if spend.sum() > cash:
        scale = cash / spend.sum()
        # Step down by ulps until the rounded spend fits: cash must never go negative.
        while scale > 0 and cash - (spend * scale).sum() < 0:
            scale = float(np.nextafter(scale, 0.0))
        if scale < 1 - 1e-9:
            logger.warning("buys scaled down by a factor %.6f to fit the cash", scale)
        dq[buys] *= scale
        commission[buys] *= scale
        spend = spend * scale
    cash = cash - spend.sum()
    slippage = np.abs(dq) * price * rates.slippage
    return dq, cash, fill, commission, slippage


def _rebalance(shares, cash, mark, raw_price, target, rates: _Rates):
    """One execution at the close.

    Returns ``(shares, cash, dq, fill, commission, slippage, nav_pre)``.
    """
    values = shares * mark
    nav_pre = cash + values.sum()
    tradable = np.isfinite(raw_price)
    none = np.zeros(shares.size)
    if nav_pre <= 0:
        return shares, cash, none, mark, none, none, nav_pre
    trade, nav = _choose_trades(values, nav_pre, target, tradable, rates)
    price = np.where(tradable, raw_price, 1.0)
    dq = np.where(trade, target * nav / price - shares, 0.0)
    # Rounding-level trades (|value| < 1e-12 NAV) are noise, not orders.
    dq[np.abs(dq) * price < 1e-12 * nav_pre] = 0.0
    dq, cash, fill, commission, slippage = _fill(dq, price, cash, rates)
    return shares + dq, cash, dq, fill, commission, slippage, nav_pre


def _execution_plan(
    index: pd.DatetimeIndex, targets: pd.DataFrame, rebalance: Rebalance, delay: int
):
    """Signal positions, the target row each uses, and execution positions (-1 when pending)."""
    target_pos = index.get_indexer(targets.index)
    if (target_pos < 0).any():
        bad = targets.index[target_pos < 0][:5]
        raise AllocationError(
            f"target dates {[str(d.date()) for d in bad]} are not price dates; "
            "targets must be dated on the trading calendar of the prices"
        )
    signal_pos = np.flatnonzero(rebalance_mask(index, rebalance))
    row = np.searchsorted(target_pos, signal_pos, side="right") - 1
    keep = row >= 0
    signal_pos, row = signal_pos[keep], row[keep]
    exec_pos = signal_pos + 1 + delay
    exec_pos = np.where(exec_pos < len(index), exec_pos, -1)
    return signal_pos, row, exec_pos


def simulate_execution(
    prices: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    rebalance: Rebalance = "daily",
    delay: int = 0,
    commission_bps: float = 0.0,
    slippage_bps: float = 0.0,
    no_trade_band: float = 0.0,
    initial_cash: float = 1_000_000.0,
    max_weight: float | None = None,
    min_weight: float | None = None,
) -> ExecutionResult:
    """Trade a long-only portfolio to target weights, day by day (see the module docstring).

    Parameters
    ----------
    prices : DataFrame
        Dates x assets of closes (adjusted); NaN where an asset has no price.
    targets : DataFrame
        Signal dates x assets of target weights (a model's ``target_weights_``);
        dates must be price dates; NaN means no position.
    rebalance : {"daily", "weekly", "monthly"}
        Dates on which the latest target is sent for execution.
    delay : int
        Extra trading days between the signal and the fill (0 = next close).
    commission_bps, slippage_bps : float
        Per-side cost rates in basis points of the traded value.
    no_trade_band : float
        Absolute weight band inside which an asset is not traded (0 = always trade).
    initial_cash : float
    max_weight, min_weight : float, optional
        The caps the targets obey; with a band, an asset is traded anyway when
        leaving it would break them.

    Returns
    -------
    ExecutionResult
    """
    prices = check_prices(prices)
    targets = check_target_weights(targets, prices.columns)
    _check_settings(delay, commission_bps, slippage_bps, no_trade_band, initial_cash)
    rates = _Rates(
        slippage=slippage_bps / 1e4,
        commission=commission_bps / 1e4,
        band=float(no_trade_band),
        max_weight=math.inf if max_weight is None else float(max_weight),
        min_weight=0.0 if min_weight is None else float(min_weight),
    )
    index, assets = prices.index, prices.columns
    raw = prices.to_numpy()
    marks = prices.ffill().to_numpy()
    marks0 = np.nan_to_num(marks, nan=0.0)
    target_values = targets.to_numpy()
    signal_pos, row, exec_pos = _execution_plan(index, targets, rebalance, delay)

    n_days, n_assets = raw.shape
    positions = np.full((n_days, n_assets), np.nan)
    cash_path = np.full(n_days, np.nan)
    positions[0], cash_path[0] = 0.0, float(initial_cash)
    costs = np.zeros(n_days)
    turnover = np.zeros(n_days)
    post_weights, fills = [], []
    shares, cash = np.zeros(n_assets), float(initial_cash)
    for k in np.flatnonzero(exec_pos >= 0):
        t = exec_pos[k]
        shares, cash, dq, fill, commission, slippage, nav_pre = _rebalance(
            shares, cash, marks0[t], raw[t], target_values[row[k]], rates
        )
        positions[t], cash_path[t] = shares, cash
        costs[t] = commission.sum() + slippage.sum()
        turnover[t] = (np.abs(dq) * marks0[t]).sum() / nav_pre if nav_pre > 0 else 0.0
        value = shares * marks0[t]
        post_weights.append(value / (cash + value.sum()))
        traded = np.flatnonzero(dq)
        if traded.size:
            fills.append(
                {
                    "date": np.full(traded.size, t),
                    "signal_date": np.full(traded.size, signal_pos[k]),
                    "asset": traded,
                    "dq": dq[traded],
                    "price": fill[traded],
                    "commission": commission[traded],
                    "slippage": slippage[traded],
                }
            )
    # Between executions nothing changes but prices: carry shares and cash forward.
    positions = pd.DataFrame(positions, index=index, columns=assets).ffill()
    cash_series = pd.Series(cash_path, index=index, name="cash").ffill()
    nav = cash_series + (positions.to_numpy() * marks0).sum(axis=1)
    done = exec_pos >= 0
    return ExecutionResult(
        signal_history=_frame(target_values[row], index[signal_pos], assets, "signal_date"),
        weights_history=_frame(post_weights, index[exec_pos[done]], assets, "date"),
        schedule=pd.DataFrame(
            {
                "signal_date": index[signal_pos],
                "execution_date": pd.DatetimeIndex(
                    [index[e] if e >= 0 else pd.NaT for e in exec_pos], dtype=index.dtype
                ),
            }
        ),
        trades=_trades_frame(fills, index, assets),
        nav=nav.rename("nav"),
        cash=cash_series,
        positions=positions,
        marks=pd.DataFrame(marks, index=index, columns=assets),
        costs=pd.Series(costs, index=index, name="costs"),
        turnover=pd.Series(turnover, index=index, name="turnover"),
    )


def _frame(values, dates: pd.DatetimeIndex, assets: pd.Index, name: str) -> pd.DataFrame:
    data = np.asarray(values, dtype=np.float64).reshape(len(dates), len(assets))
    frame = pd.DataFrame(data, index=pd.DatetimeIndex(dates, name=name), columns=assets)
    return frame


def _trades_frame(fills: list[dict], index: pd.DatetimeIndex, assets: pd.Index) -> pd.DataFrame:
    if not fills:
        empty = np.zeros(0, dtype=np.int64)
        fills = [{k: empty for k in ("date", "signal_date", "asset")}]
        fills[0].update({k: np.zeros(0) for k in ("dq", "price", "commission", "slippage")})
    col = {key: np.concatenate([f[key] for f in fills]) for key in fills[0]}
    dq = col["dq"]
    shares = np.abs(dq)
    return pd.DataFrame(
        {
            "date": index[col["date"]],
            "signal_date": index[col["signal_date"]],
            "asset": assets[col["asset"]],
            "side": np.where(dq > 0, "buy", "sell"),
            "shares": shares,
            "price": col["price"],
            "notional": shares * col["price"],
            "commission": col["commission"],
            "slippage": col["slippage"],
            "cost": col["commission"] + col["slippage"],
        }
    )
