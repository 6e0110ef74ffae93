"""Versioned, immutable data snapshots.

A snapshot is a folder ``<store>/<snapshot_id>/`` with ``manifest.json`` and
parquet files (``securities``, ``returns``, ``risk``, ``calendar``,
``benchmark`` and companion ``signals/*.parquet``). The manifest records a
sha256 per file and one digest over all of them; loading verifies them.

Snapshots are written to a temporary folder inside the store and renamed into
place, so a crash never leaves a half-written snapshot under a real id, and an
id once taken is never overwritten (make ``-v2`` instead). Derived caches live
in ``<store>/.cache/<id>-<digest>/`` and are never part of the digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from poc.exceptions import (
    SnapshotDamagedError,
    SnapshotError,
    SnapshotExistsError,
    SnapshotIntegrityError,
    SnapshotNotFoundError,
)
from poc.types import SnapshotData

DEFAULT_SNAPSHOT_ID = "sp500-v1"
FORMAT_VERSION = 1
TABLES = ("securities", "returns", "risk", "calendar", "benchmark")
_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MANIFEST_KEYS = ("id", "source", "date_range", "counts", "schema", "files", "digest")
TMP_PREFIX = ".tmp-"
# A temporary folder without a live owner pid is stale after this long (legacy names).
STALE_AFTER_SECONDS = 3600
_CHUNK = 1 << 20


def check_snapshot_id(snapshot_id: str) -> str:
    """Return ``snapshot_id`` if it is a legal id, else raise ``SnapshotError``."""
    # fullmatch, not match: "sp500-v1\n" must not pass (``$`` matches before a final newline).
    if not isinstance(snapshot_id, str) or not _ID_PATTERN.fullmatch(snapshot_id):
        raise SnapshotError(
            f"snapshot id {snapshot_id!r} is not valid: use letters, digits, '.', '_' and '-', "
            "starting with a letter or digit (e.g. 'sp500-v2')"
        )
    return snapshot_id


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/poc``, else ``~/.cache/poc``: derived caches of read-only stores."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "poc"


def _writable_folder(path: Path) -> bool:
    """Whether ``path`` is (or can be made) a folder this process can write into."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return path.is_dir() and os.access(path, os.W_OK | os.X_OK)


def check_store(store: Path) -> Path:
    """``store`` as a Path; SnapshotError when it exists but is a file, not a folder."""
    store = Path(store)
    if store.exists() and not store.is_dir():
        raise SnapshotError(
            f"snapshot store {str(store)!r} is a file, not a folder; point --store or "
            "POC_SNAPSHOT_DIR at a folder (it is created if missing)"
        )
    return store


def tmp_folder_name(label: str) -> str:
    """A temporary folder name tagged with this process id, so `poc snapshot gc` can tell
    folders of live creations from those left by killed ones."""
    return f"{TMP_PREFIX}{label}-p{os.getpid()}-{uuid.uuid4().hex[:8]}"


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def combined_digest(file_hashes: dict[str, str]) -> str:
    """One sha256 over every ``relative_path sha256`` line, in sorted path order."""
    lines = "".join(f"{name} {file_hashes[name]}\n" for name in sorted(file_hashes))
    return hashlib.sha256(lines.encode()).hexdigest()


