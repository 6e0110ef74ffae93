"""Where snapshot data comes from.

Three sources, each returning a :class:`~poc.types.SnapshotData` that
:func:`poc.catalog.create_snapshot` writes:

* :func:`bundled_sp500` -- real daily prices of 20 US large caps and the S&P 500
  index, 1990-2022, shipped inside the ``skfolio`` wheel (no network).
* :func:`synthetic_panel` -- a seeded factor-model panel with a companion
  signal whose predictive power is planted and documented.
* :func:`from_files` -- a user's own returns / risk / securities tables.

Every exposure computed here at date ``d`` uses prices up to and including the
close of ``d`` only, so a risk row dated ``d`` is knowable at the end of ``d``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from poc.exceptions import SourceDataError
from poc.reading import parse_dates, read_table
from poc.types import SnapshotData

RETURN_OPTIONAL = ("openret", "close_adj", "volume", "mcap", "half_spread")
STYLE_NAMES = ("size", "value", "momentum", "volatility", "beta")

# Public GICS sectors of the 20 names in skfolio's S&P 500 sample.
BUNDLED_SECURITIES = (
    ("AAPL", "Apple Inc.", "Information Technology"),
    ("AMD", "Advanced Micro Devices Inc.", "Information Technology"),
    ("BAC", "Bank of America Corp.", "Financials"),
    ("BBY", "Best Buy Co. Inc.", "Consumer Discretionary"),
    ("CVX", "Chevron Corp.", "Energy"),
    ("GE", "General Electric Co.", "Industrials"),
    ("HD", "Home Depot Inc.", "Consumer Discretionary"),
    ("JNJ", "Johnson & Johnson", "Health Care"),
    ("JPM", "JPMorgan Chase & Co.", "Financials"),
    ("KO", "Coca-Cola Co.", "Consumer Staples"),
    ("LLY", "Eli Lilly and Co.", "Health Care"),
    ("MRK", "Merck & Co. Inc.", "Health Care"),
    ("MSFT", "Microsoft Corp.", "Information Technology"),
    ("PEP", "PepsiCo Inc.", "Consumer Staples"),
    ("PFE", "Pfizer Inc.", "Health Care"),
    ("PG", "Procter & Gamble Co.", "Consumer Staples"),
    ("RRC", "Range Resources Corp.", "Energy"),
    ("UNH", "UnitedHealth Group Inc.", "Health Care"),
    ("WMT", "Walmart Inc.", "Consumer Staples"),
    ("XOM", "Exxon Mobil Corp.", "Energy"),
)

# Planted predictive power of the synthetic signal: correlation of the signal
# with the idiosyncratic shock of the return it predicts, per lag (0, 1, 2).
# With the factor and volatility dispersion of the panel this gives a
# cross-sectional rank IC of about 0.03 against the next day's total return.
PLANTED_SHOCK_CORR = (0.035, 0.0175, 0.00875)


# --------------------------------------------------------------------------
# Rolling helpers on dense (dates x securities) arrays; NaN-aware, causal.
# --------------------------------------------------------------------------


def _rolling_sum(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Trailing sums and observation counts over ``window`` rows (inclusive of the row)."""
    finite = np.isfinite(values)
    filled = np.where(finite, values, 0.0)
    csum = np.cumsum(filled, axis=0)
    ccount = np.cumsum(finite, axis=0)
    total = csum.copy()
    count = ccount.astype(np.float64)
    total[window:] -= csum[:-window]
    count[window:] -= ccount[:-window]
    return total, count


