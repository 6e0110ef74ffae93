"""No lookahead: an overlay's exposure at day d ignores every return after d - 1."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from poc.overlays import overlay_exposure

TEXTS = ["voltarget:0.10:20", "ddcontrol:0.05:0.3", "trend:30:0.5", "regime"]


def series(seed: int, n: int, scale: float) -> pd.Series:
    rng = np.random.default_rng(seed)
    vol = np.repeat(rng.choice([0.004, 0.01, 0.03], size=n // 30 + 1), 30)[:n] * scale
    return pd.Series(rng.standard_normal(n) * vol, index=pd.bdate_range("2012-01-02", periods=n))


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from(TEXTS),
    st.integers(0, 2**32 - 1),
    st.integers(40, 320),
    st.data(),
)
def test_exposure_at_d_ignores_returns_from_d_on(text, seed, n, data):
    returns, bench = series(seed, n, 1.0), series(seed + 7, n, 1.0)
    d = data.draw(st.integers(1, n - 1))
    rng = np.random.default_rng(seed + 1)
    changed_r, changed_b = returns.copy(), bench.copy()
    # Day d's own return and everything later are unknown when exposure at d is set.
    changed_r.iloc[d:] = rng.standard_normal(n - d) * 0.05
    changed_b.iloc[d:] = rng.standard_normal(n - d) * 0.05
    before = overlay_exposure(text, returns, bench).to_numpy()
    after = overlay_exposure(text, changed_r, changed_b).to_numpy()
    np.testing.assert_array_equal(before[: d + 1], after[: d + 1])
