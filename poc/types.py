"""Plain data containers shared across modules (no internal imports)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass(frozen=True)
class SnapshotData:
    """The tables of one snapshot, before it is written or after it is loaded.

    Attributes
    ----------
    securities : DataFrame
        ``security_id, ticker, name, sector``.
    returns : DataFrame
        Long table ``security_id, date, ret`` plus optional ``openret``,
        ``close_adj``, ``volume``, ``mcap``, ``half_spread``; sorted by
        ``(date, security_id)``.
    risk : DataFrame
        Long table ``security_id, date, industry`` plus style exposures.
    calendar : DataFrame
        One column ``date``: every trading date, sorted.
    benchmark : DataFrame or None
        ``date, ret`` of the benchmark index, when the source has one.
    signals : dict of str to DataFrame
        Companion signals in the contract's shape (e.g. the synthetic source's
        planted-alpha signal), stored in the snapshot under ``signals/``.
    source : str
        ``bundled``, ``synthetic`` or ``files``.
    params : dict
        The source's parameters, recorded in the manifest.
    absent : list of str
        Optional columns the source does not have, recorded as absent rather
        than faked.
    notes : list of str
        Human-readable facts about the data (what each column means, what was
        planted), recorded in the manifest.
    """

    securities: pd.DataFrame
    returns: pd.DataFrame
    risk: pd.DataFrame
    calendar: pd.DataFrame
    benchmark: pd.DataFrame | None
    source: str
    params: dict[str, Any] = field(default_factory=dict)
    signals: dict[str, pd.DataFrame] = field(default_factory=dict)
    absent: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