def rolling_std(values: np.ndarray, window: int, min_periods: int) -> np.ndarray:
    """Trailing sample standard deviation (ddof=1) over ``window`` rows."""
    s1, n = _rolling_sum(values, window)
    s2, _ = _rolling_sum(values * values, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = (s2 - s1 * s1 / n) / (n - 1)
    var = np.where(n >= max(min_periods, 2), np.maximum(var, 0.0), np.nan)
    return np.sqrt(var)


def rolling_beta(
    returns: np.ndarray, market: np.ndarray, window: int, min_periods: int
) -> np.ndarray:
    """Trailing OLS beta of each column of ``returns`` on ``market`` over ``window`` rows."""
    m = np.broadcast_to(market[:, None], returns.shape)
    both = np.isfinite(returns) & np.isfinite(m)
    r = np.where(both, returns, np.nan)
    mm = np.where(both, m, np.nan)
    sr, n = _rolling_sum(r, window)
    sm, _ = _rolling_sum(mm, window)
    srm, _ = _rolling_sum(r * mm, window)
    smm, _ = _rolling_sum(mm * mm, window)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = srm - sr * sm / n
        var = smm - sm * sm / n
        beta = cov / var
    return np.where((n >= min_periods) & (var > 0), beta, np.nan)


def momentum_12_1(close: np.ndarray, lookback: int = 252, skip: int = 21) -> np.ndarray:
    """``close[d - skip] / close[d - lookback] - 1``: the 12-1 month return known at ``d``."""
    out = np.full(close.shape, np.nan)
    out[lookback:] = close[lookback - skip : -skip] / close[:-lookback] - 1.0
    return out


# --------------------------------------------------------------------------
# Dense -> long conversion
# --------------------------------------------------------------------------


def _long_frame(
    dates: np.ndarray, ids: np.ndarray, present: np.ndarray, columns: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Flatten (dates x securities) arrays into a long frame sorted by (date, security_id)."""
    rows, cols = np.nonzero(present)
    frame = {"security_id": ids[cols], "date": dates[rows]}
    for name, values in columns.items():
        frame[name] = values[rows, cols]
    return pd.DataFrame(frame)


# --------------------------------------------------------------------------
# Bundled real data
# --------------------------------------------------------------------------


def bundled_sp500() -> SnapshotData:
    """The default real snapshot from the price history shipped with ``skfolio``.

    20 US large caps and the S&P 500 index, daily adjusted closes, 1990-2022.
    Returns are close-to-close from the adjusted closes; ``beta`` (252-day,
    to the index), ``volatility`` (60-day) and ``momentum`` (12-1) are computed
    from prices up to each date. Market caps, value and open prices are not in
    the source and are recorded as absent.
    """
    from skfolio.datasets import load_sp500_dataset, load_sp500_index

    prices = load_sp500_dataset()
    index = load_sp500_index().iloc[:, 0]
    tickers = [t for t, _, _ in BUNDLED_SECURITIES]
    if sorted(prices.columns) != sorted(tickers):
        raise SourceDataError(
            f"skfolio's S&P 500 sample has tickers {sorted(prices.columns)}, expected {tickers}; "
            "pin the skfolio version listed in pyproject.toml"
        )
    prices = prices[tickers].sort_index()
    index = index.reindex(prices.index)
    dates = prices.index.values.astype("datetime64[ns]")
    close = prices.to_numpy(dtype=np.float64)
    close = np.where(close > 0, close, np.nan)

    ret = np.full(close.shape, np.nan)
    ret[1:] = close[1:] / close[:-1] - 1.0
    market = np.full(len(dates), np.nan)
    idx = index.to_numpy(dtype=np.float64)
    market[1:] = idx[1:] / idx[:-1] - 1.0

    ids = np.arange(1, len(tickers) + 1, dtype=np.int64)
    present = np.isfinite(ret)
    returns = _long_frame(dates, ids, present, {"ret": ret, "close_adj": close})
    risk_cols = {
        "beta": rolling_beta(ret, market, 252, 126),
        "volatility": rolling_std(ret, 60, 40),
        "momentum": momentum_12_1(close),
    }
    sectors = np.array([s for _, _, s in BUNDLED_SECURITIES], dtype=object)
    industry = np.broadcast_to(sectors[None, :], ret.shape)
    risk = _long_frame(dates, ids, present, {"industry": industry, **risk_cols})
    risk["industry"] = risk["industry"].astype("category")

    securities = pd.DataFrame(
        {
            "security_id": ids,
            "ticker": tickers,
            "name": [n for _, n, _ in BUNDLED_SECURITIES],
            "sector": sectors,
        }
    )
    benchmark = pd.DataFrame({"date": dates[1:], "ret": market[1:]})
    return SnapshotData(
        securities=securities,
        returns=returns,
        risk=risk,
        calendar=pd.DataFrame({"date": dates}),
        benchmark=benchmark,
        source="bundled",
        params={"dataset": "skfolio.datasets.load_sp500_dataset", "benchmark": "S&P 500 index"},
        absent=["openret", "mcap", "volume", "half_spread", "value", "size"],
        notes=[
            "Real daily adjusted closes of 20 US large caps and the S&P 500 index "
            "(skfolio sample).",
            "ret: close-to-close return from adjusted closes; the first date has no return.",
            "industry: the company's public GICS sector.",
            "beta: trailing 252-day OLS beta to the index (>=126 obs); volatility: trailing "
            "60-day std of daily returns (>=40 obs); momentum: close[d-21]/close[d-252]-1. "
            "Each uses data up to the close of its date only.",
            "Survivorship: the 20 names are today's survivors; results on them are biased upward.",
        ],
    )


# --------------------------------------------------------------------------
# Synthetic factor-model panel
# --------------------------------------------------------------------------


def synthetic_panel(
    n_securities: int, n_days: int, seed: int, n_industries: int = 10
) -> SnapshotData:
    """A seeded factor-model panel with a planted-alpha companion signal.

    Daily returns are ``beta * market + industry + value_exposure * value_factor
    + size_loading * size_factor + sigma * shock``. The companion signal
    ``planted`` is i.i.d. N(0, 1) per (security, date); the idiosyncratic shock
    of day ``t`` loads on the signal of days ``t-1``, ``t-2``, ``t-3`` with
    correlations :data:`PLANTED_SHOCK_CORR`, so the signal dated ``d`` (usable at
    the end of ``d``) predicts the return of ``d+1`` (lag 0), and less so the
    returns of ``d+2`` and ``d+3`` (lags 1 and 2). About 20% of names list late
    and 10% delist early, so the panel has gaps like real data.

    Parameters
    ----------
    n_securities, n_days : int
        Panel size.
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same data.
    n_industries : int
        Number of industries.
    """
    if n_securities < 10 or n_days < 30:
        raise SourceDataError(
            f"synthetic panel needs at least 10 securities and 30 days, got "
            f"{n_securities} x {n_days}; pass larger --securities/--days"
        )
    rng = np.random.default_rng(seed)
    n, t = n_securities, n_days
    dates = pd.bdate_range("2012-01-03", periods=t).values.astype("datetime64[ns]")
    ids = np.arange(1, n + 1, dtype=np.int64)

    # Listing windows: most names trade throughout, some list late or delist early.
    start = np.where(rng.random(n) < 0.2, rng.integers(0, t // 2, n), 0)
    end = np.where(rng.random(n) < 0.1, rng.integers(t // 2, t, n), t)
    day = np.arange(t)[:, None]
    present = (day >= start[None, :]) & (day < end[None, :])

    industry_of = rng.integers(0, n_industries, n)
    beta = np.clip(rng.normal(1.0, 0.3, n), 0.2, 2.0)
    sigma = np.exp(rng.normal(np.log(0.018), 0.35, n))
    size_loading = rng.normal(0.0, 1.0, n)
    value_mean = rng.normal(0.0, 1.0, n)

    market = rng.normal(0.0003, 0.010, t)
    industry_factor = rng.normal(0.0, 0.005, (t, n_industries))
    value_factor = rng.normal(0.0, 0.002, t)
    size_factor = rng.normal(0.0, 0.002, t)

    # Slowly moving value exposure: AR(1) around each name's own mean.
    phi = 0.995
    value = np.empty((t, n))
    value[0] = value_mean + rng.normal(0.0, 1.0, n)
    innov = rng.normal(0.0, np.sqrt(1 - phi * phi), (t, n))
    for i in range(1, t):
        value[i] = value_mean + phi * (value[i - 1] - value_mean) + innov[i]

    planted = rng.standard_normal((t, n))
    b = np.asarray(PLANTED_SHOCK_CORR)
    shock = np.sqrt(1.0 - np.sum(b * b)) * rng.standard_normal((t, n))
    for k, bk in enumerate(b, start=1):
        shock[k:] += bk * planted[:-k]

    ret = (
        beta[None, :] * market[:, None]
        + industry_factor[:, industry_of]
        + value * value_factor[:, None]
        + size_loading[None, :] * size_factor[:, None]
        + sigma[None, :] * shock
    )
    ret = np.where(present, ret, np.nan)
    del shock, innov

    growth = np.where(present, 1.0 + ret, 1.0)
    close = 20.0 * np.exp(rng.normal(0, 0.8, n))[None, :] * np.cumprod(growth, axis=0)
    mcap = np.exp(rng.normal(np.log(5e9), 1.2, n))[None, :] * np.cumprod(growth, axis=0)
    del growth

    # Open prices: a share of each day's move happens overnight; openret_t is
    # the open(t-1) -> open(t) return.
    overnight = 0.3 * np.nan_to_num(ret) + rng.normal(0.0, 0.002, (t, n))
    open_price = np.empty_like(close)
    open_price[0] = close[0] / (1.0 + np.nan_to_num(ret[0])) * (1.0 + overnight[0])
    open_price[1:] = close[:-1] * (1.0 + overnight[1:])
    openret = np.full((t, n), np.nan)
    openret[1:] = open_price[1:] / open_price[:-1] - 1.0
    openret[~present] = np.nan
    openret[1:][~present[:-1]] = np.nan  # no open-to-open return on a listing day
    del overnight, open_price

    log_mcap = np.log(mcap)
    size = (log_mcap - log_mcap.mean(axis=1, keepdims=True)) / log_mcap.std(axis=1, keepdims=True)
    half_spread = np.clip(0.0005 * np.exp(-0.6 * size), 0.0001, 0.005)
    listed_close = np.where(present, close, np.nan)
    volatility = rolling_std(ret, 60, 40)
    momentum = momentum_12_1(listed_close)

    first_day = np.zeros_like(present)
    first_day[start, np.arange(n)] = True
    ret_present = present & ~first_day & np.isfinite(ret)
    ret = np.where(first_day, np.nan, ret)
    returns = _long_frame(
        dates,
        ids,
        ret_present,
        {
            "ret": ret,
            "openret": openret,
            "close_adj": close,
            "mcap": mcap.astype(np.float64),
            "half_spread": half_spread,
        },
    )
    del openret, mcap, half_spread
    industry_names = np.array([f"IND{k:02d}" for k in range(n_industries)], dtype=object)
    risk = _long_frame(
        dates,
        ids,
        present,
        {
            "industry_code": np.broadcast_to(industry_of[None, :], (t, n)),
            "size": size.astype(np.float32),
            "value": value.astype(np.float32),
            "momentum": momentum.astype(np.float32),
            "volatility": volatility.astype(np.float32),
            "beta": np.broadcast_to(beta[None, :], (t, n)).astype(np.float32),
        },
    )
    codes = risk.pop("industry_code").to_numpy()
    risk.insert(2, "industry", pd.Categorical.from_codes(codes, categories=industry_names))
    del value, momentum, volatility, size

    signal = _long_frame(dates, ids, present, {"signal": planted})
    signal = signal.rename(columns={"date": "date_sig"})
    signal.insert(2, "date_avail", signal["date_sig"])

    securities = pd.DataFrame(
        {
            "security_id": ids,
            "ticker": [f"SYN{i:05d}" for i in ids],
            "name": [f"Synthetic {i}" for i in ids],
            "sector": industry_names[industry_of],
        }
    )
    return SnapshotData(
        securities=securities,
        returns=returns,
        risk=risk,
        calendar=pd.DataFrame({"date": dates}),
        benchmark=pd.DataFrame({"date": dates, "ret": market}),
        source="synthetic",
        params={
            "securities": n,
            "days": t,
            "seed": seed,
            "industries": n_industries,
            "planted_shock_corr": list(PLANTED_SHOCK_CORR),
        },
        signals={"planted": signal},
        absent=["volume"],
        notes=[
            "Synthetic factor-model panel: ret = beta*market + industry factor + "
            "value*value_factor + size_loading*size_factor + sigma*shock.",
            "Companion signal 'planted' (signals/planted.parquet): i.i.d. N(0,1), usable on its "
            "date; corr with the idiosyncratic shock of the return at lag 0/1/2 = "
            f"{PLANTED_SHOCK_CORR}, i.e. a rank IC near 0.03 vs next-day returns at lag 0, "
            "halving with each lag.",
            "openret: open(t-1) -> open(t) return; 30% of each move happens overnight.",
            "half_spread: a per-name, per-day half bid-ask spread as a fraction, "
            "wider for small caps.",
            "size: cross-sectional z-score of log market cap; value: AR(1) exposure; momentum "
            "and volatility computed from prices up to each date.",
        ],
    )


# --------------------------------------------------------------------------
# User files
# --------------------------------------------------------------------------


def _require_columns(frame: pd.DataFrame, required: tuple[str, ...], what: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise SourceDataError(
            f"{what} is missing column(s) {missing}; expected {list(required)} "
            f"(got {list(frame.columns)}). Rename your columns to match"
        )


def _coerce_keys(frame: pd.DataFrame, what: str) -> pd.DataFrame:
    frame = frame.copy()
    dates, refused = parse_dates(frame["date"], f"{what}: column 'date'")
    if refused:
        raise SourceDataError(refused)
    if dates.isna().any():
        bad = frame.loc[dates.isna(), "date"].head(3).tolist()
        raise SourceDataError(
            f"{what}: column 'date' has {int(dates.isna().sum())} missing or unparseable "
            f"date(s), e.g. {bad}; use ISO dates like 2020-01-31"
        )
    frame["date"] = dates
    ids = pd.to_numeric(frame["security_id"], errors="coerce")
    if ids.isna().any() or (ids != ids.round()).any():
        bad = frame.loc[ids.isna() | (ids != ids.round()), "security_id"].head(3).tolist()
        raise SourceDataError(f"{what}: security_id must be integers, got e.g. {bad}")
    frame["security_id"] = ids.astype(np.int64)
    dup = frame.duplicated(["security_id", "date"])
    if dup.any():
        ex = frame.loc[dup, ["security_id", "date"]].head(3).to_dict("records")
        raise SourceDataError(
            f"{what} has {int(dup.sum())} duplicate (security_id, date) rows, e.g. {ex}; "
            "drop duplicates first"
        )
    return frame.sort_values(["date", "security_id"], kind="stable").reset_index(drop=True)


def from_files(
    returns_path: str | Path,
    risk_path: str | Path | None = None,
    securities_path: str | Path | None = None,
    benchmark_path: str | Path | None = None,
) -> SnapshotData:
    """Import a user's own panel from CSV or parquet files.

    Parameters
    ----------
    returns_path
        Columns ``security_id, date, ret``; optional ``openret, close_adj,
        volume, mcap, half_spread``.
    risk_path
        Columns ``security_id, date, industry`` plus numeric style exposures.
    securities_path
        Columns ``security_id`` and optionally ``ticker, name, sector``.
    benchmark_path
        Columns ``date, ret``.
    """
    returns = read_table(returns_path)
    _require_columns(returns, ("security_id", "date", "ret"), f"returns file {returns_path}")
    returns = _coerce_keys(returns, "returns file")
    keep = ["security_id", "date", "ret", *[c for c in RETURN_OPTIONAL if c in returns.columns]]
    returns = returns[keep]
    for col in keep[2:]:
        returns[col] = pd.to_numeric(returns[col], errors="coerce").astype(np.float64)
    if not np.isfinite(returns["ret"].fillna(0.0)).all():
        raise SourceDataError("returns file: column 'ret' has infinite values; fix or drop them")

    calendar = np.unique(returns["date"].to_numpy())
    absent = [c for c in RETURN_OPTIONAL if c not in returns.columns]

    if risk_path is not None:
        risk = read_table(risk_path)
        _require_columns(risk, ("security_id", "date", "industry"), f"risk file {risk_path}")
        risk = _coerce_keys(risk, "risk file")
        risk["industry"] = risk["industry"].astype(str).astype("category")
        styles = [c for c in risk.columns if c not in ("security_id", "date", "industry")]
        for col in styles:
            if not pd.api.types.is_numeric_dtype(risk[col]):
                raise SourceDataError(
                    f"risk file: style column {col!r} is not numeric; drop it or fix its values"
                )
        absent += [s for s in STYLE_NAMES if s not in styles]
    else:
        risk = pd.DataFrame(
            {
                "security_id": returns["security_id"].to_numpy(),
                "date": returns["date"].to_numpy(),
                "industry": pd.Categorical(["ALL"] * len(returns)),
            }
        )
        absent += ["industry", *STYLE_NAMES]

    all_ids = np.unique(returns["security_id"].to_numpy())
    if securities_path is not None:
        securities = read_table(securities_path)
        _require_columns(securities, ("security_id",), f"securities file {securities_path}")
        securities = securities.copy()
        securities["security_id"] = securities["security_id"].astype(np.int64)
        unknown = np.setdiff1d(all_ids, securities["security_id"].to_numpy())
        if len(unknown):
            raise SourceDataError(
                f"securities file lacks {len(unknown)} security_id(s) found in returns, "
                f"e.g. {unknown[:5].tolist()}; add them"
            )
    else:
        securities = pd.DataFrame({"security_id": all_ids})
    for col in ("ticker", "name", "sector"):
        if col not in securities.columns:
            securities[col] = securities["security_id"].astype(str) if col != "sector" else ""
    securities = securities[["security_id", "ticker", "name", "sector"]]

    benchmark = None
    if benchmark_path is not None:
        benchmark = read_table(benchmark_path)
        _require_columns(benchmark, ("date", "ret"), f"benchmark file {benchmark_path}")
        benchmark = benchmark[["date", "ret"]].copy()
        dates, refused = parse_dates(benchmark["date"], "benchmark file: column 'date'")
        if refused or dates.isna().any():
            raise SourceDataError(
                refused
                or "benchmark file: column 'date' has missing or unparseable dates; "
                "use ISO dates like 2020-01-31"
            )
        benchmark["date"] = dates
    else:
        absent.append("benchmark")

    return SnapshotData(
        securities=securities,
        returns=returns,
        risk=risk,
        calendar=pd.DataFrame({"date": calendar}),
        benchmark=benchmark,
        source="files",
        params={
            "returns": str(returns_path),
            "risk": None if risk_path is None else str(risk_path),
            "securities": None if securities_path is None else str(securities_path),
            "benchmark": None if benchmark_path is None else str(benchmark_path),
        },
        absent=absent,
        notes=["Imported from user files; the calendar is the set of dates in the returns file."],
    )


def truncate_at(data: SnapshotData, end: str) -> SnapshotData:
    """The same source data cut after ``end``: every dated table keeps rows up to that date.

    A snapshot of a source "as it was" on a past date, so a later snapshot of the same
    source extends it (used to test and demonstrate ``poc track update``). Signals keep
    the rows usable (``date_avail``) on or before ``end``.

    Raises
    ------
    SourceDataError
        When ``end`` is not a date or leaves fewer than two trading dates.
    """
    import dataclasses

    try:
        cut = pd.Timestamp(end)
    except (TypeError, ValueError):
        raise SourceDataError(f"--end must be a date like 2021-12-31, got {end!r}") from None
    calendar = data.calendar[data.calendar["date"] <= cut]
    if len(calendar) < 2:
        first = data.calendar["date"].min().date()
        raise SourceDataError(
            f"--end {end} leaves {len(calendar)} trading date(s); the source starts on {first}"
        )

    def upto(frame: pd.DataFrame | None, column: str = "date") -> pd.DataFrame | None:
        if frame is None:
            return None
        return frame[frame[column] <= cut].reset_index(drop=True)

    return dataclasses.replace(
        data,
        returns=upto(data.returns),
        risk=upto(data.risk),
        calendar=calendar.reset_index(drop=True),
        benchmark=upto(data.benchmark),
        signals={name: upto(frame, "date_avail") for name, frame in data.signals.items()},
        params={**data.params, "end": str(cut.date())},
        notes=[*data.notes, f"Truncated at {cut.date()} (rows dated after it dropped)."],
    )
