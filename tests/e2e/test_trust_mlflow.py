"""Trust report end to end in a real temporary MLflow store: trial counts, metrics, sheet."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from poc.catalog import create_snapshot, open_snapshot
from poc.experiment import spec_from_dict
from poc.runner import run_experiment
from poc.sources import synthetic_panel
from tests.support.mlflow_store import sqlite_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("trust")
    create_snapshot(synthetic_panel(60, 300, seed=5), root / "snapshots", "tiny")
    with sqlite_store(root) as uri:
        yield {"snapshot": open_snapshot(root / "snapshots", "tiny"), "uri": uri}


def _spec(name: str, fractile=(10, 90), signal="builtin:planted"):
    return spec_from_dict(
        {
            "name": name,
            "snapshot": "tiny",
            "signal": signal,
            "baselines": True,
            "grid": {
                "lag": [0, 1, 2],
                "residualize": ["off"],
                "fractile": [list(fractile)],
                "mincos": [3],
            },
        }
    )


def test_rerunning_a_suite_raises_the_trial_count_on_the_second_sheet(env):
    first = run_experiment(_spec("trust-rerun"), env["snapshot"], command="test")
    second = run_experiment(_spec("trust-rerun"), env["snapshot"], command="test")
    assert first.result.trust.n_trials == 3  # the 3 cells of this suite, nothing before
    assert second.result.trust.n_trials == 6  # + 3 configurations already in the experiment
    assert second.result.trust.n_prior_configs == 3
    client = MlflowClient(env["uri"])
    parents = [client.get_run(o.run_id) for o in (first, second)]
    assert [p.data.tags["trust_n_trials"] for p in parents] == ["3", "6"]
    for key in ("trust_dsr", "trust_psr", "trust_pbo", "trust_min_trl_days", "trust_n_trials"):
        assert key in parents[1].data.metrics, key
    assert parents[1].data.metrics["trust_n_trials"] == 6.0
    # More trials deflate more: the same headline gets a lower DSR the second time.
    assert parents[1].data.metrics["trust_dsr"] < parents[0].data.metrics["trust_dsr"]
    html = Path(second.link).read_text()
    assert 'id="trust"' in html and "How much to trust this" in html
    assert "<td>6</td>" in html and "3 cells in this suite + 3 configurations" in html
    assert html.count("<svg") >= 5  # the PBO logit histogram among the charts


def test_a_suite_that_never_trades_is_inconclusive_without_grade(env):
    outcome = run_experiment(_spec("trust-never", fractile=(0, 100)), env["snapshot"], "t")
    assert outcome.verdict == "inconclusive" and outcome.grade is None and outcome.score is None
    parent = MlflowClient(env["uri"]).get_run(outcome.run_id)
    assert parent.data.tags["verdict"] == "inconclusive" and parent.data.tags["grade"] == "none"
    assert "composite_score" not in parent.data.metrics
    html = Path(outcome.link).read_text()
    assert "no score" in html and "never traded" in html
