"""Allocation suites count their prior trials: a real temporary MLflow store (sqlite).

Trials of the same allocation problem (same ``allocation_digest``: snapshot, assets,
benchmark) already in the experiment deflate the next suite's Sharpe; a configuration
run again (same full config and window) is the same trial and counts once.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from poc.allocation_runner import run_allocation_experiment
from poc.allocation_suite import ALLOCATION_TAG, TRIAL_TAG, allocation_spec_from_dict
from poc.catalog import create_snapshot, open_snapshot
from poc.sources import synthetic_panel
from tests.support.mlflow_store import sqlite_store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("alloc-trials")
    create_snapshot(synthetic_panel(12, 400, seed=5), root / "snapshots", "alloc")
    create_snapshot(synthetic_panel(12, 400, seed=6), root / "snapshots", "other")
    with sqlite_store(root) as uri:
        yield {
            "snapshot": open_snapshot(root / "snapshots", "alloc"),
            "other": open_snapshot(root / "snapshots", "other"),
            "uri": uri,
        }


def _run(env, grid: dict, snapshot: str = "snapshot"):
    # One experiment name for every suite: trials are counted per experiment.
    spec = allocation_spec_from_dict({"name": "alloc-trials", "grid": grid})
    return run_allocation_experiment(spec, env[snapshot], command="test")


def _parent(env, outcome):
    return MlflowClient(env["uri"]).get_run(outcome.run_id)


def test_allocation_trials_count_distinct_configurations_across_the_experiment(env):
    first = _run(env, {"model": ["ema"], "max_weight": [0.4, 0.3]})
    # Another grid: 0.4 again (the same trial), 0.5 new.
    second = _run(env, {"model": ["ema"], "max_weight": [0.4, 0.5]})
    # The same grid again adds no configuration.
    third = _run(env, {"model": ["ema"], "max_weight": [0.4, 0.5]})
    # Another axis set: model=ema alone is max_weight 0.4 by default, the same trial.
    alone = _run(env, {"model": ["ema"]})
    counts = [o.result.trust.n_trials for o in (first, second, third, alone)]
    assert counts == [2, 3, 3, 3]
    assert [o.result.trust.n_prior_configs for o in (first, second, third, alone)] == [0, 1, 1, 2]

    parents = [_parent(env, o) for o in (first, second, third, alone)]
    assert [p.data.tags["trust_n_trials"] for p in parents] == ["2", "3", "3", "3"]
    assert [p.data.metrics["trust_n_trials"] for p in parents] == [2.0, 3.0, 3.0, 3.0]
    digests = {p.data.tags[ALLOCATION_TAG] for p in parents}
    assert len(digests) == 1 and len(digests.pop()) == 64
    # More trials deflate more: the same headline cell (max_weight 0.4) on the same data.
    dsr = [p.data.metrics["trust_dsr"] for p in parents[:3]]
    assert dsr[1] < dsr[0] and dsr[2] == dsr[1]
    sharpe_used = {p.data.metrics["trust_sharpe_variance_used"] for p in parents[:3]}
    assert len(sharpe_used) == 1  # the same sample: only N moved the DSR

    client = MlflowClient(env["uri"])
    children = client.search_runs(
        [parents[1].info.experiment_id], f"tags.mlflow.parentRunId = '{second.run_id}'"
    )
    assert len(children) == 2
    for child in children:
        assert child.data.tags["kind"] == "allocation"
        assert child.data.tags[ALLOCATION_TAG] == parents[1].data.tags[ALLOCATION_TAG]
        key = child.data.tags[TRIAL_TAG]
        # The full configuration (defaults filled in) and the window, not just the grid axes.
        assert f"max_weight={child.data.params['max_weight']}" in key
        assert "slow_span=100" in key and "start=" in key and "end=" in key
        assert "active_sharpe" in child.data.metrics

    html = Path(second.link).read_text()
    assert 'id="trust"' in html and "Allocation digest" in html
    assert "2 cells of this grid + 1 other configurations of the same allocation problem" in html


def test_another_snapshot_is_another_allocation_problem(env):
    before = _run(env, {"model": ["ema"], "max_weight": [0.4, 0.3]})
    other = _run(env, {"model": ["ema"], "max_weight": [0.4, 0.3]}, snapshot="other")
    assert before.result.problem.digest != other.result.problem.digest
    # Nothing of the first snapshot's trials counts for the second's problem.
    assert other.result.trust.n_trials == 2 and other.result.trust.n_prior_configs == 0
