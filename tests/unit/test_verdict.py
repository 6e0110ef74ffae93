"""Verdict and composite score: the docs/verdict.md formula, exactly, on one scale."""

from __future__ import annotations

import math

import numpy as np
import pytest

from poc.verdict import (
    CONCERN_CAP,
    CRITICAL_CAP,
    VerdictInputs,
    color_of,
    compute_verdict,
    grade_of,
)

FULL = dict(
    sharpe=1.2,
    sharpe_lag0=1.2,
    sharpe_lag2=1.0,
    sharpe_resid_off=1.2,
    sharpe_resid_industry=1.1,
    max_baseline_corr=0.1,
    max_factor_corr=0.06,
    large_cap_sharpe=0.9,
    small_cap_sharpe=1.0,
    positive_years=8,
    total_years=10,
    psr=0.999,
    dsr=0.97,
    pbo=0.2,
    n_trials=8,
    ic_t=3.1,
    ic_t_lag0=4.0,
    ic_t_lag1=3.0,
    turnover=0.3,
)


def test_full_score_by_hand():
    v = compute_verdict(VerdictInputs(**FULL))
    expected = (
        0.20 * 60.0
        + 0.15 * 97.0
        + 0.10 * 80.0
        + 0.10 * (1.0 / 1.2 * 100)
        + 0.10 * (1.1 / 1.2 * 100)
        + 0.10 * 80.0
        + 0.05 * 90.0
        + 0.10 * 80.0
        + 0.10 * 80.0
    )
    assert v.score == pytest.approx(expected, abs=1e-12)
    assert v.score == v.uncapped_score
    assert v.grade == "A" and v.color == "green"
    assert v.components_left_out == []


def test_missing_components_are_renormalized_and_said():
    inputs = {**FULL, "large_cap_sharpe": None, "small_cap_sharpe": None, "sharpe_lag2": None}
    v = compute_verdict(VerdictInputs(**inputs))
    used = {c.name: c for c in v.components if c.used}
    total = sum(c.weight for c in used.values())
    assert total == pytest.approx(0.85)
    assert v.score == pytest.approx(sum(c.weight * c.score for c in used.values()) / total)
    assert set(v.components_left_out) == {"cap_consistency", "lag_stability"}
    assert v.normalized_weight("sharpe") == pytest.approx(0.20 / 0.85)
    assert "renormalized without: lag_stability, cap_consistency" in v.reasons[-1]


def test_negative_base_earns_no_stability_credit():
    v = compute_verdict(
        VerdictInputs(
            sharpe=-0.5,
            sharpe_lag0=-0.5,
            sharpe_lag2=-1.0,
            sharpe_resid_off=-0.5,
            sharpe_resid_industry=-0.2,
        )
    )
    scores = {c.name: c.score for c in v.components}
    assert scores["lag_stability"] == 0.0
    assert scores["residualization_stability"] == 0.0
    assert scores["sharpe"] == 0.0
    assert v.color == "red" and v.grade == "F"


def test_components_are_clipped():
    v = compute_verdict(
        VerdictInputs(sharpe=5.0, sharpe_lag0=1.0, sharpe_lag2=3.0, max_baseline_corr=0.9)
    )
    scores = {c.name: c.score for c in v.components}
    assert scores["sharpe"] == 100.0 and scores["lag_stability"] == 100.0
    assert scores["baseline_uniqueness"] == 0.0


@pytest.mark.parametrize(
    "change, color, reason",
    [
        ({}, "green", "Sharpe 1.20 >= 1.0"),
        ({"sharpe": 0.7}, "yellow", "below the 1.0 needed for green"),
        ({"sharpe": 0.3}, "red", "below 0.5"),
        ({"sharpe_lag2": -0.1}, "red", "vanishes with 2 days of delay"),
        ({"sharpe_lag2": 0.3}, "yellow", "decays with delay"),
        ({"sharpe_resid_industry": -0.1}, "red", "all industry bets"),
        ({"max_baseline_corr": -0.85}, "red", "baseline in disguise"),
        ({"max_baseline_corr": 0.6}, "yellow", "high correlation with a baseline"),
        ({"max_factor_corr": 0.4}, "yellow", "loads on a style factor"),
        ({"positive_years": 3}, "yellow", "inconsistent across years"),
        ({"large_cap_sharpe": 0.1}, "yellow", "concentrated in small caps"),
        ({"dsr": 0.3}, "red", "no better than the best of 8 trials of noise"),
        ({"dsr": 0.8}, "yellow", "deflated Sharpe 0.800 over 8 trials is below 0.95"),
        ({"dsr": None}, "yellow", "deflated Sharpe ratio could not be computed"),
        ({"psr": 0.9}, "red", "not distinguishable from zero"),
        ({"pbo": 0.6}, "yellow", "probably overfit: PBO 0.60"),
        ({"ic_t": 1.5}, "yellow", "21-day IC not significant"),
        ({"turnover": 1.6}, "yellow", "high turnover: 1.60 a day"),
        ({"sharpe": 4.5}, "yellow", "check for lookahead or data leakage"),
        ({"ic_t_lag0": 30.0, "ic_t_lag1": 2.0}, "yellow", "check for lookahead or data leakage"),
    ],
)
def test_verdict_rules(change, color, reason):
    v = compute_verdict(VerdictInputs(**{**FULL, **change}))
    assert v.color == color
    assert any(reason in r for r in v.reasons), v.reasons
    assert color_of(v.grade) == v.color


