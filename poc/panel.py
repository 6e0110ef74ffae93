"""Dense (dates x securities) arrays of a snapshot, built once and cached beside it.

A :class:`Panel` holds a snapshot's returns and risk data as ``(T, N)``
float64 arrays on the snapshot's calendar (rows) and sorted security ids
(columns); NaN means "no observation". :func:`load_panel` builds it from the
parquet tables on first use and caches every array as a ``.npy`` file in
``snapshot.cache_dir`` (outside the snapshot folder and keyed by its digest,
so the cache is never part of the digest and is rebuilt when the data
changes). The cache is written to a temporary folder and renamed into place,
so a crash never leaves a half-written cache; later loads memory-map it.

:func:`signal_matrix` turns an aligned signal into the dense ``(T, N)``
matrix the engine consumes: row ``d`` holds the values usable at the close
of trading day ``d``.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from poc.calendar import positions_of
from poc.catalog import tmp_folder_name
from poc.derived import (
    TercileLayout,
    cap_terciles,
    standardized_stack,
    tercile_layout,
)
from poc.exceptions import MissingDataError, SignalContractError, SnapshotError

if TYPE_CHECKING:
    from poc.catalog import Snapshot
    from poc.contract import AlignedSignal
    from poc.types import SnapshotData

logger = logging.getLogger(__name__)

CACHE_FORMAT = 1
CACHE_NAME = f"panel-v{CACHE_FORMAT}"
OPTIONAL_FIELDS = ("openret", "mcap", "half_spread", "close")
_RISK_KEYS = ("security_id", "date", "industry")


@dataclass(frozen=True, eq=False)
class Panel:
    """A snapshot's data as dense ``(T, N)`` arrays (rows: dates, columns: securities).

    Attributes
    ----------
    dates : numpy.ndarray
        ``(T,)`` trading dates, ``datetime64[ns]``, sorted.
    security_ids : numpy.ndarray
        ``(N,)`` security ids, int64, sorted.
    ret : numpy.ndarray
        Close-to-close returns; NaN = no observation.
    openret, mcap, half_spread, close : numpy.ndarray or None
        Open-to-open return (``openret[t]`` is the open(t-1) -> open(t)
        return), market cap, half bid-ask spread as a fraction, adjusted
        close; None when the snapshot lacks the column.
    industry : numpy.ndarray or None
        Integer industry codes (int16), -1 = unknown; names in
        ``industry_names``.
    industry_names : tuple of str
    styles : dict of str to numpy.ndarray
        Style exposures (e.g. ``size``, ``value``, ``beta``) dated when known.
    cap_tercile : numpy.ndarray or None
        Market-cap tercile of each name on each day among the names with a
        cap that day (int8: 0 small, 1 mid, 2 large, -1 no cap), derived from
        ``mcap`` when not given. Ties go to the higher tercile.
    snapshot_id, digest : str
        Where the data came from (empty for panels built from raw arrays).
    """

    dates: np.ndarray
    security_ids: np.ndarray
    ret: np.ndarray
    openret: np.ndarray | None = None
    mcap: np.ndarray | None = None
    half_spread: np.ndarray | None = None
    close: np.ndarray | None = None
    industry: np.ndarray | None = None
    industry_names: tuple[str, ...] = ()
    styles: dict[str, np.ndarray] = field(default_factory=dict)
    cap_tercile: np.ndarray | None = None
    snapshot_id: str = ""
    digest: str = ""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "dates", np.asarray(self.dates).astype("datetime64[ns]"))
        set_(self, "security_ids", np.asarray(self.security_ids).astype(np.int64))
        # float64 throughout (no copy when it already is, e.g. a memory-mapped cache)
        for name in ("ret", *OPTIONAL_FIELDS):
            if getattr(self, name) is not None:
                set_(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        set_(self, "styles", {k: np.asarray(v, dtype=np.float64) for k, v in self.styles.items()})
        shape = (len(self.dates), len(self.security_ids))
        arrays = {"ret": self.ret, **{f: getattr(self, f) for f in OPTIONAL_FIELDS}}
        arrays.update({f"styles[{k!r}]": v for k, v in self.styles.items()})
        if self.industry is not None:
            arrays["industry"] = self.industry
        for name, values in arrays.items():
            if values is not None and values.shape != shape:
                raise ValueError(
                    f"panel array {name} has shape {values.shape}, expected (dates, securities) "
                    f"= {shape}"
                )
        if self.cap_tercile is None and self.mcap is not None:
            object.__setattr__(self, "cap_tercile", cap_terciles(self.mcap))

    @property
    def shape(self) -> tuple[int, int]:
        """``(T, N)``: dates x securities."""
        return self.ret.shape

    # Derived arrays below depend on the data only (never on a signal), so
    # they are computed once per panel on first use and kept with it.

    @cached_property
    def static_industry(self) -> np.ndarray | None:
        """Each name's industry code when it never changes over time, else None.

        Names never classified get -1. A static classification lets the
        residualization use fast matrix products instead of per-day group sums.
        """
        if self.industry is None:
            return None
        codes = self.industry
        known = codes >= 0
        highest = np.where(known, codes, np.iinfo(codes.dtype).min).max(axis=0)
        lowest = np.where(known, codes, np.iinfo(codes.dtype).max).min(axis=0)
        has_any = known.any(axis=0)
        if np.any(has_any & (highest != lowest)):
            return None
        return np.where(has_any, highest, -1).astype(np.int64)

    @cached_property
    def style_stack(self) -> np.ndarray | None:
        """Styles as one ``(T, p, N)`` array, standardized per day, 0 where missing.

        Each style is centered and scaled by its cross-sectional mean and
        standard deviation over the names that have it that day. A regression
        that includes industry dummies (which span a constant) has the same
        residual on standardized styles, and forming its normal equations
        loses far less precision.
        """
        return standardized_stack(list(self.styles.values())) if self.styles else None

    @cached_property
    def styles_finite(self) -> np.ndarray | None:
        """``(T, N)`` bool: the name has every style exposure that day."""
        if not self.styles:
            return None
        finite = np.ones(self.shape, dtype=bool)
        for values in self.styles.values():
            finite &= np.isfinite(values)
        return finite

    @cached_property
    def tercile_layout(self) -> TercileLayout | None:
        """Each day's names grouped by market-cap tercile (see :class:`TercileLayout`)."""
        return None if self.cap_tercile is None else tercile_layout(self.cap_tercile)


