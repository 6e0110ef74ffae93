"""Exact Euclidean projection onto the capped simplex, with a minimum-weight rule.

The old rotation engine capped weights iteratively ("clip at 40%, renormalize,
repeat"), which stops when a tolerance is met, not when the constraints hold,
so the cap was "still slightly exceeded in rare cases". Here the constrained
problem is solved in closed form instead:

    minimize ||w - s||^2  subject to  sum(w) = total,  0 <= w_i <= cap_i.

Its KKT conditions give ``w_i = clip(s_i - tau, 0, cap_i)`` for one scalar
``tau``. ``g(tau) = sum_i clip(s_i - tau, 0, cap_i)`` is continuous,
piecewise linear and non-increasing, with breakpoints at ``s_i - cap_i`` and
``s_i``. Sorting the breakpoints locates the linear piece on which
``g(tau) = total``; on that piece the set of assets at 0, at their cap and
strictly between is known, and ``tau`` follows from one division. A last
correction puts the rounding residual of the sum (~1e-16) on the asset with the
most room, so the sum is exact to ~1e-15 and caps hold exactly (capped assets
are set to their cap, not computed).

The minimum weight (no weight may be positive but below ``min_weight``) makes
the feasible set non-convex; see :func:`project_capped_simplex` for the
finite procedure used and when it is exact.
"""

from __future__ import annotations

import math

import numpy as np

from poc.allocation.errors import AllocationError

__all__ = ["check_feasible", "project_box_simplex", "project_capped_simplex"]


def _fsum(values: np.ndarray) -> float:
    # math.fsum is exactly rounded: sums of weights stay exact to one ulp.
    return math.fsum(values.tolist())


def project_box_simplex(
    scores: np.ndarray, total: float, lower: np.ndarray, upper: np.ndarray
) -> np.ndarray:
    """Euclidean projection of ``scores`` onto ``{w : sum w = total, lower <= w <= upper}``.

    Parameters
    ----------
    scores : numpy.ndarray
        Finite 1-d scores.
    total : float
        Required sum; must lie in ``[sum(lower), sum(upper)]`` (not checked here:
        :func:`project_capped_simplex` validates at the edge).
    lower, upper : numpy.ndarray
        Bounds with ``lower <= upper`` element-wise.

    Returns
    -------
    numpy.ndarray
        The unique minimizer ``w = clip(scores - tau, lower, upper)``.
    """
    s = np.asarray(scores, dtype=np.float64)
    lower = np.asarray(lower, dtype=np.float64)
    upper = np.asarray(upper, dtype=np.float64)
    high, low = upper.sum(), lower.sum()
    if total >= high:
        return upper.copy()
    if total <= low:
        return lower.copy()
    n = s.size
    enter = s - upper  # for tau <= enter_i the asset sits at its upper bound
    leave = s - lower  # for tau >= leave_i it sits at its lower bound
    points = np.concatenate((enter, leave))
    order = points.argsort(kind="stable")
    points = points[order]
    # Passing an `enter` breakpoint frees one asset, passing a `leave` one fixes one:
    # free count after j+1 breakpoints = entered - left = 2 x entered - (j + 1).
    free_count = (order < n).cumsum() * 2 - np.arange(1, 2 * n + 1)
    # g at each breakpoint, walking up from g(min breakpoint) = sum(upper). Equal
    # breakpoints add zero, so the piece found below always has positive length.
    steps = free_count[:-1] * (points[1:] - points[:-1])
    g = high - np.concatenate(([0.0], steps.cumsum()))
    below = g <= total
    # first breakpoint where g has fallen to total (the last one if rounding hid it)
    k = max(int(below.argmax()) if below[-1] else points.size - 1, 1)
    left, right = points[k - 1], points[k]
    at_upper = enter >= right
    at_lower = leave <= left
    free = ~(at_upper | at_lower)
    w = np.where(at_upper, upper, lower)
    n_free = int(free.sum())
    if n_free:
        rest = total - w[~free].sum()
        tau = (s[free].sum() - rest) / n_free
        w[free] = np.clip(s[free] - tau, lower[free], upper[free])
    return _fix_residual(w, total, lower, upper)


