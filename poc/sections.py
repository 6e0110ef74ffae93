"""The cross-sections a backtest ranks, built block by block of days.

Formation row ``u`` holds the signal usable at the close of day ``u``; it
pairs with the returns of earning day ``u + shift`` (see
:mod:`poc.engine`). :class:`CrossSections` yields, for a block of rows, the
(residualized) signal of the names in each day's cross-section, NaN
elsewhere, and the returns they earn, counting every signal value left out
and why.
"""

from __future__ import annotations

import logging

import numpy as np

from poc.contract import AlignedSignal
from poc.exceptions import MissingDataError, SignalContractError
from poc.panel import Panel, signal_matrix
from poc.residualize import IndustryGroups, residualize

logger = logging.getLogger(__name__)


def as_matrix(signal, panel: Panel, config) -> np.ndarray:
    """The signal as a dense ``(T, N)`` float64 matrix indexed by usable position."""
    if isinstance(signal, AlignedSignal):
        if signal.lag != config.lag:
            logger.info(
                "the signal was aligned with lag %d; the backtest applies config.lag=%d "
                "(an AlignedSignal's lag only sets its earn_pos column)",
                signal.lag,
                config.lag,
            )
        return signal_matrix(signal, panel)
    if not isinstance(signal, np.ndarray):
        raise TypeError(
            f"signal must be an AlignedSignal or a (dates x securities) numpy array, got "
            f"{type(signal).__name__}; see poc.panel.signal_matrix"
        )
    if signal.shape != panel.shape:
        raise SignalContractError(
            [
                f"signal matrix has shape {signal.shape}, the panel is {panel.shape} "
                "(dates x securities)"
            ]
        )
    matrix = np.asarray(signal, dtype=np.float64)
    if np.isinf(matrix).any():
        raise SignalContractError(
            [
                f"signal matrix has {int(np.isinf(matrix).sum())} infinite value(s); "
                "clip or drop them"
            ]
        )
    return matrix


def earning_window(dates: np.ndarray, config) -> np.ndarray | None:
    """Bool mask of earning dates inside ``[start, end]``, or None for no restriction."""
    if config.start is None and config.end is None:
        return None
    inside = np.ones(len(dates), dtype=bool)
    if config.start is not None:
        inside &= dates >= np.datetime64(config.start)
    if config.end is not None:
        inside &= dates <= np.datetime64(config.end)
    return inside


def _exposures(panel: Panel, config, rows: int):
    """Industry codes, style stack and style coverage for the formation rows, or raise."""
    if config.residualize == "off":
        return None, None, None
    if panel.industry is None:
        raise MissingDataError(
            f"residualize={config.residualize!r} needs industries, but snapshot "
            f"{panel.snapshot_id or 'of this panel'!r} has none; use residualize='off'"
        )
    static = panel.static_industry
    industry = static if static is not None else panel.industry[:rows]
    if config.residualize == "industry":
        return industry, None, None
    if panel.style_stack is None:
        raise MissingDataError(
            f"residualize='all' needs style exposures, but snapshot "
            f"{panel.snapshot_id or 'of this panel'!r} has none; use residualize='industry'"
        )
    return industry, panel.style_stack[:rows], panel.styles_finite[:rows]


# Days are processed in blocks of about this many cells: a block's arrays stay
# in cache and are recycled by the allocator instead of being page-faulted in.
BLOCK_CELLS = 1 << 17


class CrossSections:
    """Each block of days' cross-sections: residualized signal and earned returns.

    Formation row ``u`` (the signal usable at the close of ``u``) pairs with
    earning row ``u`` of ``returns`` (the return of day ``u + shift``).
    """

    def __init__(self, panel: Panel, formation, returns, window, config):
        self.formation = formation
        self.returns = returns
        self.window = window
        self.config = config
        rows = len(formation)
        self.industry, self.exposures, self.covered = _exposures(panel, config, rows)
        if self.industry is not None and self.industry.ndim == 1:
            self.industry = IndustryGroups(self.industry)  # static: built once for all blocks
        self.codes = None if config.residualize == "off" else panel.industry[:rows]
        self.counts = dict.fromkeys(("outside_window", "no_return", "no_exposure", "used"), 0)

    def block(self, a: int, b: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Residualized signal (NaN outside the cross-section), returns (0 where none), tradable."""
        valid = np.isfinite(self.formation[a:b])
        returns = self.returns[a:b]
        tradable = np.isfinite(returns)
        counts = self.counts
        if self.window is not None and not self.window[a:b].all():
            outside = ~self.window[a:b]
            counts["outside_window"] += int(np.count_nonzero(valid[outside]))
            valid[outside] = False
            tradable[outside] = False
        signals = int(np.count_nonzero(valid))
        valid &= tradable
        traded = int(np.count_nonzero(valid))
        counts["no_return"] += signals - traded
        industry = self.industry
        if self.codes is not None:
            valid &= self.codes[a:b] >= 0
            if self.covered is not None:
                valid &= self.covered[a:b]
            counts["no_exposure"] += traded - int(np.count_nonzero(valid))
            industry = industry if isinstance(industry, IndustryGroups) else industry[a:b]
        counts["used"] += int(np.count_nonzero(valid))
        exposures = None if self.exposures is None else self.exposures[a:b]
        values = residualize(
            self.formation[a:b], valid, self.config.residualize, industry, exposures
        )
        return values, np.where(tradable, returns, 0.0), tradable