# --------------------------------------------------------------------------
# Building from tables
# --------------------------------------------------------------------------


def _dense(
    values: np.ndarray, rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int], dtype=np.float64
) -> np.ndarray:
    out = np.full(shape, np.nan, dtype=dtype)
    out[rows, cols] = values
    return out


def _positions(
    frame: pd.DataFrame, dates: np.ndarray, ids: np.ndarray, table: str
) -> tuple[np.ndarray, np.ndarray]:
    rows = positions_of(dates, frame["date"].to_numpy())
    cols = np.searchsorted(ids, frame["security_id"].to_numpy())
    cols = np.minimum(cols, len(ids) - 1)
    bad = (rows < 0) | (ids[cols] != frame["security_id"].to_numpy())
    if bad.any():
        raise SnapshotError(
            f"{int(bad.sum())} row(s) of the {table} table have a date outside the calendar or an "
            "unknown security_id; the snapshot is inconsistent, recreate it"
        )
    return rows, cols


def build_panel(
    calendar: np.ndarray,
    security_ids: np.ndarray,
    returns: pd.DataFrame,
    risk: pd.DataFrame | None,
    snapshot_id: str = "",
    digest: str = "",
) -> Panel:
    """Densify long ``returns`` and ``risk`` tables onto ``calendar`` x ``security_ids``.

    Parameters
    ----------
    calendar : numpy.ndarray
        Sorted ``datetime64[ns]`` trading dates.
    security_ids : numpy.ndarray
        Sorted security ids.
    returns : DataFrame
        ``security_id, date, ret`` plus optional ``openret, mcap, half_spread, close_adj``.
    risk : DataFrame or None
        ``security_id, date`` plus optional ``industry`` and numeric style columns.

    Returns
    -------
    Panel
    """
    dates = np.asarray(calendar).astype("datetime64[ns]")
    ids = np.asarray(security_ids).astype(np.int64)
    shape = (len(dates), len(ids))
    rows, cols = _positions(returns, dates, ids, "returns")
    columns = {"ret": "ret", "openret": "openret", "mcap": "mcap"}
    columns.update({"half_spread": "half_spread", "close": "close_adj"})
    arrays = {
        name: _dense(returns[col].to_numpy(np.float64), rows, cols, shape)
        for name, col in columns.items()
        if col in returns.columns
    }
    industry = None
    industry_names: tuple[str, ...] = ()
    styles: dict[str, np.ndarray] = {}
    if risk is not None and len(risk):
        rrows, rcols = _positions(risk, dates, ids, "risk")
        if "industry" in risk.columns:
            categorical = pd.Categorical(risk["industry"])
            industry_names = tuple(str(c) for c in categorical.categories)
            industry = np.full(shape, -1, dtype=np.int16)
            industry[rrows, rcols] = categorical.codes
        for col in risk.columns:
            if col not in _RISK_KEYS and pd.api.types.is_numeric_dtype(risk[col]):
                styles[col] = _dense(risk[col].to_numpy(np.float64), rrows, rcols, shape)
    return Panel(
        dates=dates,
        security_ids=ids,
        industry=industry,
        industry_names=industry_names,
        styles=styles,
        snapshot_id=snapshot_id,
        digest=digest,
        **arrays,
    )


