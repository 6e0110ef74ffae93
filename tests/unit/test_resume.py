"""Resuming an interrupted suite, in process, against a real temporary MLflow store.

An interruption is raised from the progress callback (deterministic: after two
cells are logged); the resumed suite must reuse those two, recompute the rest,
leave nothing RUNNING, and end with children equal to an uninterrupted run's.
"""

from __future__ import annotations

import math
import re

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from poc import resume, tracking
from poc.experiment import spec_from_dict
from poc.runner import StoreFailedError, run_experiment
from poc.suite import CellResult


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # artifacts of a sqlite store go under ./mlruns
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        # mlflow.set_experiment exports MLFLOW_EXPERIMENT_ID: setenv records its absence so
        # the context removes it again, or a later `mlflow run --experiment-name` is refused.
        patch.setenv("MLFLOW_EXPERIMENT_ID", "")
        patch.delenv("MLFLOW_EXPERIMENT_ID")
        mlflow.set_tracking_uri(uri)
        yield root
    mlflow.set_tracking_uri(None)


def _spec(name: str):
    return spec_from_dict(
        {
            "name": name,
            "snapshot": "syn-small",
            "signal": "builtin:planted",
            "baselines": False,
            "grid": {
                "lag": [0, 1, 2],
                "residualize": ["off"],
                "mincos": [5],
                "fractile": [[10, 90]],
            },
        }
    )


def _interrupt_after(n: int):
    def progress(done, total, cell):
        if done == n:
            raise KeyboardInterrupt

    return progress


def _children(parent: str) -> dict[str, tuple[str, dict, dict]]:
    run = MlflowClient().get_run(parent)
    rows = tracking.child_runs(parent, run.info.experiment_id)
    return {c["tags"]["mlflow.runName"]: (c["status"], c["params"], c["metrics"]) for c in rows}


# --------------------------------------------------------------------------
# cell.zip
# --------------------------------------------------------------------------


def test_cell_round_trips_through_cell_zip_with_nan_metrics(tmp_path):
    daily = pd.DataFrame(
        {"date": pd.bdate_range("2021-01-01", periods=3), "net": [0.01, np.nan, -0.02]}
    )
    cell = CellResult(
        name="lag=1",
        kind="cell",
        params={"lag": 1, "fractile": (10.0, 90.0)},
        status="FINISHED",
        metrics={"sharpe": 1.25, "calmar": math.nan},
        daily=daily,
        summary=pd.DataFrame({"slice": ["overall"], "sharpe": [1.25]}),
        seconds=0.5,
        tables={"trades": pd.DataFrame({"asset": ["A"], "qty": [3.0]})},
    )
    back = resume.unpack_cell(resume.pack_cell(cell, tmp_path), cell.params)
    assert back.params is cell.params
    assert back.metrics["sharpe"] == 1.25 and math.isnan(back.metrics["calmar"])
    pd.testing.assert_frame_equal(back.daily, daily)
    pd.testing.assert_frame_equal(back.summary, cell.summary)
    assert back.fractile is None
    pd.testing.assert_frame_equal(back.tables["trades"], cell.tables["trades"])
    assert (back.name, back.kind, back.status, back.seconds) == ("lag=1", "cell", "FINISHED", 0.5)


# --------------------------------------------------------------------------
# plan_resume and check_resumable (pure)
# --------------------------------------------------------------------------


def _child(run_id, name, status="FINISHED", snap="S", sig="G", params=None, artifact=True):
    tags = {resume.CELL_TAG: name, "kind": "cell"}
    tags.update({resume.SNAPSHOT_TAG: snap, resume.SIGNAL_TAG: sig})
    if artifact:
        tags["poc.cell_artifact"] = resume.CELL_ARTIFACT
    return {
        "run_id": run_id,
        "status": status,
        "tags": tags,
        "params": params if params is not None else {"lag": "0", "kind": "cell"},
    }


