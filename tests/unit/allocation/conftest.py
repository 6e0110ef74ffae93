"""Shared fixtures for the allocation tests: seeded synthetic panels and the bundled snapshot."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from poc.catalog import ensure_default_snapshot


def make_prices(n_days: int, n_assets: int, seed: int = 42, drift=None, vol: float = 0.015):
    """Geometric random-walk closes on business days, columns A0, A1, ..."""
    rng = np.random.default_rng(seed)
    drift = np.zeros(n_assets) if drift is None else np.asarray(drift, dtype=float)
    steps = drift[None, :] + vol * rng.standard_normal((n_days, n_assets))
    steps[0] = 0.0
    closes = 50.0 * np.exp(np.cumsum(steps, axis=0))
    dates = pd.bdate_range("2015-01-01", periods=n_days)
    return pd.DataFrame(closes, index=dates, columns=[f"A{i}" for i in range(n_assets)])


def make_benchmark(prices: pd.DataFrame, seed: int = 7, vol: float = 0.01) -> pd.Series:
    rng = np.random.default_rng(seed)
    values = vol * rng.standard_normal(len(prices)) + 0.0003
    values[0] = np.nan
    return pd.Series(values, index=prices.index, name="benchmark")


@pytest.fixture
def rng():
    return np.random.default_rng(42)


@pytest.fixture
def prices():
    return make_prices(300, 6)


@pytest.fixture
def benchmark(prices):
    return make_benchmark(prices)


@pytest.fixture(scope="session")
def real_snapshot(tmp_path_factory):
    """The real bundled snapshot, built once per session in a temporary store."""
    return ensure_default_snapshot(tmp_path_factory.mktemp("snapshots"))


@pytest.fixture
def make_panel():
    """The ``make_prices`` factory, for tests that need panels of their own shape."""
    return make_prices
