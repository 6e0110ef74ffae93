"""Context of the tear sheet's "How much to trust this" section (formatting only).

Numbers come from :class:`poc.trust_suite.TrustReport`; this module turns them
into strings, a table and the PBO logit histogram (an inline SVG from
:mod:`poc.charts`). Templates hold no arithmetic.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from poc import charts
from poc.tearsheet import fmt_int, fmt_num, table
from poc.verdict import DSR_OK, PBO_OK

PERIODS = 252


def _years(days: float) -> str:
    if days is None or not math.isfinite(days):
        return "never (the Sharpe does not exceed the bar)" if days == math.inf else "–"
    return f"{fmt_int(days)} days ({days / PERIODS:.1f} years)"


def logit_shares(logits: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Histogram of the finite CSCV logits in 8 bins spanning at least [-3, 3].

    Returns the bins' centre labels, each bin's share of the splits (non-negative, summing
    to 1) and whether the bin lies left of 0 (the in-sample winner below the median).
    """
    finite = logits[np.isfinite(logits)]
    edges = np.linspace(min(-3.0, finite.min()), max(3.0, finite.max()), 9)
    counts, edges = np.histogram(finite, bins=edges)
    centres = (edges[:-1] + edges[1:]) / 2
    return [f"{c:.1f}" for c in centres], counts / max(len(finite), 1), centres < 0


def logit_histogram(logits: np.ndarray) -> str:
    """Bar chart of the CSCV logits: mass left of 0 is the probability of overfitting."""
    if logits.size == 0 or not np.isfinite(logits).any():
        return ""
    labels, shares, overfit = logit_shares(logits)
    return charts.bar_chart(
        labels,
        shares,
        "Share of CSCV splits by logit of the in-sample winner (left of 0, red: overfit)",
        percent=True,
        second_colour=overfit,  # overfit splits in the second colour, shares stay positive
    )


def trust_context(result) -> dict[str, Any] | None:
    """The section's rows, notes and chart; None when the suite has no trust report."""
    t = getattr(result, "trust", None)
    if t is None:
        return None
    sample = t.sample_days
    signal_suite = hasattr(result, "signal_digest")
    rows = [
        [
            "Trials behind this verdict",
            fmt_int(t.n_trials),
            f"{t.n_suite_cells} cells in this suite + {t.n_prior_configs} configurations of the "
            "same signal (same digest) already in this experiment",
        ],
        [
            "Sharpe spread across trials",
            fmt_num(math.sqrt(t.sharpe_variance) if t.sharpe_variance >= 0 else float("nan")),
            "standard deviation of the trials' annualized Sharpe ratios; DSR uses "
            + fmt_num(math.sqrt(t.sharpe_variance_used))
            + " (the spread sampling error alone gives a trial without skill)"
            if math.isfinite(t.sharpe_variance_used)
            else "standard deviation of the trials' annualized Sharpe ratios",
        ],
        [
            "Best Sharpe expected from luck",
            fmt_num(t.expected_max_sharpe),
            f"expected maximum of {t.n_trials} trials without skill, annualized (DSR's bar)",
        ],
        [
            "Probabilistic Sharpe (PSR)",
            fmt_num(t.psr, 3),
            f"P(true Sharpe > 0), skew {fmt_num(t.skew)}, kurtosis {fmt_num(t.kurtosis)}",
        ],
        [
            "Deflated Sharpe (DSR)",
            fmt_num(t.dsr, 3),
            f"P(true Sharpe > best expected from luck); green needs >= {DSR_OK}",
        ],
        [
            "Minimum track record (Sharpe > 0)",
            _years(t.min_trl_days),
            f"at 95% confidence; this sample has {fmt_int(sample)} days "
            f"({sample / PERIODS:.1f} years)",
        ],
        [
            "Minimum track record (beat luck)",
            _years(t.min_trl_dsr_days),
            "at 95%, against the best Sharpe expected from luck",
        ],
        [
            "Probability of backtest overfitting",
            fmt_num(t.pbo, 2),
            f"share of {t.pbo_splits:,} CSCV splits of the grid where the in-sample best "
            f"falls below the out-of-sample median: near 0 it generalises, 0.5 is a coin "
            f"flip (what noise scores); green needs <= {PBO_OK}"
            if t.pbo_splits
            else "needs at least 2 grid cells",
        ],
        [
            "Plateau",
            fmt_num(t.plateau, 2),
            f"median Sharpe of {t.n_neighbours} grid neighbours / headline Sharpe "
            "(near 1: a plateau; near 0: an isolated peak)",
        ],
        [
            "Alpha over the baselines" if signal_suite else "Alpha over the benchmark",
            fmt_num(t.spanning_alpha * 100, 2) + "%" if math.isfinite(t.spanning_alpha) else "–",
            "annualized intercept of the headline's daily returns regressed on "
            + ("the baselines' returns " if signal_suite else "the benchmark's returns ")
            + f"(Newey-West t {fmt_num(t.spanning_t)}, R² {fmt_num(t.spanning_r2)})",
        ],
        [
            "Residual IC (21 days)",
            fmt_num(t.residual_ic_mean, 4),
            f"IC of the signal after removing the baseline signals each day "
            f"(t {fmt_num(t.residual_ic_t)})",
        ],
    ]
    if not signal_suite:
        rows = [r for r in rows if not r[0].startswith("Residual IC")]
        rows[0][2] = (
            f"{t.n_suite_cells} cells of this grid + {t.n_prior_configs} other configurations "
            "of the same allocation problem (same allocation digest) already in this "
            "experiment; Sharpe of the active return"
        )
    return {
        "table": table(["Measure", "Value", "What it means"], rows, text_columns=["What it means"]),
        "histogram": logit_histogram(t.pbo_logits),
        "n_trials": t.n_trials,
    }
