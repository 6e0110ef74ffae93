"""MLflow logging against a real temporary tracking store (no mocks)."""

from __future__ import annotations

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from poc import tracking


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    # One database per module: creating an MLflow schema takes seconds.
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        # A SQLite store puts artifacts in ./mlruns of the working directory: keep it here.
        patch.chdir(folder)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        yield uri
    mlflow.set_tracking_uri(None)


def test_parent_child_history_and_failure(store, tmp_path):
    history = pd.Series(
        [0.0, 0.01, 0.03, np.nan, 0.02], index=pd.bdate_range("2020-01-01", periods=5)
    )
    with tracking.parent_run("exp-a", "suite") as run:
        ok = tracking.log_child(
            run, "lag=0", {"lag": 0}, {"sharpe": 1.5, "bad": np.nan}, history=history
        )
        failed = tracking.log_child(
            run, "lag=1", {"lag": 1}, {}, error="MissingDataError: no openret"
        )
        tracking.log_parent(run, {"verdict": "green"}, {"composite_score": 70.0}, {"signal": "x"})
        (tmp_path / "a.txt").write_text("hello")
        tracking.log_artifacts(run, [tmp_path / "a.txt"])
    client = MlflowClient()
    parent = client.get_run(run.run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["verdict"] == "green"
    assert parent.data.metrics["composite_score"] == 70.0
    # The UI opens the experiment in its "Model training" view (runs table, charts).
    kind = client.get_experiment(run.experiment_id).tags["mlflow.experimentKind"]
    assert kind == "custom_model_development"
    child = client.get_run(ok)
    assert child.data.tags["mlflow.parentRunId"] == run.run_id
    assert child.data.params == {"lag": "0"}
    # NaN metrics are left out, not logged; the history's latest value is the last point.
    assert child.data.metrics == {"sharpe": 1.5, "cum_return": 0.02}
    points = client.get_metric_history(ok, "cum_return")
    assert [p.step for p in points] == [0, 1, 2, 4]
    assert points[1].value == 0.01
    assert points[1].timestamp == int(pd.Timestamp("2020-01-02").timestamp() * 1000)
    bad = client.get_run(failed)
    assert bad.info.status == "FAILED" and "no openret" in bad.data.tags["error"]
    assert [a.path for a in client.list_artifacts(run.run_id)] == ["a.txt"]
    assert tracking.tearsheet_link(run.run_id, "a.txt").endswith("a.txt")


def test_parent_marked_failed_when_body_raises(store):
    with pytest.raises(RuntimeError), tracking.parent_run("exp-b", "suite") as run:
        raise RuntimeError("boom")
    assert MlflowClient().get_run(run.run_id).info.status == "FAILED"


def test_dataset_input_keeps_digest(store):
    digest = "ab" * 32
    with tracking.parent_run("exp-c", "suite") as run:
        tracking.log_dataset(run, "snap", pd.DataFrame({"a": [1]}), digest, "/x", "snapshot")
    inputs = MlflowClient().get_run(run.run_id).inputs.dataset_inputs
    assert inputs[0].dataset.name == "snap"
    assert inputs[0].dataset.digest == digest[:32]
    assert {t.key: t.value for t in inputs[0].tags}["full_digest"] == digest


def test_link_is_ui_address_for_http_server(store, monkeypatch):
    with tracking.parent_run("exp-d", "suite") as run:
        pass
    # The link is built from the URI; no server is contacted for an http URI except get_run,
    # so resolve the run first, then switch the URI the link is formatted for.
    experiment_id = run.experiment_id
    monkeypatch.setattr(tracking.mlflow, "get_tracking_uri", lambda: "http://mlflow.example:5000/")
    monkeypatch.setattr(
        tracking,
        "MlflowClient",
        lambda: type("C", (), {"get_run": lambda self, rid: MlflowClient(store).get_run(rid)})(),
    )
    link = tracking.tearsheet_link(run.run_id)
    assert link == (
        f"http://mlflow.example:5000/#/experiments/{experiment_id}/runs/{run.run_id}"
        "/artifacts/tearsheet.html?workflowType=machine_learning"
    )
    # The run's page too opens in MLflow 3's "Model training" view (the runs table).
    assert tracking.run_link(run.run_id, experiment_id) == (
        f"http://mlflow.example:5000/#/experiments/{experiment_id}/runs/{run.run_id}"
        "?workflowType=machine_learning"
    )


def test_downsample_history_keeps_period_ends_and_caps_points():
    dates = pd.bdate_range("1990-01-01", "2022-12-30")
    history = pd.Series(np.arange(len(dates), dtype=float), index=dates)
    short = tracking.downsample_history(history.iloc[:300])
    # 300 business days fit in 260 weekly points: the last day of each week, real dates.
    assert len(short) <= 260 and short.index[-1] == dates[299]
    assert (short.index.to_period("W").value_counts() == 1).all()
    long = tracking.downsample_history(history)
    assert len(long) <= 260 and long.index[-1] == dates[-1]
    # 33 years: months do not fit (396), quarters do; each point is a quarter's last day.
    assert (long.index.to_period("Q").value_counts() == 1).all()
    assert long.to_numpy().tolist() == history[long.index].tolist()


def test_log_children_one_batch_each_in_order(store):
    history = pd.Series(np.linspace(0, 0.5, 600), index=pd.bdate_range("2020-01-01", periods=600))
    seen = []
    with tracking.parent_run("exp-e", "suite") as run:
        children = [
            tracking.ChildRecord(f"lag={i}", {"lag": i}, {"sharpe": float(i)}, history=history)
            for i in range(3)
        ]
        ids = tracking.log_children(
            run, children, progress=lambda d, t, n: seen.append((d, t, n)), workers=2
        )
    client = MlflowClient()
    assert [client.get_run(i).data.tags["mlflow.runName"] for i in ids] == [
        "lag=0",
        "lag=1",
        "lag=2",
    ]
    points = client.get_metric_history(ids[1], "cum_return")
    assert len(points) <= 260 and points[-1].value == pytest.approx(0.5)
    assert points[-1].step == 599  # step = trading-day number in the full daily series
    assert sorted(d for d, _, _ in seen) == [1, 2, 3] and {t for _, t, _ in seen} == {3}
