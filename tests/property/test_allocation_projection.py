"""Properties of the exact capped-simplex projection (poc.allocation.projection)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from poc.allocation.errors import AllocationError
from poc.allocation.projection import project_capped_simplex

SUM_TOL = 1e-12

# Scores with many ties, zeros and negative values: drawn from a small grid
# most of the time, from a continuous range otherwise.
score_value = st.one_of(
    st.sampled_from([-2.0, -1.0, -0.5, 0.0, 0.0, 0.25, 0.5, 1.0, 1.0, 3.0]),
    st.floats(-10, 10, allow_nan=False, width=64),
)


@st.composite
def problems(draw, max_assets: int = 12, with_minimum: bool = True):
    n = draw(st.integers(1, max_assets))
    scores = np.array(draw(st.lists(score_value, min_size=n, max_size=n)))
    if draw(st.booleans()):
        caps = draw(st.floats(0.01, 1.0))
        cap_sum = caps * n
    else:
        caps = np.array(draw(st.lists(st.floats(0.01, 1.0), min_size=n, max_size=n)))
        cap_sum = float(caps.sum())
    room = min(1.0, cap_sum)
    kind = draw(st.sampled_from(["random", "full", "near", "one"]))
    if kind == "full":
        total = room  # every cap binds when room < 1: the near-infeasible edge
    elif kind == "near":
        total = room * (1 - draw(st.sampled_from([1e-15, 1e-12, 1e-9, 1e-6])))
    elif kind == "one" and cap_sum >= 1.0:
        total = 1.0
    else:
        total = draw(st.floats(0.0, room))
    minimum = draw(st.sampled_from([0.0, 0.0, 0.01, 0.05, 0.1, 0.2])) if with_minimum else 0.0
    return scores, total, caps, minimum


def assert_valid(w, total, caps, minimum):
    caps = np.broadcast_to(caps, w.shape)
    assert abs(math.fsum(w) - total) <= SUM_TOL
    assert np.all(w >= 0.0)
    assert np.all(w <= caps), "a cap is exceeded, even by rounding"
    assert not np.any((w > 0) & (w < minimum)), "a positive weight is below the minimum"


def truly_infeasible(n: int, total: float, cap: float, minimum: float) -> bool:
    """With a scalar cap: no count k of held assets has k x min <= total <= k x cap."""
    return not any(
        k * minimum <= total + 1e-12 and total <= k * cap + 1e-12 for k in range(1, n + 1)
    )


@settings(max_examples=400, deadline=None)
@given(problems())
@example((np.array([1.0, 1.0, 1.0]), 1.0, 0.34, 0.05))
@example((np.array([0.0, 0.0, 0.0, 0.0]), 1.0, 0.25, 0.25))
@example((np.array([-3.0, -1.0, -2.0]), 0.7, np.array([0.1, 0.3, 0.3]), 0.0))
@example((np.array([5.0, 4.0, 0.1, 0.1, 0.1]), 1.0, 0.4, 0.15))
def test_projection_obeys_every_rule(problem):
    scores, total, caps, minimum = problem
    try:
        w = project_capped_simplex(scores, total, caps, minimum)
    except AllocationError as exc:
        assert "infeasible" in str(exc)
        # Only the non-convex minimum rule may fail, and with a scalar cap only
        # when no feasible allocation exists at all.
        assert minimum > 0
        if np.ndim(caps) == 0:
            assert truly_infeasible(len(scores), total, caps, minimum)
        return
    assert_valid(w, total, caps, minimum)


def kkt_certificate(scores, w, caps, tol=1e-9) -> bool:
    """True when some tau has w = clip(scores - tau, 0, caps): the projection's optimality."""
    caps = np.broadcast_to(caps, w.shape)
    free = (w > tol) & (w < caps - tol)
    at_zero = w <= tol
    at_cap = w >= caps - tol
    low, high = -np.inf, np.inf
    if free.any():
        taus = scores[free] - w[free]
        if np.ptp(taus) > tol:
            return False
        low = high = float(taus.mean())
    # At zero: score - tau <= 0, so tau >= score. At cap: score - tau >= cap, so tau <= score - cap.
    low = max(low - tol, np.max(scores[at_zero & ~at_cap], initial=-np.inf))
    high = min(high + tol, np.min((scores - caps)[at_cap & ~at_zero], initial=np.inf))
    return low <= high + tol


