"""The "how much to trust this" report of a suite, from its cells (pure; no MLflow).

:func:`trust_report` reads a finished suite's cells and evaluation and computes,
with :mod:`poc.trust`: the trial count and the variance of Sharpe across trials,
PSR, DSR, MinTRL, PBO by CSCV over the grid's daily net returns, the plateau
ratio, and the spanning regression on the baselines. Trials already run for the
same signal (or, for allocation suites, the same allocation problem) in the MLflow
experiment (read by :func:`poc.tracking.prior_trials`) come in as
:class:`PriorTrials`; :func:`with_prior_trials` recomputes the report and the verdict
once they are known. Formulas: ``docs/verdict.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from poc import trust
from poc.metrics import PERIODS_PER_YEAR
from poc.verdict import VerdictInputs, compute_verdict

TRIAL_VARIANCE = "capped"


@dataclass(frozen=True)
class PriorTrials:
    """Cell configurations of the same signal already in the experiment.

    ``sharpes`` maps a configuration key (its params, sorted) to its annualized
    Sharpe (the mean when a configuration ran more than once); ``runs`` counts the
    child runs read.
    """

    sharpes: dict[str, float] = field(default_factory=dict)
    runs: int = 0


@dataclass(frozen=True)
class TrustReport:
    """Every number of the tear sheet's "How much to trust this" section."""

    n_trials: int
    n_suite_cells: int
    n_prior_configs: int
    sharpe_variance: float  # across trials, annualized Sharpe units (empirical)
    sharpe_variance_used: float  # what DSR used: a null trial's sampling variance
    expected_max_sharpe: float  # annualized: what the best of n_trials null trials reaches
    psr: float
    dsr: float
    skew: float
    kurtosis: float
    sample_days: int
    min_trl_days: float  # to prove Sharpe > 0 at 95%
    min_trl_dsr_days: float  # to prove Sharpe > expected_max_sharpe at 95%
    pbo: float
    pbo_logits: np.ndarray
    pbo_splits: int
    plateau: float
    n_neighbours: int
    spanning_alpha: float  # annualized
    spanning_t: float
    spanning_r2: float
    spanning_n: int
    residual_ic_mean: float
    residual_ic_t: float

    def metrics(self) -> dict[str, float]:
        """Parent-run metrics (``trust_*``) so the MLflow UI can sort suites by them."""
        return {
            "trust_n_trials": float(self.n_trials),
            "trust_sharpe_variance": self.sharpe_variance,
            "trust_sharpe_variance_used": self.sharpe_variance_used,
            "trust_expected_max_sharpe": self.expected_max_sharpe,
            # Probabilities to 6 decimals: the runs table cuts columns short, and a DSR of
            # 1.9e-10 shown as "1.899..." would read as a certainty.
            "trust_psr": _probability(self.psr),
            "trust_dsr": _probability(self.dsr),
            "trust_min_trl_days": self.min_trl_days,
            "trust_min_trl_dsr_days": self.min_trl_dsr_days,
            "trust_sample_days": float(self.sample_days),
            "trust_pbo": _probability(self.pbo),
            "trust_plateau": self.plateau,
            "trust_spanning_alpha": self.spanning_alpha,
            "trust_spanning_t": self.spanning_t,
            "trust_residual_ic_mean": self.residual_ic_mean,
            "trust_residual_ic_t": self.residual_ic_t,
        }


def _probability(p: float | None) -> float | None:
    """A probability rounded to 6 decimals for display columns (None and NaN kept)."""
    if p is None or not np.isfinite(p):
        return p
    return round(float(p), 6)


def config_key(params: dict[str, Any]) -> str:
    """A cell's configuration as a stable string (the same for MLflow params and live cells)."""

    def norm(v: Any) -> str:
        if isinstance(v, list | tuple):
            return "(" + ", ".join(norm(x) for x in v) + ")"
        return str(v)

    return ";".join(f"{k}={norm(params[k])}" for k in sorted(params) if k != "kind")


def net_matrix(cells) -> tuple[np.ndarray, list]:
    """The cells' daily net returns as a ``(days x cells)`` matrix (NaN where a cell has no
    row) and its dates: the input of :func:`poc.trust.pbo_cscv`."""
    frames = [c.daily.set_index("date")["net"].rename(i) for i, c in enumerate(cells)]
    if not frames:
        return np.empty((0, 0)), []
    wide = pd.concat(frames, axis=1).sort_index()
    return wide.to_numpy(dtype=float), list(wide.index)


