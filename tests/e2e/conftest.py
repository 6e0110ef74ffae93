"""Helpers for end-to-end tests that drive the project through `mlflow run`."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def mlflow_project(tmp_path_factory):
    """Run ``mlflow run <repo> --env-manager local ARGS`` with extra environment.

    Returns a function ``(args, env) -> (output, parent_run_id)`` that asserts a
    zero exit code (showing the output's tail otherwise). The current interpreter's
    folder goes first on PATH so the entry point's ``python`` is this environment's.
    """

    def run(args: list[str], env: dict[str, str]) -> tuple[str, str]:
        bin_dir = str(Path(sys.executable).parent)
        # mlflow.set_experiment (in-process tests) exports MLFLOW_EXPERIMENT_ID; leaked into
        # `mlflow run --experiment-name` it is refused ("Specify only one of ...").
        leaked = ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID")
        full_env = {
            **{k: v for k, v in os.environ.items() if k not in leaked},
            **env,
            "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
        }
        proc = subprocess.run(
            [str(Path(bin_dir) / "mlflow"), "run", str(ROOT), "--env-manager", "local", *args],
            # Not the repo: an experiment `mlflow run` creates in a SQL store keeps its
            # artifacts under ./mlruns of the folder it was launched from.
            cwd=tmp_path_factory.mktemp("mlflow-run"),
            env=full_env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, out[-3000:]
        return out, re.search(r"parent run: (\w+)", out).group(1)

    return run
