"""Cross-sectional residualization of a signal, for every day at once.

For each day ``t`` the signal of the names in that day's cross-section is
regressed (OLS) on industry dummies (``industry``) or on industry dummies
plus style exposures (``all``), and replaced by the residual. The result is
the same as one :func:`numpy.linalg.lstsq` per day, without a per-day Python
loop:

* ``industry``: the residual is the signal minus its day-industry mean.
* ``all``: by the Frisch-Waugh-Lovell theorem the style coefficients are
  those of the within-industry regression, whose normal equations are built
  for all days at once from per-(day, industry) sums (matrix products with
  the one-hot industry matrix, or ``bincount`` when a name's industry changes
  over time) and solved as a stack of small ``p x p`` systems. One step of
  iterative refinement recovers the accuracy lost by forming the normal
  equations.

A style that is collinear with the industry dummies (or with other styles)
on a day is dropped for that day, as ``lstsq`` gives it no weight in the
residual either. Collinearity is judged on the normal equations scaled to
unit diagonal: an eigenvalue below 1e-12 of the largest (columns collinear
to about one part in a million) counts as exact.
"""

from __future__ import annotations

import numpy as np

# Relative size below which a (scaled) normal-equation eigenvalue or a style's
# within-industry variance counts as exactly zero (collinear).
_COLLINEAR = 1e-12


class IndustryGroups:
    """Per-(day, industry) sums and their broadcast back to names.

    Parameters
    ----------
    codes : numpy.ndarray
        ``(N,)`` static industry code per name (the same for every day, so
        one object serves any block of days), or ``(T, N)`` codes per day;
        negative = no industry (the caller excludes such names).
    """

    def __init__(self, codes: np.ndarray):
        codes = np.asarray(codes)
        self.n_groups = int(codes.max()) + 1 if codes.size and codes.max() >= 0 else 1
        self.shape = codes.shape
        if codes.ndim == 1:
            self.onehot = np.zeros((codes.size, self.n_groups))
            known = codes >= 0
            self.onehot[np.nonzero(known)[0], codes[known]] = 1.0
            # Names without an industry are never in a cross-section, so any
            # group value broadcast to them is masked out later.
            self.lookup = np.maximum(codes, 0)
            self.key = None
        else:
            t, k = codes.shape[0], self.n_groups
            self.onehot = None
            # Invalid entries go to one extra bin that is discarded.
            self.key = np.where(codes >= 0, np.arange(t)[:, None] * k + codes, t * k).ravel()

    def sums(self, values: np.ndarray) -> np.ndarray:
        """``(T, N)`` or ``(T, p, N)`` masked values -> ``(T, K)`` or ``(T, p, K)`` group sums."""
        if self.onehot is not None:
            flat = values.reshape(-1, values.shape[-1]) @ self.onehot
            return flat.reshape(*values.shape[:-1], self.n_groups)
        if values.ndim == 3:
            return np.stack([self.sums(values[:, j, :]) for j in range(values.shape[1])], axis=1)
        t, k = self.shape[0], self.n_groups
        total = np.bincount(self.key, weights=values.ravel(), minlength=t * k + 1)
        return total[: t * k].reshape(t, k)

    def expand(self, per_group: np.ndarray) -> np.ndarray:
        """``(T, K)`` per-(day, industry) values -> ``(T, N)`` each name's group value."""
        if self.onehot is not None:
            return per_group.take(self.lookup, axis=-1)
        padded = np.concatenate([per_group.ravel(), [0.0]])
        return padded[self.key].reshape(self.shape)


def _solve_normal(gram: np.ndarray, rhs: np.ndarray, usable: np.ndarray):
    """Solve a stack of symmetric PSD systems ``gram @ x = rhs``, minimum-norm where singular.

    ``usable`` (``(T, p)`` bool) marks the columns that are not degenerate;
    the others get a zero coefficient. Columns are scaled to unit diagonal
    first, so the cutoff for a zero eigenvalue is relative and scale-free.

    Returns
    -------
    solution : numpy.ndarray
        ``(T, p)``.
    condition : numpy.ndarray
        ``(T,)`` condition number of each scaled system (over kept eigenvalues).
    """
    diag = np.einsum("tii->ti", gram)
    scale = np.where(usable, np.sqrt(np.where(usable, diag, 1.0)), 1.0)
    mask = usable[:, :, None] & usable[:, None, :]
    scaled = np.where(mask, gram / (scale[:, :, None] * scale[:, None, :]), 0.0)
    eigval, eigvec = np.linalg.eigh(scaled)
    top = np.maximum(eigval.max(axis=1, keepdims=True), 1e-300)
    kept = eigval > _COLLINEAR * top
    inverse = np.divide(1.0, eigval, out=np.zeros_like(eigval), where=kept)
    scaled_rhs = np.where(usable, rhs / scale, 0.0)
    proj = np.einsum("tji,tj->ti", eigvec, scaled_rhs) * inverse
    smallest = np.where(kept, eigval, np.inf).min(axis=1)
    condition = np.where(np.isfinite(smallest), top[:, 0] / smallest, 1.0)
    return np.einsum("tij,tj->ti", eigvec, proj) / scale, condition


def residualize_industry(
    signal: np.ndarray, valid: np.ndarray, groups: IndustryGroups
) -> np.ndarray:
    """Signal minus its day-industry mean over ``valid`` names; NaN outside ``valid``."""
    stack = np.empty((signal.shape[0], 2, signal.shape[1]))
    np.copyto(stack[:, 0], 0.0)
    np.copyto(stack[:, 0], signal, where=valid)
    stack[:, 1] = valid
    sums = groups.sums(stack)
    count = sums[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, sums[:, 0] / count, 0.0)
    resid = stack[:, 0] - groups.expand(mean)
    np.copyto(resid, np.nan, where=~valid)
    return resid