def _trials(
    suite_sharpes: list[float], prior: PriorTrials | None, suite_keys: list[str] | None = None
) -> tuple[int, float, int]:
    """Trial count, variance of Sharpe across the trials, prior configurations counted.

    Every cell of this suite is a trial, plus every distinct configuration already run
    for the same digest. Without ``suite_keys`` (signal suites) a re-run counts again,
    because params do not record what else changed (dates, snapshot, the code). With
    ``suite_keys`` (one per suite Sharpe; allocation suites, whose key is the full
    config and the window) a prior configuration equal to one of this suite's cells is
    the same trial again and is not counted twice.
    """
    keys = suite_keys if suite_keys is not None else [None] * len(suite_sharpes)
    values = [s for s in suite_sharpes if math.isfinite(s)]
    seen = {k for k, s in zip(keys, suite_sharpes, strict=True) if math.isfinite(s)}
    prior_sharpes = {k: v for k, v in (prior.sharpes.items() if prior else []) if k not in seen}
    prior_values = [s for s in prior_sharpes.values() if math.isfinite(s)]
    every = values + prior_values
    n = len(values) + len(prior_sharpes)
    variance = float(np.var(every, ddof=1)) if len(every) >= 2 else 0.0
    return max(n, 1), variance, len(prior_sharpes)


def trust_report(
    results: list,
    headline,
    base: dict[str, Any],
    grid: dict[str, list],
    evaluation_: dict[str, Any],
    prior: PriorTrials | None = None,
    trial_key: Callable[[dict[str, Any]], str] | None = None,
) -> TrustReport:
    """Compute the trust statistics of a suite's headline cell (see module docstring).

    ``trial_key`` maps a cell's params to its configuration key (as in
    ``prior.sharpes``); given, a prior configuration equal to a cell of this suite is
    not counted twice (:func:`_trials`).
    """
    cells = [c for c in results if c.kind == "cell" and c.ok and c.daily is not None]
    baselines = [c for c in results if c.kind == "baseline" and c.ok and c.daily is not None]
    suite_sharpes = [float(c.metrics.get("sharpe", np.nan)) for c in cells]
    suite_keys = [trial_key(c.params) for c in cells] if trial_key is not None else None
    n_trials, variance, n_prior = _trials(suite_sharpes, prior, suite_keys)
    periods = PERIODS_PER_YEAR

    net = headline.daily["net"].to_numpy() if headline.ok and headline.daily is not None else []
    sr, skew, kurt, n = trust.sharpe_moments(net)
    # V in DSR: the variance of a trial's Sharpe when it has no skill, which is its sampling
    # variance, 1/(n-1) a day. The empirical variance across the trials is reported but not
    # used: measured, it is inflated by structure (costs and decay across lags: 16.4 for a
    # planted signal whose lag-2 cells lose to costs, DSR 0) and deflated by correlation (a
    # grid of one noise signal's variants: a best-of-50 noise cell got DSR 0.66); see
    # docs/verdict.md.
    daily_var = 1.0 / (n - 1) if n > 1 else np.nan
    sr0 = trust.expected_max_sharpe(n_trials, daily_var)
    pbo = trust.pbo_cscv(net_matrix(cells)[0]) if len(cells) >= 2 else None

    neighbours = trust.grid_neighbours(base, [c.params for c in cells], grid)
    plateau = trust.plateau_ratio(
        float(headline.metrics.get("sharpe", np.nan)) if headline.ok else np.nan,
        [cells[i].metrics.get("sharpe") for i in neighbours],
    )

    span = trust.spanning_regression(np.array([]), {})
    if baselines and headline.ok and headline.daily is not None:
        y = headline.daily.set_index("date")["net"]
        xs = {
            b.name: b.daily.set_index("date")["net"].reindex(y.index).to_numpy() for b in baselines
        }
        span = trust.spanning_regression(y.to_numpy(), xs)
    resid = evaluation_.get("residual_ic")
    return TrustReport(
        n_trials=n_trials,
        n_suite_cells=sum(math.isfinite(v) for v in suite_sharpes),
        n_prior_configs=n_prior,
        sharpe_variance=variance,
        sharpe_variance_used=daily_var * periods,
        expected_max_sharpe=sr0 * math.sqrt(periods) if math.isfinite(sr0) else np.nan,
        psr=trust.probabilistic_sharpe(sr, n, skew, kurt, 0.0),
        dsr=trust.deflated_sharpe(sr, n, skew, kurt, n_trials, daily_var),
        skew=skew,
        kurtosis=kurt,
        sample_days=n,
        min_trl_days=trust.min_track_record(sr, skew, kurt, 0.0),
        min_trl_dsr_days=trust.min_track_record(sr, skew, kurt, sr0),
        pbo=pbo.pbo if pbo else np.nan,
        pbo_logits=pbo.logits if pbo else np.array([]),
        pbo_splits=pbo.n_splits if pbo else 0,
        plateau=plateau,
        n_neighbours=len(neighbours),
        spanning_alpha=span.alpha * periods,
        spanning_t=span.alpha_t,
        spanning_r2=span.r2,
        spanning_n=span.n,
        residual_ic_mean=resid.mean if resid is not None else np.nan,
        residual_ic_t=resid.t_stat if resid is not None else np.nan,
    )


