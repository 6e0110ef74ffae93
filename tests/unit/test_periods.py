"""Periods: IS/OOS split, crisis, monthly and annual tables (known values and error paths)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from poc import metrics
from poc.exceptions import ConfigError
from poc.periods import (
    annual_table,
    crises_in,
    crisis_table,
    monthly_table,
    resolve_oos_start,
    split_metrics,
)


def stream(start="2007-01-02", end="2012-12-31", seed=1):
    index = pd.bdate_range(start, end)
    rng = np.random.default_rng(seed)
    return pd.Series(rng.standard_normal(len(index)) * 0.01 + 0.0003, index=index)


def test_oos_start_by_date_and_by_fraction():
    r = stream()
    assert resolve_oos_start(r.index, "2010-01-01") == pd.Timestamp("2010-01-01")
    assert resolve_oos_start(r.index, "2010-01-02") == pd.Timestamp("2010-01-04")  # a Saturday
    start = resolve_oos_start(r.index, 0.25)
    assert (r.index >= start).sum() == round(len(r) * 0.25)


@pytest.mark.parametrize(
    ("value", "match"),
    [
        (1.5, "a fraction must lie in"),
        ("next tuesday", "cannot read 'next tuesday' as a date"),
        ("2030-01-01", "leaves .* 0 out-of-sample days"),
        ("1990-01-01", "leaves 0 in-sample"),
    ],
)
def test_bad_oos_start_is_a_config_error(value, match):
    with pytest.raises(ConfigError, match=match):
        resolve_oos_start(stream().index, value)


def test_split_metrics_match_the_metrics_of_each_side():
    r = stream()
    out = split_metrics(r, "2010-01-01")
    inside, outside = r[:"2009-12-31"], r["2010-01-01":]
    assert out["is_sharpe"] == metrics.sharpe_ratio(inside)
    assert out["oos_sharpe"] == metrics.sharpe_ratio(outside)
    assert out["oos_max_dd"] == metrics.max_drawdown(outside)
    assert out["is_days"] + out["oos_days"] == len(r)


def test_crisis_table_keeps_only_crises_inside_the_data():
    r = stream()
    assert [c.name for c in crises_in(r.index)] == ["2008 GFC", "2011 euro crisis"]
    table = crisis_table({"raw": r, "half": r / 2})
    assert list(table.index) == ["2008 GFC", "2011 euro crisis"]
    gfc = r["2007-10-09":"2009-03-09"]
    assert table.loc["2008 GFC", "raw return"] == pytest.approx(np.prod(1 + gfc) - 1)
    assert table.loc["2008 GFC", "half max DD"] == metrics.max_drawdown(gfc / 2)
    assert table.loc["2008 GFC", "days"] == len(gfc)
    assert crisis_table({"raw": stream("2013-01-01", "2014-12-31")}).empty


def test_monthly_table_compounds_days_and_years():
    index = pd.bdate_range("2020-01-01", "2021-02-26")
    r = pd.Series(0.001, index=index)
    table = monthly_table(r)
    jan = (index.year == 2020) & (index.month == 1)
    assert table.loc[2020, "Jan"] == pytest.approx(1.001 ** jan.sum() - 1)
    assert table.loc[2020, "Year"] == pytest.approx(1.001 ** (index.year == 2020).sum() - 1)
    assert np.isnan(table.loc[2021, "Mar"])
    assert list(table.columns)[-1] == "Year"


def test_annual_table_marks_is_and_oos_years():
    r = stream()
    table = annual_table({"raw": r, "overlay": r * 0.5}, oos_start="2010-06-01")
    assert list(table.index) == list(range(2007, 2013))
    assert table.loc[2008, "sample"] == "IS"
    assert table.loc[2010, "sample"] == "IS/OOS"
    assert table.loc[2011, "sample"] == "OOS"
    y = r["2009"]
    assert table.loc[2009, "raw return"] == pytest.approx(np.prod(1 + y) - 1)
    assert table.loc[2009, "raw Sharpe"] == metrics.sharpe_ratio(y)


def test_periods_partial_renders_crisis_annual_and_monthly_tables():
    from poc.periods_sheet import periods_section
    from poc.tearsheet import _environment

    page = _environment().from_string(
        '{% extends "base.html.j2" %}{% block body %}{% include "_periods.html.j2" %}{% endblock %}'
    )

    def render(_, context):
        return page.render(css="", title="t", footer="", **context)

    r = stream()
    section = periods_section({"raw": r, "overlay": r / 2}, oos_start="2010-06-01")
    html = render("_periods.html.j2", {"periods": section})
    assert "2008 GFC" in html and "2011 euro crisis" in html and "1998 LTCM" in html
    assert "IS/OOS" in html and "<svg" in html
    assert html.count('<div class="scroll">') == 3  # every table scrolls on a narrow screen
    empty = periods_section({"raw": stream("2013-01-01", "2014-06-30")})
    assert empty["crisis_table"] is None
    assert "No named crisis lies entirely inside the data" in render(
        "_periods.html.j2", {"periods": empty}
    )


def test_signal_and_allocation_sheets_carry_the_periods_section(
    bundled_snapshot, synthetic_snapshot
):
    from poc.allocation_sheet import allocation_context
    from poc.allocation_suite import allocation_spec_from_dict, run_allocation_suite
    from poc.experiment import spec_from_dict
    from poc.suite import run_suite
    from poc.tearsheet import render, suite_context

    alloc = run_allocation_suite(
        allocation_spec_from_dict({"name": "p", "grid": {"model": ["ema"]}}), bundled_snapshot
    )
    html = render("allocation.html.j2", allocation_context(alloc, {"run_id": "x", "command": "c"}))
    assert "Crisis periods" in html and "2008 GFC" in html and "benchmark return" in html
    signal = run_suite(
        spec_from_dict(
            {
                "name": "p",
                "signal": "builtin:planted",
                "baselines": False,
                "grid": {"lag": [0], "mincos": [5]},
            }
        ),
        synthetic_snapshot,
    )
    html = render("suite.html.j2", suite_context(signal, {"run_id": "x", "command": "c"}))
    # The synthetic snapshot's dates hold no named crisis: the sheet says so.
    assert "Monthly returns" in html and "No named crisis lies entirely inside the data" in html


def test_monthly_heatmap_is_centred_on_zero_and_can_be_left_to_another_section():
    from poc.periods_sheet import periods_section

    losing = stream() - 0.002  # most months lose: a zero-centred scale keeps them red
    with_map = periods_section({"raw": losing})["monthly_heatmap"]
    assert "<svg" in with_map and "%" in with_map  # colour bar labelled in percent
    assert periods_section({"raw": losing}, heatmap=False)["monthly_heatmap"] == ""


def test_partial_year_labels_mark_only_years_the_data_cover_in_part():
    from poc.periods import partial_year_labels

    # Starts mid-March and ends two trading days before the year's last weekday.
    assert partial_year_labels(pd.bdate_range("1990-03-15", "2022-12-28")) == {
        1990: "1990 (from 1990-03-15)",
        2022: "2022 (to 2022-12-28)",
    }
    # First weekday after New Year to the last weekday: full years.
    assert partial_year_labels(pd.bdate_range("1991-01-02", "2022-12-30")) == {}
    # One weekday of slack each side (a 2 January holiday, a 31 December closure).
    assert partial_year_labels(pd.DatetimeIndex(["2012-01-03", "2013-12-30"])) == {}
    assert partial_year_labels(pd.bdate_range("2020-02-03", "2020-06-30")) == {
        2020: "2020 (2020-02-03 to 2020-06-30)"
    }
    assert partial_year_labels(pd.DatetimeIndex([])) == {}


def test_additive_tables_sum_days_and_measure_drawdown_in_return_points():
    from poc.periods import additive_max_drawdown

    dates = pd.bdate_range("2021-01-04", periods=4)
    r = pd.Series([0.1, -0.3, -0.2, 0.6], index=dates)
    # cum .1 -.2 -.4 .2: the peak .1 falls to -.4, 0.5 return points; compounded differs.
    assert np.isclose(additive_max_drawdown(r), -0.5)
    assert np.isclose(metrics.max_drawdown(r), 0.7 * 0.8 - 1.0)
    assert np.isclose(monthly_table(r, compound=False).loc[2021, "Jan"], 0.2)
    assert np.isclose(annual_table({"net": r}, compound=False).loc[2021, "net return"], 0.2)
    assert np.isclose(annual_table({"net": r}).loc[2021, "net return"], 1.1 * 0.7 * 0.8 * 1.6 - 1)
    assert np.isnan(additive_max_drawdown(pd.Series([], dtype=float)))


def test_periods_section_labels_partial_years_and_names_its_definition():
    from poc.periods_sheet import periods_section

    dates = pd.bdate_range("1990-03-15", "1992-12-31")
    r = pd.Series(0.001, index=dates)
    additive = periods_section({"net": r}, compound=False, heatmap=False)
    compounded = periods_section({"net": r}, heatmap=False)
    for section in (additive, compounded):
        for key in ("annual_table", "monthly_table"):
            labels = [row["cells"][0] for row in section[key]["rows"]]
            assert labels == ["1990 (from 1990-03-15)", "1991", "1992"], key
        assert "partial" in section["annual_note"] and "partial" in section["monthly_note"]
    assert "sums of daily returns" in additive["annual_note"]
    assert "compounded" in compounded["annual_note"]
    year_1991 = (pd.DatetimeIndex(dates).year == 1991).sum()
    assert additive["annual_table"]["rows"][1]["cells"][1] == f"{0.001 * year_1991 * 100:.1f}%"
