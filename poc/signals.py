"""Built-in signals: baselines, an example signal, companion signals and noise.

Every built-in is a contract-shaped table ``security_id, date_sig,
date_avail, signal`` (see :mod:`poc.contract`) with ``date_avail =
date_sig``: a value dated ``d`` uses prices up to the close of ``d`` only.
They are looked up by name, as ``builtin:NAME`` on the command line:

* baselines (:data:`BASELINES`): ``reversal_5d`` (minus the past 5-day
  return), ``momentum_12_1`` (the 252-day return skipping the latest 21
  days), ``value`` (the snapshot's ``value`` exposure; skipped with a note
  when the snapshot has none);
* ``high_52w``: an example non-baseline signal for demos, the proximity to
  the 52-week high, ``close / max(close over the past 252 days)``;
* the snapshot's companion signals (e.g. ``planted`` in synthetic snapshots);
* ``noise`` / ``noise:SEED``: i.i.d. standard normal values for every listed
  name and day, seeded (a null signal).

Computed built-ins are cached with :class:`joblib.Memory` under
``snapshot.cache_dir`` and keyed by the snapshot's digest, so a changed
snapshot never reuses them.

Prices are the snapshot's adjusted closes; a snapshot without them uses a
total-return index compounded from ``ret`` (a day without a return leaves
the index unchanged and has no value).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from poc.exceptions import ConfigError, MissingDataError
from poc.panel import Panel, load_panel
from poc.sources import momentum_12_1 as _momentum

if TYPE_CHECKING:
    from poc.catalog import Snapshot

logger = logging.getLogger(__name__)

BASELINES = ("reversal_5d", "momentum_12_1", "value")
EXAMPLES = ("high_52w",)
NOISE = "noise"
WINDOW_52W = 252
_COMPUTED = (*BASELINES, *EXAMPLES)


# --------------------------------------------------------------------------
# Pure functions on dense (dates x securities) prices
# --------------------------------------------------------------------------


def prices(panel: Panel) -> np.ndarray:
    """Adjusted closes, or a total-return index from ``ret`` when the panel has none."""
    if panel.close is not None:
        return np.asarray(panel.close, dtype=np.float64)
    listed = np.isfinite(panel.ret)
    index = np.cumprod(np.where(listed, 1.0 + panel.ret, 1.0), axis=0)
    return np.where(listed, index, np.nan)


def reversal_5d(close: np.ndarray) -> np.ndarray:
    """``-(close[d] / close[d - 5] - 1)``: minus the return of the past 5 trading days."""
    out = np.full(close.shape, np.nan)
    out[5:] = -(close[5:] / close[:-5] - 1.0)
    return out


def momentum_12_1(close: np.ndarray) -> np.ndarray:
    """``close[d - 21] / close[d - 252] - 1``: the 12-month return skipping the last month."""
    return _momentum(close, lookback=252, skip=21)


def high_52w(close: np.ndarray, window: int = WINDOW_52W) -> np.ndarray:
    """``close[d] / max(close[d - window + 1 .. d])``, needing a full window of closes."""
    highest = pd.DataFrame(close).rolling(window, min_periods=window).max().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return close / highest


def noise(panel: Panel, seed: int = 0) -> np.ndarray:
    """I.i.d. standard normal values on every (day, name) with a return; NaN elsewhere."""
    values = np.random.default_rng(seed).standard_normal(panel.shape)
    return np.where(np.isfinite(panel.ret), values, np.nan)


def to_signal_frame(values: np.ndarray, panel: Panel) -> pd.DataFrame:
    """A dense ``(T, N)`` signal as a contract table; non-finite values are left out."""
    rows, cols = np.nonzero(np.isfinite(values))
    dates = panel.dates[rows]
    return pd.DataFrame(
        {
            "security_id": panel.security_ids[cols],
            "date_sig": dates,
            "date_avail": dates,
            "signal": values[rows, cols],
        }
    )


def compute_builtin(panel: Panel, name: str) -> np.ndarray:
    """The dense values of a computed built-in (a baseline or ``high_52w``).

    Raises
    ------
    MissingDataError
        ``value`` on a panel without a value exposure.
    """
    if name == "value":
        if "value" not in panel.styles:
            raise MissingDataError(
                f"snapshot {panel.snapshot_id or 'of this panel'!r} has no 'value' exposure, so "
                "the value baseline is skipped; use a snapshot with one (e.g. synthetic)"
            )
        return np.asarray(panel.styles["value"], dtype=np.float64)
    close = prices(panel)
    functions = {"reversal_5d": reversal_5d, "momentum_12_1": momentum_12_1, "high_52w": high_52w}
    return functions[name](close)


# --------------------------------------------------------------------------
# Lookup by name, with a cache per snapshot digest
# --------------------------------------------------------------------------


def builtin_names(snapshot: Snapshot) -> list[str]:
    """Every name :func:`load_builtin` accepts for this snapshot."""
    return [*_COMPUTED, NOISE, *snapshot.signal_names]


def _compute_frame(snapshot: Snapshot, digest: str, name: str) -> pd.DataFrame:
    # ``digest`` is part of the cache key (``snapshot`` is ignored by joblib).
    panel = load_panel(snapshot)
    return to_signal_frame(compute_builtin(panel, name), panel)


def _cached(snapshot: Snapshot):
    from joblib import Memory

    memory = Memory(location=str(snapshot.cache_dir / "signals"), verbose=0)
    return memory.cache(_compute_frame, ignore=["snapshot"])


def load_builtin(snapshot: Snapshot, name: str) -> pd.DataFrame:
    """A built-in signal of ``snapshot`` as a contract table.

    Parameters
    ----------
    snapshot : Snapshot
    name : str
        A baseline, ``high_52w``, a companion signal of the snapshot, or
        ``noise`` / ``noise:SEED`` (seed 0 by default).

    Raises
    ------
    ConfigError
        For an unknown name (the message lists the known ones).
    MissingDataError
        When the snapshot lacks the data the signal needs, or its history is
        too short for the signal to have any value.
    """
    if name in snapshot.signal_names:
        frame = snapshot.read(f"signals/{name}")
        return frame[["security_id", "date_sig", "date_avail", "signal"]]
    if name == NOISE or name.startswith(f"{NOISE}:"):
        seed_text = name.partition(":")[2] or "0"
        if not seed_text.isdigit():
            raise ConfigError(f"builtin {name!r}: the seed after 'noise:' must be an integer")
        panel = load_panel(snapshot)
        return to_signal_frame(noise(panel, int(seed_text)), panel)
    if name not in _COMPUTED:
        raise ConfigError(
            f"unknown builtin signal {name!r}; known for snapshot {snapshot.snapshot_id!r}: "
            f"{', '.join(builtin_names(snapshot))} (noise takes a seed as noise:SEED)"
        )
    if name == "value" and "value" not in snapshot.manifest["schema"].get("risk", {}):
        compute_builtin(load_panel(snapshot), name)  # raises the clear error
    frame = _cached(snapshot)(snapshot, snapshot.digest, name)
    if frame.empty:
        days = snapshot.manifest["counts"]["dates"]
        raise MissingDataError(
            f"builtin {name!r} has no values on snapshot {snapshot.snapshot_id!r}: its "
            f"{days} trading days are too short a price history (momentum_12_1 and high_52w "
            "need 253)"
        )
    return frame


def baseline_signals(snapshot: Snapshot) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """Every baseline the snapshot supports, and a note for each one skipped.

    Returns
    -------
    signals : dict of str to DataFrame
        Baseline name -> contract table, in :data:`BASELINES` order.
    notes : list of str
        Why a baseline was skipped (e.g. no value exposure).
    """
    signals: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    for name in BASELINES:
        try:
            signals[name] = load_builtin(snapshot, name)
        except MissingDataError as exc:
            logger.info("baseline %s skipped: %s", name, exc)
            notes.append(f"baseline {name} skipped: {exc}")
    return signals, notes
