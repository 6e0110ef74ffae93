"""Verdict, composite score and grade of a signal (pure; formulas in docs/verdict.md).

Composite score 0-100 = weighted sum of components, each clipped to [0, 100]:

==========================  ======  ==============================================
component                   weight  score
==========================  ======  ==============================================
sharpe                      20%     ``min(100, sharpe / 2 * 100)``
deflated_sharpe             15%     ``DSR * 100`` (all trials of this signal counted)
overfitting                 10%     ``(1 - PBO) * 100`` (CSCV over the grid)
lag_stability               10%     ``sharpe_lag2 / sharpe_lag0 * 100``
residualization_stability   10%     ``sharpe_resid_industry / sharpe_resid_off * 100``
baseline_uniqueness         10%     ``100 - max_baseline_corr / 0.5 * 100``
year_consistency            10%     ``positive_years / total_years * 100``
factor_uniqueness           10%     ``100 - max_factor_corr / 0.3 * 100``
cap_consistency              5%     ``large_cap_sharpe / small_cap_sharpe * 100``
==========================  ======  ==============================================

A ratio whose denominator is <= 0 scores 0 (a negative base Sharpe earns no
stability credit). Correlations enter as absolute values: a signal that is
minus a baseline is that baseline. A component whose inputs do not exist (no
lag 2 in the grid, no market caps) is left out and the remaining weights are
renormalized; :class:`Verdict` records which.

One scale: the grade comes from the score (A >= 80, B >= 65, C >= 50, D >= 35,
else F) and the colour from the grade (A/B green, C yellow, D/F red), so they
never disagree. The checks move the score, never the colour directly: a
critical failure caps the score below the yellow band (49.9), a concern below
the green band (64.9), an implausibly good result (lookahead suspected) too.
Green therefore needs Sharpe >= 1.0, DSR >= 0.95, PBO <= 0.5 and every
available robustness check passing. A headline without a Sharpe ratio (failed,
never traded) is ``inconclusive``: no score and no grade. The checks and their
thresholds are the module constants below, and every verdict lists its reasons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

WEIGHTS = {
    "sharpe": 0.20,
    "deflated_sharpe": 0.15,
    "overfitting": 0.10,
    "lag_stability": 0.10,
    "residualization_stability": 0.10,
    "baseline_uniqueness": 0.10,
    "cap_consistency": 0.05,
    "year_consistency": 0.10,
    "factor_uniqueness": 0.10,
}
GRADES = (("A", 80.0), ("B", 65.0), ("C", 50.0), ("D", 35.0))

GREEN_SHARPE = 1.0
YELLOW_SHARPE = 0.5
LAG_RATIO_OK = 0.5  # Sharpe at lag 2 keeps at least half of lag 0
RESID_RATIO_OK = 0.5  # industry-neutral Sharpe keeps at least half
BASELINE_CORR_OK = 0.5  # the level at which baseline uniqueness scores 0
FACTOR_CORR_OK = 0.3  # the level at which factor uniqueness scores 0
BASELINE_CORR_CRITICAL = 0.8  # a baseline in disguise
YEAR_SHARE_OK = 0.6
CAP_RATIO_OK = 0.5
GREEN_FLOOR = 65.0  # grades A and B
YELLOW_FLOOR = 50.0  # grade C
CRITICAL_CAP = 49.9  # a critical failure keeps the score below the yellow band
CONCERN_CAP = 64.9  # a concern keeps it below the green band
DSR_OK = 0.95  # green needs 95% confidence the Sharpe beats the best of the trials by luck
DSR_CRITICAL = 0.5  # below: no better than the expected best of as many null trials
PSR_OK = 0.95  # below: the Sharpe is not distinguishable from zero even as a single trial
PBO_OK = 0.5  # above: the grid's in-sample winner is more often than not below median OOS
IC_T_OK = 1.96  # the conservative 21-day IC t-statistic (block vs Newey-West)
TURNOVER_HIGH = 1.0  # mean daily turnover (both legs, gross 2): half the book a day
IMPLAUSIBLE_IC_T = 10.0  # lag-0 IC t beyond what real signals show...
IMPLAUSIBLE_COLLAPSE = 0.25  # ...that keeps less than this share at lag 1
IMPLAUSIBLE_SHARPE = 4.0  # a net Sharpe above this is more often a bug than an edge
LEAKAGE_WARNING = "check for lookahead or data leakage"

Color = Literal["green", "yellow", "red", "inconclusive"]


@dataclass(frozen=True)
class VerdictInputs:
    """What the verdict needs; ``None`` where the suite could not measure it.

    ``sharpe`` is the Sharpe ratio of the pre-declared headline cell (not the
    best cell of the grid, which would reward data mining).
    """

    sharpe: float | None
    sharpe_lag0: float | None = None
    sharpe_lag2: float | None = None
    sharpe_resid_off: float | None = None
    sharpe_resid_industry: float | None = None
    max_baseline_corr: float | None = None
    max_factor_corr: float | None = None
    large_cap_sharpe: float | None = None
    small_cap_sharpe: float | None = None
    positive_years: int | None = None
    total_years: int | None = None
    psr: float | None = None  # P(true Sharpe > 0), skew/kurtosis-adjusted
    dsr: float | None = None  # deflated Sharpe over n_trials
    pbo: float | None = None  # probability of backtest overfitting (CSCV)
    n_trials: int | None = None
    ic_t: float | None = None  # conservative 21-day IC t-statistic
    ic_t_lag0: float | None = None  # 1-day IC t at lag 0 and lag 1 (implausibility)
    ic_t_lag1: float | None = None
    turnover: float | None = None  # mean daily turnover of the headline cell
    survivorship: bool = False  # the snapshot's universe is today's survivors


@dataclass(frozen=True)
class Component:
    """One scored component: its weight, the score in [0, 100] and how it was computed."""

    name: str
    weight: float
    score: float | None
    used: bool
    detail: str


@dataclass(frozen=True)
class Verdict:
    """The verdict, with every number and reason behind it."""

    color: Color
    grade: str | None  # None when inconclusive
    score: float | None  # None when inconclusive
    reasons: list[str]
    components: list[Component] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # shown at the top of the sheet
    uncapped_score: float | None = None  # the weighted score before any cap
    caveats: list[str] = field(default_factory=list)  # true of the data, not of the signal
    passed: list[str] = field(default_factory=list)  # the reasons that are checks passed

    def normalized_weight(self, name: str) -> float:
        """The weight component ``name`` carried after renormalization (0 when left out)."""
        used = [c for c in self.components if c.used]
        total = sum(c.weight for c in used)
        return next((c.weight / total for c in used if c.name == name), 0.0) if total else 0.0

    @property
    def components_used(self) -> list[str]:
        return [c.name for c in self.components if c.used]

    @property
    def components_left_out(self) -> list[str]:
        return [c.name for c in self.components if not c.used]


def _known(x) -> bool:
    return x is not None and isinstance(x, int | float) and math.isfinite(x)


def _clip(x: float) -> float:
    return float(min(100.0, max(0.0, x)))


def _ratio_score(numerator, denominator) -> float:
    if denominator <= 0:
        return 0.0
    return _clip(numerator / denominator * 100.0)


def _components(x: VerdictInputs) -> list[Component]:
    out = []

    def add(name, ok, score_fn, detail_ok, detail_missing):
        if ok:
            out.append(Component(name, WEIGHTS[name], score_fn(), True, detail_ok()))
        else:
            out.append(Component(name, WEIGHTS[name], None, False, detail_missing))

    add(
        "sharpe",
        _known(x.sharpe),
        lambda: _clip(x.sharpe / 2.0 * 100.0),
        lambda: f"Sharpe {x.sharpe:.2f} (2.0 scores 100)",
        "no Sharpe ratio (the headline cell failed or had no trades)",
    )
    add(
        "deflated_sharpe",
        _known(x.dsr),
        lambda: _clip(x.dsr * 100.0),
        lambda: f"DSR {x.dsr:.3f} over {x.n_trials or 1} trials",
        "left out: the deflated Sharpe could not be computed",
    )
    add(
        "overfitting",
        _known(x.pbo),
        lambda: _clip((1.0 - x.pbo) * 100.0),
        lambda: f"PBO {x.pbo:.2f} (CSCV over the grid)",
        "left out: PBO needs at least 2 grid cells with daily returns",
    )
    add(
        "lag_stability",
        _known(x.sharpe_lag0) and _known(x.sharpe_lag2),
        lambda: _ratio_score(x.sharpe_lag2, x.sharpe_lag0),
        lambda: f"Sharpe lag 2 / lag 0 = {x.sharpe_lag2:.2f} / {x.sharpe_lag0:.2f}",
        "left out: the grid has no lag 0 and lag 2 pair",
    )
    add(
        "residualization_stability",
        _known(x.sharpe_resid_off) and _known(x.sharpe_resid_industry),
        lambda: _ratio_score(x.sharpe_resid_industry, x.sharpe_resid_off),
        lambda: (
            f"Sharpe industry-residualized / raw = {x.sharpe_resid_industry:.2f} / "
            f"{x.sharpe_resid_off:.2f}"
        ),
        "left out: the grid lacks residualize 'off' and 'industry'",
    )
    add(
        "baseline_uniqueness",
        _known(x.max_baseline_corr),
        lambda: _clip(100.0 - abs(x.max_baseline_corr) / BASELINE_CORR_OK * 100.0),
        lambda: f"max |corr| with a baseline = {abs(x.max_baseline_corr):.2f}",
        "left out: no baselines were run",
    )
    add(
        "cap_consistency",
        _known(x.large_cap_sharpe) and _known(x.small_cap_sharpe),
        lambda: _ratio_score(x.large_cap_sharpe, x.small_cap_sharpe),
        lambda: (
            f"Sharpe large caps / small caps = {x.large_cap_sharpe:.2f} / {x.small_cap_sharpe:.2f}"
        ),
        "left out: the snapshot has no market caps",
    )
    add(
        "year_consistency",
        _known(x.positive_years) and _known(x.total_years) and (x.total_years or 0) > 0,
        lambda: _clip(x.positive_years / x.total_years * 100.0),
        lambda: f"{x.positive_years} of {x.total_years} calendar years positive",
        "left out: no full calendar year of results",
    )
    add(
        "factor_uniqueness",
        _known(x.max_factor_corr),
        lambda: _clip(100.0 - abs(x.max_factor_corr) / FACTOR_CORR_OK * 100.0),
        lambda: f"max |corr| with a style factor = {abs(x.max_factor_corr):.2f}",
        "left out: the snapshot has no style exposures",
    )
    return out


def composite_score(components: list[Component]) -> float:
    """Weighted mean of the used components' scores, weights renormalized to sum to 1."""
    used = [c for c in components if c.used]
    total_weight = sum(c.weight for c in used)
    if total_weight <= 0:
        return 0.0
    return float(sum(c.weight * c.score for c in used) / total_weight)