def panel_from_data(data: SnapshotData, snapshot_id: str = "", digest: str = "") -> Panel:
    """Build a panel in memory from a source's tables (no snapshot, no cache)."""
    calendar = data.calendar["date"].to_numpy().astype("datetime64[ns]")
    ids = np.sort(data.securities["security_id"].to_numpy().astype(np.int64))
    return build_panel(calendar, ids, data.returns, data.risk, snapshot_id, digest)


def panel_from_snapshot(snapshot: Snapshot) -> Panel:
    """Build a snapshot's panel from its parquet tables (no cache; see :func:`load_panel`)."""
    risk = snapshot.read("risk") if snapshot.has_table("risk") else None
    return build_panel(
        snapshot.calendar(),
        snapshot.security_ids(),
        snapshot.read("returns"),
        risk,
        snapshot.snapshot_id,
        snapshot.digest,
    )


# --------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------


def _array_files(panel: Panel) -> dict[str, np.ndarray]:
    files = {"dates": panel.dates.astype(np.int64), "security_ids": panel.security_ids}
    files["ret"] = panel.ret
    for name in (*OPTIONAL_FIELDS, "industry", "cap_tercile"):
        value = getattr(panel, name)
        if value is not None:
            files[name] = value
    for i, values in enumerate(panel.styles.values()):
        files[f"style{i}"] = values
    return files