def _fix_residual(w: np.ndarray, total: float, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Put the rounding residual of ``sum(w)`` on the asset with the most room (one step)."""
    residual = total - _fsum(w)
    if residual == 0.0:
        return w
    room = (upper - w) if residual > 0 else (w - lower)
    j = int(np.argmax(room))
    if room[j] > 0:
        w[j] = np.clip(w[j] + residual, lower[j], upper[j])
    return w


def _as_caps(max_weight, n: int) -> np.ndarray:
    caps = np.asarray(max_weight, dtype=np.float64)
    if caps.ndim == 0:
        caps = np.full(n, float(caps))
    if caps.shape != (n,):
        raise AllocationError(
            f"max_weight has shape {caps.shape}, scores have {n} assets; "
            "pass a scalar cap or one cap per asset"
        )
    if not np.all(np.isfinite(caps)) or np.any(caps < 0):
        raise AllocationError(
            f"max_weight must be finite and >= 0, got {caps.tolist()[:5]}...; "
            "use 0 to exclude an asset"
        )
    return caps


def check_feasible(caps: np.ndarray, total: float, max_weight) -> None:
    """Raise :class:`AllocationError` when ``caps`` cannot hold ``total``.

    Parameters
    ----------
    caps : numpy.ndarray
        Caps of the eligible assets.
    total : float
        The fraction to invest.
    max_weight : float or array-like
        The cap as the caller gave it (for the message).
    """
    room = _fsum(caps)
    if room >= total - 1e-12 * max(1.0, total):
        return
    n = caps.size
    if np.ndim(max_weight) == 0:
        need = total / n if n else math.inf
        raise AllocationError(
            f"infeasible allocation: max_weight {float(max_weight):g} x {n} eligible assets "
            f"= {room:g} < total {total:g}. Raise max_weight to at least {need:.6g}, "
            f"make more assets eligible, or invest at most {room:g}"
        )
    raise AllocationError(
        f"infeasible allocation: the caps of the {n} eligible assets sum to {room:g} "
        f"< total {total:g}. Raise the caps, make more assets eligible, "
        f"or invest at most {room:g}"
    )


def project_capped_simplex(scores, total: float, max_weight, min_weight: float = 0.0) -> np.ndarray:
    """Closest weights to ``scores`` that sum to ``total`` within ``[0, cap]``, with a minimum.

    Parameters
    ----------
    scores : array-like
        1-d scores, any sign; ties and zeros are fine. NaN marks an ineligible
        asset, which gets weight 0.
    total : float
        Invested fraction the weights must sum to (``>= 0``).
    max_weight : float or array-like
        Cap per asset, a scalar or one per asset. A cap of 0 excludes an asset;
        an asset whose cap is below ``min_weight`` can never hold a legal
        positive weight and is excluded as well.
    min_weight : float, default 0
        No weight may be positive but below ``min_weight``.

    Returns
    -------
    numpy.ndarray
        Weights ``w`` with ``sum(w) == total`` (to ~1e-15), ``0 <= w_i <= cap_i``
        exactly, and ``w_i == 0`` or ``w_i >= min_weight``.

    Raises
    ------
    AllocationError
        When the eligible caps sum to less than ``total`` (the message gives the
        numbers and the smallest cap that would work), or when no set of assets
        can satisfy both the minimum and the caps.

    Notes
    -----
    Without a minimum the result is the exact Euclidean projection. With one,
    the feasible set ``w_i in {0} U [min, cap_i]`` is not convex, and this
    finite procedure is used:

    1. project onto the capped simplex over the active assets;
    2. if no weight is positive but below the minimum, stop;
    3. else drop the smallest such asset from the active set, if the remaining
       caps still hold ``total``, and go to 1;
    4. otherwise keep the current support ``P`` and project onto
       ``{sum = total, min <= w_i <= cap_i for i in P}`` (a box projection).

    Step 3 removes one asset from a finite set, so the loop ends after at most
    ``n`` projections plus one. Step 4 is feasible iff ``|P| x min <= total``;
    otherwise :class:`AllocationError` is raised. With a scalar cap, step 4 is
    reached only when ``|P| = ceil(total / cap)``, the fewest assets that can
    hold ``total``, so the procedure finds a feasible point whenever one exists.
    Dropping one asset at a time (not all offenders at once) lets the
    redistributed weight lift other small weights over the minimum.
    """
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1:
        raise AllocationError(f"scores must be 1-d, got shape {s.shape}")
    total = float(total)
    min_weight = float(min_weight)
    if not (math.isfinite(total) and total >= 0):
        raise AllocationError(f"total must be finite and >= 0, got {total}")
    if not (math.isfinite(min_weight) and min_weight >= 0):
        raise AllocationError(f"min_weight must be finite and >= 0, got {min_weight}")
    caps = _as_caps(max_weight, s.size)
    w = np.zeros(s.size)
    if total == 0.0:
        return w
    if min_weight > total + 1e-12:
        raise AllocationError(
            f"infeasible allocation: min_weight {min_weight:g} exceeds the total {total:g} "
            "to invest, so no weight can be positive; lower min_weight"
        )
    eligible = np.isfinite(s) & (caps > 0) & (caps >= min_weight)
    check_feasible(caps[eligible], total, max_weight)
    idx = np.flatnonzero(eligible)
    w[idx] = _project_with_minimum(s[idx], total, caps[idx], min_weight)
    return w


def _project_with_minimum(
    s: np.ndarray, total: float, caps: np.ndarray, minimum: float
) -> np.ndarray:
    zeros = np.zeros(s.size)
    active = np.ones(s.size, dtype=bool)
    while True:
        w = np.zeros(s.size)
        w[active] = project_box_simplex(s[active], total, zeros[active], caps[active])
        if minimum <= 0.0:
            return w
        small = np.flatnonzero((w > 0) & (w < minimum))
        if small.size == 0:
            return w
        j = int(small[np.argmin(w[small])])
        if _fsum(caps[active]) - caps[j] >= total:
            active[j] = False
            continue
        support = w > 0
        size = int(support.sum())
        if size * minimum > total + 1e-12:
            raise AllocationError(
                f"infeasible allocation: {size} assets are needed to hold total {total:g} "
                f"under their caps, but {size} x min_weight {minimum:g} = {size * minimum:g} "
                f"> {total:g}. Lower min_weight to at most {total / size:.6g} or raise the caps"
            )
        out = np.zeros(s.size)
        out[support] = project_box_simplex(s[support], total, np.full(size, minimum), caps[support])
        return out
