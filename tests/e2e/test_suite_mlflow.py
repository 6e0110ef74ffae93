"""The product end to end: `mlflow run .` on a small synthetic snapshot, via MlflowClient.

Also: the planted signal beats noise, user text is escaped in the tear sheet, and a
failing cell becomes a FAILED child while the suite still reports.
"""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from poc.catalog import ensure_snapshot
from poc.experiment import spec_from_dict
from poc.runner import run_experiment
from poc.suite import run_suite

SNAPSHOT = "synthetic-150x400-s3"
SECTIONS = (
    "header",
    "verdict",
    "score",
    "headline",
    "suite",
    "robustness",
    "baselines",
    "exposures",
    "coverage",
    "ic",
)
RANK = {"red": 0, "yellow": 1, "green": 2}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """A snapshot store and a tracking store, both temporary, shared by this module."""
    root = tmp_path_factory.mktemp("e2e")
    store = root / "snapshots"
    uri = f"sqlite:///{root / 'mlflow.db'}"
    ensure_snapshot(store, SNAPSHOT)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # a SQL store's artifacts default to ./mlruns: not in the repo
        patch.setenv("POC_SNAPSHOT_DIR", str(store))
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        yield {"root": root, "store": store, "uri": uri}
    mlflow.set_tracking_uri(None)


def _spec(**overrides):
    raw = {
        "name": "e2e",
        "snapshot": SNAPSHOT,
        "signal": "builtin:planted",
        "baselines": True,
        "grid": {
            "lag": [0, 1, 2],
            "residualize": ["off", "industry"],
            "fractile": [[10, 90]],
            "mincos": [5],
            "tc_bps": [0],
        },
    }
    raw.update(overrides)
    return spec_from_dict(raw)


def test_mlflow_run_logs_parent_children_and_tearsheet(env, mlflow_project):
    spec_path = env["root"] / "spec.yaml"
    spec_path.write_text(
        "name: e2e-mlflow-run\n"
        f"snapshot: {SNAPSHOT}\n"
        "signal: builtin:planted\n"
        "grid:\n  fractile: [[10, 90]]\n  mincos: [5]\n  tc_bps: [5]\n"
    )
    out, run_id = mlflow_project(
        [
            "--experiment-name",
            "e2e-mlflow-run",
            "-P",
            f"experiment={spec_path}",
            "-P",
            "lags=0,2",
            "-P",
            "residualize=off,industry",
            "-P",
            "signal_name=planted_e2e",
        ],
        {},
    )
    # The verdict lines come last, after the links.
    assert re.search(r"VERDICT: \w+  grade [A-F].*\Z", out.strip().split("tear sheet: ")[-1], re.S)
    assert re.search(r"VERDICT: (GREEN|YELLOW|RED)  grade [A-F]", out)
    assert "tear sheet: " in out

    client = MlflowClient(env["uri"])
    parent = client.get_run(run_id)
    assert parent.info.status == "FINISHED"
    tags = parent.data.tags
    for key in ("signal_name", "snapshot_id", "snapshot_digest", "verdict", "grade"):
        assert tags[key], key
    assert tags["snapshot_id"] == SNAPSHOT and tags["signal_name"] == "planted_e2e"
    # Named from spec and signal; only given parameters and resolved values, never ''.
    assert tags["mlflow.runName"] == "e2e-mlflow-run · planted_e2e"
    params = parent.data.params
    assert "" not in params.values(), params
    assert params["signal_name"] == "planted_e2e" and params["lags"] == "0,2"
    assert params["grid.lag"] == "0,2" and params["grid.residualize"] == "off,industry"
    assert parent.data.metrics["score"] == parent.data.metrics["composite_score"]
    assert parent.data.metrics["verdict_level"] == RANK[tags["verdict"]]
    for key in ("best_sharpe", "composite_score", "h1_ic_mean", "h1_ic_t", "h5_ic_mean"):
        assert key in parent.data.metrics, key
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"tearsheet.html", "summary.csv", "daily.parquet", "config.json"} <= artifacts
    inputs = {d.dataset.name: d.dataset.digest for d in parent.inputs.dataset_inputs}
    assert inputs[SNAPSHOT] == tags["snapshot_digest"][:32]
    assert inputs["planted_e2e"] == tags["signal_digest"][:32]

    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{run_id}'"
    )
    kinds = sorted(c.data.tags["kind"] for c in children)
    # 2 lags x 2 residualizations, and the baselines of a snapshot with value exposures.
    assert kinds == ["baseline"] * 3 + ["cell"] * 4
    for child in children:
        assert child.info.status == "FINISHED"
        assert {"lag", "residualize", "fractile"} <= set(child.data.params)
        assert "sharpe" in child.data.metrics and "turnover" in child.data.metrics
        history = client.get_metric_history(child.info.run_id, "cum_return")
        # Weekly points (<= 260); baselines start later (momentum needs a year of prices).
        assert (60 if child.data.tags["kind"] == "cell" else 20) < len(history) <= 260
        steps = [p.step for p in history]
        assert steps == sorted(steps) and len(set(steps)) == len(steps)

    local = Path(client.download_artifacts(run_id, "tearsheet.html", str(env["root"])))
    html = local.read_text()
    assert f'class="verdict {tags["verdict"]}"' in html
    # Each reason is marked: a check passed, or an issue (a tick or a cross on the sheet).
    marked = html.count('<li class="pass">') + html.count('<li class="issue">')
    assert marked >= 3 and '<ul class="reasons">' in html
    for section in SECTIONS:
        assert f'id="{section}"' in html, section
    # Self-contained: nothing is fetched (SVG namespace declarations are names, not fetches).
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "@import" not in html and "<script" not in html
    assert html.count("<svg") >= 4
    summary = pd.read_csv(client.download_artifacts(run_id, "summary.csv", str(env["root"])))
    assert len(summary) == 7 and summary["headline"].sum() == 1
    # The full daily returns live once in the parent; the metric is their weekly sample.
    daily = pd.read_parquet(client.download_artifacts(run_id, "daily.parquet", str(env["root"])))
    one = children[0]
    rows = daily[daily["name"] == one.data.tags["mlflow.runName"].removeprefix("baseline:")]
    cum = rows.set_index("date")["net"].cumsum()
    last = client.get_metric_history(one.info.run_id, "cum_return")[-1]
    assert last.value == pytest.approx(cum.iloc[-1], rel=1e-12, abs=1e-15)