def test_plan_reuses_only_finished_matching_children():
    parent = {"run_id": "P", "status": "RUNNING", "tags": {"kind": "signal_suite"}}
    wanted = {("a", "cell"): {"lag": 0}, ("b", "cell"): {"lag": 0}, ("c", "cell"): {"lag": 0}}
    children = [
        _child("1", "a"),
        _child("2", "b", status="RUNNING"),  # a SIGKILL during its logging
        _child("3", "c", snap="OTHER"),  # computed on other data
        _child("4", "c", params={"lag": "1", "kind": "cell"}),  # other params
        _child("5", "c", artifact=False),  # nothing to rebuild it from
        _child("6", "zzz"),  # not in the new grid
    ]
    plan = resume.plan_resume(parent, children, wanted, "S", "G")
    assert plan.reuse == {("a", "cell"): "1"}
    assert plan.stale == ["P", "2"]
    assert plan.replaced == ["2", "3", "4", "5", "6"]


def test_plan_with_other_signal_reuses_nothing():
    parent = {"run_id": "P", "status": "KILLED", "tags": {"kind": "signal_suite"}}
    plan = resume.plan_resume(parent, [_child("1", "a")], {("a", "cell"): {"lag": 0}}, "S", "X")
    assert plan.reuse == {} and plan.stale == [] and plan.replaced == ["1"]


@pytest.mark.parametrize(
    ("status", "tags", "message"),
    [
        ("FINISHED", {"kind": "signal_suite"}, "already FINISHED"),
        ("KILLED", {"kind": "allocation_suite"}, "not a signal_suite"),
        ("KILLED", {}, "no poc suite run"),
        ("KILLED", {"kind": "cell", "mlflow.parentRunId": "Q"}, "pass its parent Q"),
    ],
)
def test_runs_that_cannot_be_resumed_are_refused(status, tags, message):
    parent = {"run_id": "P", "status": status, "tags": tags}
    with pytest.raises(resume.ResumeError, match=message):
        resume.check_resumable(parent, "signal_suite")


# --------------------------------------------------------------------------
# A real interrupted suite, resumed
# --------------------------------------------------------------------------


def test_interrupted_suite_resumes_to_the_same_children(store, synthetic_snapshot):
    full = run_experiment(_spec("resume-a"), synthetic_snapshot, command="test")

    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_experiment(
            _spec("resume-a"),
            synthetic_snapshot,
            command="test",
            progress=_interrupt_after(2),
            notify=lines.append,
        )
    killed = lines[0].split(": ")[1]
    client = MlflowClient()
    assert client.get_run(killed).info.status == "KILLED"
    assert {s for s, _, _ in _children(killed).values()} == {"FINISHED"}
    assert len(_children(killed)) == 2

    computed: list[str] = []
    resumed = run_experiment(
        _spec("resume-a"),
        synthetic_snapshot,
        command="test",
        progress=lambda done, total, cell: computed.append(cell.name),
        resume_from=killed,
        notify=lines.append,
    )
    assert len(computed) == 1  # two of three cells reused
    assert any("reusing 2 of 3 cells" in line for line in lines)
    assert _children(resumed.run_id) == _children(full.run_id)
    assert resumed.score == full.score
    assert _children(killed) == {}  # the reused children moved to the new parent
    assert client.get_run(killed).data.tags["poc.resumed_by"] == resumed.run_id


def test_resume_closes_what_a_sigkill_left_running(store, synthetic_snapshot):
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_experiment(
            _spec("resume-b"),
            synthetic_snapshot,
            command="test",
            progress=_interrupt_after(1),
            notify=lines.append,
        )
    old = lines[0].split(": ")[1]
    client = MlflowClient()
    # What SIGKILL leaves: the parent and a half-logged child still RUNNING.
    client.update_run(old, status="RUNNING")
    experiment = client.get_run(old).info.experiment_id
    orphan = client.create_run(
        experiment, tags={"mlflow.parentRunId": old, resume.CELL_TAG: "lag=2", "kind": "cell"}
    ).info.run_id
    resumed = run_experiment(_spec("resume-b"), synthetic_snapshot, command="test", resume_from=old)
    assert client.get_run(old).info.status == "KILLED"
    assert client.get_run(orphan).info.status == "KILLED"
    assert client.get_run(orphan).data.tags["poc.replaced_by"] == resumed.run_id
    running = client.search_runs([experiment], "attributes.status = 'RUNNING'")
    assert running == []
    assert sorted(_children(resumed.run_id)) == ["lag=0", "lag=1", "lag=2"]


def test_unknown_run_id_is_a_clear_error(store, synthetic_snapshot):
    with pytest.raises(resume.ResumeError, match="no such run"):
        run_experiment(_spec("resume-c"), synthetic_snapshot, command="t", resume_from="nope")


