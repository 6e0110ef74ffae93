"""Scale-out on real engines: a Dask LocalCluster, and a team server on PostgreSQL."""

from __future__ import annotations

import pytest

from poc.experiment import spec_from_dict
from poc.suite import run_suite

pytestmark = pytest.mark.slow

GRID = {"lag": [0, 1], "residualize": ["off"], "fractile": [[20, 80]], "mincos": [5]}


def _spec(**extra):
    raw = {"name": "scaleout", "snapshot": "syn-small", "signal": "builtin:planted",
           "baselines": False, "grid": GRID, **extra}  # fmt: skip
    return spec_from_dict(raw)


def test_suite_on_a_dask_local_cluster_matches_serial(synthetic_snapshot):
    pytest.importorskip("distributed", reason="dask[distributed] (extra `dask`) not installed")
    serial = run_suite(_spec(), synthetic_snapshot)
    on_dask = run_suite(_spec(backend="dask", n_jobs=2), synthetic_snapshot)
    assert [c.name for c in on_dask.cells] == [c.name for c in serial.cells]
    for a, b in zip(serial.cells, on_dask.cells, strict=True):
        assert b.ok and a.metrics == b.metrics


def test_team_server_on_postgresql_over_http(postgres_url, synthetic_snapshot, tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    from poc.bench_suite import mlflow_server
    from poc.runner import log_suite

    result = run_suite(_spec(), synthetic_snapshot)
    saved = mlflow.get_tracking_uri()
    try:
        with mlflow_server(tmp_path, backend_uri=postgres_url) as url:
            mlflow.set_tracking_uri(url)
            outcome = log_suite(result, synthetic_snapshot, "test", None, None)
            client = MlflowClient(url)
            parent = client.get_run(outcome.run_id)
            children = client.search_runs(
                [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{outcome.run_id}'"
            )
            artifacts = {a.path for a in client.list_artifacts(outcome.run_id)}
    finally:
        mlflow.set_tracking_uri(saved)
    assert parent.info.status == "FINISHED" and parent.data.tags["verdict"] == result.verdict.color
    assert "verdict_level" in parent.data.metrics and parent.data.params["grid.lag"] == "0,1"
    assert sorted(c.data.tags["mlflow.runName"] for c in children) == ["lag=0", "lag=1"]
    assert all(c.info.status == "FINISHED" for c in children)
    assert {"tearsheet.html", "daily.parquet"} <= artifacts
    assert outcome.link.startswith(url)
