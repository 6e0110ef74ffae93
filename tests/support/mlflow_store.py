"""A temporary SQLite MLflow store for a test module or a test, and nothing leaking out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pytest


@contextmanager
def sqlite_store(root: Path) -> Iterator[str]:
    """Point MLflow at ``root/mlflow.db`` inside the block; yields the tracking URI.

    The working folder is ``root`` meanwhile: a SQL store keeps the artifacts of the
    experiments it creates under ``./mlruns``, which must not be the repository.
    ``mlflow.set_experiment`` exports ``MLFLOW_EXPERIMENT_ID``; it is removed afterwards,
    or a later ``mlflow run --experiment-name`` is refused.
    """
    uri = f"sqlite:///{Path(root) / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("MLFLOW_RUN_ID", raising=False)
        patch.setenv("MLFLOW_EXPERIMENT_ID", "")  # recorded, so the context removes it again
        patch.delenv("MLFLOW_EXPERIMENT_ID")
        mlflow.set_tracking_uri(uri)
        try:
            yield uri
        finally:
            mlflow.set_tracking_uri(None)
