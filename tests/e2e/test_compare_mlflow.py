"""``poc compare`` on two real runs in a temporary MLflow store (in-process)."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from poc.catalog import ensure_snapshot
from poc.cli import main
from poc.experiment import spec_from_dict
from poc.runner import run_experiment

SNAPSHOT = "synthetic-60x600-s3"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two one-cell signal suites (planted signal vs noise) logged to a tmp sqlite store."""
    root = tmp_path_factory.mktemp("compare")
    store = root / "snapshots"
    uri = f"sqlite:///{root / 'mlflow.db'}"
    snapshot = ensure_snapshot(store, SNAPSHOT)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POC_SNAPSHOT_DIR", str(store))
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        ids = []
        for signal in ("builtin:planted", "builtin:noise:1"):
            spec = spec_from_dict(
                {
                    "name": "compare-e2e",
                    "snapshot": SNAPSHOT,
                    "signal": signal,
                    "baselines": False,
                    "grid": {
                        "lag": [0],
                        "residualize": ["off"],
                        "fractile": [[20, 80]],
                        "mincos": [3],
                        "tc_bps": [0],
                    },
                }
            )
            ids.append(run_experiment(spec, snapshot, command="test").run_id)
        yield ids
    mlflow.set_tracking_uri(None)


def test_compare_logs_a_sheet_linking_both_runs(runs, capsys, tmp_path):
    a, b = runs
    assert main(["compare", a, b, "--n-boot", "300", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "sharpe" in out and "95% [" in out
    compare_id = out.split("comparison run: ")[1].split()[0]
    run = MlflowClient().get_run(compare_id)
    tags = run.data.tags
    assert tags["kind"] == "comparison"
    assert tags["compared_runs"] == f"{a},{b}" and tags["reference_run"] == a
    assert f"runs:/{a}" in tags["mlflow.note.content"]
    assert {"diff1_sharpe", "diff1_sharpe_low", "diff1_sharpe_high"} <= set(run.data.metrics)
    low, high = run.data.metrics["diff1_sharpe_low"], run.data.metrics["diff1_sharpe_high"]
    assert low <= run.data.metrics["diff1_sharpe"] <= high
    names = {f.path for f in MlflowClient().list_artifacts(compare_id)}
    assert {"compare.html", "differences.csv"} <= names
    html = open(
        mlflow.artifacts.download_artifacts(
            run_id=compare_id, artifact_path="compare.html", dst_path=str(tmp_path)
        )
    ).read()
    for section in ("runs", "nav", "differences", "periods"):
        assert f'id="{section}"' in html
    assert a in html and b in html and "<svg" in html
    for year in ("2012", "2013", "2014"):
        assert f'<td class="text">{year}</td>' in html
    assert "http" not in html.split("<footer>")[0].replace("http://www.w3.org", "")


def test_compare_errors_are_clear(runs, capsys):
    a, _ = runs
    assert main(["compare", a, "0123456789abcdef0123456789abcdef"]) == 1
    assert "unknown run id '0123456789abcdef0123456789abcdef'" in capsys.readouterr().err
    assert main(["compare", a]) == 1
    assert "at least two run ids" in capsys.readouterr().err
    child = MlflowClient().search_runs(
        [MlflowClient().get_run(a).info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{a}'",
    )[0]
    assert main(["compare", a, child.info.run_id]) == 1
    assert "has no headline_cell tag" in capsys.readouterr().err