def grade_of(score: float) -> str:
    """Letter grade: A >= 80, B >= 65, C >= 50, D >= 35, else F."""
    for letter, floor in GRADES:
        if score >= floor:
            return letter
    return "F"


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


def _stability_check(
    base: float,
    stressed: float,
    ok_ratio: float,
    lists: tuple[list[str], list[str], list[str]],
    *,
    no_base: str,
    vanishes: str,
    survives: str,
    weakens: str,
) -> None:
    """One robustness test (delay, residualization): does a positive edge survive the stress?

    No positive base edge is a concern (nothing to test); a stressed Sharpe <= 0 is
    critical; keeping at least ``ok_ratio`` of the base passes; anything else is a concern.
    """
    critical, concerns, passed = lists
    if base <= 0:
        concerns.append(no_base)
    elif stressed <= 0:
        critical.append(vanishes)
    elif stressed / base >= ok_ratio:
        passed.append(survives)
    else:
        concerns.append(weakens)


def _significance_checks(x: VerdictInputs, lists: tuple[list[str], list[str], list[str]]) -> None:
    """Multiple testing and overfitting: PSR, DSR over every trial, PBO, IC t."""
    critical, concerns, passed = lists
    if _known(x.psr) and x.psr < PSR_OK:
        critical.append(
            f"not distinguishable from zero: P(true Sharpe > 0) = {x.psr:.3f} < {PSR_OK}"
        )
    trials = x.n_trials or 1
    if not _known(x.dsr):
        concerns.append("the deflated Sharpe ratio could not be computed (green needs it)")
    elif x.dsr < DSR_CRITICAL:
        critical.append(
            f"no better than the best of {trials} trials of noise: deflated Sharpe {x.dsr:.3f}"
        )
    elif x.dsr < DSR_OK:
        concerns.append(f"deflated Sharpe {x.dsr:.3f} over {trials} trials is below {DSR_OK}")
    else:
        passed.append(f"deflated Sharpe {x.dsr:.3f} >= {DSR_OK} over {trials} trials")
    if _known(x.pbo):
        if x.pbo > PBO_OK:
            concerns.append(f"probably overfit: PBO {x.pbo:.2f} > {PBO_OK}")
        else:
            passed.append(f"PBO {x.pbo:.2f} <= {PBO_OK}")
    if _known(x.ic_t):
        if abs(x.ic_t) < IC_T_OK:
            concerns.append(f"21-day IC not significant: conservative t {x.ic_t:.2f}")
        else:
            passed.append(f"21-day IC t {x.ic_t:.2f} (the more conservative of block and NW)")
    if _known(x.turnover) and x.turnover > TURNOVER_HIGH:
        concerns.append(
            f"high turnover: {x.turnover:.2f} a day (of a gross book of 2); "
            "costs dominate unless execution is cheap"
        )


