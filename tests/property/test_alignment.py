"""Property: an aligned row is never usable before date_avail, and the lag is exact."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from poc.calendar import as_calendar
from poc.contract import align_signal, check_signal

# A calendar with gaps (weekends and random holidays) to make alignment non-trivial.
_DAYS = pd.date_range("2020-01-01", periods=120, freq="D")
_HOLIDAYS = _DAYS[np.random.default_rng(0).random(len(_DAYS)) < 0.08]
CALENDAR = as_calendar(_DAYS[(_DAYS.day_of_week < 5) & ~_DAYS.isin(_HOLIDAYS)])

rows = st.lists(
    st.tuples(
        st.integers(1, 5),  # security
        st.integers(0, 100),  # date_sig offset in calendar days from the first date
        st.integers(0, 15),  # availability delay in calendar days
        st.floats(-10, 10, allow_nan=False),
    ),
    min_size=1,
    max_size=60,
    unique_by=lambda r: (r[0], r[1]),
)


@settings(max_examples=200, deadline=None)
@given(rows=rows, lag=st.integers(0, 7))
def test_no_row_usable_before_available_and_lag_exact(rows, lag):
    start = pd.Timestamp(CALENDAR[0])
    frame = pd.DataFrame(
        {
            "security_id": [r[0] for r in rows],
            "date_sig": [start + pd.Timedelta(days=r[1]) for r in rows],
            "date_avail": [start + pd.Timedelta(days=r[1] + r[2]) for r in rows],
            "signal": [r[3] for r in rows],
        }
    )
    frame = frame[frame["date_avail"] <= pd.Timestamp(CALENDAR[-1])]
    if frame.empty:
        return
    aligned = align_signal(check_signal(frame, CALENDAR), CALENDAR, lag=lag)
    f = aligned.frame
    usable = f["date_usable"].to_numpy()
    # Never before availability, and on the *first* trading day at or after it.
    assert (usable >= f["date_avail"].to_numpy()).all()
    pos = f["usable_pos"].to_numpy()
    earlier = CALENDAR[np.maximum(pos - 1, 0)]
    assert ((pos == 0) | (earlier < f["date_avail"].to_numpy())).all()
    # The lag is honoured exactly in trading days.
    assert ((f["earn_pos"] - f["usable_pos"]) == 1 + lag).all()
    has_day = f["earn_pos"].to_numpy() < len(CALENDAR)
    np.testing.assert_array_equal(
        f["date_earn"].to_numpy()[has_day], CALENDAR[f["earn_pos"].to_numpy()[has_day]]
    )
    # Every row is accounted for: kept or dropped with a reason.
    assert len(f) + sum(aligned.dropped.values()) == len(frame)
