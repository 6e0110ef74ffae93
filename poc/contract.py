"""The signal contract: what a signal table must look like, and how it meets the calendar.

A signal table has one row per (security, signal date)::

    security_id  int       the snapshot's security id
    date_sig     date      when the value was computed
    date_avail   date      when it could first be used (never before date_sig)
    signal       float     the value; larger means "expect a higher return"

:func:`validate_signal` collects *every* defect at once into a
:class:`SignalReport`; :func:`check_signal` raises
:class:`~poc.exceptions.SignalContractError` listing them. :func:`align_signal`
maps each row to the first trading date on or after ``date_avail`` (the row is
usable at the end of that day) and applies the lag: with lag ``L`` the
position formed that evening earns the close-to-close return of the trading
day ``1 + L`` positions later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from poc.calendar import first_on_or_after
from poc.exceptions import DataLossError, SignalContractError

REQUIRED_COLUMNS = ("security_id", "date_sig", "date_avail", "signal")
DEFAULT_NAN_BUDGET = 0.05
_EXAMPLES = 3


@dataclass(frozen=True)
class SignalReport:
    """Outcome of :func:`validate_signal`.

    Attributes
    ----------
    n_rows : int
        Rows received.
    problems : list of (str, str)
        ``(code, message)`` per defect; messages carry example rows.
    notes : list of str
        Facts that are not errors (rows dropped within budget, ...).
    clean : DataFrame or None
        The validated table (typed, NaN signals dropped), or None when there
        are problems.
    """

    n_rows: int
    problems: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    clean: pd.DataFrame | None = None

    @property
    def ok(self) -> bool:
        """True when the table meets the contract."""
        return not self.problems

    @property
    def codes(self) -> list[str]:
        """The defect codes found, in order."""
        return [code for code, _ in self.problems]


def read_signal(
    path: str | Path, allow_pickle: bool = False, pickle_flag: str | None = None
) -> pd.DataFrame:
    """Read a signal table from CSV or parquet (pickle only with ``allow_pickle``).

    ``pickle_flag`` names the calling command's opt-in option, if it has one,
    so a refused pickle's message suggests only a flag that exists.

    Raises
    ------
    SignalContractError
        If the file is missing, empty, a folder, not UTF-8, not what its name
        says, of an unknown type, or a pickle without opt-in.
    """
    from poc.exceptions import SourceDataError
    from poc.reading import read_table

    try:
        return read_table(path, allow_pickle=allow_pickle, pickle_flag=pickle_flag)
    except SourceDataError as exc:
        raise SignalContractError([str(exc)]) from exc


def _examples(frame: pd.DataFrame, mask: np.ndarray, columns=None) -> str:
    rows = frame.loc[mask, list(columns or frame.columns)].head(_EXAMPLES)
    records = []
    for rec in rows.to_dict("records"):
        parts = []
        for key, value in rec.items():
            if isinstance(value, pd.Timestamp):
                value = value.date().isoformat()
            parts.append(f"{key}={value!r}" if isinstance(value, str) else f"{key}={value}")
        records.append("(" + ", ".join(parts) + ")")
    return "; ".join(records)


def _parse_dates(frame: pd.DataFrame, column: str, problems: list) -> pd.Series | None:
    from poc.reading import parse_dates

    raw = frame[column]
    parsed, refused = parse_dates(raw, column)
    if refused:
        problems.append(("unparseable_dates", refused))
        return None
    bad = parsed.isna().to_numpy() & raw.notna().to_numpy()
    missing = raw.isna().to_numpy()
    if bad.any() or missing.any():
        mask = bad | missing
        problems.append(
            (
                "unparseable_dates",
                f"{int(mask.sum())} row(s) have a missing or unparseable {column}, e.g. "
                f"{_examples(frame, mask, ['security_id', column])}; use ISO dates like 2020-01-31",
            )
        )
        return None
    return parsed


def validate_signal(
    frame: pd.DataFrame,
    calendar: np.ndarray | None = None,
    security_ids: np.ndarray | None = None,
    nan_budget: float = DEFAULT_NAN_BUDGET,
) -> SignalReport:
    """Check a signal table against the contract and collect every defect.

    Parameters
    ----------
    frame : DataFrame
        The raw signal table.
    calendar : numpy.ndarray, optional
        The snapshot's trading dates; when given, dates outside it are flagged.
    security_ids : numpy.ndarray, optional
        The snapshot's security ids; when given, unknown ids are flagged.
    nan_budget : float
        Largest share of rows with a NaN signal that may be dropped silently
        (they are still counted in ``notes``); above it is an error.

    Returns
    -------
    SignalReport
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"signal must be a pandas DataFrame, got {type(frame).__name__}")
    if not 0 <= nan_budget <= 1:
        from poc.exceptions import ConfigError

        raise ConfigError(
            f"nan_budget is a share between 0 and 1 (0.05 means 5%), got {nan_budget!r}"
        )
    n_rows = len(frame)
    problems: list[tuple[str, str]] = []
    notes: list[str] = []

    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        problems.append(
            (
                "missing_columns",
                f"missing column(s) {missing}; a signal needs {list(REQUIRED_COLUMNS)} "
                f"(got {list(frame.columns)})",
            )
        )
        return SignalReport(n_rows, problems, notes)
    if n_rows == 0:
        problems.append(("empty", "the signal table has no rows"))
        return SignalReport(n_rows, problems, notes)

    frame = frame[list(REQUIRED_COLUMNS)].reset_index(drop=True)
    date_sig = _parse_dates(frame, "date_sig", problems)
    date_avail = _parse_dates(frame, "date_avail", problems)

    ids = pd.to_numeric(frame["security_id"], errors="coerce")
    bad_ids = (ids.isna() | (ids != ids.round())).to_numpy()
    if bad_ids.any():
        problems.append(
            (
                "bad_security_id",
                f"{int(bad_ids.sum())} row(s) have a security_id that is not an integer, e.g. "
                f"{_examples(frame, bad_ids, ['security_id', 'date_sig'])}",
            )
        )

    values = pd.to_numeric(frame["signal"], errors="coerce")
    non_numeric = (values.isna() & frame["signal"].notna()).to_numpy()
    if non_numeric.any():
        problems.append(
            (
                "non_numeric",
                f"{int(non_numeric.sum())} row(s) have a non-numeric signal, e.g. "
                f"{_examples(frame, non_numeric, ['security_id', 'date_sig', 'signal'])}",
            )
        )
    values_np = values.to_numpy(dtype=np.float64)
    infinite = np.isinf(values_np)
    if infinite.any():
        problems.append(
            (
                "infinite",
                f"{int(infinite.sum())} row(s) have an infinite signal, e.g. "
                f"{_examples(frame, infinite, ['security_id', 'date_sig', 'signal'])}; "
                "clip or drop them",
            )
        )
    is_nan = frame["signal"].isna().to_numpy()
    if is_nan.any():
        share = is_nan.mean()
        message = (
            f"{int(is_nan.sum())} of {n_rows} rows ({share:.1%}) have a NaN signal, e.g. "
            f"{_examples(frame, is_nan, ['security_id', 'date_sig'])}"
        )
        if share > nan_budget:
            problems.append(
                (
                    "nan_budget",
                    f"{message}: above the data-loss budget of {nan_budget:.0%}; fill or drop "
                    "them yourself, or raise the budget (--nan-budget)",
                )
            )
        else:
            notes.append(f"{message}: dropped (within the {nan_budget:.0%} budget)")

    if not bad_ids.any() and date_sig is not None:
        keys = pd.DataFrame({"security_id": ids.astype(np.int64), "date_sig": date_sig})
        dup = keys.duplicated(keep=False).to_numpy()
        if dup.any():
            problems.append(
                (
                    "duplicates",
                    f"{int(keys.duplicated().sum())} duplicate (security_id, date_sig) row(s), "
                    f"e.g. {_examples(frame, dup, ['security_id', 'date_sig'])}; "
                    "drop duplicates first",
                )
            )

    if date_sig is not None and date_avail is not None:
        early = (date_avail < date_sig).to_numpy()
        if early.any():
            problems.append(
                (
                    "lookahead",
                    f"{int(early.sum())} row(s) have date_avail before date_sig (lookahead), e.g. "
                    f"{_examples(frame, early, ['security_id', 'date_sig', 'date_avail'])}; "
                    "a value cannot be used before it is computed",
                )
            )

    if security_ids is not None and not bad_ids.any():
        unknown = ~np.isin(ids.to_numpy(dtype=np.int64), np.asarray(security_ids))
        if unknown.any():
            n_unknown = len(np.unique(ids.to_numpy()[unknown]))
            problems.append(
                (
                    "unknown_securities",
                    f"{int(unknown.sum())} row(s) name {n_unknown} security_id(s) unknown to "
                    f"the snapshot, e.g. {_examples(frame, unknown, ['security_id', 'date_sig'])}; "
                    "map your ids to the snapshot's securities table",
                )
            )

    if calendar is not None and len(calendar) and date_sig is not None and date_avail is not None:
        first, last = calendar[0], calendar[-1]
        outside = (date_sig.to_numpy() < first) | (date_avail.to_numpy() > last)
        if outside.any():
            problems.append(
                (
                    "outside_calendar",
                    f"{int(outside.sum())} row(s) fall outside the snapshot calendar "
                    f"{pd.Timestamp(first).date()} .. {pd.Timestamp(last).date()}, e.g. "
                    f"{_examples(frame, outside, ['security_id', 'date_sig', 'date_avail'])}; "
                    "trim the signal to the snapshot's dates",
                )
            )

    if problems:
        return SignalReport(n_rows, problems, notes)

    keep = ~is_nan
    clean = pd.DataFrame(
        {
            "security_id": ids.to_numpy()[keep].astype(np.int64),
            "date_sig": date_sig.to_numpy()[keep],
            "date_avail": date_avail.to_numpy()[keep],
            "signal": values_np[keep],
        }
    )
    return SignalReport(n_rows, problems, notes, clean)


