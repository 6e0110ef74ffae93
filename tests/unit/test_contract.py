"""The signal contract: defects named with example rows; alignment per docs/conventions.md."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from poc.calendar import as_calendar
from poc.contract import align_signal, check_signal, validate_signal
from poc.exceptions import DataLossError, SignalContractError

CAL = as_calendar(pd.bdate_range("2021-01-04", periods=30))
IDS = np.array([1, 2, 3, 4])


def _signal(n=8):
    days = pd.bdate_range("2021-01-04", periods=n // 2)
    return pd.DataFrame(
        {
            "security_id": [1, 2] * (n // 2),
            "date_sig": np.repeat(days, 2),
            "date_avail": np.repeat(days, 2),
            "signal": np.arange(n, dtype=float),
        }
    )


def _only(report, code):
    assert report.codes == [code], report.problems
    return report.problems[0][1]


def test_valid_signal_passes():
    report = validate_signal(_signal(), CAL, IDS)
    assert report.ok and len(report.clean) == 8
    assert report.clean["security_id"].dtype == np.int64


def test_missing_columns():
    msg = _only(
        validate_signal(_signal().drop(columns=["date_avail"]), CAL, IDS), "missing_columns"
    )
    assert "['date_avail']" in msg and "security_id" in msg


def test_unparseable_dates():
    df = _signal().astype({"date_sig": object})
    df.loc[3, "date_sig"] = "not a date"
    msg = _only(validate_signal(df, CAL, IDS), "unparseable_dates")
    assert "1 row(s)" in msg and "'not a date'" in msg


def test_non_numeric_signal():
    df = _signal().astype({"signal": object})
    df.loc[2, "signal"] = "high"
    msg = _only(validate_signal(df, CAL, IDS), "non_numeric")
    assert "signal='high'" in msg


def test_infinite_signal():
    df = _signal()
    df.loc[5, "signal"] = np.inf
    msg = _only(validate_signal(df, CAL, IDS), "infinite")
    assert "signal=inf" in msg


def test_nan_within_budget_is_dropped_and_counted():
    df = _signal(40)
    df.loc[0, "signal"] = np.nan
    report = validate_signal(df, CAL, IDS, nan_budget=0.05)
    assert report.ok and len(report.clean) == 39
    assert "1 of 40 rows (2.5%) have a NaN signal" in report.notes[0]


def test_nan_above_budget_is_an_error():
    df = _signal()
    df.loc[[0, 1], "signal"] = np.nan
    msg = _only(validate_signal(df, CAL, IDS, nan_budget=0.05), "nan_budget")
    assert "25.0%" in msg and "budget" in msg
    with pytest.raises(DataLossError, match="data-loss budget"):
        check_signal(df, CAL, IDS)


def test_duplicates():
    df = pd.concat([_signal(), _signal().iloc[[0]]], ignore_index=True)
    msg = _only(validate_signal(df, CAL, IDS), "duplicates")
    assert "1 duplicate (security_id, date_sig)" in msg and "security_id=1" in msg


def test_lookahead():
    df = _signal()
    df.loc[4, "date_avail"] = df.loc[4, "date_sig"] - pd.Timedelta(days=1)
    msg = _only(validate_signal(df, CAL, IDS), "lookahead")
    assert "date_avail before date_sig" in msg


def test_unknown_securities():
    df = _signal()
    df.loc[1, "security_id"] = 999
    msg = _only(validate_signal(df, CAL, IDS), "unknown_securities")
    assert "security_id=999" in msg


def test_outside_calendar():
    df = _signal()
    df.loc[0, "date_sig"] = pd.Timestamp("2020-06-01")
    msg = _only(validate_signal(df, CAL, IDS), "outside_calendar")
    assert "2020-06-01" in msg


def test_all_problems_reported_at_once():
    df = _signal()
    df.loc[1, "security_id"] = 999
    df.loc[4, "date_avail"] = df.loc[4, "date_sig"] - pd.Timedelta(days=2)
    df.loc[5, "signal"] = np.inf
    with pytest.raises(SignalContractError) as info:
        check_signal(df, CAL, IDS)
    assert {"infinite", "lookahead", "unknown_securities"} <= {
        p.split("]")[0].strip("[") for p in info.value.problems
    }


def test_not_a_dataframe():
    with pytest.raises(TypeError, match="pandas DataFrame"):
        validate_signal([1, 2, 3])


def test_align_weekend_rows_use_next_trading_day_and_keep_latest():
    clean = pd.DataFrame(
        {
            "security_id": [1, 1, 1],
            "date_sig": pd.to_datetime(["2021-01-08", "2021-01-09", "2021-01-10"]),
            "date_avail": pd.to_datetime(["2021-01-08", "2021-01-09", "2021-01-10"]),
            "signal": [1.0, 2.0, 3.0],
        }
    )
    aligned = align_signal(clean, CAL, lag=2)
    f = aligned.frame
    assert f["date_usable"].dt.strftime("%Y-%m-%d").tolist() == ["2021-01-08", "2021-01-11"]
    assert f["signal"].tolist() == [1.0, 3.0]  # Sunday's value supersedes Saturday's
    assert aligned.dropped["superseded"] == 1
    # Friday usable -> lag 2 earns Wednesday's return (Mon = +1, Tue = +2, Wed = +3 positions).
    assert f["date_earn"].iloc[0] == pd.Timestamp("2021-01-13")


def test_align_rejects_bad_lag():
    with pytest.raises(ValueError, match="lag must be >= 0"):
        align_signal(check_signal(_signal(), CAL, IDS), CAL, lag=-1)
    with pytest.raises(TypeError, match="lag must be an int"):
        align_signal(check_signal(_signal(), CAL, IDS), CAL, lag=1.5)
