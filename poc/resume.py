"""Resume an interrupted suite: reuse the cells it finished, recompute only the rest.

Every finished child run carries ``cell.zip``, what is needed to rebuild its
:class:`~poc.suite.CellResult` without recomputing it (metrics, including the
NaN ones MLflow does not store, and the engine's tables as parquet), and tags
with the snapshot and signal digests it was computed from. ``poc run --resume
PARENT`` then:

1. reuses a child of ``PARENT`` only when it FINISHED, its params equal the new
   cell's params (as MLflow stores them: strings) and both digests match the
   data the new suite reads;
2. moves reused children under the new parent run (tag ``mlflow.parentRunId``;
   the old id is kept in ``poc.resumed_from``), so the new suite is complete in
   the MLflow UI;
3. ends every RUNNING run of the old suite KILLED (a SIGKILLed process could not)
   and tags children that were not reused ``poc.replaced_by = NEW``; the old
   parent is tagged ``poc.resumed_by = NEW``.

The decision (:func:`plan_resume`) is a pure function of run summaries; the
MLflow calls go through :mod:`poc.tracking`.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from poc.exceptions import PocError
from poc.suite import CellResult

CELL_ARTIFACT = "cell.zip"
CELL_TAG = "poc.cell"  # the cell's name, so a child is found without parsing its run name
SNAPSHOT_TAG = "poc.snapshot_digest"
SIGNAL_TAG = "poc.signal_digest"
_FRAMES = ("daily", "summary", "fractile")


class ResumeError(PocError, ValueError):
    """A suite cannot be resumed from the given run."""


# --------------------------------------------------------------------------
# cell.zip: a finished cell, rebuildable without recomputing it
# --------------------------------------------------------------------------


def _frame_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=True)
    return buffer.getvalue()


def _json_number(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def pack_cell(cell: CellResult, folder: Path) -> Path:
    """Write ``folder/cell.zip`` holding ``cell``'s metrics and tables; returns its path.

    Metrics are stored in JSON with ``null`` for NaN (MLflow skips NaN metrics, so
    the run's metrics alone cannot rebuild the cell); tables are parquet files.
    """
    meta = {
        "name": cell.name,
        "kind": cell.kind,
        "status": cell.status,
        "metrics": {k: _json_number(v) for k, v in cell.metrics.items()},
        "error": cell.error,
        "seconds": cell.seconds,
        "tables": sorted(cell.tables),
    }
    path = folder / CELL_ARTIFACT
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("cell.json", json.dumps(meta))
        for name in _FRAMES:
            frame = getattr(cell, name)
            if frame is not None:
                archive.writestr(f"{name}.parquet", _frame_bytes(frame))
        for name, frame in cell.tables.items():
            archive.writestr(f"tables/{name}.parquet", _frame_bytes(pd.DataFrame(frame)))
    return path


def unpack_cell(path: Path, params: dict[str, Any]) -> CellResult:
    """Rebuild a :class:`CellResult` from ``cell.zip``; ``params`` are the new suite's
    (equal, as text, to the stored ones: see :func:`plan_resume`)."""
    with zipfile.ZipFile(path) as archive:
        meta = json.loads(archive.read("cell.json"))
        names = set(archive.namelist())

        def frame(member: str) -> pd.DataFrame | None:
            if member not in names:
                return None
            return pd.read_parquet(io.BytesIO(archive.read(member)))

        tables = {name: frame(f"tables/{name}.parquet") for name in meta["tables"]}
        return CellResult(
            name=meta["name"],
            kind=meta["kind"],
            params=params,
            status=meta["status"],
            metrics={k: math.nan if v is None else float(v) for k, v in meta["metrics"].items()},
            daily=frame("daily.parquet"),
            summary=frame("summary.parquet"),
            fractile=frame("fractile.parquet"),
            error=meta["error"],
            seconds=float(meta["seconds"]),
            tables=tables,
        )


# --------------------------------------------------------------------------
# Which children to reuse
# --------------------------------------------------------------------------


def params_text(params: dict[str, Any], kind: str | None) -> dict[str, str]:
    """A cell's params as MLflow stores them (what :func:`poc.tracking.log_child` logs);
    signal suites add the cell's ``kind`` (``kind=None``: allocation suites do not)."""
    full = params if kind is None else {**params, "kind": kind}
    return {k: str(v)[:6000] for k, v in full.items()}


@dataclass(frozen=True)
class ResumePlan:
    """What resuming from ``old_parent`` does.

    ``reuse`` maps a cell key ``(name, kind)`` to the child run that holds it;
    ``stale`` are RUNNING runs of the old suite (to end KILLED); ``replaced``
    are its other children, recomputed in the new suite.
    """

    old_parent: str
    reuse: dict[tuple[str, str], str] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)


def check_resumable(parent: dict[str, Any], kind: str) -> None:
    """Refuse a parent run that is not an unfinished suite of ``kind``."""
    run_id = parent["run_id"]
    tags = parent["tags"]
    if tags.get("mlflow.parentRunId"):
        raise ResumeError(
            f"run {run_id} is a cell (child) run, not a suite; pass its parent "
            f"{tags['mlflow.parentRunId']} to --resume"
        )
    if tags.get("kind") != kind:
        found = tags.get("kind") or "no poc suite"
        raise ResumeError(
            f"run {run_id} is a {found} run, not a {kind}; pass the parent run id that "
            "`poc run`/`poc allocate` printed"
        )
    if parent["status"] == "FINISHED":
        raise ResumeError(
            f"suite {run_id} already FINISHED; nothing to resume (its tear sheet: "
            f"poc tearsheet link {run_id})"
        )


def plan_resume(
    parent: dict[str, Any],
    children: list[dict[str, Any]],
    wanted: dict[tuple[str, str], dict[str, Any]],
    snapshot_digest: str,
    signal_digest: str | None,
    with_kind: bool = True,
) -> ResumePlan:
    """Decide which children of an interrupted suite the new suite reuses.

    Parameters
    ----------
    parent, children : dict
        Run summaries (:func:`poc.tracking.run_summary`) of the old parent and
        of every run whose parent it is.
    wanted : dict
        The new suite's cells: ``(name, kind) -> params``.
    snapshot_digest, signal_digest : str
        Digests of the data the new suite reads (signal: None for allocation).
    with_kind : bool
        Whether the children's params include ``kind`` (signal suites).
    """
    reuse: dict[tuple[str, str], str] = {}
    stale = [parent["run_id"]] if parent["status"] == "RUNNING" else []
    replaced: list[str] = []
    for child in children:
        tags = child["tags"]
        key = (tags.get(CELL_TAG, ""), tags.get("kind", ""))
        params = wanted.get(key)
        matches = (
            child["status"] == "FINISHED"
            and key not in reuse
            and params is not None
            and tags.get(SNAPSHOT_TAG) == snapshot_digest
            and tags.get(SIGNAL_TAG, None) == signal_digest
            and tags.get("poc.cell_artifact") == CELL_ARTIFACT
            and child["params"] == params_text(params, key[1] if with_kind else None)
        )
        if matches:
            reuse[key] = child["run_id"]
            continue
        if child["status"] == "RUNNING":
            stale.append(child["run_id"])
        replaced.append(child["run_id"])
    return ResumePlan(parent["run_id"], reuse, stale, replaced)
