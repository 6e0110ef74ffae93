"""Weights-table checks name the date and the asset (poc.allocation.schema)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from poc.allocation.errors import AllocationError, WeightsHistoryError
from poc.allocation.schema import check_benchmark, check_prices, check_weights_history


@pytest.fixture
def weights():
    dates = pd.to_datetime(["2021-03-01", "2021-04-01", "2021-05-03"])
    return pd.DataFrame(
        {"AAPL": [0.4, 0.3, 0.2], "MSFT": [0.3, 0.3, 0.4], "KO": [0.3, 0.4, 0.0]}, index=dates
    )


def test_valid_history_passes_and_comes_back_as_floats(weights):
    out = check_weights_history(weights, max_weight=0.4, min_weight=0.05)
    assert out.dtypes.eq(np.float64).all()
    pd.testing.assert_frame_equal(out, weights.astype(float))


def test_cap_breach_names_date_and_asset(weights):
    weights.loc["2021-04-01", "KO"] = 0.41
    with pytest.raises(WeightsHistoryError, match=r"2021-04-01 KO: weight 0\.41 > max_weight 0\.4"):
        check_weights_history(weights, max_weight=0.4)


def test_per_asset_caps(weights):
    with pytest.raises(
        WeightsHistoryError, match=r"2021-05-03 MSFT: weight 0\.4 > max_weight 0\.35"
    ):
        check_weights_history(weights, max_weight={"AAPL": 0.4, "MSFT": 0.35, "KO": 0.4})


def test_small_positive_weight_names_date_and_asset(weights):
    weights.loc["2021-03-01", "AAPL"] = 0.01
    with pytest.raises(WeightsHistoryError, match=r"2021-03-01 AAPL: .*below min_weight 0\.05"):
        check_weights_history(weights, min_weight=0.05)


def test_not_finite_negative_and_overinvested_rows(weights):
    weights.loc["2021-03-01", "MSFT"] = np.nan
    weights.loc["2021-05-03", "KO"] = -0.1
    weights.loc["2021-04-01", "AAPL"] = 0.6
    with pytest.raises(WeightsHistoryError) as info:
        check_weights_history(weights)
    text = str(info.value)
    assert "2021-03-01 MSFT: weight nan is not finite" in text
    assert "2021-05-03 KO: weight -0.1 < 0" in text
    assert "2021-04-01 (all assets): invested fraction 1.3 > 1" in text
    assert "3 breach(es)" in text


def test_wrong_shapes_are_refused(weights):
    with pytest.raises(TypeError, match="must be a pandas DataFrame"):
        check_weights_history(weights.to_numpy())
    with pytest.raises(AllocationError, match="indexed by dates"):
        check_weights_history(weights.reset_index(drop=True))
    with pytest.raises(AllocationError, match="sorted and unique"):
        check_weights_history(weights.iloc[::-1])


def test_prices_and_benchmark_checks(weights):
    bad = weights.copy()
    bad.loc["2021-04-01", "KO"] = 0.0
    with pytest.raises(AllocationError, match=r"2021-04-01 KO=0\.0.*Use NaN for a missing price"):
        check_prices(bad)
    other = pd.Series([0.01], index=pd.to_datetime(["1999-01-04"]))
    with pytest.raises(AllocationError, match="share no date with the prices"):
        check_benchmark(other, weights.index)