def test_planted_signal_beats_noise(env):
    snapshot = ensure_snapshot(env["store"], SNAPSHOT)
    planted = run_suite(_spec(), snapshot)
    noise = run_suite(_spec(signal="builtin:noise"), snapshot)
    assert planted.verdict.score > noise.verdict.score
    assert RANK[planted.verdict.color] > RANK[noise.verdict.color]
    ic = planted.evaluation["ic_by_horizon"][1].mean
    assert 0.015 < ic < 0.05
    decay = planted.evaluation["ic_decay"]
    assert decay[0] > decay[1] > decay[2]


def test_user_text_is_escaped_in_tearsheet(env, tmp_path):
    snapshot = ensure_snapshot(env["store"], SNAPSHOT)
    spec = _spec(
        signal_name="<script>alert(1)</script>",
        baselines=False,
        grid={"lag": [0], "residualize": ["off"], "fractile": [[10, 90]], "mincos": [5]},
    )
    outcome = run_experiment(spec, snapshot, command="poc run <x>")
    html = Path(outcome.link).read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script>" not in html
    assert "<script" not in html  # the sheet itself carries no script at all


def test_failed_cell_is_recorded_and_suite_finishes(env):
    snapshot = ensure_snapshot(env["store"], SNAPSHOT)
    # tc_model=spread needs a half-spread column the synthetic snapshot has, but from_open
    # with weekly rebalancing works too; force a failure with a config the engine rejects
    # only at run time: from_open on a snapshot built without open prices.
    store = env["store"]
    from poc.catalog import create_snapshot, open_snapshot
    from poc.sources import synthetic_panel

    data = synthetic_panel(60, 200, seed=9)
    no_open = data.__class__(
        **{
            **data.__dict__,
            "returns": data.returns.drop(columns=["openret"]),
            "absent": [*data.absent, "openret"],
        }
    )
    if "no-open" not in [p.name for p in store.iterdir()]:
        create_snapshot(no_open, store, "no-open")
    snap = open_snapshot(store, "no-open")
    spec = _spec(
        snapshot="no-open",
        grid={
            "lag": [0],
            "residualize": ["off"],
            "from_open": [False, True],
            "fractile": [[10, 90]],
            "mincos": [3],
        },
    )
    outcome = run_experiment(spec, snap, command="test")
    client = MlflowClient(env["uri"])
    children = client.search_runs(
        [outcome.experiment_id], f"tags.mlflow.parentRunId = '{outcome.run_id}'"
    )
    status = {c.data.tags["mlflow.runName"]: c.info.status for c in children}
    assert status["from_open=True"] == "FAILED"
    assert status["from_open=False"] == "FINISHED"
    failed = next(c for c in children if c.info.status == "FAILED")
    assert "openret" in failed.data.tags["error"]
    assert client.get_run(outcome.run_id).info.status == "FINISHED"
    html = Path(outcome.link).read_text()
    assert "FAILED" in html and "openret" in html
    assert snapshot.snapshot_id == SNAPSHOT