# Largest tolerated (condition number x precision lost to cancellation) before
# a step of iterative refinement is taken: about 1e-11 relative error.
_REFINE_ABOVE = 1e4


def residualize_all(
    signal: np.ndarray, valid: np.ndarray, groups: IndustryGroups, exposures: np.ndarray
) -> np.ndarray:
    """Residual of the per-day OLS on industry dummies plus styles; NaN outside ``valid``.

    Parameters
    ----------
    signal : numpy.ndarray
        ``(T, N)`` values.
    valid : numpy.ndarray
        ``(T, N)`` bool: the names of each day's regression (finite signal,
        an industry and every style).
    groups : IndustryGroups
    exposures : numpy.ndarray
        ``(T, p, N)`` style exposures, finite wherever ``valid`` (ideally
        standardized per day, see :attr:`poc.panel.Panel.style_stack`).
    """
    t, p, n = exposures.shape
    if p == 0:
        return residualize_industry(signal, valid, groups)
    # One stack [styles; signal; 1] masked to the cross-section: a single
    # matrix product gives every per-(day, industry) sum, and one batched
    # product the raw second moments.
    stack = np.empty((t, p + 2, n))
    stack[:, p + 1] = valid
    # Multiplying by a float mask is much faster than by a bool one (no casting).
    np.multiply(exposures, stack[:, p + 1, None, :], out=stack[:, :p])
    np.copyto(stack[:, p], 0.0)
    np.copyto(stack[:, p], signal, where=valid)
    sums = groups.sums(stack)  # (T, p + 2, K)
    with np.errstate(invalid="ignore", divide="ignore"):
        inv_count = np.where(sums[:, p + 1] > 0, 1.0 / sums[:, p + 1], 0.0)
    head = stack[:, : p + 1]
    raw = head @ head.transpose(0, 2, 1)
    root = sums[:, : p + 1] * np.sqrt(inv_count)[:, None, :]
    # Within-industry second moments: X'X - sum_k (sum_k X)(sum_k X)' / n_k.
    within = raw - root @ root.transpose(0, 2, 1)
    gram = within[:, :p, :p]
    raw_diag = np.einsum("tii->ti", raw[:, :p, :p])
    within_diag = np.einsum("tii->ti", gram)
    usable = within_diag > _COLLINEAR * raw_diag
    beta, condition = _solve_normal(gram, within[:, :p, p], usable)
    style_sums = sums[:, :p]

    def residual(values: np.ndarray, value_sums: np.ndarray, coef: np.ndarray) -> np.ndarray:
        # Unmasked: entries outside the cross-section are garbage until masked.
        intercept = (value_sums - np.einsum("tp,tpk->tk", coef, style_sums)) * inv_count
        fitted = (coef[:, None, :] @ stack[:, :p])[:, 0, :]
        fitted += groups.expand(intercept)
        return np.subtract(values, fitted, out=fitted)

    resid = residual(stack[:, p], sums[:, p], beta)
    with np.errstate(invalid="ignore", divide="ignore"):
        lost = np.where(usable, raw_diag / within_diag, 1.0).max(axis=1)
    if np.any(condition * lost > _REFINE_ABOVE):
        # Iterative refinement: regress the residual again and remove what is
        # left (forming normal equations squares the condition number).
        np.copyto(resid, 0.0, where=~valid)
        resid_sums = groups.sums(resid)
        cross = (stack[:, :p] @ resid[:, :, None])[:, :, 0]
        cross -= np.einsum("tpk,tk->tp", style_sums, resid_sums * inv_count)
        step, _ = _solve_normal(gram, cross, usable)
        resid = residual(resid, resid_sums, step)
    np.copyto(resid, np.nan, where=~valid)
    return resid


def residualize(
    signal: np.ndarray,
    valid: np.ndarray,
    mode: str,
    industry: np.ndarray | None,
    exposures: np.ndarray | None = None,
) -> np.ndarray:
    """Residualize ``signal`` cross-sectionally on each day.

    Parameters
    ----------
    signal : numpy.ndarray
        ``(T, N)`` signal values.
    valid : numpy.ndarray
        ``(T, N)`` bool: names in each day's cross-section (they must have a
        finite signal, an industry and, for ``all``, every style).
    mode : {"off", "industry", "all"}
    industry : numpy.ndarray, IndustryGroups or None
        ``(N,)`` static or ``(T, N)`` per-day industry codes, or the
        :class:`IndustryGroups` built from them (reusable across blocks of
        days when static).
    exposures : numpy.ndarray, optional
        ``(T, p, N)`` style exposures for ``all``.

    Returns
    -------
    numpy.ndarray
        ``(T, N)`` residuals on ``valid``, NaN elsewhere.
    """
    if mode == "off":
        return np.where(valid, signal, np.nan)
    if industry is None:
        raise ValueError("residualization needs industry codes")
    groups = industry if isinstance(industry, IndustryGroups) else IndustryGroups(industry)
    if mode == "industry":
        return residualize_industry(signal, valid, groups)
    if mode == "all":
        if exposures is None:
            raise ValueError("residualize='all' needs style exposures")
        return residualize_all(signal, valid, groups, exposures)
    raise ValueError(f"residualize must be 'off', 'industry' or 'all', got {mode!r}")
