"""The backtest engine against a slow, obviously correct reference, plus known values and errors.

The reference below walks one day at a time with pandas and numpy.linalg.lstsq,
written from the rules in the engine's docstring (and docs/conventions.md), sharing no
code with the engine.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from poc import metrics, sections
from poc.catalog import create_snapshot
from poc.contract import align_signal, check_signal
from poc.engine import BacktestConfig, BacktestResult, run_backtest
from poc.exceptions import ConfigError, MissingDataError, SignalContractError
from poc.panel import Panel, load_panel, panel_from_data, signal_matrix
from poc.residualize import residualize
from poc.sources import PLANTED_SHOCK_CORR, synthetic_panel

TOL = 1e-10
COMPARED = ["long", "short", "gross", "cost", "net", "turnover", "n_long", "n_short"]


# --------------------------------------------------------------------------
# Random panels
# --------------------------------------------------------------------------


def random_panel(seed: int, t: int = 45, n: int = 36, dynamic_industry: bool = False) -> Panel:
    """A small panel with holes in every array, 3 industries and 3 styles."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-12-21", periods=t).values.astype("datetime64[ns]")

    def holes(values, share):
        return np.where(rng.random(values.shape) < share, np.nan, values)

    codes = np.tile(np.arange(3), n // 3 + 1)[:n]
    industry = np.broadcast_to(codes, (t, n)).astype(np.int16).copy()
    if dynamic_industry:
        movers = rng.random((t, n)) < 0.1
        industry[movers] = (industry[movers] + 1) % 3
    industry[rng.random((t, n)) < 0.03] = -1
    return Panel(
        dates=dates,
        security_ids=np.arange(101, 101 + n),
        ret=holes(rng.normal(0.0, 0.02, (t, n)), 0.08),
        openret=holes(rng.normal(0.0, 0.02, (t, n)), 0.08),
        mcap=holes(np.exp(rng.normal(20.0, 1.0, (t, n))), 0.05),
        half_spread=holes(rng.uniform(1e-4, 2e-3, (t, n)), 0.1),
        industry=industry,
        industry_names=("A", "B", "C"),
        styles={
            "size": holes(rng.normal(0.0, 1.0, (t, n)), 0.03),
            "beta": holes(rng.normal(1.0, 0.3, (t, n)), 0.03),
            "vol": rng.normal(0.02, 0.005, (t, n)),
        },
    )


def random_signal(panel: Panel, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    values = rng.standard_normal(panel.shape)
    return np.where(rng.random(panel.shape) < 0.1, np.nan, values)


# --------------------------------------------------------------------------
# The reference
# --------------------------------------------------------------------------


def ref_terciles(mcap_row: np.ndarray) -> np.ndarray:
    caps = pd.Series(mcap_row)
    caps = caps[np.isfinite(caps) & (caps > 0)]
    out = np.full(len(mcap_row), -1)
    upper = caps.rank(method="max") - 1
    out[caps.index] = np.floor(3 * upper / len(caps)).astype(int)
    return out


def ref_water_fill(base: pd.Series, cap) -> pd.Series:
    """Weights min(cap, lam * base) summing to 1, found by sorting (not by iterating)."""
    weights = base / base.sum()
    if cap is None or weights.max() <= cap:
        return weights
    ordered = base.sort_values(ascending=False)
    for k in range(1, len(ordered) + 1):
        rest = ordered.iloc[k:]
        lam = (1 - k * cap) / rest.sum() if len(rest) else 0.0
        if len(rest) == 0 or lam * rest.iloc[0] <= cap:
            break
    out = pd.concat([pd.Series(cap, index=ordered.index[:k]), rest * lam])
    return out.reindex(base.index)


def ref_cross_section(panel, signal, cfg, returns, u, e, book) -> pd.Series:
    """The (residualized) signal of the names in the book's cross-section on day e."""
    inside = np.isfinite(signal[u]) & np.isfinite(returns[e])
    if cfg.start is not None:
        inside &= panel.dates[e] >= np.datetime64(cfg.start)
    if cfg.end is not None:
        inside &= panel.dates[e] <= np.datetime64(cfg.end)
    if cfg.residualize != "off":
        inside &= panel.industry[u] >= 0
    if cfg.residualize == "all":
        for values in panel.styles.values():
            inside &= np.isfinite(values[u])
    names = np.flatnonzero(inside)
    s = pd.Series(signal[u, names], index=names)
    if cfg.residualize != "off" and len(names):
        dummies = pd.get_dummies(panel.industry[u, names]).to_numpy(float)
        columns = [dummies]
        if cfg.residualize == "all":
            columns += [values[u, names][:, None] for values in panel.styles.values()]
        x = np.hstack(columns)
        coef, *_ = np.linalg.lstsq(x, s.to_numpy(), rcond=None)
        s = s - x @ coef
    if book is not None:
        s = s[ref_terciles(panel.mcap[u])[s.index] == book]
    return s


def ref_form(s: pd.Series, cfg):
    """Formed (long, short) weights of one day, or None when flat."""
    n = len(s)
    if n < 2:
        return None
    values = np.sort(s.to_numpy())
    k_high = math.ceil(Fraction(cfg.fractile[1]) * (n - 1) / 100)
    k_low = math.floor(Fraction(cfg.fractile[0]) * (n - 1) / 100)
    long = s[s >= values[k_high]]
    short = s[s <= values[k_low]]
    if len(long) < cfg.mincos or len(short) < cfg.mincos or values[k_low] == values[k_high]:
        return None
    if cfg.weight == "equal":
        base_long, base_short = long * 0 + 1.0, short * 0 + 1.0
    else:
        rank = s.rank(method="average")
        base_long = rank[long.index] - (n - len(long))
        base_short = len(short) + 1 - rank[short.index]
    return ref_water_fill(base_long, cfg.max_weight), ref_water_fill(base_short, cfg.max_weight)


def is_rebalance_day(dates, e, rebalance) -> bool:
    if rebalance == "daily" or e == 0:
        return True
    now, before = pd.Timestamp(dates[e]), pd.Timestamp(dates[e - 1])
    if rebalance == "weekly":
        return now.isocalendar()[:2] != before.isocalendar()[:2]
    return (now.year, now.month) != (before.year, before.month)


def ref_half_spread(panel, e, name) -> float:
    history = panel.half_spread[:e, name]
    seen = history[np.isfinite(history)]
    if len(seen):
        return seen[-1]
    if np.isfinite(panel.half_spread[e, name]):
        return panel.half_spread[e, name]
    return np.nanmean(panel.half_spread[e])


def reference_backtest(panel: Panel, signal: np.ndarray, cfg: BacktestConfig, book=None):
    """Daily table of one book (main, or cap tercile ``book``), one day at a time."""
    t, n = panel.shape
    returns = panel.openret if cfg.from_open else panel.ret
    shift = 1 + cfg.lag + int(cfg.from_open)
    previous = pd.Series(0.0, index=range(n))
    held = None
    rows = []
    for e in range(t):
        u = e - shift
        formed = None
        if u >= 0:
            formed = ref_form(ref_cross_section(panel, signal, cfg, returns, u, e, book), cfg)
        in_window = (cfg.start is None or panel.dates[e] >= np.datetime64(cfg.start)) and (
            cfg.end is None or panel.dates[e] <= np.datetime64(cfg.end)
        )
        if cfg.rebalance == "daily":
            legs = formed
        else:
            if is_rebalance_day(panel.dates, e, cfg.rebalance):
                held = formed
            legs = None
            if held is not None and in_window:
                keep = [leg[np.isfinite(returns[e, leg.index])] for leg in held]
                if min(len(leg) for leg in keep) >= cfg.mincos:
                    legs = tuple(ref_water_fill(leg, cfg.max_weight) for leg in keep)
        weights = pd.Series(0.0, index=range(n))
        leg_returns = [0.0, 0.0]
        if legs is not None:
            for j, leg in enumerate(legs):
                leg_returns[j] = float((leg * returns[e, leg.index]).sum())
            weights = weights.add(legs[0], fill_value=0.0).sub(legs[1], fill_value=0.0)
        change = (weights - previous).abs()
        turnover = change.sum()
        if cfg.tc_model == "naive":
            cost = turnover * cfg.tc_bps / 1e4
        elif cfg.tc_model == "spread":
            traded = change[change > 0]
            cost = sum(v * ref_half_spread(panel, e, i) for i, v in traded.items())
        else:
            cost = 0.0
        gross = leg_returns[0] - leg_returns[1]
        rows.append(
            {
                "date": panel.dates[e],
                "long": leg_returns[0],
                "short": leg_returns[1],
                "gross": gross,
                "cost": cost,
                "net": gross - cost,
                "turnover": turnover,
                "n_long": 0 if legs is None else len(legs[0]),
                "n_short": 0 if legs is None else len(legs[1]),
            }
        )
        previous = weights
    table = pd.DataFrame(rows)
    active = np.flatnonzero(table["n_long"].to_numpy() > 0)
    if not len(active):
        return table.iloc[:0].reset_index(drop=True)
    return table.iloc[active[0] : active[-1] + 1].reset_index(drop=True)


def reference_deciles(panel, signal, cfg) -> pd.DataFrame:
    returns = panel.openret if cfg.from_open else panel.ret
    shift = 1 + cfg.lag + int(cfg.from_open)
    records = []
    for e in range(shift, panel.shape[0]):
        s = ref_cross_section(panel, signal, cfg, returns, e - shift, e, None)
        if not len(s):
            continue
        upper = s.rank(method="max") - 1
        decile = np.floor(10 * upper / len(s)).astype(int) + 1
        day = pd.DataFrame({"decile": decile, "ret": returns[e, s.index]})
        day["beat"] = day.groupby("decile")["ret"].transform("mean") > day["ret"].mean()
        records.append(day.assign(day=e))
    data = pd.concat(records)
    per_day = data.groupby(["day", "decile"])["beat"].first()
    table = pd.DataFrame(
        {
            "mean_return": data.groupby("decile")["ret"].mean(),
            "hit_rate": per_day.groupby("decile").mean(),
            "count": data.groupby("decile").size(),
        }
    )
    return table.reindex(range(1, 11))


def assert_daily_equal(engine: pd.DataFrame, reference: pd.DataFrame) -> None:
    assert len(engine) == len(reference)
    assert (engine["date"].to_numpy() == reference["date"].to_numpy()).all()
    for column in COMPARED:
        np.testing.assert_allclose(
            engine[column].to_numpy(float),
            reference[column].to_numpy(float),
            rtol=0,
            atol=TOL,
            err_msg=column,
        )


# --------------------------------------------------------------------------
# Engine == reference for every option
# --------------------------------------------------------------------------

CONFIGS = [
    BacktestConfig(mincos=2),
    BacktestConfig(mincos=2, lag=2, tc_model="naive", tc_bps=7.5),
    BacktestConfig(mincos=2, residualize="industry", fractile=(20, 80)),
    BacktestConfig(mincos=3, residualize="all", fractile=(25, 75), weight="signal"),
    BacktestConfig(mincos=2, weight="signal", max_weight=0.5, fractile=(12.5, 87.5)),
    BacktestConfig(mincos=3, weight="signal", max_weight=0.34, fractile=(30, 70)),
    BacktestConfig(mincos=3, max_weight=0.34, fractile=(30, 70), rebalance="weekly"),
    BacktestConfig(mincos=2, weight="signal", rebalance="monthly", tc_model="spread"),
    BacktestConfig(mincos=2, from_open=True, lag=1, tc_model="spread", residualize="all"),
    BacktestConfig(mincos=2, from_open=True, rebalance="weekly", tc_model="naive", tc_bps=3),
    BacktestConfig(mincos=5, fractile=(15, 85)),  # many flat days
    BacktestConfig(mincos=1, fractile=(0, 100), start="2021-01-05", end="2021-02-05"),
    BacktestConfig(mincos=2, fractile=(33.3, 66.7), residualize="industry", tc_model="spread"),
]


@pytest.mark.parametrize("index", range(len(CONFIGS)))
def test_engine_matches_reference(index):
    cfg = CONFIGS[index]
    panel = random_panel(seed=index)
    signal = random_signal(panel, seed=index)
    result = run_backtest(panel, signal, cfg)
    assert len(result.daily) > 0
    assert_daily_equal(result.daily, reference_backtest(panel, signal, cfg))
    for k, label in enumerate(("small", "mid", "large")):
        assert_daily_equal(result.by_cap[label], reference_backtest(panel, signal, cfg, book=k))
    expected = reference_deciles(panel, signal, cfg)
    for column in ("mean_return", "hit_rate", "count"):
        np.testing.assert_allclose(
            result.fractile[column].to_numpy(float),
            expected[column].to_numpy(float),
            rtol=0,
            atol=TOL,
            err_msg=column,
        )


@pytest.mark.parametrize("index", [0, 1, 3, 8, 9])
def test_engine_matches_reference_across_blocks(index, monkeypatch):
    # The engine streams over blocks of days; force blocks of 4 days so the
    # carry of legs and tercile codes from block to block is exercised.
    cfg = CONFIGS[index]
    panel = random_panel(seed=index)
    signal = random_signal(panel, seed=index)
    whole = run_backtest(panel, signal, cfg)
    with monkeypatch.context() as patch:
        patch.setattr(sections, "BLOCK_CELLS", 36 * 4)
        result = run_backtest(panel, signal, cfg)
    assert_daily_equal(result.daily, reference_backtest(panel, signal, cfg))
    assert_daily_equal(result.by_cap["mid"], reference_backtest(panel, signal, cfg, book=1))
    pd.testing.assert_frame_equal(whole.fractile, result.fractile, check_exact=False, rtol=1e-12)
    pd.testing.assert_frame_equal(whole.daily, result.daily, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize(
    "cfg",
    [
        BacktestConfig(mincos=2, fractile=(20, 80)),
        BacktestConfig(mincos=2, fractile=(30, 70), weight="signal", tc_model="spread"),
        BacktestConfig(mincos=3, fractile=(25, 75), max_weight=0.4, rebalance="weekly"),
    ],
)
def test_engine_matches_reference_with_tied_signals(cfg):
    # A signal of a few discrete values: ties straddle the leg boundaries and
    # share average ranks, and some days' legs would overlap (flat).
    panel = random_panel(seed=21)
    rng = np.random.default_rng(5)
    signal = rng.integers(0, 5, panel.shape).astype(float)
    signal[rng.random(panel.shape) < 0.1] = np.nan
    result = run_backtest(panel, signal, cfg)
    assert len(result.daily) > 0
    assert_daily_equal(result.daily, reference_backtest(panel, signal, cfg))
    assert_daily_equal(result.by_cap["large"], reference_backtest(panel, signal, cfg, book=2))


def test_dynamic_industries_match_reference():
    panel = random_panel(seed=99, dynamic_industry=True)
    assert panel.static_industry is None
    signal = random_signal(panel, seed=99)
    for mode in ("industry", "all"):
        cfg = BacktestConfig(mincos=2, residualize=mode, weight="signal")
        result = run_backtest(panel, signal, cfg)
        assert_daily_equal(result.daily, reference_backtest(panel, signal, cfg))


# --------------------------------------------------------------------------
# Residualization == per-day lstsq
# --------------------------------------------------------------------------


def lstsq_residuals(signal, valid, codes, styles):
    out = np.full(signal.shape, np.nan)
    for t in range(signal.shape[0]):
        names = np.flatnonzero(valid[t])
        day_codes = codes[t, names] if codes.ndim == 2 else codes[names]
        x = pd.get_dummies(day_codes).to_numpy(float)
        if styles is not None:
            x = np.hstack([x, styles[t][:, names].T])
        coef, *_ = np.linalg.lstsq(x, signal[t, names], rcond=None)
        out[t, names] = signal[t, names] - x @ coef
    return out


@pytest.mark.parametrize("dynamic", [False, True])
@pytest.mark.parametrize("kind", ["industry", "all", "ill-conditioned", "collinear-with-industry"])
def test_residualization_equals_per_day_lstsq(kind, dynamic):
    rng = np.random.default_rng(17)
    t, n, k = 25, 60, 4
    codes = rng.integers(0, k, n)
    if dynamic:
        codes = np.where(rng.random((t, n)) < 0.1, (codes + 1) % k, codes)
    signal = rng.standard_normal((t, n))
    valid = rng.random((t, n)) < 0.85
    styles = None
    if kind != "industry":
        styles = rng.normal(0.0, 1.0, (t, 3, n))
        if kind == "ill-conditioned":
            styles[:, 1] = 50.0 + 1e-2 * styles[:, 1]  # big level, small spread: cancellation
            styles[:, 2] = -2.0 * styles[:, 0]  # exactly collinear: rank deficient
        if kind == "collinear-with-industry":
            day_codes = codes if codes.ndim == 2 else np.broadcast_to(codes, (t, n))
            styles[:, 2] = np.array([0.3, -1.0, 2.0, 0.5])[day_codes]  # a dummy combination
    mode = "industry" if styles is None else "all"
    got = residualize(signal, valid, mode, codes, styles)
    expected = lstsq_residuals(signal, valid, codes, styles)
    assert np.array_equal(np.isnan(got), ~valid)
    np.testing.assert_allclose(got[valid], expected[valid], rtol=0, atol=1e-10)


# --------------------------------------------------------------------------
# Known values and invariants
# --------------------------------------------------------------------------


def tiny_panel(returns: np.ndarray) -> Panel:
    t, n = returns.shape
    dates = pd.bdate_range("2021-01-04", periods=t).values.astype("datetime64[ns]")
    return Panel(dates=dates, security_ids=np.arange(1, n + 1), ret=returns)


def test_known_long_short_return_and_turnover():
    # Four names, signal 1..4 every day: long name 4, short name 1 (fractile 25/75).
    returns = np.array([[0.0] * 4, [0.01, 0.02, 0.03, 0.04], [0.02, 0.0, 0.0, -0.01]])
    signal = np.tile([1.0, 2.0, 3.0, 4.0], (3, 1))
    cfg = BacktestConfig(mincos=1, fractile=(25, 75), tc_model="naive", tc_bps=10)
    daily = run_backtest(tiny_panel(returns), signal, cfg).daily
    np.testing.assert_allclose(daily["gross"], [0.04 - 0.01, -0.01 - 0.02])
    np.testing.assert_allclose(daily["turnover"], [2.0, 0.0])
    np.testing.assert_allclose(daily["cost"], [2.0 * 10 / 1e4, 0.0])
    np.testing.assert_allclose(daily["cumulative"].iloc[-1], (1 + daily["net"]).prod() - 1)
    assert list(daily["n_long"]) == [1, 1]


def test_nan_signal_means_no_position_and_no_return_excludes_name():
    returns = np.array([[0.0] * 4, [0.01, 0.02, np.nan, 0.04], [0.0] * 4])
    # Day 0 signal: name 4 has none; name 3 ranks highest but has no return on day 1.
    signal = np.array([[1.0, 2.0, 9.0, np.nan], [1.0, 2.0, 3.0, 4.0], [np.nan] * 4])
    cfg = BacktestConfig(mincos=1, fractile=(50, 50.0001))
    result = run_backtest(tiny_panel(returns), signal, cfg)
    first = result.daily.iloc[0]
    assert first["n_names"] == 2  # names 1 and 2 only
    np.testing.assert_allclose(first["gross"], 0.02 - 0.01)
    assert result.counts["no_return"] == 1


def test_zero_signal_gives_zero_pnl():
    panel = random_panel(seed=5)
    result = run_backtest(panel, np.zeros(panel.shape), BacktestConfig(mincos=1))
    # All names tie: both legs would hold every name, so every day is flat.
    assert len(result.daily) == 0
    assert np.isnan(result.sharpe)


def test_weights_sum_to_book():
    panel = random_panel(seed=6)
    signal = random_signal(panel, 6)
    for cfg in (
        BacktestConfig(mincos=2),
        BacktestConfig(mincos=3, weight="signal", max_weight=0.4),
    ):
        daily = run_backtest(panel, signal, cfg).daily
        # With identical returns r for every name, long = short = r on every traded day.
        flat_returns = np.full(panel.shape, 0.01)
        same = Panel(panel.dates, panel.security_ids, flat_returns)
        daily = run_backtest(same, signal, cfg).daily
        traded = daily["n_long"] > 0
        np.testing.assert_allclose(daily.loc[traded, "long"], 0.01)
        np.testing.assert_allclose(daily.loc[traded, "short"], 0.01)


def test_result_properties_match_summary():
    panel = random_panel(seed=7)
    result = run_backtest(panel, random_signal(panel, 7), BacktestConfig(mincos=2))
    assert isinstance(result, BacktestResult)
    net = result.daily["net"].to_numpy()
    assert result.sharpe == pytest.approx(metrics.sharpe_ratio(net))
    assert result.annual_return == pytest.approx(metrics.annual_return(net))
    assert result.max_drawdown == pytest.approx(metrics.max_drawdown(net))
    assert result.turnover == pytest.approx(result.daily["turnover"].mean())
    assert list(result.summary["slice"].unique()) == ["overall", "year", "cap"]
    assert set(result.summary.query("slice == 'year'")["label"]) == {"2020", "2021"}
    assert list(result.fractile.columns) == ["decile", "mean_return", "hit_rate", "count"]


def test_aligned_signal_and_matrix_give_the_same_result(synthetic_snapshot):
    panel = load_panel(synthetic_snapshot)
    planted = synthetic_snapshot.read("signals/planted")
    clean = check_signal(planted, panel.dates, panel.security_ids)
    aligned = align_signal(clean, panel.dates, lag=1)
    cfg = BacktestConfig(lag=1)
    a = run_backtest(panel, aligned, cfg)
    b = run_backtest(panel, signal_matrix(aligned, panel), cfg)
    pd.testing.assert_frame_equal(a.daily, b.daily)


# --------------------------------------------------------------------------
# Planted alpha and pure noise
# --------------------------------------------------------------------------


def daily_rank_ic(signal: np.ndarray, returns: np.ndarray) -> float:
    """Mean over days of the Spearman correlation of signal row d with returns of d + 1."""
    s = pd.DataFrame(signal[:-1]).rank(axis=1)
    r = pd.DataFrame(returns[1:]).rank(axis=1)
    both = s.notna() & r.notna()
    s, r = s.where(both).rank(axis=1), r.where(both).rank(axis=1)
    return float(s.corrwith(r, axis=1).mean())


@pytest.fixture(scope="module")
def planted_panel():
    data = synthetic_panel(1000, 500, seed=11)
    panel = panel_from_data(data)
    clean = check_signal(data.signals["planted"], panel.dates, panel.security_ids)
    return panel, signal_matrix(align_signal(clean, panel.dates), panel)


def test_planted_signal_has_positive_sharpe_and_planted_ic(planted_panel):
    panel, signal = planted_panel
    result = run_backtest(panel, signal, BacktestConfig())
    assert metrics.sharpe_ratio(result.daily["gross"]) > 0
    ic = daily_rank_ic(signal, panel.ret)
    assert abs(ic - 0.03) <= 0.2 * 0.03, ic
    assert PLANTED_SHOCK_CORR[0] > 0
    top, bottom = result.fractile["mean_return"].iloc[-1], result.fractile["mean_return"].iloc[0]
    assert top > bottom


def test_noise_is_rarely_significant(planted_panel):
    panel, _ = planted_panel
    significant = 0
    for seed in range(20):
        noise = np.where(
            np.isfinite(panel.ret), np.random.default_rng(seed).standard_normal(panel.shape), np.nan
        )
        gross = run_backtest(panel, noise, BacktestConfig()).daily["gross"].to_numpy()
        t_stat = gross.mean() / (gross.std(ddof=1) / np.sqrt(len(gross)))
        significant += abs(t_stat) >= 2
    assert significant <= 3


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lag": -1}, "lag"),
        ({"lag": 1.5}, "lag"),
        ({"residualize": "sector"}, "residualize='sector'.*off, industry, all"),
        ({"weight": "cap"}, "weight='cap'.*equal, signal"),
        ({"fractile": (90, 10)}, "low must be below high"),
        ({"fractile": (10, 120)}, "fractile"),
        ({"fractile": "10,90"}, "fractile"),
        ({"mincos": 0}, "mincos"),
        ({"tc_model": "fancy"}, "tc_model='fancy'.*none, naive, spread"),
        ({"tc_bps": 5}, "tc_bps.*naive"),
        ({"tc_model": "naive", "tc_bps": -1}, "tc_bps"),
        ({"rebalance": "hourly"}, "rebalance='hourly'.*daily, weekly, monthly"),
        ({"from_open": "yes"}, "from_open"),
        ({"max_weight": 0.05}, "max_weight=0.05 x mincos=10"),
        ({"max_weight": 0}, "max_weight"),
        ({"max_weight": 1.5}, "max_weight"),
        ({"start": "not a date"}, "start"),
        ({"start": "2021-02-01", "end": "2021-01-01"}, "after end"),
    ],
)
def test_bad_config_values(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        BacktestConfig(**kwargs)


def test_config_normalizes_values():
    cfg = BacktestConfig(fractile=[20, 80], lag=np.int64(2), start="2020-01-02")
    assert cfg.fractile == (20.0, 80.0)
    assert cfg.lag == 2 and isinstance(cfg.lag, int)
    assert cfg.start == "2020-01-02"


@pytest.fixture(scope="module")
def bare_snapshot(tmp_path_factory):
    """A synthetic snapshot without open returns, half-spreads and industries."""
    data = synthetic_panel(30, 60, seed=2)
    returns = data.returns.drop(columns=["openret", "half_spread"])
    risk = data.risk[["security_id", "date", "value"]]
    stripped = type(data)(
        securities=data.securities,
        returns=returns,
        risk=risk,
        calendar=data.calendar,
        benchmark=None,
        source="synthetic",
        absent=["openret", "half_spread", "industry"],
    )
    return create_snapshot(stripped, tmp_path_factory.mktemp("bare"), "bare")


@pytest.mark.parametrize(
    ("cfg", "match"),
    [
        (BacktestConfig(from_open=True), "from_open.*'openret'.*bare"),
        (BacktestConfig(tc_model="spread"), "spread.*'half_spread'.*bare"),
        (BacktestConfig(residualize="industry"), "industries.*bare"),
    ],
)
def test_missing_columns_raise(bare_snapshot, cfg, match):
    panel = load_panel(bare_snapshot)
    with pytest.raises(MissingDataError, match=match):
        run_backtest(panel, np.zeros(panel.shape), cfg)


def test_bundled_snapshot_has_no_open_returns(bundled_snapshot):
    panel = load_panel(bundled_snapshot)
    with pytest.raises(MissingDataError, match="openret"):
        run_backtest(panel, np.zeros(panel.shape), BacktestConfig(from_open=True))


def test_bad_signal_inputs():
    panel = random_panel(seed=1)
    with pytest.raises(TypeError, match="AlignedSignal"):
        run_backtest(panel, pd.DataFrame(), BacktestConfig())
    with pytest.raises(SignalContractError, match="shape"):
        run_backtest(panel, np.zeros((3, 3)), BacktestConfig())
    with pytest.raises(SignalContractError, match="infinite"):
        run_backtest(panel, np.full(panel.shape, np.inf), BacktestConfig())
    with pytest.raises(TypeError, match="BacktestConfig"):
        run_backtest(panel, np.zeros(panel.shape), {"lag": 1})


# --------------------------------------------------------------------------
# The `poc backtest` command
# --------------------------------------------------------------------------


def test_cli_backtest_on_bundled_data(bundled_store, capsys):
    from poc.cli import main

    argv = [
        "backtest",
        "--store",
        str(bundled_store),
        "--snapshot",
        "sp500-v1",
        "--signal",
        "builtin:momentum_12_1",
        "--fractile",
        "20,80",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "--mincos defaults to 4 (not 10): with 20 securities" in out
    lines = out.splitlines()
    assert any(line.strip().startswith("overall") for line in lines)
    years = [line.split()[0] for line in lines if line.strip()[:2] in ("19", "20")]
    assert years[0] == "1991" and years[-1] == "2022" and len(years) == 32
    assert "decile" in out


def test_cli_backtest_signal_file_and_errors(bundled_store, bundled_snapshot, tmp_path, capsys):
    from poc.cli import main
    from poc.signals import load_builtin

    path = tmp_path / "signal.parquet"
    load_builtin(bundled_snapshot, "reversal_5d").to_parquet(path)
    base = ["backtest", "--store", str(bundled_store), "--signal", str(path)]
    assert main([*base, "--lag", "1", "--tc-bps", "5", "--rebalance", "weekly"]) == 0
    assert "5 bps x turnover, weekly rebalancing" in capsys.readouterr().out
    assert main([*base, "--from-open"]) == 1
    assert "openret" in capsys.readouterr().err
    assert main([*base, "--fractile", "20"]) == 1
    assert "--fractile must be LOW,HIGH" in capsys.readouterr().err
    assert main([*base, "--mincos", "50"]) == 1
    assert "no day had a position" in capsys.readouterr().err
