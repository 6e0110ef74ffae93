"""`mlflow run . -e allocate` on the bundled real data, checked through MlflowClient."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from poc.allocation.errors import AllocationError
from poc.allocation.feasibility import check_cells_feasible
from poc.allocation_suite import allocation_spec_from_dict, config_for
from poc.exceptions import ConfigError

pytestmark = pytest.mark.slow


def test_allocate_entry_point_logs_cells_with_capped_histories(
    bundled_store, tmp_path, mlflow_project
):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out, run_id = mlflow_project(
        [
            "-e",
            "allocate",
            "--experiment-name",
            "alloc-e2e",
            "-P",
            "model=regime,ema",
            "-P",
            "max_weight=0.25",
            "-P",
            "commission_bps=5,10",
            "-P",
            "n_jobs=1",
        ],
        {"POC_SNAPSHOT_DIR": str(bundled_store), "MLFLOW_TRACKING_URI": uri},
    )
    client = MlflowClient(uri)
    parent = client.get_run(run_id)
    assert parent.data.tags["kind"] == "allocation_suite"
    # The verdict ends the output, as for signal suites.
    verdict = f"VERDICT: {parent.data.tags['verdict'].upper()}"
    assert verdict in out and out.rindex(verdict) > out.rindex("tear sheet: ")
    assert {"tearsheet.html", "summary.csv", "daily.parquet", "config.json"} <= {
        a.path for a in client.list_artifacts(run_id)
    }
    html = Path(client.download_artifacts(run_id, "tearsheet.html", str(tmp_path))).read_text()
    for section in (
        "header",
        "headline",
        "metrics",
        "suite",
        "allocation",
        "attribution",
        "regimes",
    ):
        assert f'id="{section}"' in html, section
    assert html.count("<svg") >= 6
    # Allocation suites get a verdict and the trust section too (on active returns).
    tags, metrics = parent.data.tags, parent.data.metrics
    assert tags["verdict"] in ("green", "yellow", "red", "inconclusive")
    assert {"trust_dsr", "trust_psr", "trust_pbo", "trust_spanning_t"} <= set(metrics)
    if tags["verdict"] != "inconclusive":  # the same sortable columns as signal suites
        assert metrics["score"] == metrics["composite_score"]
        level = {"red": 0.0, "yellow": 1.0, "green": 2.0}[tags["verdict"]]
        assert metrics["verdict_level"] == level
    assert 'id="verdict"' in html and 'id="trust"' in html
    assert "Alpha over the benchmark" in html and "Residual IC" not in html
    assert "Caveat: survivorship" in html  # the bundled universe is today's survivors

    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'"
    )
    traded = [c for c in children if "sharpe" in c.data.metrics]
    assert tags["trust_n_trials"] == str(len(traded))  # every cell of the grid is a trial
    assert len(children) == 2 * 2 * 2  # models x delays (spec) x costs
    by_params = {}
    for child in children:
        assert child.info.status == "FINISHED"
        p = child.data.params
        assert p["max_weight"] == "0.25"
        for key in ("sharpe", "ann_ret", "max_dd", "information_ratio", "cost_drag_sum"):
            assert key in child.data.metrics, key
        files = {a.path for a in client.list_artifacts(child.info.run_id)}
        # cell.zip: what `poc allocate --resume` rebuilds a finished cell from (docs/runs.md)
        assert files == {"allocation_history.csv", "trades.csv", "cell.zip"}
        folder = tmp_path / child.info.run_id
        folder.mkdir()
        history = pd.read_csv(
            client.download_artifacts(child.info.run_id, "allocation_history.csv", str(folder)),
            index_col="date",
        )
        assert history.shape[1] == 20 and np.isfinite(history.to_numpy()).all()
        assert (history.to_numpy() <= 0.25 + 1e-9).all()
        assert (history.sum(axis=1) <= 1 + 1e-9).all() and (history.to_numpy() >= 0).all()
        by_params[(p["model"], p["delay"], float(p["commission_bps"]))] = child.data.metrics

    # Doubling costs lowers the summed daily net return by exactly the extra logged cost drag.
    for (model, delay, cost), m in by_params.items():
        if cost != 5.0:
            continue
        doubled = by_params[(model, delay, 10.0)]
        lost = m["net_return_sum"] - doubled["net_return_sum"]
        extra = doubled["cost_drag_sum"] - m["cost_drag_sum"]
        assert extra > 0
        assert lost == pytest.approx(extra, rel=1e-9, abs=1e-12)


def test_allocation_spec_errors_name_the_key():
    with pytest.raises(ConfigError, match="unknown axis 'maxweight'"):
        allocation_spec_from_dict({"grid": {"maxweight": [0.4]}})
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['modle'\]"):
        allocation_spec_from_dict({"modle": "ema"})
    with pytest.raises(ConfigError, match=r"grid\.delay: cannot read"):
        allocation_spec_from_dict({"grid": {"delay": [0.5]}})
    # Caps that cannot hold the invested fraction are refused before any cell runs, with
    # advice the universe can meet (poc.allocation.feasibility knows the asset count).
    spec = allocation_spec_from_dict({"grid": {"model": ["ema"], "max_weight": [0.1]}})
    with pytest.raises(AllocationError, match=r"max_weight 0.1 x top_k 5 of 20 assets"):
        check_cells_feasible([("base", config_for(p)) for p in spec.cells()], 20)