def test_store_failing_after_compute_saves_results_locally(
    store, synthetic_snapshot, tmp_path, monkeypatch
):
    # The store goes away once the last cell is computed: its logging fails, fast.
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")

    def store_dies(done, total, cell):
        if done == total - 1:
            mlflow.set_tracking_uri("http://127.0.0.1:9")

    folder = tmp_path / "results"
    try:
        with pytest.raises(StoreFailedError, match=f"are in {folder}"):
            run_experiment(
                _spec("resume-d"),
                synthetic_snapshot,
                command="test",
                progress=store_dies,
                results_dir=folder,
            )
    finally:
        mlflow.set_tracking_uri(f"sqlite:///{store / 'mlflow.db'}")
        while mlflow.active_run() is not None:  # the dead store could not end it
            mlflow.end_run()
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "daily.parquet",
        "summary.csv",
        "tearsheet.html",
    ]
    summary = pd.read_csv(folder / "summary.csv")
    assert list(summary["name"]) == ["lag=0", "lag=1", "lag=2"]
    assert "<html" in (folder / "tearsheet.html").read_text()


# --------------------------------------------------------------------------
# Allocation suites resume the same way
# --------------------------------------------------------------------------


def test_interrupted_allocation_suite_resumes_to_the_same_children(store):
    from poc.allocation_runner import run_allocation_experiment
    from poc.allocation_suite import allocation_spec_from_dict
    from poc.catalog import ensure_snapshot

    snapshot = ensure_snapshot(store / "snapshots", "synthetic-20x500-s2")
    spec = allocation_spec_from_dict(
        {
            "name": "resume-alloc",
            "snapshot": "synthetic-20x500-s2",
            "grid": {"model": ["ema"], "max_weight": [0.3], "delay": [0, 1]},
        }
    )
    full = run_allocation_experiment(spec, snapshot, command="test")
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_allocation_experiment(
            spec, snapshot, command="test", progress=_interrupt_after(1), notify=lines.append
        )
    killed = lines[0].split(": ")[1]
    assert MlflowClient().get_run(killed).info.status == "KILLED"
    resumed = run_allocation_experiment(
        spec, snapshot, command="test", resume_from=killed, notify=lines.append
    )
    assert any("reusing 1 of 2 cells" in line for line in lines)
    assert _children(resumed.run_id) == _children(full.run_id)
    assert resumed.score == full.score
    with pytest.raises(resume.ResumeError, match="not a allocation_suite"):
        run_allocation_experiment(spec, snapshot, command="t", resume_from=_a_signal_suite())


def _a_signal_suite() -> str:
    runs = MlflowClient().search_runs(
        [e.experiment_id for e in MlflowClient().search_experiments()],
        "tags.kind = 'signal_suite'",
        max_results=1,
    )
    return runs[0].info.run_id


def test_sigterm_then_printed_allocate_resume_command_resumes(store, monkeypatch, capsys):
    import os
    import shlex
    import signal
    import time

    from poc import cli, interrupts

    spec = store / "alloc.yaml"
    spec.write_text(
        "name: resume-cli\nsnapshot: synthetic-20x500-s2\n"
        "grid:\n  model: [ema]\n  max_weight: [0.3]\n  delay: [0, 1]\n"
    )

    def sigterm_at_compute(point):
        if point == "compute":
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` or `mlflow run` cancelling
            time.sleep(5)  # the handler raises first

    monkeypatch.setattr(interrupts, "pause_for_test", sigterm_at_compute)
    args = ["allocate", "--experiment", str(spec), "--store", str(store / "snapshots")]
    assert cli.main(args) == 143
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.startswith("interrupted:")]
    assert len(lines) == 1 and "Traceback" not in err
    line = lines[0]
    killed = re.search(r"parent run (\w+) ended KILLED", line).group(1)
    run = MlflowClient().get_run(killed)
    assert run.info.status == "KILLED" and run.data.tags["poc.interrupted"] == "SIGTERM"
    command = shlex.split(line.split("resume with: ", 1)[1])
    assert command[:2] == ["poc", "allocate"]
    monkeypatch.setattr(interrupts, "pause_for_test", lambda point: None)
    assert cli.main(command[1:]) == 0
    assert "reusing 1 of 2 cells" in capsys.readouterr().out