@dataclass(frozen=True)
class Snapshot:
    """A snapshot on disk, verified against its manifest when opened.

    Tables are read on demand with :meth:`read`; the dense panel built from
    them is cached under :attr:`cache_dir`.
    """

    snapshot_id: str
    path: Path
    manifest: dict[str, Any]

    @property
    def digest(self) -> str:
        """The digest over all data files, as recorded in the manifest."""
        return self.manifest["digest"]

    @cached_property
    def cache_dir(self) -> Path:
        """Folder for derived caches of this exact content (beside, not inside, the snapshot).

        ``<store>/.cache/<id>-<digest>`` when the store is writable; otherwise
        (a read-only or shared store) the user's cache folder
        ``$XDG_CACHE_HOME/poc`` or ``~/.cache/poc``, so a read-only store still
        backtests.
        """
        name = f"{self.snapshot_id}-{self.digest[:16]}"
        beside = self.path.parent / ".cache"
        if _writable_folder(beside):
            return beside / name
        return user_cache_dir() / name

    @property
    def absent(self) -> list[str]:
        """Optional columns or tables the source did not have."""
        return list(self.manifest.get("absent", []))

    def has_table(self, name: str) -> bool:
        """Whether the snapshot holds table ``name`` (e.g. ``benchmark``)."""
        return f"{name}.parquet" in self.manifest["files"]

    def has_column(self, table: str, column: str) -> bool:
        """Whether ``table`` has ``column`` according to the manifest's schema."""
        return column in self.manifest["schema"].get(table, {})

    @property
    def signal_names(self) -> list[str]:
        """Companion signals stored in the snapshot (e.g. ``planted``)."""
        return sorted(
            Path(name).stem for name in self.manifest["files"] if name.startswith("signals/")
        )

    def read(self, table: str, columns: list[str] | None = None) -> pd.DataFrame:
        """Read one table (``returns``, ``risk``, ..., or ``signals/planted``)."""
        name = f"{table}.parquet"
        if name not in self.manifest["files"]:
            raise SnapshotError(
                f"snapshot {self.snapshot_id!r} has no table {table!r}; it has "
                f"{sorted(Path(f).with_suffix('').as_posix() for f in self.manifest['files'])}"
            )
        return pd.read_parquet(self.path / name, columns=columns)

    def calendar(self) -> np.ndarray:
        """The trading dates as a sorted ``datetime64[ns]`` array."""
        return self.read("calendar")["date"].to_numpy().astype("datetime64[ns]")

    def security_ids(self) -> np.ndarray:
        """All security ids, sorted."""
        return np.sort(self.read("securities", ["security_id"])["security_id"].to_numpy())


# --------------------------------------------------------------------------
# Create
# --------------------------------------------------------------------------


def _schema_of(path: Path) -> dict[str, str]:
    schema = pq.read_schema(path)
    return {field.name: str(field.type) for field in schema if field.name != "__index_level_0__"}


def _write_table(frame: pd.DataFrame, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False, compression="zstd")
    return len(frame)


def create_snapshot(data: SnapshotData, store: Path, snapshot_id: str) -> Snapshot:
    """Write ``data`` as a new, immutable snapshot ``snapshot_id`` in ``store``.

    Parameters
    ----------
    data : SnapshotData
        The tables, from one of :mod:`poc.sources`.
    store : Path
        The snapshot store folder (created if missing).
    snapshot_id : str
        New id; refused if already taken.

    Returns
    -------
    Snapshot
        The snapshot as written, with its manifest.

    Raises
    ------
    SnapshotExistsError
        If ``snapshot_id`` is already in the store.
    """
    check_snapshot_id(snapshot_id)
    store = check_store(store)
    final = store / snapshot_id
    if final.exists():
        raise SnapshotExistsError(
            f"snapshot {snapshot_id!r} already exists in {store}; snapshots are immutable. "
            f"Use a new id such as {snapshot_id}-v2"
        )
    store.mkdir(parents=True, exist_ok=True)
    tmp = store / tmp_folder_name(snapshot_id)
    tmp.mkdir()
    try:
        rows: dict[str, int] = {}
        tables = {
            "securities": data.securities,
            "returns": data.returns,
            "risk": data.risk,
            "calendar": data.calendar,
        }
        if data.benchmark is not None:
            tables["benchmark"] = data.benchmark
        for name, frame in data.signals.items():
            tables[f"signals/{name}"] = frame
        for name, frame in tables.items():
            rows[f"{name}.parquet"] = _write_table(frame, tmp / f"{name}.parquet")

        files = {}
        schema = {}
        for name in sorted(rows):
            path = tmp / name
            files[name] = {
                "sha256": file_sha256(path),
                "bytes": path.stat().st_size,
                "rows": rows[name],
            }
            schema[name.removesuffix(".parquet")] = _schema_of(path)
        calendar = data.calendar["date"]
        manifest = {
            "id": snapshot_id,
            "format_version": FORMAT_VERSION,
            "source": data.source,
            "params": data.params,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "date_range": [str(calendar.min().date()), str(calendar.max().date())],
            "counts": {
                "securities": len(data.securities),
                "dates": len(calendar),
                "returns_rows": len(data.returns),
                "risk_rows": len(data.risk),
            },
            "absent": sorted(set(data.absent)),
            "notes": list(data.notes),
            "schema": schema,
            "files": files,
            "digest": combined_digest({k: v["sha256"] for k, v in files.items()}),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, default=str) + "\n")
        try:
            tmp.rename(final)
        except OSError as exc:
            raise SnapshotExistsError(
                f"snapshot {snapshot_id!r} was created by another process meanwhile; "
                "use it or pick a new id"
            ) from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return Snapshot(snapshot_id, final, manifest)


