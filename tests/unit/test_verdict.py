"""Verdict and composite score: the docs/conventions.md formula, exactly."""

from __future__ import annotations

import pytest

from poc.verdict import VerdictInputs, compute_verdict, grade_of

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
)


def test_full_score_by_hand():
    v = compute_verdict(VerdictInputs(**FULL))
    expected = (
        0.25 * 60.0
        + 0.15 * (1.0 / 1.2 * 100)
        + 0.15 * (1.1 / 1.2 * 100)
        + 0.15 * 80.0
        + 0.10 * 90.0
        + 0.10 * 80.0
        + 0.10 * 80.0
    )
    assert v.score == pytest.approx(expected, abs=1e-12)
    assert v.grade == "B" and v.color == "green"
    assert v.components_left_out == []


def test_missing_components_are_renormalized_and_said():
    inputs = {**FULL, "large_cap_sharpe": None, "small_cap_sharpe": None, "sharpe_lag2": None}
    v = compute_verdict(VerdictInputs(**inputs))
    used = {c.name: c for c in v.components if c.used}
    total = sum(c.weight for c in used.values())
    assert total == pytest.approx(0.75)
    assert v.score == pytest.approx(sum(c.weight * c.score for c in used.values()) / total)
    assert set(v.components_left_out) == {"cap_consistency", "lag_stability"}
    assert v.normalized_weight("sharpe") == pytest.approx(0.25 / 0.75)
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
        ({"sharpe": None}, "red", "no Sharpe ratio"),
    ],
)
def test_verdict_rules(change, color, reason):
    v = compute_verdict(VerdictInputs(**{**FULL, **change}))
    assert v.color == color
    assert any(reason in r for r in v.reasons), v.reasons


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