def check_signal(
    frame: pd.DataFrame,
    calendar: np.ndarray | None = None,
    security_ids: np.ndarray | None = None,
    nan_budget: float = DEFAULT_NAN_BUDGET,
) -> pd.DataFrame:
    """Strict :func:`validate_signal`: return the clean table or raise listing every defect.

    Raises
    ------
    DataLossError
        If the only defect is too many NaN signals.
    SignalContractError
        For any other defect.
    """
    report = validate_signal(frame, calendar, security_ids, nan_budget)
    if report.problems:
        messages = [f"[{code}] {msg}" for code, msg in report.problems]
        if report.codes == ["nan_budget"]:
            raise DataLossError(messages)
        raise SignalContractError(messages)
    return report.clean


@dataclass(frozen=True)
class AlignedSignal:
    """A clean signal mapped onto the trading calendar.

    Attributes
    ----------
    frame : DataFrame
        ``security_id, date_sig, date_avail, signal`` plus ``usable_pos`` /
        ``date_usable`` (first trading date on or after ``date_avail``; the
        row is usable at its close) and ``earn_pos`` / ``date_earn`` (the
        trading day whose close-to-close return the position earns:
        ``usable_pos + 1 + lag``; NaT when beyond the calendar).
    lag : int
    dropped : dict of str to int
        Rows dropped and why: ``after_calendar`` (usable after the last
        date), ``superseded`` (a later ``date_sig`` of the same security
        became usable on the same day).
    """

    frame: pd.DataFrame
    lag: int
    dropped: dict[str, int]