# --------------------------------------------------------------------------
# Open, verify, list
# --------------------------------------------------------------------------


def _damaged(snapshot_id: str, path: Path, what: str) -> SnapshotDamagedError:
    return SnapshotDamagedError(
        f"snapshot {snapshot_id!r} is damaged: {what} (in {path}); delete the folder and "
        "create the snapshot again, under a new id if others used it"
    )


def read_manifest_file(path: Path, snapshot_id: str) -> dict[str, Any]:
    """The manifest of the snapshot folder ``path``; SnapshotDamagedError naming the defect."""
    manifest_path = path / "manifest.json"
    if not manifest_path.is_file():
        raise _damaged(snapshot_id, path, "the folder has no manifest.json")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _damaged(snapshot_id, path, f"manifest.json is not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise _damaged(snapshot_id, path, "manifest.json does not hold a JSON object")
    missing = [key for key in MANIFEST_KEYS if key not in manifest]
    if missing:
        raise _damaged(snapshot_id, path, f"manifest.json lacks the key(s) {missing}")
    return manifest


def _read_manifest(store: Path, snapshot_id: str) -> tuple[Path, dict[str, Any]]:
    check_snapshot_id(snapshot_id)
    store = check_store(store)
    path = store / snapshot_id
    if not path.is_dir():
        known = list_snapshots(store)
        raise SnapshotNotFoundError(
            f"no snapshot {snapshot_id!r} in {store}; known: {known or 'none'}. "
            "Create it with `poc snapshot create`"
        )
    return path, read_manifest_file(path, snapshot_id)


def verify_snapshot(store: Path, snapshot_id: str) -> list[str]:
    """Check every file of a snapshot against its manifest.

    Returns
    -------
    list of str
        One line per mismatch naming the file; empty when the snapshot is intact.
    """
    path, manifest = _read_manifest(store, snapshot_id)
    problems = []
    recorded = manifest.get("files", {})
    for name, meta in sorted(recorded.items()):
        file = path / name
        if not file.exists():
            problems.append(f"{name}: missing")
            continue
        actual = file_sha256(file)
        if actual != meta["sha256"]:
            problems.append(
                f"{name}: sha256 {actual[:12]}... differs from manifest {meta['sha256'][:12]}..."
            )
    on_disk = {p.relative_to(path).as_posix() for p in path.rglob("*.parquet") if p.is_file()}
    for extra in sorted(on_disk - set(recorded)):
        problems.append(f"{extra}: not listed in the manifest")
    expected_digest = combined_digest({k: v["sha256"] for k, v in recorded.items()})
    if manifest.get("digest") != expected_digest:
        problems.append("manifest.json: digest does not match the file hashes it lists")
    return problems


def open_snapshot(store: Path, snapshot_id: str, verify: bool = True) -> Snapshot:
    """Open a snapshot, verifying its files against the manifest unless ``verify`` is False.

    Raises
    ------
    SnapshotNotFoundError
        If the id is not in the store.
    SnapshotIntegrityError
        If a file is missing or its hash differs from the manifest.
    """
    path, manifest = _read_manifest(store, snapshot_id)
    if verify:
        problems = verify_snapshot(store, snapshot_id)
        if problems:
            raise SnapshotIntegrityError(snapshot_id, problems)
    return Snapshot(snapshot_id, path, manifest)


def list_snapshots(store: Path) -> list[str]:
    """Ids of the snapshots in ``store``, sorted."""
    store = check_store(store)
    if not store.is_dir():
        return []
    return sorted(
        p.name
        for p in store.iterdir()
        if p.is_dir() and not p.name.startswith(".") and (p / "manifest.json").exists()
    )


@dataclass(frozen=True)
class StoreEntry:
    """One folder of a snapshot store: its manifest, or why it is damaged."""

    snapshot_id: str
    manifest: dict[str, Any] | None
    problem: str | None


def scan_store(store: Path) -> list[StoreEntry]:
    """Every snapshot folder of ``store``, sorted by id; a damaged one is listed with its problem
    instead of hiding the others (hidden ``.tmp-*`` and ``.cache`` folders are skipped)."""
    store = check_store(store)
    if not store.is_dir():
        return []
    entries = []
    for path in sorted(store.iterdir()):
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            entries.append(StoreEntry(path.name, read_manifest_file(path, path.name), None))
        except SnapshotDamagedError as exc:
            entries.append(StoreEntry(path.name, None, str(exc)))
    return entries


def _owner_alive(name: str) -> bool | None:
    """Whether the process that made a ``.tmp-*`` folder still runs (None: name has no pid)."""
    match = re.search(r"-p(\d+)-[0-9a-f]{8}$", name)
    if not match:
        return None
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # alive under another user (or not a pid we can signal)
    return True


def stale_tmp_folders(store: Path, now: float | None = None) -> list[Path]:
    """Temporary folders left by killed snapshot or cache creations in ``store``.

    A folder is stale when its owner pid no longer runs, or -- for names
    without a pid -- when it is older than an hour.
    """
    store = check_store(store)
    now = time.time() if now is None else now
    places = [store, store / ".cache"]
    if store.joinpath(".cache").is_dir():
        places += [p for p in (store / ".cache").iterdir() if p.is_dir()]
    stale = []
    for place in places:
        if not place.is_dir():
            continue
        for path in sorted(place.glob(f"{TMP_PREFIX}*")):
            alive = _owner_alive(path.name)
            old = now - path.stat().st_mtime > STALE_AFTER_SECONDS
            if alive is False or (alive is None and old):
                stale.append(path)
    return stale


def remove_stale_tmp_folders(store: Path, dry_run: bool = False) -> list[Path]:
    """Delete (or with ``dry_run`` only list) :func:`stale_tmp_folders`; returns them."""
    stale = stale_tmp_folders(store)
    if not dry_run:
        for path in stale:
            shutil.rmtree(path, ignore_errors=True)
    return stale


def ensure_default_snapshot(store: Path) -> Snapshot:
    """Open the default real snapshot, building it from the bundled data on first use."""
    from poc.sources import bundled_sp500

    if not (check_store(store) / DEFAULT_SNAPSHOT_ID).exists():
        try:
            create_snapshot(bundled_sp500(), store, DEFAULT_SNAPSHOT_ID)
        except SnapshotExistsError:
            pass  # another process built it first: fine, it is verified below
    return open_snapshot(store, DEFAULT_SNAPSHOT_ID)


_SYNTHETIC_ID = re.compile(r"^synthetic-(\d+)x(\d+)-s(\d+)$")


def ensure_snapshot(store: Path, snapshot_id: str | None) -> Snapshot:
    """Open a snapshot, building it on first use when its id says how.

    ``None`` or the default id builds the bundled real snapshot; an id of the
    form ``synthetic-<N>x<T>-s<SEED>`` builds that synthetic panel. Any other
    id must already exist.
    """
    if snapshot_id in (None, "", DEFAULT_SNAPSHOT_ID):
        return ensure_default_snapshot(store)
    match = _SYNTHETIC_ID.match(snapshot_id)
    if match and not (check_store(store) / snapshot_id).exists():
        from poc.sources import synthetic_panel

        n, t, seed = (int(g) for g in match.groups())
        try:
            create_snapshot(synthetic_panel(n, t, seed), store, snapshot_id)
        except SnapshotExistsError:
            pass
    return open_snapshot(store, snapshot_id)


def describe_snapshot(snapshot: Snapshot) -> list[tuple[str, str]]:
    """Key facts of a snapshot as (label, value) rows for display."""
    m = snapshot.manifest
    counts = m["counts"]
    rows = [
        ("id", m["id"]),
        ("source", f"{m['source']} {json.dumps(m.get('params', {}), default=str)}"),
        ("created", m["created_at"]),
        ("dates", f"{m['date_range'][0]} .. {m['date_range'][1]} ({counts['dates']} trading days)"),
        ("securities", str(counts["securities"])),
        ("returns rows", f"{counts['returns_rows']:,}"),
        ("risk rows", f"{counts['risk_rows']:,}"),
        ("returns columns", ", ".join(m["schema"]["returns"])),
        ("risk columns", ", ".join(m["schema"]["risk"])),
        ("absent", ", ".join(m.get("absent", [])) or "-"),
        ("signals", ", ".join(snapshot.signal_names) or "-"),
        ("digest", m["digest"]),
    ]
    return rows
