"""Settings of one portfolio simulation, validated once at the edge."""

from __future__ import annotations

import math
from dataclasses import dataclass

from poc.exceptions import ConfigError


@dataclass(frozen=True)
class PortfolioConfig:
    """One capital-constrained long-only book (see docs/portfolio.md).

    Attributes
    ----------
    hold_days : int
        Time exit: a position filled on day ``e`` is sold at the fill of day
        ``e + hold_days`` (decided at the close of ``e + hold_days - 1``).
    gate : bool
        When True a name must rank at or above ``gate_percentile`` to enter;
        when False every name with a signal may enter (still best first).
    gate_percentile : float
        Cross-sectional percentile in [0, 100] (100 = best signal of the day).
    decay_percentile : float or None
        Signal-decay exit: a held name whose percentile falls below it is sold
        at the next fill. None disables the rule.
    max_positions : int
        Most names held at once (pending entries count).
    risk_per_trade : float
        Fraction of equity lost if the stop is hit at its level:
        ``shares = risk_per_trade x equity / stop distance``.
    max_weight : float
        Cap on a new position's value as a fraction of equity.
    stop_multiple : float
        Stop distance = ``stop_multiple x ATR`` (price units) at the decision day.
    atr_days : int
        Window of the average true range (close-only: mean absolute close change).
    lag : int
        Extra trading days between the day a signal row is usable and the
        decision that uses it (docs/conventions.md, Lag).
    commission_bps, slippage_bps : float
        Per side, in basis points of the traded value / the fill price.
    initial_cash : float
    """

    hold_days: int = 21
    gate: bool = True
    gate_percentile: float = 80.0
    decay_percentile: float | None = None
    max_positions: int = 5
    risk_per_trade: float = 0.01
    max_weight: float = 0.25
    stop_multiple: float = 3.0
    atr_days: int = 14
    lag: int = 0
    commission_bps: float = 5.0
    slippage_bps: float = 5.0
    initial_cash: float = 1_000_000.0

    def __post_init__(self) -> None:
        _whole("hold_days", self.hold_days, 1)
        _whole("max_positions", self.max_positions, 1)
        _whole("atr_days", self.atr_days, 1)
        _whole("lag", self.lag, 0)
        if not isinstance(self.gate, bool):
            raise ConfigError(f"gate must be true or false, got {self.gate!r}")
        _between("gate_percentile", self.gate_percentile, 0.0, 100.0)
        if self.decay_percentile is not None:
            _between("decay_percentile", self.decay_percentile, 0.0, 100.0)
        _between("risk_per_trade", self.risk_per_trade, 0.0, 1.0, open_low=True)
        _between("max_weight", self.max_weight, 0.0, 1.0, open_low=True)
        _between("stop_multiple", self.stop_multiple, 0.0, 100.0, open_low=True)
        _between("commission_bps", self.commission_bps, 0.0, 999.0)
        _between("slippage_bps", self.slippage_bps, 0.0, 999.0)
        _between("initial_cash", self.initial_cash, 0.0, 1e15, open_low=True)

    @property
    def commission(self) -> float:
        return self.commission_bps / 1e4

    @property
    def slippage(self) -> float:
        return self.slippage_bps / 1e4


def _whole(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be a whole number >= {low}, got {value!r}")


def _between(name: str, value, low: float, high: float, open_low: bool = False) -> None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (value > low if open_low else value >= low) and value <= high
    if not ok:
        bracket = "(" if open_low else "["
        raise ConfigError(f"{name} must be in {bracket}{low:g}, {high:g}], got {value!r}")
