"""Read a user's table file (CSV, parquet, or an opted-in pickle) with clear errors.

Every way a file can be wrong -- missing, a folder, empty, not UTF-8, not
parseable, a ``.parquet`` that really holds CSV text or a pickle, the same
column twice -- becomes a :class:`~poc.exceptions.SourceDataError` naming the
file and the fix, never a parser traceback.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import pandas as pd

from poc.exceptions import SourceDataError

PARQUET_MAGIC = b"PAR1"
CSV_SUFFIXES = (".csv", ".gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq")
PICKLE_SUFFIXES = (".pkl", ".pickle")
# Pickle protocols 2+ start with the PROTO opcode 0x80.
_PICKLE_START = b"\x80"


def _check_file(path: Path) -> None:
    if not path.exists():
        raise SourceDataError(f"file {str(path)!r} does not exist; check the path")
    if path.is_dir():
        raise SourceDataError(
            f"{str(path)!r} is a folder, not a file; pass the path of a .csv or .parquet file"
        )
    if path.stat().st_size == 0:
        raise SourceDataError(
            f"file {str(path)!r} is empty (0 bytes); write the table with a header row "
            "(e.g. security_id,date_sig,date_avail,signal) and at least one data row"
        )


def _sniff(path: Path) -> str:
    """What the first bytes say the file holds: ``parquet``, ``pickle``, ``gzip`` or ``text``."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head == PARQUET_MAGIC:
        return "parquet"
    if head.startswith(_PICKLE_START):
        return "pickle"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    return "text"


def _pickle_refusal(
    path: Path, pickle_flag: str | None, disguised: bool = False
) -> SourceDataError:
    what = f"{path.name} holds a pickle" + (" despite its name" if disguised else "")
    fix = "convert it to parquet or CSV (e.g. pd.read_pickle(f).to_parquet('x.parquet'))"
    if pickle_flag:
        fix += f", or pass {pickle_flag} if you trust it"
    return SourceDataError(
        f"{what}; reading it would run code stored in the file. {fix[0].upper()}{fix[1:]}"
    )