def _opt(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def trust_inputs(inputs: VerdictInputs, report: TrustReport) -> VerdictInputs:
    """The verdict inputs with the trust report's PSR, DSR, PBO and trial count."""
    return replace(
        inputs,
        psr=_opt(report.psr),
        dsr=_opt(report.dsr),
        pbo=_opt(report.pbo),
        n_trials=report.n_trials,
    )


def survivorship_biased(manifest: dict[str, Any]) -> bool:
    """Whether a snapshot's universe is today's survivors (its notes say so; bundled data)."""
    return any("survivor" in str(note).lower() for note in manifest.get("notes", []))


def with_prior_trials(result, prior: PriorTrials):
    """The suite result with its trust report and verdict recomputed over prior trials too.

    Signal suites and allocation suites alike (an allocation result carries its
    :class:`~poc.allocation_suite.AllocationProblem`; its trials are judged on active
    returns, :func:`allocation_trust`).
    """
    if getattr(result, "problem", None) is not None:
        report, verdict = allocation_trust(result, result.survivorship, prior)
        return replace(result, trust=report, verdict=verdict)
    if getattr(result, "verdict_inputs", None) is None:
        return result
    headline = result.cell(result.headline)
    report = trust_report(
        result.cells,
        headline,
        result.spec.headline_cell(),
        dict(result.spec.grid),
        result.evaluation,
        prior,
    )
    inputs = trust_inputs(result.verdict_inputs, report)
    return replace(result, trust=report, verdict_inputs=inputs, verdict=compute_verdict(inputs))


def active_sharpe(daily: pd.DataFrame) -> float:
    """Annualized Sharpe of the daily active return ``net - benchmark`` (NaN without one).

    An allocation cell logs it as ``active_sharpe``: the Sharpe its trials are compared on.
    """
    if "benchmark" not in daily:
        return np.nan
    sr, _, _, _ = trust.sharpe_moments((daily["net"] - daily["benchmark"]).to_numpy())
    return sr * math.sqrt(PERIODS_PER_YEAR) if math.isfinite(sr) else np.nan


def _active_cell(cell):
    """The cell with its net returns replaced by the active return over the benchmark."""
    if not cell.ok or cell.daily is None or "benchmark" not in cell.daily:
        return cell
    daily = cell.daily.assign(net=cell.daily["net"] - cell.daily["benchmark"])
    return replace(cell, daily=daily, metrics={**cell.metrics, "sharpe": active_sharpe(cell.daily)})


def allocation_trust(
    result, survivorship: bool = False, prior: PriorTrials | None = None
) -> tuple[TrustReport, Any]:
    """Trust report and verdict of an allocation suite, judged on active returns.

    A long-only allocation's own Sharpe is mostly the market's, so every statistic
    (PSR, DSR over the grid's cells, PBO, plateau, years) is computed on the daily
    return over the benchmark; the spanning regression is the portfolio's return on the
    benchmark's (Jensen's alpha with a Newey-West t). Trials: the grid's cells plus
    ``prior``, the other configurations of the same allocation problem already in the
    experiment (:func:`poc.tracking.prior_trials` on ``allocation_digest``); a prior
    configuration equal to a cell of this grid (same full config and window,
    ``result.problem.trial_key``) is the same trial and counts once.
    """
    cells = [_active_cell(c) for c in result.cells]
    headline = next(c for c in cells if c.name == result.headline)
    spans: dict[str, Any] = {}
    raw = result.cell(result.headline)
    if raw.ok and raw.daily is not None:
        spans = {"benchmark": raw.daily["benchmark"].to_numpy(), "_y": raw.daily["net"]}
    problem = getattr(result, "problem", None)
    report = trust_report(
        cells,
        headline,
        result.spec.headline_cell(),
        dict(result.spec.grid),
        {},
        prior,
        problem.trial_key if problem is not None else None,
    )
    if spans:
        span = trust.spanning_regression(spans["_y"].to_numpy(), {"benchmark": spans["benchmark"]})
        report = replace(
            report,
            spanning_alpha=span.alpha * PERIODS_PER_YEAR,
            spanning_t=span.alpha_t,
            spanning_r2=span.r2,
            spanning_n=span.n,
        )
    positive = total = None
    if headline.ok and headline.daily is not None:
        by_year = headline.daily.set_index("date")["net"].groupby(lambda d: d.year).sum()
        positive, total = int((by_year > 0).sum()), len(by_year)
    sharpe = headline.metrics.get("sharpe") if headline.ok else None
    if getattr(result, "oos_start", None):
        # IS/OOS split: the verdict weighs the headline's out-of-sample active Sharpe.
        from poc.oos import with_split

        sharpe = with_split(headline, result.oos_start).metrics.get("oos_sharpe")
    inputs = trust_inputs(
        VerdictInputs(
            sharpe=_opt(sharpe) if sharpe is not None else None,
            positive_years=positive,
            total_years=total or None,
            survivorship=survivorship,
        ),
        report,
    )
    return report, compute_verdict(inputs)
