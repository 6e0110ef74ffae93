"""`mlflow run . -e overlays --env-manager local` on the bundled data (checked via MlflowClient)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow


def test_overlays_entry_point_logs_raw_overlay_and_walk_forward_children(
    bundled_store, tmp_path, mlflow_project
):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    # Artifacts of a SQL store default to ./mlruns in the working folder (the repo);
    # an experiment made here keeps them under tmp_path.
    MlflowClient(uri).create_experiment(
        "overlays-e2e", artifact_location=(tmp_path / "artifacts").as_uri()
    )
    started = time.perf_counter()
    out, run_id = mlflow_project(
        ["-e", "overlays", "--experiment-name", "overlays-e2e"],
        {"POC_SNAPSHOT_DIR": str(bundled_store), "MLFLOW_TRACKING_URI": uri},
    )
    seconds = time.perf_counter() - started
    assert seconds < 90, f"mlflow run -e overlays took {seconds:.1f}s"
    client = MlflowClient(uri)
    parent = client.get_run(run_id)
    assert parent.data.tags["kind"] == "overlay_suite"
    assert parent.data.tags["verdict"] in {"green", "yellow", "red"}
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'"
    )
    kinds = {}
    for child in children:
        kinds.setdefault(child.data.tags["kind"], []).append(child)
    overlays = {c.data.params["overlay"] for c in kinds["overlay_cell"]}
    assert {"none", "voltarget:0.10:63", "ddcontrol:0.10:0.5", "trend:200", "regime"} == overlays
    assert len(kinds["overlay_cell"]) == 10 and len(kinds["walk_forward"]) == 2
    for child in kinds["overlay_cell"]:
        assert {"is_sharpe", "oos_sharpe", "timing_ann", "scaling_ann"} <= set(child.data.metrics)
    wf = kinds["walk_forward"][0]
    assert {"wf_oos_sharpe", "wf_is_best_sharpe"} <= set(wf.data.metrics)
    assert [a.path for a in client.list_artifacts(wf.info.run_id)] == ["windows.csv"]
    html = Path(client.download_artifacts(run_id, "tearsheet.html", str(tmp_path))).read_text()
    for text in (
        "Crisis periods",
        "2008 GFC",
        "In sample against out of sample",
        "OOS Sharpe",
        "Parameter stability",
        "Overlay attribution",
    ):
        assert text in html, text
    assert "done in" in out and "VERDICT:" in out


def test_poc_overlays_shell_form_help_and_errors(bundled_store, capsys):
    """The docs' shell form (`poc overlays --help`) and a bad overlay exit cleanly, no MLflow."""
    from poc.cli import main

    with pytest.raises(SystemExit) as info:
        main(["overlays", "--help"])
    assert info.value.code == 0
    assert "--oos-start" in capsys.readouterr().out
    assert main(["overlays", "--overlay", "volcap:1", "--store", str(bundled_store)]) == 1
    assert "unknown overlay 'volcap'" in capsys.readouterr().err
