"""Run lifecycle: every run ends FINISHED, FAILED or KILLED (real MLflow store, no mocks);
signals become one interruption; the store is checked before computing; cells that
never traded are FAILED."""

from __future__ import annotations

import os
import signal
import time

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from poc import interrupts, lifecycle, tracking
from poc.store_check import TrackingStoreError, check_tracking_store, local_store_path
from poc.suite import no_trades_reason


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("lifecycle")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # MLflow puts artifacts of a sqlite store under ./mlruns
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        # mlflow.set_experiment exports MLFLOW_EXPERIMENT_ID: setenv records its absence so
        # the context removes it again, or a later `mlflow run --experiment-name` is refused.
        patch.setenv("MLFLOW_EXPERIMENT_ID", "")
        patch.delenv("MLFLOW_EXPERIMENT_ID")
        mlflow.set_tracking_uri(uri)
        yield uri
    mlflow.set_tracking_uri(None)


def _status(run_id: str) -> str:
    return MlflowClient().get_run(run_id).info.status


# --------------------------------------------------------------------------
# status mapping and closing_run
# --------------------------------------------------------------------------


def test_status_for_each_way_a_block_ends():
    assert lifecycle.status_for(None) == "FINISHED"
    assert lifecycle.status_for(ValueError("x")) == "FAILED"
    assert lifecycle.status_for(KeyboardInterrupt()) == "KILLED"
    assert lifecycle.status_for(interrupts.Interrupted(signal.SIGTERM)) == "KILLED"


@pytest.mark.parametrize(
    ("error", "status"),
    [(None, "FINISHED"), (RuntimeError("boom"), "FAILED"), (KeyboardInterrupt(), "KILLED")],
)
def test_parent_run_ends_with_the_status_of_its_block(store, error, status):
    seen = {}
    with pytest.raises(type(error)) if error else _nothing():
        with tracking.parent_run("lifecycle", "suite") as run:
            seen["id"] = run.run_id
            with lifecycle.closing_run(run.run_id, tracking.end_run):
                if error:
                    raise error
    # MLflow's own context exit would have written FAILED for the interruption.
    assert _status(seen["id"]) == status
    assert mlflow.active_run() is None


def test_closing_run_can_finish_a_run_itself(store):
    run_id = MlflowClient().create_run(mlflow.set_experiment("lifecycle").experiment_id).info.run_id
    with lifecycle.closing_run(run_id, tracking.end_run, finish=True):
        pass
    assert _status(run_id) == "FINISHED"


def test_end_quietly_reports_instead_of_raising(caplog):
    def broken(run_id, status):
        raise ConnectionError("store down")

    assert lifecycle.end_quietly(broken, "abc", "KILLED") is False
    assert "could not mark run abc KILLED" in caplog.text


class _InterruptingMetrics(dict):
    """Metrics whose reading is interrupted, as Ctrl-C would interrupt a log_batch call."""

    def items(self):
        raise KeyboardInterrupt


def test_child_interrupted_while_logging_ends_killed(store):
    with tracking.parent_run("lifecycle", "suite") as run:
        with pytest.raises(KeyboardInterrupt):
            tracking.log_child(run, "lag=0", {"lag": 0}, _InterruptingMetrics(sharpe=1.0))
        children = tracking.child_runs(run.run_id, run.experiment_id)
    assert [c["status"] for c in children] == ["KILLED"]


# --------------------------------------------------------------------------
# signals
# --------------------------------------------------------------------------


def test_sigterm_becomes_one_interruption_then_handlers_are_restored():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(interrupts.Interrupted) as caught:
        with interrupts.handling_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises before this ends
    assert caught.value.signum == signal.SIGTERM
    assert interrupts.exit_code(caught.value) == 143
    assert signal.getsignal(signal.SIGTERM) is before


def test_sigint_exit_code_is_130_and_a_plain_ctrl_c_too():
    with pytest.raises(KeyboardInterrupt) as caught:
        with interrupts.handling_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
    assert interrupts.exit_code(caught.value) == 130
    assert interrupts.exit_code(KeyboardInterrupt()) == 130


def test_a_second_signal_during_cleanup_is_ignored():
    cleaned = []
    with pytest.raises(interrupts.Interrupted):
        with interrupts.handling_interrupts():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
            finally:
                os.kill(os.getpid(), signal.SIGTERM)  # e.g. `mlflow run` cancelling us
                time.sleep(0.05)
                cleaned.append(True)
    assert cleaned == [True]


def test_pause_hook_only_fires_for_its_point(monkeypatch, capsys):
    monkeypatch.setenv(interrupts.PAUSE_ENV, "logging")
    monkeypatch.setenv(interrupts.PAUSE_SECONDS_ENV, "0")
    interrupts.pause_for_test("compute")
    assert capsys.readouterr().err == ""
    interrupts.pause_for_test("logging")
    assert "paused at logging" in capsys.readouterr().err


# --------------------------------------------------------------------------
# tracking store check
# --------------------------------------------------------------------------


def test_dead_server_fails_in_seconds_naming_the_variable():
    started = time.perf_counter()
    with pytest.raises(TrackingStoreError, match=r"MLFLOW_TRACKING_URI=http://127.0.0.1:9"):
        check_tracking_store("http://127.0.0.1:9", timeout=3)
    assert time.perf_counter() - started < 10


def test_local_stores_must_be_writable_folders(tmp_path):
    check_tracking_store(f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}")  # folder created later
    check_tracking_store(f"file://{tmp_path / 'mlruns'}")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(TrackingStoreError, match="is a file, not a folder"):
        check_tracking_store(f"file://{tmp_path / 'afile'}")
    with pytest.raises(TrackingStoreError, match="is a file"):
        check_tracking_store(f"sqlite:///{tmp_path / 'afile' / 'mlflow.db'}")
    with pytest.raises(TrackingStoreError, match="is a folder, not a database file"):
        check_tracking_store(f"sqlite:///{tmp_path}")


def test_local_store_paths():
    assert str(local_store_path("sqlite:////abs/m.db")) == "/abs/m.db"
    assert str(local_store_path("sqlite:///rel/m.db")) == "rel/m.db"
    assert local_store_path("sqlite:///:memory:") is None
    assert local_store_path("postgresql://u@h/db") is None


# --------------------------------------------------------------------------
# cells that never traded
# --------------------------------------------------------------------------


def _daily(turnover):
    return pd.DataFrame({"turnover": np.asarray(turnover, dtype=float)})


def test_a_cell_that_traded_has_no_reason():
    assert no_trades_reason({"days": 3, "signal_values": 9}, _daily([1, 0, 0.5]), {}) == ""


def test_lag_beyond_the_calendar_is_named():
    counts = {"days": 0, "signal_values": 50, "beyond_calendar": 50, "used": 0}
    reason = no_trades_reason(counts, _daily([]), {"lag": 100000})
    assert "lag 100000 pushes all 50 signal values past the end" in reason


def test_no_position_names_fractile_and_mincos():
    counts = {"days": 0, "signal_values": 50, "beyond_calendar": 2, "used": 48}
    reason = no_trades_reason(counts, _daily([]), {"fractile": (0.0, 100.0), "mincos": 3})
    assert "fractile 0,100, mincos 3" in reason and "widen the fractile" in reason
    # Days that exist but never hold anything are no trades either.
    assert no_trades_reason({"days": 2, "signal_values": 5}, _daily([0, 0]), {}) != ""


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
