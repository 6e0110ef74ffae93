"""The tear sheets' extras: monthly table, additive drawdown episodes, one self-contained page."""

from __future__ import annotations

import numpy as np
import pandas as pd

from poc import sheet_extras


def test_monthly_returns_sum_or_compound():
    dates = pd.bdate_range("2020-01-01", "2020-03-31")
    net = pd.Series(0.01, index=dates)
    summed = sheet_extras.monthly_returns(net, compound=False)
    compounded = sheet_extras.monthly_returns(net, compound=True)
    jan = (dates.month == 1).sum()
    assert np.isclose(summed.loc[2020, 1], 0.01 * jan)
    assert np.isclose(compounded.loc[2020, 1], 1.01**jan - 1)
    assert summed.shape == (1, 12) and summed.loc[2020, 12] != summed.loc[2020, 12]  # NaN


def test_additive_drawdowns_find_depth_and_recovery():
    dates = pd.bdate_range("2021-01-01", periods=8)
    net = pd.Series([0.1, -0.3, -0.2, 0.6, -0.05, 0.0, 0.1, -0.4], index=dates)
    periods = sheet_extras.additive_drawdown_periods(net)
    # cum: .1 -.2 -.4 .2 .15 .15 .25 -.15 -> episodes: depth -.5 (recovered day 4),
    # -.4 (open at the end), -.05.
    assert np.allclose(periods["depth"], [-0.5, -0.4, -0.05])
    first = periods.iloc[0]
    assert first["peak"] == dates[0] and first["trough"] == dates[2]
    assert first["recovery"] == dates[3]
    assert pd.isna(periods.iloc[1]["recovery"])


def test_extras_context_renders_self_contained():
    from poc.tearsheet import _environment

    dates = pd.bdate_range("2019-01-01", periods=400)
    rng = np.random.default_rng(1)
    net = pd.Series(rng.normal(0, 0.01, 400), index=dates)
    extras = sheet_extras.extras_context(
        net,
        pd.Series(0.3, index=dates),
        pd.Series(rng.normal(0, 0.01, 400), index=dates),
        compound=False,
        ic_daily=pd.Series(rng.normal(0.02, 0.1, 400), index=dates),
    )
    for key in ("monthly_heatmap", "rolling_sharpe", "rolling_beta", "distribution", "turnover",
                "ic_series", "ic_hist"):  # fmt: skip
        assert extras[key].startswith("<svg"), key
    page = _environment().from_string(
        '{% extends "base.html.j2" %}{% block body %}{% include "_extras.html.j2" %}{% endblock %}'
    )
    html = page.render(css="", title="t", footer="f", extras=extras, extras_cell="lag=0")
    assert 'id="glossary"' in html and "cum_return" in html
    assert "http://" not in html.replace("http://www.w3.org", "")


def test_monthly_table_labels_a_partial_first_year():
    dates = pd.bdate_range("1990-03-15", "1991-12-31")
    extras = sheet_extras.extras_context(pd.Series(0.001, index=dates), None, None, compound=True)
    labels = [row["cells"][0] for row in extras["monthly_table"]["rows"]]
    assert labels == ["1990 (from 1990-03-15)", "1991"]
    assert extras["drawdowns_basis"] == "of the compounded curve"


def test_every_chart_is_its_figure_width_whatever_its_legend_or_title():
    """A long legend or title no longer widens a chart: one width, one text size on the page."""
    import re

    from poc import charts

    dates = pd.bdate_range("2019-01-01", periods=300)
    many = {
        f"lag={i} resid=industry rebal=monthly": pd.Series(float(i), index=dates) for i in range(14)
    }
    wide = charts.line_chart(many, "A title " * 20)
    plain = charts.area_chart(pd.Series(-0.1, index=dates), "Drawdown")
    half = charts.histogram(np.arange(10.0), "h", marks={"mean": 4.5})

    def width(svg):
        return re.match(r'<svg[^>]*\swidth="([\d.]+)pt"', svg).group(1)

    assert width(wide) == width(plain) == f"{charts.FULL_WIDTH * 72:g}"
    assert width(half) == f"{charts.HALF_WIDTH * 72:g}"
    assert not re.match(r"<svg[^>]*\sheight=", wide)  # the page derives it from the viewBox
