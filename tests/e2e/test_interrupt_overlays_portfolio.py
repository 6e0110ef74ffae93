"""Ctrl-C and SIGTERM during `poc overlays` and `poc portfolio`, in process, on a real store.

These suites log only once every cell is computed, so they cannot resume: an
interruption ends the parent KILLED (never RUNNING), prints one line naming it and
the command that reruns the suite, and exits 130 (SIGINT) or 143 (SIGTERM).
The signal is sent to this very process at a named pause point, as `kill PID` would.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from poc import cli, interrupts
from tests.support.mlflow_store import sqlite_store

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]

OVERLAY_SPEC = """name: interrupt-overlays
snapshot: synthetic-20x500-s2
grid:
  model: [ema]
  max_weight: [0.4]
  delay: [1]
  overlay: [none, "trend:50"]
headline:
  overlay: "trend:50"
"""


@pytest.fixture()
def store(tmp_path):
    with sqlite_store(tmp_path):
        yield tmp_path


def _signal_at(monkeypatch, where: str, signum: int) -> None:
    def pause(point: str) -> None:
        if point == where:
            os.kill(os.getpid(), signum)
            time.sleep(5)  # the handler raises first

    monkeypatch.setattr(interrupts, "pause_for_test", pause)


def _all_runs() -> list:
    client = MlflowClient()
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids) if ids else []


def _one_interrupted_line(err: str) -> str:
    lines = [x for x in err.splitlines() if x.startswith("interrupted")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_sigterm_while_overlays_log_ends_the_parent_killed(store, monkeypatch, capsys):
    from poc.overlay_suite import load_overlay_spec

    spec_file = store / "overlays.yaml"
    spec_file.write_text(OVERLAY_SPEC)
    _signal_at(monkeypatch, "logging", signal.SIGTERM)
    args = ["overlays", "--experiment", str(spec_file), "--store", str(store / "snapshots")]
    assert cli.main(args) == 143
    line = _one_interrupted_line(capsys.readouterr().err)
    parent = re.search(r"parent run (\w+) ended KILLED", line).group(1)
    run = MlflowClient().get_run(parent)
    assert run.info.status == "KILLED" and run.data.tags["poc.interrupted"] == "SIGTERM"
    assert [r.info.status for r in _all_runs()] == ["KILLED"]
    # The rerun command is the suite's reproduce command (executed by
    # tests/e2e/test_reproduce_commands.py), not a --resume it does not have.
    rerun = line.split("rerun with: ", 1)[1]
    spec = load_overlay_spec(spec_file)
    assert rerun == cli._overlay_command(spec, spec.snapshot, None, None)
    assert shlex.split(rerun)[:5] == ["mlflow", "run", ".", "-e", "overlays"]

    # Without the signal the same command line finishes and logs every cell.
    monkeypatch.setattr(interrupts, "pause_for_test", lambda point: None)
    assert cli.main(args) == 0
    finished = [r for r in _all_runs() if r.info.status == "FINISHED"]
    assert len(finished) == 3  # the parent and its two overlay cells
    assert not [r for r in _all_runs() if r.info.status == "RUNNING"]


def _portfolio_args(snapshots: Path) -> list[str]:
    """A small `poc portfolio` on the bundled data: 2019 onwards, one control draw."""
    spec = ROOT / "experiments" / "portfolio.yaml"
    small = "--start 2019-01-01 --n-control 1 --hold-days 21".split()
    return ["portfolio", "--experiment", str(spec), "--store", str(snapshots), *small]


def test_ctrl_c_while_portfolio_computes_logs_nothing(store, monkeypatch, capsys, bundled_store):
    _signal_at(monkeypatch, "compute", signal.SIGINT)
    assert cli.main(_portfolio_args(bundled_store)) == 130
    line = _one_interrupted_line(capsys.readouterr().err)
    assert line == "interrupted before any run was opened; nothing was logged"
    assert _all_runs() == []


def test_sigint_while_portfolio_logs_ends_the_parent_killed(
    store, monkeypatch, capsys, bundled_store
):
    _signal_at(monkeypatch, "logging", signal.SIGINT)
    assert cli.main(_portfolio_args(bundled_store)) == 130
    line = _one_interrupted_line(capsys.readouterr().err)
    parent = re.search(r"parent run (\w+) ended KILLED", line).group(1)
    assert MlflowClient().get_run(parent).data.tags["poc.interrupted"] == "SIGINT"
    assert "rerun with: mlflow run . -e portfolio" in line
    assert not [r for r in _all_runs() if r.info.status == "RUNNING"]