@pytest.mark.parametrize(
    "score, grade",
    [(80, "A"), (79.99, "B"), (65, "B"), (50, "C"), (35, "D"), (34.9, "F"), (0, "F")],
)
def test_grades(score, grade):
    assert grade_of(score) == grade


def test_negative_base_gets_no_delay_or_neutrality_verdict_lines():
    v = compute_verdict(
        VerdictInputs(
            sharpe=-0.8,
            sharpe_lag0=-0.8,
            sharpe_lag2=-0.6,
            sharpe_resid_off=-0.8,
            sharpe_resid_industry=-0.5,
        )
    )
    assert "no edge at lag 0 to test for delay (Sharpe -0.80)" in v.reasons
    assert "no raw edge to test for industry neutrality (Sharpe -0.80)" in v.reasons
    assert v.color == "red"


def test_no_sharpe_is_inconclusive_without_score_or_grade():
    # Issue 8: a suite that never traded was graded A 97.9 from non-performance components.
    v = compute_verdict(VerdictInputs(**{**FULL, "sharpe": None}))
    assert v.color == "inconclusive"
    assert v.score is None and v.grade is None
    assert "never traded" in v.reasons[0]


def test_planted_like_peak_with_a_lookahead_warning_is_capped_at_yellow_and_says_so_first():
    v = compute_verdict(VerdictInputs(**{**FULL, "sharpe": 6.0}))
    assert v.warnings and v.reasons[0].startswith("check for lookahead or data leakage")
    assert v.score == CONCERN_CAP and v.grade == "C" and v.color == "yellow"
    # A strong signal that keeps its IC at lag 1 is not implausible.
    ok = compute_verdict(VerdictInputs(**{**FULL, "ic_t_lag0": 30.0, "ic_t_lag1": 15.0}))
    assert ok.warnings == [] and ok.color == "green"


def test_critical_caps_below_yellow_and_concern_below_green():
    red = compute_verdict(VerdictInputs(**{**FULL, "max_baseline_corr": 0.85}))
    assert red.uncapped_score > 65 and red.score == CRITICAL_CAP and red.grade == "D"
    yellow = compute_verdict(VerdictInputs(**{**FULL, "pbo": 0.55}))
    assert yellow.uncapped_score > 65 and yellow.score == CONCERN_CAP
    assert "score capped at 64.9" in " ".join(yellow.reasons)


def test_low_score_without_named_failures_is_red_and_says_why():
    v = compute_verdict(
        VerdictInputs(
            sharpe=1.0,
            psr=0.99,
            dsr=0.951,
            pbo=0.49,
            max_baseline_corr=0.49,
            max_factor_corr=0.29,
            positive_years=1,
            total_years=10,
        )
    )
    assert v.score < 50 and v.color == "red"
    assert any("below the yellow band" in r for r in v.reasons)


def test_colour_and_grade_never_disagree(rng):
    # Random inputs over the whole range: the colour is always the grade's band.
    for _ in range(400):
        draw = dict(
            sharpe=float(rng.uniform(-1, 5)),
            sharpe_lag0=float(rng.uniform(-1, 3)),
            sharpe_lag2=float(rng.uniform(-1, 3)),
            max_baseline_corr=float(rng.uniform(0, 1)),
            max_factor_corr=float(rng.uniform(0, 0.6)),
            positive_years=int(rng.integers(0, 11)),
            total_years=10,
            psr=float(rng.uniform(0.5, 1)),
            dsr=float(rng.uniform(0, 1)) if rng.random() > 0.1 else None,
            pbo=float(rng.uniform(0, 1)),
            n_trials=int(rng.integers(1, 200)),
            turnover=float(rng.uniform(0, 2)),
        )
        v = compute_verdict(VerdictInputs(**draw))
        assert v.color == color_of(v.grade), (draw, v)
        assert math.isfinite(v.score) and 0 <= v.score <= 100
        if v.color == "green":
            assert draw["dsr"] is not None and draw["dsr"] >= 0.95 and draw["pbo"] <= 0.5
    assert np.isfinite(CRITICAL_CAP)


def test_survivorship_is_a_caveat_not_a_grade():
    base = compute_verdict(VerdictInputs(**FULL))
    v = compute_verdict(VerdictInputs(**{**FULL, "survivorship": True}))
    assert v.score == base.score and v.color == base.color
    assert "survivors" in v.caveats[0]


def test_passed_checks_are_told_apart_from_issues():
    good = compute_verdict(VerdictInputs(**FULL))
    assert good.passed and set(good.passed) <= set(good.reasons)
    assert any(r.startswith("deflated Sharpe 0.970 >= ") for r in good.passed)
    bad = compute_verdict(VerdictInputs(**{**FULL, "sharpe": 0.2, "dsr": 0.1}))
    issues = [r for r in bad.reasons if r not in bad.passed]
    assert any("deflated Sharpe" in r for r in issues)
    assert not any("deflated Sharpe" in r for r in bad.passed)