def implausibility(x: VerdictInputs) -> list[str]:
    """Why the result looks too good to be true (empty when it does not)."""
    why = []
    t0, t1 = x.ic_t_lag0, x.ic_t_lag1
    # t0 may be +inf (a perfect IC every day); it is still a number to compare.
    t0_ok = t0 is not None and not math.isnan(t0)
    if t0_ok and t0 > IMPLAUSIBLE_IC_T and _known(t1) and t1 < IMPLAUSIBLE_COLLAPSE * t0:
        why.append(f"lag-0 IC t {t0:.1f} collapses to {t1:.1f} at lag 1")
    if _known(x.sharpe) and x.sharpe > IMPLAUSIBLE_SHARPE:
        why.append(f"net Sharpe {x.sharpe:.2f} above {IMPLAUSIBLE_SHARPE:g}")
    return why


def color_of(grade: str) -> Color:
    """A/B green, C yellow, D/F red: the one scale."""
    return "green" if grade in ("A", "B") else "yellow" if grade == "C" else "red"


def compute_verdict(inputs: VerdictInputs) -> Verdict:
    """Score, grade and colour a signal from its suite measurements.

    Parameters
    ----------
    inputs : VerdictInputs

    Returns
    -------
    Verdict
        ``reasons`` lists, in order, the implausibility warning, the critical
        failures, the concerns and the checks passed, each with its number.
        ``inconclusive`` (no score, no grade) when the headline has no Sharpe ratio.
    """
    components = _components(inputs)
    caveats = (
        ["survivorship: the universe is today's survivors, so results are biased upward"]
        if inputs.survivorship
        else []
    )
    s = inputs.sharpe
    if not _known(s):
        reasons = ["inconclusive: the headline cell failed or never traded, so it has no Sharpe"]
        return Verdict("inconclusive", None, None, reasons, components, [], None, caveats)
    raw_score = composite_score(components)
    critical: list[str] = []
    concerns: list[str] = []
    passed: list[str] = []

    if s < YELLOW_SHARPE:
        critical.append(f"Sharpe {s:.2f} is below {YELLOW_SHARPE}")
    elif s < GREEN_SHARPE:
        concerns.append(f"Sharpe {s:.2f} is below the {GREEN_SHARPE} needed for green")
    else:
        passed.append(f"Sharpe {s:.2f} >= {GREEN_SHARPE}")
    _significance_checks(inputs, (critical, concerns, passed))

    if _known(inputs.sharpe_lag0) and _known(inputs.sharpe_lag2):
        lag0, lag2 = inputs.sharpe_lag0, inputs.sharpe_lag2
        _stability_check(
            lag0,
            lag2,
            LAG_RATIO_OK,
            (critical, concerns, passed),
            no_base=f"no edge at lag 0 to test for delay (Sharpe {lag0:.2f})",
            vanishes=f"the edge vanishes with 2 days of delay (Sharpe {lag0:.2f} -> {lag2:.2f})",
            survives=f"survives delay: Sharpe lag 2 / lag 0 = {_ratio(lag2, lag0):.2f}",
            weakens=f"decays with delay: Sharpe lag 0 {lag0:.2f}, lag 2 {lag2:.2f}",
        )

    if _known(inputs.sharpe_resid_off) and _known(inputs.sharpe_resid_industry):
        raw, neutral = inputs.sharpe_resid_off, inputs.sharpe_resid_industry
        _stability_check(
            raw,
            neutral,
            RESID_RATIO_OK,
            (critical, concerns, passed),
            no_base=f"no raw edge to test for industry neutrality (Sharpe {raw:.2f})",
            vanishes=f"the edge is all industry bets: Sharpe {raw:.2f} raw, "
            f"{neutral:.2f} industry-neutral",
            survives=f"survives industry residualization: ratio {_ratio(neutral, raw):.2f}",
            weakens=f"weakens when industry-neutral: Sharpe {raw:.2f} raw, "
            f"{neutral:.2f} residualized",
        )

    if _known(inputs.max_baseline_corr):
        c = abs(inputs.max_baseline_corr)
        if c >= BASELINE_CORR_CRITICAL:
            critical.append(f"a baseline in disguise: |corr| {c:.2f} with a baseline")
        elif c >= BASELINE_CORR_OK:
            concerns.append(f"high correlation with a baseline: |corr| {c:.2f}")
        else:
            passed.append(f"distinct from the baselines: max |corr| {c:.2f}")

    if _known(inputs.max_factor_corr):
        c = abs(inputs.max_factor_corr)
        if c >= FACTOR_CORR_OK:
            concerns.append(f"loads on a style factor: max |corr| {c:.2f}")
        else:
            passed.append(f"low style-factor exposure: max |corr| {c:.2f}")

    if _known(inputs.positive_years) and _known(inputs.total_years) and inputs.total_years:
        share = inputs.positive_years / inputs.total_years
        text = f"{inputs.positive_years} of {inputs.total_years} years positive"
        (passed if share >= YEAR_SHARE_OK else concerns).append(
            text if share >= YEAR_SHARE_OK else f"inconsistent across years: {text}"
        )

    if _known(inputs.large_cap_sharpe) and _known(inputs.small_cap_sharpe):
        large, small = inputs.large_cap_sharpe, inputs.small_cap_sharpe
        ok = small > 0 and large / small >= CAP_RATIO_OK
        text = f"Sharpe large caps {large:.2f}, small caps {small:.2f}"
        (passed if ok else concerns).append(text if ok else f"concentrated in small caps: {text}")

    why = implausibility(inputs)
    warnings = [f"{LEAKAGE_WARNING}: " + "; ".join(why)] if why else []
    score = raw_score
    if critical:
        score = min(score, CRITICAL_CAP)
    elif concerns or warnings:
        score = min(score, CONCERN_CAP)
    if not critical and score < YELLOW_FLOOR:
        critical.append(f"composite score {score:.1f} is below the yellow band ({YELLOW_FLOOR:g})")
    elif not critical and not concerns and not warnings and score < GREEN_FLOOR:
        concerns.append(f"composite score {score:.1f} is below the green band ({GREEN_FLOOR:g})")
    grade = grade_of(score)
    left_out = [c for c in components if not c.used]
    reasons = warnings + critical + concerns + passed
    if score < raw_score:
        reasons.append(f"score capped at {score:.1f} (weighted {raw_score:.1f}) by the above")
    if left_out:
        reasons.append("score renormalized without: " + ", ".join(c.name for c in left_out))
    return Verdict(
        color_of(grade),
        grade,
        score,
        reasons,
        components,
        warnings,
        raw_score,
        caveats,
        passed=list(passed),
    )
