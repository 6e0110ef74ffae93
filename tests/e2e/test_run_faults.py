"""Faults on a real `python -m poc run` subprocess: SIGINT and SIGKILL while it computes
and while it logs, then `--resume`; and a dead tracking server. (SIGTERM through the CLI,
exit 143: tests/unit/test_resume.py, in process.)

The subprocess is paused at a named point (``POC_TEST_PAUSE_AT``) so each signal
lands deterministically. After the resume no run of the suite may be RUNNING, and
the resumed suite's children must equal an uninterrupted run's (params and metrics).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from poc import tracking
from poc.catalog import ensure_snapshot
from poc.experiment import load_spec
from poc.runner import run_experiment

ROOT = Path(__file__).resolve().parents[2]
SNAPSHOT = "synthetic-60x300-s5"
SPEC = f"""name: faults
snapshot: {SNAPSHOT}
signal: builtin:planted
baselines: false
n_jobs: 1
grid:
  lag: [0, 1, 2]
  residualize: ["off"]
  fractile: [[10, 90]]
  mincos: [3]
  tc_bps: [0]
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Snapshot store, tracking store, spec file, and an uninterrupted reference suite."""
    root = tmp_path_factory.mktemp("faults")
    store = root / "snapshots"
    uri = f"sqlite:///{root / 'mlflow.db'}"
    snapshot = ensure_snapshot(store, SNAPSHOT)
    (root / "spec.yaml").write_text(SPEC)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        # mlflow.set_experiment exports MLFLOW_EXPERIMENT_ID: setenv records its absence so
        # the context removes it again, or a later `mlflow run --experiment-name` is refused.
        patch.setenv("MLFLOW_EXPERIMENT_ID", "")
        patch.delenv("MLFLOW_EXPERIMENT_ID")
        mlflow.set_tracking_uri(uri)
        reference = run_experiment(load_spec(root / "spec.yaml"), snapshot, command="reference")
        yield {
            "root": root,
            "env": {
                # A run or experiment of an enclosing `mlflow run` must not leak in.
                **{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")},
                "PYTHONPATH": str(ROOT),
                "MLFLOW_TRACKING_URI": uri,
                "POC_SNAPSHOT_DIR": str(store),
                "POC_RESULTS_DIR": str(root / "results"),
            },
            "reference": reference.run_id,
            "experiment_id": reference.experiment_id,
        }
    mlflow.set_tracking_uri(None)


def _children(parent: str, experiment_id: str) -> dict[str, tuple[dict, dict]]:
    return {
        c["tags"]["mlflow.runName"]: (c["params"], c["metrics"])
        for c in tracking.child_runs(parent, experiment_id)
    }


def _poc(env: dict, args: list[str], extra: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "poc", *args],
        cwd=env["root"],
        env={**env["env"], **(extra or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _mlflow_resume(env: dict, parent: str) -> subprocess.CompletedProcess:
    """``mlflow run . -P experiment=spec.yaml -P resume=PARENT`` in the suite's experiment."""
    bin_dir = Path(sys.executable).parent
    return subprocess.run(
        [
            str(bin_dir / "mlflow"),
            "run",
            str(ROOT),
            "--env-manager",
            "local",
            "--experiment-name",
            "faults",
            "-P",
            f"experiment={env['root'] / 'spec.yaml'}",
            "-P",
            f"resume={parent}",
        ],
        cwd=env["root"],
        env={**env["env"], "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _signal_when_paused(
    env: dict, point: str, signum: int, under_mlflow: bool = False
) -> tuple[int, str, str]:
    """Start `poc run` (or `mlflow run` of the main entry point), wait until it pauses at
    ``point``, send ``signum``; returns (exit code, stdout, stderr).

    Under `mlflow run` the signal goes to the whole process group, as a terminal's Ctrl-C.
    """
    bin_dir = Path(sys.executable).parent
    if under_mlflow:
        command = [
            str(bin_dir / "mlflow"),
            "run",
            str(ROOT),
            "--env-manager",
            "local",
            "--experiment-name",
            "faults",
            "-P",
            f"experiment={env['root'] / 'spec.yaml'}",
        ]
    else:
        command = [sys.executable, "-m", "poc", "run", "--experiment", "spec.yaml"]
    proc = subprocess.Popen(
        command,
        cwd=env["root"],
        env={
            **env["env"],
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "POC_TEST_PAUSE_AT": point,
            "POC_TEST_PAUSE_SECONDS": "60",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    err_lines = []
    for line in proc.stderr:  # the pause announces itself on stderr
        err_lines.append(line)
        if line.startswith(f"paused at {point}"):
            break
    else:
        proc.wait(timeout=30)
        raise AssertionError("never paused:\n" + "".join(err_lines))
    if under_mlflow:
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, "".join(err_lines) + err


def _running(experiment_id: str) -> list[str]:
    runs = MlflowClient().search_runs([experiment_id], "attributes.status = 'RUNNING'")
    return [r.info.run_id for r in runs]


@pytest.mark.parametrize(
    ("signum", "point", "under_mlflow"),
    [
        (signal.SIGINT, "compute", False),
        (signal.SIGINT, "logging", True),
        (signal.SIGKILL, "compute", False),
        (signal.SIGKILL, "logging", False),
    ],
    ids=["sigint-compute", "sigint-logging-mlflow-run", "sigkill-compute", "sigkill-logging"],
)
def test_interrupted_run_resumes_to_the_uninterrupted_children(env, signum, point, under_mlflow):
    code, out, err = _signal_when_paused(env, point, signum, under_mlflow)
    parent = re.search(r"parent run: (\w+)", out).group(1)
    client = MlflowClient()
    # `mlflow run` overwrites KILLED with FAILED when its entry point exits non-zero
    # (docs/runs.md); the tag says it was an interruption.
    ended = {"FAILED", "KILLED"} if under_mlflow else {"KILLED"}
    if signum == signal.SIGINT:
        lines = [line for line in err.splitlines() if line.startswith("interrupted:")]
        assert len(lines) == 1, err
        assert f"parent run {parent} ended KILLED" in lines[0]
        if not under_mlflow:  # mlflow's own CLI reports its interruption its own way
            assert code == 130 and "Traceback" not in err, err
        run = client.get_run(parent)
        assert run.info.status in ended and run.data.tags["poc.interrupted"] == "SIGINT"
        assert parent not in _running(env["experiment_id"])
        # The printed resume command is the one a user runs.
        command = shlex.split(lines[0].split("resume with: ", 1)[1])
        assert command[:2] == ["poc", "run"] and command[-2:] == ["--resume", parent]
        args = command[1:]
    else:
        assert code == -signal.SIGKILL
        assert client.get_run(parent).info.status == "RUNNING"  # nothing could close it
        args = ["run", "--experiment", "spec.yaml", "--resume", parent]

    # The `mlflow run` case resumes through the MLproject `resume` parameter (docs/runs.md).
    resumed = _mlflow_resume(env, parent) if under_mlflow else _poc(env, args)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    new_parent = re.findall(r"parent run: (\w+)", resumed.stdout)[-1]
    expected_reuse = 1 if point == "compute" else 3
    assert f"reusing {expected_reuse} of 3 cells" in resumed.stdout
    assert _running(env["experiment_id"]) == []
    assert client.get_run(parent).info.status in ended
    assert client.get_run(new_parent).info.status == "FINISHED"
    reference = _children(env["reference"], env["experiment_id"])
    assert _children(new_parent, env["experiment_id"]) == reference
    assert (
        client.get_run(new_parent).data.tags["grade"]
        == (client.get_run(env["reference"]).data.tags["grade"])
    )


def test_dead_tracking_server_fails_fast_with_one_line(env):
    started = time.perf_counter()
    proc = _poc(
        env,
        ["run", "--experiment", "spec.yaml"],
        {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
    )
    elapsed = time.perf_counter() - started
    print(f"dead tracking server: exit {proc.returncode} after {elapsed:.2f}s")
    assert proc.returncode == 1
    assert elapsed < 10
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert err[0].startswith("error: cannot reach the MLflow tracking server")
    assert "MLFLOW_TRACKING_URI=http://127.0.0.1:9" in err[0]