def _duplicate_csv_columns(path: Path) -> list[str]:
    """Header names that appear more than once (pandas would silently rename them ``x.1``)."""
    if path.suffix.lower() == ".gz":
        return []
    with open(path, encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), [])
    seen: set[str] = set()
    return sorted({name for name in header if name in seen or seen.add(name)})


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        duplicated = _duplicate_csv_columns(path)
        frame = pd.read_csv(path)
    except UnicodeDecodeError as exc:
        raise SourceDataError(
            f"{path.name} is not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8, "
            f"e.g. `iconv -f latin1 -t utf-8 {path.name} > fixed.csv`"
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise SourceDataError(
            f"{path.name} has no header row or columns; write a CSV with a header row"
        ) from exc
    except pd.errors.ParserError as exc:
        raise SourceDataError(
            f"{path.name} is not a readable CSV ({str(exc).strip()}); check the delimiter is a "
            "comma and every row has as many fields as the header"
        ) from exc
    if duplicated:
        raise SourceDataError(
            f"{path.name} has the column(s) {duplicated} more than once; keep one of each"
        )
    return frame


def _read_parquet(path: Path, pickle_flag: str | None) -> pd.DataFrame:
    kind = _sniff(path)
    if kind == "pickle":
        raise _pickle_refusal(path, pickle_flag, disguised=True)
    if kind != "parquet":
        rename = path.with_suffix(".csv").name
        raise SourceDataError(
            f"{path.name} has a parquet name but is not a parquet file (it looks like "
            f"{'CSV text' if kind == 'text' else kind + ' data'}); rename it to {rename} if it is "
            "a CSV, or write it with DataFrame.to_parquet"
        )
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several unrelated types for a damaged file
        raise SourceDataError(
            f"{path.name} is a damaged parquet file ({type(exc).__name__}: {exc}); write it again "
            "with DataFrame.to_parquet"
        ) from exc


def read_table(
    path: str | Path, allow_pickle: bool = False, pickle_flag: str | None = None
) -> pd.DataFrame:
    """Read a CSV or parquet table; refuse pickle unless ``allow_pickle`` (unpickling runs code).

    Parameters
    ----------
    path : str or Path
        The file; its suffix says the format, its first bytes are checked.
    allow_pickle : bool
        Read ``.pkl``/``.pickle`` files (only for files you trust).
    pickle_flag : str, optional
        The option that sets ``allow_pickle`` in the calling command (e.g.
        ``--allow-pickle``); the refusal suggests it only when given, so no
        message names a flag the command lacks.

    Raises
    ------
    SourceDataError
        Naming the file and the fix for every way it can be unreadable.
    """
    path = Path(path)
    _check_file(path)
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        frame = _read_parquet(path, pickle_flag)
    elif suffix in CSV_SUFFIXES:
        if _sniff(path) in ("parquet", "pickle"):
            raise SourceDataError(
                f"{path.name} has a CSV name but holds {_sniff(path)} data; rename it to match "
                "what it holds"
            )
        frame = _read_csv(path)
    elif suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise _pickle_refusal(path, pickle_flag)
        frame = pd.read_pickle(path)
        if not isinstance(frame, pd.DataFrame):
            raise SourceDataError(
                f"{path.name} holds a {type(frame).__name__}, not a pandas DataFrame"
            )
    else:
        raise SourceDataError(
            f"cannot read {path.name}: unknown file type {suffix!r}; use .csv or .parquet"
        )
    duplicated = sorted(set(frame.columns[frame.columns.duplicated()].astype(str)))
    if duplicated:
        raise SourceDataError(
            f"{path.name} has the column(s) {duplicated} more than once; keep one of each"
        )
    return frame


# --------------------------------------------------------------------------
# Dates as users write them
# --------------------------------------------------------------------------

_YYYYMMDD_RANGE = (18000101, 22001231)
# A trailing UTC offset (+05:30, -0400, Z) after a time: dropped to keep the local date.
_OFFSET = r"(?:[+-]\d{2}:?\d{2}|Z)$"


def parse_dates(raw: pd.Series, column: str) -> tuple[pd.Series, str | None]:
    """Parse a column of dates as users write them, to naive midnight dates.

    ISO strings parse; so do time stamps with UTC offsets, even offsets that
    change across a daylight-saving switch (each keeps its *local* date: the
    date the value was written for); integers shaped like ``YYYYMMDD``
    (``20120103``) are read as such. Other numbers (epoch seconds, Excel
    serials) are ambiguous and refused.

    Returns
    -------
    (Series, str or None)
        The dates (``datetime64[ns]``, NaT where unparseable) and, when the
        whole column is refused, the reason naming the fix.
    """
    if pd.api.types.is_bool_dtype(raw):
        return pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]"), (
            f"{column} holds true/false values, not dates; write ISO dates like 2020-01-31"
        )
    if pd.api.types.is_numeric_dtype(raw):
        return _numeric_dates(raw, column)
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        parsed = raw.dt.tz_localize(None)
    else:
        try:
            with warnings.catch_warnings():
                # Mixed formats fall back to dateutil with a UserWarning; the rows it cannot
                # read come back NaT and are reported with examples by the caller.
                warnings.simplefilter("ignore", UserWarning)
                parsed = pd.to_datetime(raw, errors="coerce")
        except (ValueError, TypeError):
            # Mixed UTC offsets (a daylight-saving switch): keep each row's local date.
            text = raw.astype("string").str.strip().str.replace(_OFFSET, "", regex=True)
            parsed = pd.to_datetime(text, errors="coerce")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            parsed = parsed.dt.tz_localize(None)
        elif parsed.dtype == object:  # several time zones parsed into Timestamps
            text = raw.astype("string").str.strip().str.replace(_OFFSET, "", regex=True)
            parsed = pd.to_datetime(text, errors="coerce")
    return parsed.dt.normalize().astype("datetime64[ns]"), None


def _numeric_dates(raw: pd.Series, column: str) -> tuple[pd.Series, str | None]:
    values = raw.dropna()
    whole = bool(len(values)) and bool((values == values.round()).all())
    low, high = _YYYYMMDD_RANGE
    if whole and values.between(low, high).all():
        text = raw.astype("Int64").astype("string")
        parsed = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
        bad = parsed.isna() & raw.notna()
        if not bad.any():
            return parsed.astype("datetime64[ns]"), None
        example = raw[bad].iloc[0]
        return parsed.astype("datetime64[ns]"), (
            f"{column} holds numbers read as YYYYMMDD, but e.g. {int(example)} is not a valid "
            "date; write ISO dates like 2020-01-31"
        )
    example = (int(values.iloc[0]) if whole else float(values.iloc[0])) if len(values) else "NaN"
    hint = (
        " (they look like epoch seconds: convert with pd.to_datetime(x, unit='s'))"
        if whole and len(values) and values.between(1e8, 4.2e9).all()
        else ""
    )
    return pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns]"), (
        f"{column} holds numbers like {example}, not dates{hint}; write ISO dates like "
        "2020-01-31 (YYYYMMDD integers such as 20200131 are also read)"
    )