def align_signal(clean: pd.DataFrame, calendar: np.ndarray, lag: int = 0) -> AlignedSignal:
    """Map each row to its first usable trading date and apply the lag in trading days.

    Parameters
    ----------
    clean : DataFrame
        Output of :func:`check_signal`.
    calendar : numpy.ndarray
        Sorted ``datetime64[ns]`` trading dates.
    lag : int
        Extra trading days between the usable date and the first return
        earned. Lag 0 earns the next trading day's return.

    Returns
    -------
    AlignedSignal
    """
    if isinstance(lag, bool) or not isinstance(lag, int | np.integer):
        raise TypeError(f"lag must be an int, got {type(lag).__name__}")
    if lag < 0:
        raise ValueError(f"lag must be >= 0 trading days, got {lag}")
    usable = first_on_or_after(calendar, clean["date_avail"].to_numpy())
    inside = usable < len(calendar)
    frame = clean.loc[inside].copy()
    frame["usable_pos"] = usable[inside]
    # Several signal dates can become usable on the same day (weekends,
    # holidays, late data): the latest computation is the freshest information.
    frame = frame.sort_values(["usable_pos", "security_id", "date_sig"], kind="stable")
    last = ~frame.duplicated(["usable_pos", "security_id"], keep="last")
    superseded = int((~last).sum())
    frame = frame.loc[last].reset_index(drop=True)
    frame["date_usable"] = calendar[frame["usable_pos"].to_numpy()]
    earn = frame["usable_pos"].to_numpy() + 1 + int(lag)
    frame["earn_pos"] = earn
    has_day = earn < len(calendar)
    earn_dates = np.full(len(frame), np.datetime64("NaT"), dtype="datetime64[ns]")
    earn_dates[has_day] = calendar[earn[has_day]]
    frame["date_earn"] = earn_dates
    dropped = {"after_calendar": int((~inside).sum()), "superseded": superseded}
    return AlignedSignal(frame=frame, lag=int(lag), dropped=dropped)
