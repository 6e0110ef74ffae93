"""The portfolio suite end to end: in-process through the CLI, and `mlflow run . -e portfolio`."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from poc.cli import main

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_cli_logs_children_with_ledgers_and_a_tearsheet(
    bundled_store, tmp_path, monkeypatch, capsys
):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("POC_SNAPSHOT_DIR", str(bundled_store))
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    # mlflow.set_experiment exports MLFLOW_EXPERIMENT_ID; undo it so later subprocesses
    # (mlflow run against another store) do not inherit an id their store lacks.
    monkeypatch.setenv("MLFLOW_EXPERIMENT_ID", "")
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID")
    monkeypatch.chdir(tmp_path)  # nothing may be written into the repository
    mlflow.set_tracking_uri(uri)
    try:
        code = main(
            [
                "portfolio",
                "--experiment",
                str(ROOT / "experiments" / "portfolio.yaml"),
                "--start",
                "2016-01-01",
                "--n-control",
                "1",
            ]
        )
    finally:
        mlflow.set_tracking_uri(None)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "close-only rules apply" in out
    run_id = out.split("parent run: ")[1].split()[0]
    client = MlflowClient(uri)
    parent = client.get_run(run_id)
    assert parent.data.tags["kind"] == "portfolio_suite"
    assert parent.data.tags["close_only"] == "True"
    assert {"tearsheet.html", "summary.csv", "daily.parquet", "config.json", "ic.csv"} <= {
        a.path for a in client.list_artifacts(run_id)
    }
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'"
    )
    assert len(children) == 4  # hold_days x gate
    for child in children:
        assert child.info.status == "FINISHED"
        for key in ("n_trades", "expectancy", "mean_r", "control_bound", "beats_control"):
            assert key in child.data.metrics, key
        folder = tmp_path / child.info.run_id
        folder.mkdir()
        ledger = pd.read_csv(client.download_artifacts(child.info.run_id, "trades.csv", folder))
        assert len(ledger) == child.data.metrics["n_trades"]
        assert set(ledger["reason"]) <= {"time", "stop", "decay", "end"}  # no gaps close-only
        assert (pd.to_datetime(ledger["entry_date"]) >= pd.Timestamp("2016-01-01")).all()
    html = Path(client.download_artifacts(run_id, "tearsheet.html", str(tmp_path))).read_text()
    for section in ("header", "rules", "headline", "stats", "ledger", "signal", "suite"):
        assert f'id="{section}"' in html, section
    assert "Close-only" in html and "Non-overlapping IC" in html
    assert html.count("<svg") >= 3


def test_mlflow_run_entry_point(bundled_store, tmp_path, mlflow_project):
    """The README's command: one cell (21-day hold, gate on), one random-entry draw."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    # An experiment whose artifacts live under tmp_path, not ./mlruns of the repository.
    client.create_experiment("portfolio-e2e", artifact_location=(tmp_path / "art").as_uri())
    out, run_id = mlflow_project(
        [
            "-e",
            "portfolio",
            "--experiment-name",
            "portfolio-e2e",
            "-P",
            "hold_days=21",
            "-P",
            "gate=true",
            "-P",
            "n_control=1",
        ],
        {"POC_SNAPSHOT_DIR": str(bundled_store), "MLFLOW_TRACKING_URI": uri},
    )
    assert "trades, expectancy" in out and "random-entry bound" in out
    parent = client.get_run(run_id)
    assert parent.data.params["hold_days"] == "21"
    assert parent.data.metrics["n_cells"] == 1
    assert parent.data.metrics["headline_n_trades"] > 100
    assert (tmp_path / "art").is_dir()
