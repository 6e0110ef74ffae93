"""Portfolio specs (typed grid values, errors naming the fix) and the signal's IC tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from poc.exceptions import ConfigError
from poc.portfolio.suite import (
    apply_portfolio_overrides,
    load_portfolio_spec,
    non_overlapping_ic,
    portfolio_spec_from_dict,
)

ROOT = Path(__file__).resolve().parents[3]


def test_the_shipped_spec_and_typed_overrides():
    spec = load_portfolio_spec(ROOT / "experiments" / "portfolio.yaml")
    assert spec.signal == "builtin:momentum_12_1" and spec.snapshot == "sp500-v1"
    assert spec.grid["gate"] == [True, False] and spec.grid["hold_days"] == [21, 63]
    changed = apply_portfolio_overrides(
        spec, {"gate": "on", "decay_percentile": "none,40", "hold_days": "5", "n_control": "3"}
    )
    assert changed.grid["gate"] == [True]
    assert changed.grid["decay_percentile"] == [None, 40.0]
    assert changed.grid["hold_days"] == [5] and changed.n_control == 3
    assert len(changed.cells()) == 2


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ({"signal": "builtin:x", "grid": {"holding": [5]}}, "unknown axis 'holding'"),
        ({"signal": "builtin:x", "grid": {"gate": ["maybe"]}}, r"grid\.gate: cannot read"),
        ({"signal": "builtin:x", "grid": {"max_positions": [0]}}, "max_positions must be"),
        ({"signal": "builtin:x", "grid": {"hold_days": [2.5]}}, "not a whole number"),
        ({"grid": {}}, "needs a signal"),
        ({"signal": "builtin:x", "lags": [1]}, r"unknown key\(s\) \['lags'\]"),
        ({"signal": "builtin:x", "n_control": 0}, "n_control must be >= 1"),
        (
            {"signal": "builtin:x", "grid": {"hold_days": [5]}, "headline": {"hold_days": 9}},
            r"headline\.hold_days: 9 is not in grid\.hold_days",
        ),
    ],
)
def test_bad_specs_name_the_problem(raw, match):
    with pytest.raises(ConfigError, match=match):
        portfolio_spec_from_dict(raw)


def test_unknown_override_is_named():
    spec = portfolio_spec_from_dict({"signal": "builtin:high_52w"})
    with pytest.raises(ConfigError, match="unknown override 'colour'"):
        apply_portfolio_overrides(spec, {"colour": "red"})


def test_non_overlapping_ic_of_a_perfect_signal():
    rng = np.random.default_rng(42)
    returns = rng.normal(0, 0.01, (100, 12))
    signal = np.full_like(returns, np.nan)
    signal[:-1] = returns[1:]  # knows tomorrow's return: rank IC 1 at horizon 1
    mean, t_stat, windows = non_overlapping_ic(signal, returns, 1)
    assert mean == pytest.approx(1.0) and windows == 99 and np.isnan(t_stat)
    mean5, _, windows5 = non_overlapping_ic(signal, returns, 5)
    # days 0..94 have a full 5-day forward return; every 5th of them: 0, 5, ..., 90
    assert windows5 == 19 and 0 < mean5 < 1


@pytest.mark.parametrize(
    "raw, match",
    [
        ({"max_cells": 3, "grid": {"hold_days": [5, 10], "max_positions": [2, 3]}}, "4 cells"),
        ({"start": "2020-01-01", "end": "2019-01-01"}, "start"),
        ({"start": "notadate"}, "start"),
        ({"headline": ["hold_days"]}, "headline"),
        ({"grid": {"hold_dayz": [5]}}, "unknown axis 'hold_dayz'; portfolio axes"),
    ],
)
def test_portfolio_spec_shares_the_checks_of_other_specs(raw, match):
    from poc.portfolio.suite import portfolio_spec_from_dict

    with pytest.raises(ConfigError, match=match):
        portfolio_spec_from_dict({"signal": "builtin:noise", **raw})