def write_panel_cache(panel: Panel, folder: Path) -> Path:
    """Write ``panel`` as ``.npy`` files into ``folder`` atomically (temp folder + rename).

    If another process finished the same cache first, its copy is kept.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.parent / tmp_folder_name(folder.name)
    tmp.mkdir()
    try:
        for name, values in _array_files(panel).items():
            with open(tmp / f"{name}.npy", "wb") as handle:
                np.save(handle, np.ascontiguousarray(values), allow_pickle=False)
        meta = {
            "format": CACHE_FORMAT,
            "snapshot_id": panel.snapshot_id,
            "digest": panel.digest,
            "industry_names": list(panel.industry_names),
            "styles": list(panel.styles),
        }
        # meta.json last: a folder without it is never trusted.
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
        try:
            tmp.rename(folder)
        except OSError:
            logger.info("panel cache %s was written by another process meanwhile", folder)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def read_panel_cache(folder: Path, mmap: bool = True) -> Panel:
    """Load a panel written by :func:`write_panel_cache` (memory-mapped, read-only)."""
    folder = Path(folder)
    meta = json.loads((folder / "meta.json").read_text())
    if meta.get("format") != CACHE_FORMAT:
        raise SnapshotError(f"panel cache {folder} has format {meta.get('format')}")
    mode = "r" if mmap else None

    def load(name: str) -> np.ndarray | None:
        path = folder / f"{name}.npy"
        if not path.exists():
            return None
        # np.asarray drops the memmap subclass (so results are plain arrays) without copying.
        return np.asarray(np.load(path, mmap_mode=mode, allow_pickle=False))

    styles = {name: load(f"style{i}") for i, name in enumerate(meta["styles"])}
    return Panel(
        dates=load("dates").astype("datetime64[ns]"),
        security_ids=load("security_ids"),
        ret=load("ret"),
        openret=load("openret"),
        mcap=load("mcap"),
        half_spread=load("half_spread"),
        close=load("close"),
        industry=load("industry"),
        industry_names=tuple(meta["industry_names"]),
        styles=styles,
        cap_tercile=load("cap_tercile"),
        snapshot_id=meta["snapshot_id"],
        digest=meta["digest"],
    )


def load_panel(snapshot: Snapshot, rebuild: bool = False) -> Panel:
    """The snapshot's dense panel, from the cache in ``snapshot.cache_dir`` or built and cached.

    Parameters
    ----------
    snapshot : Snapshot
        An opened (verified) snapshot.
    rebuild : bool
        Ignore an existing cache and build it again.
    """
    folder = Path(snapshot.cache_dir) / CACHE_NAME
    if rebuild and folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    if (folder / "meta.json").exists():
        try:
            panel = read_panel_cache(folder)
            if panel.digest == snapshot.digest:
                return panel
        except (OSError, ValueError, KeyError) as exc:
            logger.warning("panel cache %s is unreadable (%s); rebuilding it", folder, exc)
        shutil.rmtree(folder, ignore_errors=True)
    logger.info("building the dense panel of %s (cached in %s)", snapshot.snapshot_id, folder)
    panel = panel_from_snapshot(snapshot)
    write_panel_cache(panel, folder)
    return read_panel_cache(folder)


# --------------------------------------------------------------------------
# Signals as dense matrices
# --------------------------------------------------------------------------


def signal_matrix(aligned: AlignedSignal, panel: Panel) -> np.ndarray:
    """The aligned signal as a dense ``(T, N)`` float64 matrix indexed by usable position.

    ``out[d, i]`` is the value of security ``panel.security_ids[i]`` usable at
    the close of trading day ``panel.dates[d]``; NaN where there is none. The
    lag is not applied here (the engine applies it), so one matrix serves
    every lag.

    Raises
    ------
    SignalContractError
        If the signal names securities the panel does not have or was aligned
        to a different calendar.
    """
    frame = aligned.frame
    t, n = panel.shape
    out = np.full((t, n), np.nan)
    if frame.empty:
        return out
    ids = frame["security_id"].to_numpy(np.int64)
    cols = np.minimum(np.searchsorted(panel.security_ids, ids), n - 1)
    unknown = panel.security_ids[cols] != ids
    if unknown.any():
        raise SignalContractError(
            [
                f"{int(unknown.sum())} row(s) name security_id(s) the panel does not have, e.g. "
                f"{np.unique(ids[unknown])[:3].tolist()}; validate the signal against this snapshot"
            ]
        )
    rows = frame["usable_pos"].to_numpy(np.int64)
    if rows.max() >= t or not np.array_equal(
        panel.dates[rows], frame["date_usable"].to_numpy().astype("datetime64[ns]")
    ):
        raise SignalContractError(
            [
                "the signal was aligned to a different calendar than the panel's; align it with "
                "the snapshot's calendar (snapshot.calendar())"
            ]
        )
    out[rows, cols] = frame["signal"].to_numpy(np.float64)
    return out


def require(panel: Panel, name: str, why: str) -> np.ndarray:
    """Return the optional panel array ``name`` or raise a clear :class:`MissingDataError`."""
    values = getattr(panel, name) if name in OPTIONAL_FIELDS else panel.styles.get(name)
    if values is None:
        source = panel.snapshot_id or "this panel"
        raise MissingDataError(
            f"{why} needs {name!r}, but snapshot {source!r} has no {name} column; "
            "use a snapshot that has it (e.g. a synthetic one) or drop the option"
        )
    return values
