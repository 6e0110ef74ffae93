"""Trial counting of allocation suites, pure parts: the problem digest and the key dedup."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from poc.allocation_suite import AllocationProblem, allocation_digest
from poc.trust_suite import PriorTrials, _trials


def _bench(values) -> pd.Series:
    return pd.Series(values, index=pd.bdate_range("2020-01-01", periods=len(values)))


def test_allocation_digest_names_snapshot_assets_and_benchmark_not_their_order():
    bench = _bench([0.01, -0.02, 0.0])
    base = allocation_digest("abc", ["A", "B"], bench)
    assert len(base) == 64
    assert allocation_digest("abc", ["B", "A"], bench) == base
    assert allocation_digest("abd", ["A", "B"], bench) != base
    assert allocation_digest("abc", ["A", "C"], bench) != base
    assert allocation_digest("abc", ["A", "B"], _bench([0.01, -0.02, 0.001])) != base


def test_trial_key_fills_defaults_and_carries_the_window():
    problem = AllocationProblem("d", "2020-01-01", "2021-01-01")
    # A grid over model only and one over model and max_weight at its default: one trial.
    assert problem.trial_key({"model": "ema"}) == problem.trial_key(
        {"model": "ema", "max_weight": 0.4}
    )
    assert problem.trial_key({"model": "ema"}) != problem.trial_key(
        {"model": "ema", "max_weight": 0.3}
    )
    later = AllocationProblem("d", "2020-06-01", "2021-01-01")
    assert later.trial_key({"model": "ema"}) != problem.trial_key({"model": "ema"})


def test_trials_count_a_prior_configuration_of_this_suite_once_when_keyed():
    prior = PriorTrials(sharpes={"a": 1.0, "b": 0.5, "c": float("nan")}, runs=4)
    # Signal suites (no keys): every prior configuration counts on top of the suite's cells.
    n, variance, n_prior = _trials([0.8, 1.2], prior)
    assert (n, n_prior) == (5, 3)
    assert math.isclose(variance, float(np.var([0.8, 1.2, 1.0, 0.5], ddof=1)))
    # Keyed (allocation suites): "a" is this suite's first cell again, not a new trial.
    n, variance, n_prior = _trials([0.8, 1.2], prior, ["a", "z"])
    assert (n, n_prior) == (4, 2)
    assert math.isclose(variance, float(np.var([0.8, 1.2, 0.5], ddof=1)))
    # A suite cell without a Sharpe (failed) is no trial: its prior configuration counts.
    n, _, n_prior = _trials([float("nan"), 1.2], prior, ["a", "z"])
    assert (n, n_prior) == (4, 3)
