"""How much to trust a backtest: multiple-testing and overfitting statistics (pure).

Every function is a small pure function of numpy arrays or numbers; formulas and
references are in ``docs/verdict.md``:

* :func:`probabilistic_sharpe` -- PSR, Bailey and López de Prado (2012), "The
  Sharpe Ratio Efficient Frontier", eq. for :math:`\\hat{PSR}(SR^*)`;
* :func:`expected_max_sharpe` and :func:`deflated_sharpe` -- DSR, Bailey and
  López de Prado (2014), "The Deflated Sharpe Ratio";
* :func:`min_track_record` -- MinTRL (2012 paper);
* :func:`pbo_cscv` -- probability of backtest overfitting by combinatorially
  symmetric cross-validation, Bailey, Borwein, López de Prado and Zhu (2015);
* :func:`plateau_ratio` -- the headline against its grid neighbours;
* :func:`newey_west_t` and :func:`spanning_regression` -- HAC inference.

Sharpe ratios here are **per period** (daily) unless a name says ``annual``;
kurtosis is the raw (non-excess) kurtosis, 3 for a normal distribution, as in
the papers. Degenerate input gives NaN, never an exception.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

# scipy.special, not scipy.stats: the normal cdf and quantile are ndtr and ndtri (what
# scipy.stats.norm calls), and importing scipy.stats costs about 0.5 s of every run.
from scipy import special

EULER_GAMMA = 0.5772156649015329
PBO_BLOCKS = 16  # S in CSCV: C(16, 8) = 12,870 train/test splits


def sharpe_moments(returns) -> tuple[float, float, float, int]:
    """Per-period Sharpe ratio, skewness, raw kurtosis and count of the finite returns.

    Sharpe uses ``std(ddof=1)`` as :mod:`poc.metrics` does; skewness and kurtosis
    are the sample moments (biased, as in the papers). NaN for fewer than 3 values
    or zero dispersion.
    """
    x = np.asarray(returns, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n < 3 or x.std(ddof=1) == 0:
        return float("nan"), float("nan"), float("nan"), n
    sr = float(x.mean() / x.std(ddof=1))
    skew, kurt = skew_kurtosis(x)
    return sr, skew, kurt, n


def skew_kurtosis(x: np.ndarray) -> tuple[float, float]:
    """Biased sample skewness and raw kurtosis of a 1-d float array.

    The same operations, in the same order, as ``scipy.stats.skew(x)`` and
    ``scipy.stats.kurtosis(x, fisher=False)`` (central moments about the mean,
    NaN when the variance is zero to machine precision), so the results are
    bit-identical to them without importing :mod:`scipy.stats`.
    """
    mean = np.mean(x, axis=0, keepdims=True)
    centred = x - mean
    squared = centred**2
    m2 = np.mean(squared, axis=0)
    m3 = np.mean(squared * centred, axis=0)
    m4 = np.mean(squared**2, axis=0)
    with np.errstate(all="ignore"):
        if m2 <= (np.finfo(m2.dtype).eps * mean[0]) ** 2:
            return float("nan"), float("nan")
        return float(m3 / m2**1.5), float(m4 / m2**2.0)


def _sharpe_sd_factor(sr: float, skew: float, kurt: float) -> float:
    # 1 - g3*SR + (g4 - 1)/4 * SR^2: the non-normal variance of the Sharpe estimator
    # (times n - 1). Clipped at a small positive value: extreme moments can make it <= 0.
    return max(1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr, 1e-12)


def probabilistic_sharpe(
    sr: float, n: int, skew: float = 0.0, kurt: float = 3.0, sr_benchmark: float = 0.0
) -> float:
    """Probability that the true Sharpe exceeds ``sr_benchmark`` (PSR).

    ``PSR = Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - g3 SR + (g4 - 1)/4 SR^2))``, with
    per-period Sharpe ratios, ``n`` observations, skewness ``g3`` and raw kurtosis ``g4``.
    """
    if not all(math.isfinite(v) for v in (sr, skew, kurt, sr_benchmark)) or n < 2:
        return float("nan")
    z = (sr - sr_benchmark) * math.sqrt(n - 1) / math.sqrt(_sharpe_sd_factor(sr, skew, kurt))
    return float(special.ndtr(z))


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """Expected maximum Sharpe of ``n_trials`` independent null trials (DSR's ``SR_0``).

    ``sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e)))``, gamma the
    Euler-Mascheroni constant. 0 for a single trial (nothing was selected) or V = 0.
    """
    if n_trials < 1 or not math.isfinite(sr_variance) or sr_variance < 0:
        return float("nan")
    if n_trials == 1 or sr_variance == 0:
        return 0.0
    q1 = special.ndtri(1.0 - 1.0 / n_trials)
    q2 = special.ndtri(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(sr_variance) * ((1.0 - EULER_GAMMA) * q1 + EULER_GAMMA * q2))


def deflated_sharpe(
    sr: float, n: int, skew: float, kurt: float, n_trials: int, sr_variance: float
) -> float:
    """Deflated Sharpe ratio: PSR against the expected maximum of ``n_trials`` null trials.

    ``sr`` and ``sr_variance`` (the variance of the trials' Sharpe ratios) are per period.
    """
    return probabilistic_sharpe(sr, n, skew, kurt, expected_max_sharpe(n_trials, sr_variance))


def min_track_record(
    sr: float, skew: float = 0.0, kurt: float = 3.0, sr_benchmark: float = 0.0, prob: float = 0.95
) -> float:
    """Minimum track record length (observations) for ``PSR(sr_benchmark) >= prob``.

    ``MinTRL = 1 + (1 - g3 SR + (g4 - 1)/4 SR^2) (Phi^-1(prob) / (SR - SR*))^2``;
    infinite when ``sr <= sr_benchmark`` (no length proves it).
    """
    if not all(math.isfinite(v) for v in (sr, skew, kurt, sr_benchmark)):
        return float("nan")
    if sr <= sr_benchmark:
        return float("inf")
    z = special.ndtri(prob)
    return float(1.0 + _sharpe_sd_factor(sr, skew, kurt) * (z / (sr - sr_benchmark)) ** 2)


@dataclass(frozen=True)
class PBOResult:
    """CSCV outcome: the PBO and one logit per train/test split."""

    pbo: float
    logits: np.ndarray
    n_splits: int
    n_cells: int
    n_blocks: int


@functools.lru_cache(maxsize=4)
def _split_masks(n_blocks: int) -> np.ndarray:
    # (C(S, S/2) x S) 0/1 matrix of in-sample blocks; cached (12,870 rows for S = 16).
    combos = list(itertools.combinations(range(n_blocks), n_blocks // 2))
    mask = np.zeros((len(combos), n_blocks))
    rows = np.repeat(np.arange(len(combos)), n_blocks // 2)
    mask[rows, np.asarray(combos).ravel()] = 1.0
    mask.flags.writeable = False
    return mask


def _sharpe_from_sums(total: np.ndarray, squares: np.ndarray, count: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        var = (squares - total * mean) / (count - 1.0)
        return np.where(var > 0, mean / np.sqrt(var), np.nan)


def pbo_cscv(returns: np.ndarray, n_blocks: int = PBO_BLOCKS) -> PBOResult:
    """Probability of backtest overfitting by CSCV over a (days x cells) return matrix.

    The rows are cut into ``n_blocks`` contiguous blocks; for each of the
    ``C(S, S/2)`` ways to pick half of them as in-sample, the cell with the best
    in-sample Sharpe is located in the out-of-sample ranking: relative rank
    ``w = rank / (N + 1)``, logit ``log(w / (1 - w))``. PBO is the share of splits
    whose logit is <= 0 (the in-sample winner is at or below the out-of-sample
    median). NaN returns count as flat days (0), as the engine books no-position days.
    Vectorized: block sums and sums of squares, then one matrix product per moment.
    """
    m = np.asarray(returns, dtype=float)
    if m.ndim != 2 or m.shape[1] < 2 or n_blocks < 2 or n_blocks % 2 or m.shape[0] < 2 * n_blocks:
        cells = m.shape[1] if m.ndim == 2 else 0
        return PBOResult(float("nan"), np.array([]), 0, cells, n_blocks)
    m = np.where(np.isfinite(m), m, 0.0)
    edges = np.linspace(0, m.shape[0], n_blocks + 1).astype(int)
    block_sum = np.add.reduceat(m, edges[:-1], axis=0)
    block_sq = np.add.reduceat(m * m, edges[:-1], axis=0)
    block_n = np.diff(edges).astype(float)[:, None]
    mask = _split_masks(n_blocks)
    is_sum, is_sq, is_n = mask @ block_sum, mask @ block_sq, mask @ block_n
    oos_sum = block_sum.sum(0) - is_sum
    oos_sq = block_sq.sum(0) - is_sq
    oos_n = block_n.sum() - is_n
    is_sr = _sharpe_from_sums(is_sum, is_sq, is_n)
    oos_sr = _sharpe_from_sums(oos_sum, oos_sq, oos_n)
    is_sr = np.where(np.isfinite(is_sr), is_sr, -np.inf)
    oos_sr = np.where(np.isfinite(oos_sr), oos_sr, -np.inf)
    best = np.argmax(is_sr, axis=1)
    chosen = oos_sr[np.arange(len(best)), best][:, None]
    # Average rank of the chosen cell among all cells out of sample (ties share).
    rank = (oos_sr < chosen).sum(1) + 0.5 * ((oos_sr == chosen).sum(1) - 1) + 1.0
    n_cells = m.shape[1]
    w = rank / (n_cells + 1.0)
    logits = np.log(w / (1.0 - w))
    return PBOResult(float(np.mean(logits <= 0)), logits, len(best), n_cells, n_blocks)


def plateau_ratio(headline_sharpe: float, neighbour_sharpes) -> float:
    """Median Sharpe of the headline's grid neighbours divided by the headline's Sharpe.

    Near 1 (or above): the headline sits on a plateau; near 0 or negative: an
    isolated peak that a small change of parameters loses. NaN without neighbours or
    when the headline's Sharpe is not positive.
    """
    values = np.asarray([v for v in neighbour_sharpes if v is not None], dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0 or not math.isfinite(headline_sharpe) or headline_sharpe <= 0:
        return float("nan")
    return float(np.median(values) / headline_sharpe)


def grid_neighbours(headline: dict, candidates: list[dict], axes: dict[str, list]) -> list[int]:
    """Indexes of ``candidates`` one step from ``headline`` on exactly one grid axis.

    ``axes`` maps each axis to its values in grid order; a step is to the adjacent
    value in that order.
    """
    out = []
    for i, params in enumerate(candidates):
        diffs = [k for k in axes if params.get(k) != headline.get(k)]
        if len(diffs) != 1:
            continue
        values = list(axes[diffs[0]])
        try:
            step = abs(values.index(params[diffs[0]]) - values.index(headline[diffs[0]]))
        except ValueError:
            continue
        if step == 1:
            out.append(i)
    return out


def _bartlett_long_run(u: np.ndarray, lag: int) -> np.ndarray:
    """Newey-West long-run covariance of the rows of ``u`` (n x k), Bartlett weights."""
    n = u.shape[0]
    s = u.T @ u / n
    for j in range(1, min(lag, n - 1) + 1):
        gamma = u[j:].T @ u[:-j] / n
        s += (1.0 - j / (lag + 1.0)) * (gamma + gamma.T)
    return s


def newey_west_t(x, lag: int) -> float:
    """t-statistic of the mean of ``x`` with a Newey-West (Bartlett, ``lag``) variance.

    For a daily series of ICs against ``h``-day forward returns the overlap makes the
    series MA(h - 1), hence ``lag = h - 1``. NaN with fewer than ``lag + 3`` values.
    """
    v = np.asarray(x, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < lag + 3:
        return float("nan")
    u = (v - v.mean())[:, None]
    lrv = float(_bartlett_long_run(u, lag)[0, 0])
    if lrv > 1e-30:
        return float(v.mean() / math.sqrt(lrv / v.size))
    # A constant non-zero series has an infinite t (a perfect IC every day), not NaN.
    return math.copysign(math.inf, v.mean()) if v.mean() != 0 else float("nan")


def newey_west_lag(n: int) -> int:
    """The usual automatic lag ``floor(4 (n / 100)^(2/9))`` (Newey and West 1994)."""
    return int(4 * (max(n, 1) / 100.0) ** (2.0 / 9.0))


@dataclass(frozen=True)
class Spanning:
    """Spanning regression of the headline's returns on the baselines' returns."""

    alpha: float  # per period
    alpha_t: float  # Newey-West t of the intercept
    betas: dict[str, float]
    r2: float
    n: int
    lag: int


def spanning_regression(y, baselines: dict[str, np.ndarray], lag: int | None = None) -> Spanning:
    """OLS ``y = a + sum_k b_k x_k + e`` with a Newey-West covariance; NaN when degenerate.

    Rows where ``y`` or any baseline is NaN are dropped. ``a`` is the return the
    headline earns that the baselines do not span (per period); its HAC t says
    whether it is distinguishable from zero.
    """
    names = list(baselines)
    yv = np.asarray(y, dtype=float)
    cols = [np.asarray(baselines[k], dtype=float) for k in names]
    x = np.column_stack([np.ones_like(yv), *cols]) if cols else yv[:, None] * 0 + 1.0
    keep = np.isfinite(yv) & np.isfinite(x).all(axis=1)
    yv, x = yv[keep], x[keep]
    n, k = x.shape
    lag = newey_west_lag(n) if lag is None else lag
    nan = Spanning(
        float("nan"), float("nan"), dict.fromkeys(names, float("nan")), float("nan"), n, lag
    )
    if n < k + lag + 3:
        return nan
    xtx = x.T @ x
    if np.linalg.matrix_rank(xtx) < k:
        return nan
    inv = np.linalg.inv(xtx)
    coef = inv @ x.T @ yv
    resid = yv - x @ coef
    s = _bartlett_long_run(x * resid[:, None], lag) * n
    cov = inv @ s @ inv
    se = math.sqrt(cov[0, 0]) if cov[0, 0] > 0 else float("nan")
    tss = float(((yv - yv.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / tss if tss > 0 else float("nan")
    return Spanning(
        alpha=float(coef[0]),
        alpha_t=float(coef[0] / se) if se == se and se > 0 else float("nan"),
        betas={name: float(b) for name, b in zip(names, coef[1:], strict=True)},
        r2=r2,
        n=n,
        lag=lag,
    )
