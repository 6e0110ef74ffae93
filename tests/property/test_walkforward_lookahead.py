"""No lookahead: no walk-forward decision dated at or before d changes when returns from d on do."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from poc.walkforward import walk_forward


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(60, 200), st.integers(1, 5), st.data())
def test_decisions_ignore_later_returns(seed, n, cells, data):
    rng = np.random.default_rng(seed)
    returns = pd.DataFrame(
        rng.standard_normal((n, cells)) * 0.01, index=pd.bdate_range("2010-01-01", periods=n)
    )
    train, test = data.draw(st.integers(5, 30)), data.draw(st.integers(1, 20))
    d = data.draw(st.integers(train, n - 1))
    changed = returns.copy()
    changed.iloc[d:] = rng.standard_normal((n - d, cells)) * 0.05
    before = walk_forward(returns, train, test).windows
    after = walk_forward(changed, train, test).windows
    decided = before["test_start"] <= returns.index[d]
    assert decided.any()
    pd.testing.assert_frame_equal(
        before.loc[decided, ["test_start", "cell", "train_sharpe"]],
        after.loc[decided, ["test_start", "cell", "train_sharpe"]],
    )
