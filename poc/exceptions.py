"""Every error the package raises on purpose.

Each subclasses a built-in so callers can catch the broad kind
(``ValueError`` for bad values, ``FileNotFoundError`` for missing things) or
the precise one. Messages name the problem, show what was received and say
how to fix it.
"""

from __future__ import annotations


class PocError(Exception):
    """Base class of every error raised on purpose by ``poc``."""


class SignalContractError(PocError, ValueError):
    """A signal table breaks the signal contract.

    ``problems`` holds one line per defect (with example rows), so a user sees
    every defect at once instead of fixing them one run at a time.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"signal breaks the contract ({len(self.problems)} problem(s)):\n{lines}")


class DataLossError(SignalContractError):
    """More rows would be dropped than the data-loss budget allows."""


class SnapshotError(PocError, ValueError):
    """A snapshot is malformed, or a request about one cannot be met."""


class SnapshotNotFoundError(PocError, FileNotFoundError):
    """No snapshot with the requested id exists in the store."""


class SnapshotExistsError(SnapshotError):
    """A snapshot id is already taken; snapshots are immutable."""


class SnapshotIntegrityError(SnapshotError):
    """A snapshot's files do not match the digests in its manifest."""

    def __init__(self, snapshot_id: str, mismatches: list[str]):
        self.snapshot_id = snapshot_id
        self.mismatches = list(mismatches)
        lines = "\n".join(f"  - {m}" for m in self.mismatches)
        super().__init__(
            f"snapshot {snapshot_id!r} failed verification:\n{lines}\n"
            "The data changed after the snapshot was made. Recreate it under a new id "
            "(e.g. with a -v2 suffix) instead of editing files in place."
        )


class SourceDataError(PocError, ValueError):
    """Input data for a snapshot (a user's CSV or parquet files) is unusable."""


class ConfigError(PocError, ValueError):
    """A backtest, suite or experiment configuration has a bad key or value."""


class MissingDataError(PocError, ValueError):
    """A computation needs data the snapshot does not have (e.g. open prices)."""


class RunNotFoundError(PocError, LookupError):
    """No MLflow run has the requested id in the tracking store (or the id is malformed)."""


class SnapshotDamagedError(SnapshotError):
    """A snapshot folder exists but its manifest is missing, unreadable or incomplete."""


class NoTradesError(PocError, ValueError):
    """A backtest cell never held a position, so it has no performance to grade."""
