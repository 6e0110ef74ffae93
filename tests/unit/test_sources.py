"""Snapshot sources: bundled real data, synthetic panel, user files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from poc.exceptions import SourceDataError
from poc.sources import (
    PLANTED_SHOCK_CORR,
    from_files,
    momentum_12_1,
    read_table,
    rolling_beta,
    rolling_std,
    synthetic_panel,
)


def test_rolling_std_matches_pandas(rng):
    x = rng.normal(size=(300, 4))
    x[rng.random(x.shape) < 0.1] = np.nan
    ours = rolling_std(x, 60, 40)
    ref = pd.DataFrame(x).rolling(60, min_periods=40).std().to_numpy()
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12, equal_nan=True)


def test_rolling_beta_matches_per_window_ols(rng):
    m = rng.normal(0, 0.01, 200)
    r = 1.3 * m[:, None] + rng.normal(0, 0.01, (200, 3))
    beta = rolling_beta(r, m, 50, 30)
    for day in (29, 80, 199):
        lo = max(0, day - 49)
        ref = np.polyfit(m[lo : day + 1], r[lo : day + 1, 1], 1)[0]
        assert beta[day, 1] == pytest.approx(ref, rel=1e-9)
    assert np.isnan(beta[28, 0])


def test_momentum_uses_closes_from_252_to_21_days_back():
    close = np.arange(1.0, 301.0)[:, None]
    mom = momentum_12_1(close)
    assert np.isnan(mom[251, 0])
    assert mom[260, 0] == pytest.approx(close[260 - 21, 0] / close[260 - 252, 0] - 1)


@pytest.mark.parametrize("func", ["std", "beta", "mom"])
def test_exposures_have_no_lookahead(rng, func):
    x = rng.normal(0, 0.01, (300, 3))
    close = np.cumprod(1 + x, axis=0)
    m = x.mean(axis=1)
    compute = {
        "std": lambda a, c: rolling_std(a, 60, 40),
        "beta": lambda a, c: rolling_beta(a, m, 60, 40),
        "mom": lambda a, c: momentum_12_1(c),
    }[func]
    base = compute(x, close)
    t = 270
    x2 = x.copy()
    x2[t + 1 :] = rng.normal(0, 0.05, x2[t + 1 :].shape)
    close2 = close.copy()
    close2[t + 1 :] *= 3.0
    changed = compute(x2, close2)
    np.testing.assert_array_equal(base[: t + 1], changed[: t + 1])


def test_bundled_exposures(bundled_snapshot):
    risk = bundled_snapshot.read("risk")
    assert set(risk.columns) == {
        "security_id",
        "date",
        "industry",
        "beta",
        "volatility",
        "momentum",
    }
    sectors = bundled_snapshot.read("securities").set_index("ticker")["sector"]
    assert sectors["AAPL"] == "Information Technology"
    assert sectors["XOM"] == "Energy"
    last = risk[risk["date"] == risk["date"].max()]
    assert last["beta"].between(0.0, 3.0).all()
    bench = bundled_snapshot.read("benchmark")
    assert len(bench) == bundled_snapshot.manifest["counts"]["dates"] - 1


def test_synthetic_is_deterministic_and_gappy():
    a = synthetic_panel(50, 80, seed=11)
    b = synthetic_panel(50, 80, seed=11)
    pd.testing.assert_frame_equal(a.returns, b.returns)
    pd.testing.assert_frame_equal(a.signals["planted"], b.signals["planted"])
    assert len(a.returns) < 50 * 80  # late listings and delistings leave gaps
    assert a.returns["ret"].notna().all()


def test_synthetic_planted_ic_near_documented_value():
    data = synthetic_panel(1500, 400, seed=5)
    ret = data.returns.pivot(index="date", columns="security_id", values="ret")
    sig = data.signals["planted"].pivot(index="date_sig", columns="security_id", values="signal")
    sig = sig.reindex(index=ret.index, columns=ret.columns)
    ics = []
    for lag in range(3):
        fwd = ret.shift(-(1 + lag))
        both = fwd.notna() & sig.notna()
        ic = sig.where(both).rank(axis=1).corrwith(fwd.where(both).rank(axis=1), axis=1)
        ics.append(ic.mean())
    assert 0.024 < ics[0] < 0.036
    assert ics[0] > ics[1] > ics[2]
    assert PLANTED_SHOCK_CORR[1] == PLANTED_SHOCK_CORR[0] / 2


def test_synthetic_too_small_is_refused():
    with pytest.raises(SourceDataError, match="at least 10 securities"):
        synthetic_panel(3, 100, seed=1)


def test_from_files_roundtrip(tmp_path):
    dates = pd.bdate_range("2020-01-01", periods=5)
    ret = pd.DataFrame(
        {
            "security_id": [1, 2] * 5,
            "date": np.repeat(dates, 2),
            "ret": np.linspace(-0.01, 0.01, 10),
        }
    )
    ret.to_csv(tmp_path / "ret.csv", index=False)
    risk = ret[["security_id", "date"]].assign(industry=["A", "B"] * 5, size=1.0)
    risk.to_parquet(tmp_path / "risk.parquet")
    data = from_files(tmp_path / "ret.csv", tmp_path / "risk.parquet")
    assert len(data.calendar) == 5
    assert "mcap" in data.absent and "value" in data.absent and "size" not in data.absent
    assert data.benchmark is None and "benchmark" in data.absent


def test_from_files_lists_expected_columns(tmp_path):
    pd.DataFrame({"id": [1], "day": ["2020-01-01"], "r": [0.1]}).to_csv(tmp_path / "x.csv")
    with pytest.raises(
        SourceDataError, match=r"missing column\(s\) \['security_id', 'date', 'ret'\]"
    ):
        from_files(tmp_path / "x.csv")


def test_from_files_duplicate_rows(tmp_path):
    pd.DataFrame(
        {"security_id": [1, 1], "date": ["2020-01-01", "2020-01-01"], "ret": [0.1, 0.2]}
    ).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(SourceDataError, match="1 duplicate"):
        from_files(tmp_path / "x.csv")


def test_read_table_refuses_pickle(tmp_path):
    path = tmp_path / "x.pkl"
    pd.DataFrame({"a": [1]}).to_pickle(path)
    # The refusal names the opt-in flag only when the calling command has one.
    with pytest.raises(SourceDataError, match=r"pickle.*--allow-pickle"):
        read_table(path, pickle_flag="--allow-pickle")
    with pytest.raises(SourceDataError, match=r"pickle") as refused:
        read_table(path)
    assert "--allow-pickle" not in str(refused.value)
    assert read_table(path, allow_pickle=True)["a"].tolist() == [1]
