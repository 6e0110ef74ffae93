"""Risk overlays on any daily return stream (a signal cell, an allocation cell, a baseline).

An overlay turns a stream of daily simple returns ``r`` into ``e * r`` where the
exposure ``e[d]`` is decided at the close of day ``d - 1``: it uses returns (and
benchmark returns) up to and including ``d - 1`` only, never day ``d`` or later
(tests/property/test_overlay_lookahead.py changes every return after ``d`` and
checks that ``e`` up to ``d`` is unchanged, bit for bit). Exposure is applied
to the stream's return with no cost model: the overlay scales a return stream, it
does not trade the underlying book (see docs/overlays.md).

Overlays are named by text, ``NAME[:PARAM[:PARAM...]]``:

==========================  ================================================================
text                        exposure at day d (from data up to d - 1)
==========================  ================================================================
``none``                    1
``voltarget:T:L[:M]``       ``min(M, T / realized vol of the last L returns)``; 1 until L
                            returns exist, the last value while the window holds a
                            missing return. T annual (0.10 = 10%), M max leverage [2.0]
``ddcontrol:X:C[:R]``       C while the raw stream's drawdown is deeper than X, back to 1 once
                            it recovers to within R [X / 2] of its peak (hysteresis)
``trend:N[:C]``             1 when the benchmark's wealth index is at or above its N-day
                            simple moving average, else C [0]; 1 until N days exist
``regime``                  by the benchmark's regime (poc.allocation.regime): trend up 1,
                            compression 1, choppy 0.75, breaking vol 0.5, trend down 0.25,
                            warm-up 1 (seed 003's conservative/trend-regime scaling)
==========================  ================================================================

``trend`` and ``regime`` need a benchmark; asking for them without one is a
:class:`OverlayError` (no silent fallback to the stream itself). A NaN return
(no observation) stays NaN in the overlaid stream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from poc.exceptions import ConfigError

PERIODS_PER_YEAR = 252

REGIME_EXPOSURE = {
    "trend_up": 1.0,
    "compression": 1.0,
    "choppy": 0.75,
    "breaking_vol": 0.5,
    "trend_down": 0.25,
    "warmup": 1.0,
}


class OverlayError(ConfigError):
    """An overlay text cannot be read, or an overlay lacks the data it needs."""


@dataclass(frozen=True)
class ParamSpec:
    """One positional parameter of an overlay: name, kind, default (None = required), check."""

    name: str
    kind: type
    default: float | int | None
    check: Callable[[float], bool]
    rule: str


@dataclass(frozen=True)
class OverlaySpec:
    """A parsed overlay: its name and its parameters by name (defaults filled in)."""

    name: str
    params: tuple[tuple[str, float], ...] = ()

    @property
    def text(self) -> str:
        """The canonical text (every parameter, defaults included): ``voltarget:0.1:63:2``."""
        values = [_fmt(v) for _, v in self.params]
        return ":".join([self.name, *values])

    def param(self, name: str) -> float:
        return dict(self.params)[name]

    @property
    def needs_benchmark(self) -> bool:
        return OVERLAYS[self.name].needs_benchmark


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _positive(x: float) -> bool:
    return x > 0


def _fraction(x: float) -> bool:
    return 0 < x < 1


def _exposure_level(x: float) -> bool:
    return 0 <= x <= 1


def _window(x: float) -> bool:
    return x >= 2


# --------------------------------------------------------------------------
# Signals: each returns the exposure decided at the close of each day t from data up
# to t (inclusive). `exposure_series` shifts it by one day, so day d uses data to d-1.
# --------------------------------------------------------------------------


def _wealth(returns: np.ndarray) -> np.ndarray:
    return np.cumprod(1.0 + np.nan_to_num(returns, nan=0.0))


def _voltarget(r: np.ndarray, bench: np.ndarray | None, p: dict) -> np.ndarray:
    window = int(p["lookback"])
    # pandas' rolling std walks forward through the data, so the value at t only sees
    # returns up to t; NaN returns are skipped and a window needs `window` observations.
    vol = pd.Series(r).rolling(window, min_periods=window).std().to_numpy()
    vol = vol * np.sqrt(PERIODS_PER_YEAR)
    with np.errstate(divide="ignore", invalid="ignore"):
        level = np.minimum(p["max_leverage"], p["target"] / vol)  # zero vol -> the cap
    # A window holding a missing return has no estimate: keep the last exposure (a gap
    # brings no news) rather than jump back to 1; before the first full window, 1.
    return pd.Series(level).ffill().fillna(1.0).to_numpy()


def _ddcontrol(r: np.ndarray, bench: np.ndarray | None, p: dict) -> np.ndarray:
    wealth = _wealth(r)
    peak = np.maximum.accumulate(np.concatenate(([1.0], wealth)))[1:]
    drawdown = wealth / peak - 1.0
    # Hysteresis without a loop: a day is a "cut" event when the drawdown is deeper
    # than the threshold, a "re-enter" event when it is within the re-entry band;
    # the state is the last event so far (forward fill), "invested" before any event.
    event = np.full(r.size, np.nan)
    event[drawdown <= -p["threshold"]] = 1.0
    event[drawdown >= -p["reenter"]] = 0.0
    state = pd.Series(event).ffill().fillna(0.0).to_numpy()
    return np.where(state > 0, p["cut_to"], 1.0)


def _trend(r: np.ndarray, bench: np.ndarray | None, p: dict) -> np.ndarray:
    window = int(p["window"])
    wealth = _wealth(bench)
    sma = pd.Series(wealth).rolling(window, min_periods=window).mean().to_numpy()
    on = np.where(np.isfinite(sma), wealth >= sma, True)
    return np.where(on, 1.0, p["off_exposure"])


def _regime(r: np.ndarray, bench: np.ndarray | None, p: dict) -> np.ndarray:
    from poc.allocation.regime import classify_regimes

    # The rules use trailing windows by position, so any sorted dates will do here.
    index = pd.bdate_range("2000-01-03", periods=bench.size)
    labels = classify_regimes(pd.Series(bench, index=index))
    return labels.map(REGIME_EXPOSURE).to_numpy(dtype=np.float64)


def _none(r: np.ndarray, bench: np.ndarray | None, p: dict) -> np.ndarray:
    return np.ones(r.size)


@dataclass(frozen=True)
class OverlayDef:
    """A registered overlay: its parameters, whether it reads the benchmark, its signal."""

    name: str
    params: tuple[ParamSpec, ...]
    needs_benchmark: bool
    signal: Callable[[np.ndarray, np.ndarray | None, dict], np.ndarray]
    summary: str


OVERLAYS: dict[str, OverlayDef] = {
    "none": OverlayDef("none", (), False, _none, "the raw stream (exposure 1)"),
    "voltarget": OverlayDef(
        "voltarget",
        (
            ParamSpec("target", float, None, _positive, "an annual volatility > 0, e.g. 0.10"),
            ParamSpec("lookback", int, None, _window, "a window of at least 2 days, e.g. 63"),
            ParamSpec("max_leverage", float, 2.0, _positive, "a maximum exposure > 0"),
        ),
        False,
        _voltarget,
        "volatility targeting",
    ),
    "ddcontrol": OverlayDef(
        "ddcontrol",
        (
            ParamSpec("threshold", float, None, _fraction, "a drawdown in (0, 1), e.g. 0.10"),
            ParamSpec("cut_to", float, None, _exposure_level, "an exposure in [0, 1], e.g. 0.5"),
            ParamSpec("reenter", float, 0.0, _fraction, "a drawdown in (0, threshold]"),
        ),
        False,
        _ddcontrol,
        "drawdown control",
    ),
    "trend": OverlayDef(
        "trend",
        (
            ParamSpec("window", int, None, _window, "a moving-average window >= 2, e.g. 200"),
            ParamSpec("off_exposure", float, 0.0, _exposure_level, "an exposure in [0, 1]"),
        ),
        True,
        _trend,
        "trend filter on the benchmark",
    ),
    "regime": OverlayDef("regime", (), True, _regime, "regime exposure scaling"),
}


def _usage(defn: OverlayDef) -> str:
    parts = [defn.name] + [p.name if p.default is None else f"[{p.name}]" for p in defn.params]
    return ":".join(parts)


def parse_overlay(text: str) -> OverlaySpec:
    """Read an overlay text such as ``"voltarget:0.10:63"``.

    Parameters
    ----------
    text : str
        ``none``, ``voltarget:TARGET:LOOKBACK[:MAX_LEVERAGE]``,
        ``ddcontrol:THRESHOLD:CUT_TO[:REENTER]``, ``trend:WINDOW[:OFF_EXPOSURE]``
        or ``regime``.

    Returns
    -------
    OverlaySpec
        With every parameter filled in (defaults included).

    Raises
    ------
    OverlayError
        Unknown name, wrong number of parameters, or a value out of range; the
        message names the overlay's usage.
    """
    if isinstance(text, OverlaySpec):
        return text
    if not isinstance(text, str) or not text.strip():
        raise OverlayError(
            f"overlay must be a text such as 'none' or 'voltarget:0.10:63', got {text!r}"
        )
    name, *raw = [part.strip() for part in text.strip().split(":")]
    name = name.lower()
    if name not in OVERLAYS:
        raise OverlayError(
            f"unknown overlay {name!r} in {text!r}; known overlays: "
            + ", ".join(_usage(d) for d in OVERLAYS.values())
        )
    defn = OVERLAYS[name]
    required = sum(p.default is None for p in defn.params)
    if not required <= len(raw) <= len(defn.params):
        raise OverlayError(
            f"overlay {text!r}: {name} takes {required} to {len(defn.params)} parameter(s), "
            f"got {len(raw)}; usage {_usage(defn)}"
        )
    values: dict[str, float] = {}
    for i, spec in enumerate(defn.params):
        if i < len(raw):
            try:
                value = float(raw[i])
            except ValueError:
                raise OverlayError(
                    f"overlay {text!r}: {spec.name} must be a number, got {raw[i]!r}"
                ) from None
            if spec.kind is int:
                if not value.is_integer():
                    raise OverlayError(
                        f"overlay {text!r}: {spec.name} must be a whole number, got {raw[i]!r}"
                    )
                value = int(value)
        elif spec.name == "reenter":
            value = values["threshold"] / 2.0  # its default depends on the threshold
        else:
            value = spec.default
        if not np.isfinite(value) or not spec.check(value):
            raise OverlayError(f"overlay {text!r}: {spec.name} must be {spec.rule}, got {value}")
        values[spec.name] = value
    if name == "ddcontrol" and values["reenter"] > values["threshold"]:
        raise OverlayError(
            f"overlay {text!r}: reenter ({values['reenter']}) must not exceed threshold "
            f"({values['threshold']}); re-entry happens on the way back up"
        )
    return OverlaySpec(name, tuple(values.items()))


def _aligned(returns: pd.Series, benchmark: pd.Series | None, spec: OverlaySpec):
    if not isinstance(returns, pd.Series):
        raise TypeError(f"returns must be a pandas Series, got {type(returns).__name__}")
    if not returns.index.is_monotonic_increasing:
        raise OverlayError("returns need a sorted index of dates; sort them first")
    r = returns.to_numpy(dtype=np.float64)
    if np.isinf(r).any():
        raise OverlayError("returns contain infinite values; fix the input data")
    bench = None
    if spec.needs_benchmark:
        if benchmark is None:
            raise OverlayError(
                f"overlay {spec.text!r} reads the benchmark; pass benchmark= (e.g. the "
                "snapshot's benchmark returns) or use voltarget/ddcontrol"
            )
        if not isinstance(benchmark, pd.Series):
            raise TypeError(f"benchmark must be a pandas Series, got {type(benchmark).__name__}")
        # A benchmark day missing from the stream's calendar is not seen; a stream day
        # missing from the benchmark counts as a flat benchmark day (no observation).
        bench = benchmark.reindex(returns.index).to_numpy(dtype=np.float64)
    return r, bench


def overlay_exposure(
    text: str | OverlaySpec, returns: pd.Series, benchmark: pd.Series | None = None
) -> pd.Series:
    """Exposure per day of an overlay on ``returns``.

    Parameters
    ----------
    text : str or OverlaySpec
        See :func:`parse_overlay`.
    returns : Series
        Daily simple returns of the raw stream, sorted by date (NaN = no observation).
    benchmark : Series, optional
        Daily benchmark returns; required by ``trend`` and ``regime``.

    Returns
    -------
    Series
        ``exposure`` on ``returns.index``: the value at day ``d`` is decided from
        data up to ``d - 1``; day 0 has exposure 1 (nothing is known yet).
    """
    spec = parse_overlay(text)
    r, bench = _aligned(returns, benchmark, spec)
    if r.size == 0:
        return pd.Series(np.ones(0), index=returns.index, name="exposure")
    decided = OVERLAYS[spec.name].signal(r, bench, dict(spec.params))
    exposure = np.concatenate(([1.0], decided[:-1]))
    return pd.Series(exposure, index=returns.index, name="exposure")


def apply_overlay(
    text: str | OverlaySpec, returns: pd.Series, benchmark: pd.Series | None = None
) -> pd.Series:
    """Daily returns of the overlaid stream: ``exposure * returns`` (NaN stays NaN).

    Parameters and the no-lookahead rule as in :func:`overlay_exposure`.
    """
    exposure = overlay_exposure(text, returns, benchmark)
    out = exposure.to_numpy() * returns.to_numpy(dtype=np.float64)
    return pd.Series(out, index=returns.index, name=returns.name)


def overlay_names() -> list[str]:
    """Usage text of every registered overlay (for help and error messages)."""
    return [_usage(d) for d in OVERLAYS.values()]


# --------------------------------------------------------------------------
# Attribution
# --------------------------------------------------------------------------


def overlay_attribution(returns: pd.Series, exposure: pd.Series) -> pd.DataFrame:
    """Split the overlay's daily return minus the raw return into two parts.

    With exposure ``e`` and its mean ``m`` over the period,
    ``e*r - r = (m - 1)*r + (e - m)*r``:

    * ``scaling``: ``(m - 1) * r``, what a constant exposure at the overlay's
      average level would have added (the volatility-scaling / de-risking part);
    * ``timing``: ``(e - m) * r``, what moving exposure over time added on top
      (positive when exposure was high on good days and low on bad ones).

    The two parts sum to ``difference`` exactly every day. The mean ``m`` is taken
    over the whole period: attribution is an after-the-fact reading, not a decision.

    Parameters
    ----------
    returns : Series
        Raw daily returns.
    exposure : Series
        The overlay's exposure on the same index (from :func:`overlay_exposure`).

    Returns
    -------
    DataFrame
        ``raw, overlay, difference, scaling, timing`` per day; days with a NaN
        return are NaN in every column.
    """
    r = returns.to_numpy(dtype=np.float64)
    e = exposure.reindex(returns.index).to_numpy(dtype=np.float64)
    observed = np.isfinite(r) & np.isfinite(e)
    mean_exposure = float(e[observed].mean()) if observed.any() else np.nan
    frame = pd.DataFrame(
        {
            "raw": r,
            "overlay": e * r,
            "difference": e * r - r,
            "scaling": (mean_exposure - 1.0) * r,
            "timing": (e - mean_exposure) * r,
        },
        index=returns.index,
    )
    frame[~observed] = np.nan
    return frame


def attribution_summary(frame: pd.DataFrame) -> dict[str, float]:
    """Annualized mean of each attribution column (x 252), plus the mean exposure implied.

    ``difference_ann = scaling_ann + timing_ann`` up to rounding.
    """
    means = frame[["raw", "overlay", "difference", "scaling", "timing"]].mean()
    return {f"{k}_ann": float(v * PERIODS_PER_YEAR) for k, v in means.items()}
