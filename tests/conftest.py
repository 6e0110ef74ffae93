"""Shared fixtures: temporary snapshot stores with small real and synthetic snapshots.

Tests never touch ./snapshots: every store lives under pytest's tmp folders.
"""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
os.environ.setdefault("MPLBACKEND", "Agg")

from poc.catalog import create_snapshot, ensure_default_snapshot
from poc.sources import synthetic_panel


def _mlflow_state() -> tuple[dict[str, str], object]:
    env = {k: v for k, v in os.environ.items() if k.startswith("MLFLOW_")}
    try:
        from mlflow.tracking import fluent

        return env, fluent._active_experiment_id
    except ImportError:
        return env, None


def _restore_mlflow_state(state: tuple[dict[str, str], object]) -> None:
    env, experiment_id = state
    for key in [k for k in os.environ if k.startswith("MLFLOW_")]:
        if key not in env:
            del os.environ[key]
    os.environ.update(env)
    try:
        from mlflow.tracking import fluent

        fluent._active_experiment_id = experiment_id
    except ImportError:
        pass


# `mlflow.set_experiment` exports MLFLOW_EXPERIMENT_ID and remembers the experiment in
# the process; left behind, a later `mlflow run` subprocess refuses ("specify only one of
# experiment-name or experiment-id") and in-process runs land in the wrong experiment.
# Every module and every test gets the MLflow state it started with back.
@pytest.fixture(autouse=True, scope="module")
def _isolate_mlflow_state_per_module():
    state = _mlflow_state()
    yield
    _restore_mlflow_state(state)


@pytest.fixture(autouse=True)
def _isolate_mlflow_state_per_test():
    state = _mlflow_state()
    yield
    _restore_mlflow_state(state)


@pytest.fixture(scope="session")
def bundled_store(tmp_path_factory):
    """A store holding the default real snapshot (built once per test session)."""
    store = tmp_path_factory.mktemp("bundled_store")
    ensure_default_snapshot(store)
    return store


@pytest.fixture(scope="session")
def bundled_snapshot(bundled_store):
    from poc.catalog import DEFAULT_SNAPSHOT_ID, open_snapshot

    return open_snapshot(bundled_store, DEFAULT_SNAPSHOT_ID)


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory):
    """A store holding a small synthetic snapshot ``syn-small`` (120 names x 300 days)."""
    store = tmp_path_factory.mktemp("synthetic_store")
    create_snapshot(synthetic_panel(120, 300, seed=7), store, "syn-small")
    return store


@pytest.fixture(scope="session")
def synthetic_snapshot(synthetic_store):
    from poc.catalog import open_snapshot

    return open_snapshot(synthetic_store, "syn-small")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A real PostgreSQL server for the session (skips with the reason when not installed)."""
    from tests.support.postgres import missing_reason, start_postgres, stop_postgres

    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    # Not under pytest's basetemp: a pytest session starting meanwhile (another worktree)
    # resets /tmp/pytest-of-<user> to 0700, locking the server's user out of its data folder.
    import shutil
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp(prefix="poc-postgres-"))
    server = start_postgres(root)
    yield server
    try:
        stop_postgres(server)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_server):
    """SQLAlchemy URL (psycopg driver) of the session's PostgreSQL test database."""
    return postgres_server.url


@pytest.fixture
def rng():
    return np.random.default_rng(42)