@settings(max_examples=300, deadline=None)
@given(problems(max_assets=15, with_minimum=False))
def test_projection_satisfies_kkt_conditions(problem):
    scores, total, caps, _ = problem
    w = project_capped_simplex(scores, total, caps)
    assert_valid(w, total, caps, 0.0)
    assert kkt_certificate(scores, w, caps)


def brute_force_projection(scores, total, caps):
    """Exact reference: try every assignment of assets to {zero, cap, free}."""
    n = scores.size
    best, best_w = np.inf, None
    for assignment in itertools.product((0, 1, 2), repeat=n):
        a = np.array(assignment)
        w = np.where(a == 1, caps, 0.0)
        free = a == 2
        if free.any():
            tau = (scores[free].sum() - (total - w[~free].sum())) / free.sum()
            w[free] = scores[free] - tau
        elif abs(w.sum() - total) > 1e-14:
            continue
        if np.all(w >= -1e-12) and np.all(w <= caps + 1e-12) and abs(w.sum() - total) < 1e-14:
            distance = float(((w - scores) ** 2).sum())
            if distance < best - 1e-12:
                best, best_w = distance, w
    return best_w


@settings(max_examples=150, deadline=None)
@given(problems(max_assets=6, with_minimum=False))
def test_projection_is_the_euclidean_projection(problem):
    scores, total, caps, _ = problem
    caps = np.broadcast_to(np.asarray(caps, dtype=float), scores.shape).copy()
    assume(caps.sum() >= total)
    w = project_capped_simplex(scores, total, caps)
    reference = brute_force_projection(scores, total, caps)
    assert reference is not None
    # The objective decides (near-ties in distance are below float resolution);
    # the minimizer is unique, so the vectors agree too.
    distance = float(((w - scores) ** 2).sum())
    best = float(((reference - scores) ** 2).sum())
    # The brute-force reference may overstep a bound by ~1e-13 (which shortens its distance),
    # so compare at the resolution of the distance itself.
    assert distance <= best + 1e-12 * max(1.0, best) * 10
    assert (w >= 0).all() and (w <= caps).all()
    np.testing.assert_allclose(w, reference, atol=1e-6)


@pytest.mark.parametrize(
    ("n", "cap", "message"),
    [
        (
            5,
            0.1,
            r"max_weight 0\.1 x 5 eligible assets = 0\.5 < total 1\. "
            r"Raise max_weight to at least 0\.2",
        ),
        (3, 0.3, r"max_weight 0\.3 x 3 eligible assets = 0\.9 < total 1"),
    ],
)
def test_infeasible_cap_is_a_clear_error(n, cap, message):
    with pytest.raises(AllocationError, match=message):
        project_capped_simplex(np.ones(n), 1.0, cap)


def test_infeasible_per_asset_caps_name_the_sum():
    with pytest.raises(
        AllocationError, match=r"caps of the 2 eligible assets sum to 0\.5 < total 1"
    ):
        project_capped_simplex([1.0, 2.0, np.nan], 1.0, [0.2, 0.3, 0.9])


def test_infeasible_minimum_names_the_fix():
    with pytest.raises(
        AllocationError, match=r"3 x min_weight 0\.35 = 1\.05 > 1.*Lower min_weight"
    ):
        project_capped_simplex([3.0, 2.0, 1.0, 0.5], 1.0, 0.4, 0.35)


def test_nan_scores_and_zero_caps_are_ineligible():
    w = project_capped_simplex([np.nan, 1.0, 2.0, 5.0], 1.0, [1.0, 0.6, 0.6, 0.0])
    assert w[0] == 0.0 and w[3] == 0.0
    assert_valid(w, 1.0, [1.0, 0.6, 0.6, 0.0], 0.0)


def test_minimum_drops_one_asset_at_a_time():
    # Weights 0.3/0.3/0.3/0.04/0.03/0.03 with min 0.05. Dropping one 0.03 lifts the
    # rest by 0.006 (0.046, 0.036 still too small); dropping the 0.036 lifts the four
    # left by 0.015 each, and 0.055 clears the minimum: four assets are kept, where
    # dropping every offender at once would keep three.
    scores = np.array([0.3, 0.3, 0.3, 0.04, 0.03, 0.03])
    w = project_capped_simplex(scores, 1.0, 0.4, 0.05)
    assert_valid(w, 1.0, 0.4, 0.05)
    np.testing.assert_allclose(w, [0.315, 0.315, 0.315, 0.055, 0.0, 0.0], atol=1e-12)


def test_zero_total_gives_all_cash():
    np.testing.assert_array_equal(project_capped_simplex([1.0, 2.0], 0.0, 0.4), [0.0, 0.0])
