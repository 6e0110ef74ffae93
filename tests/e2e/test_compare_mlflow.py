"""``poc compare`` on two real runs in a temporary MLflow store (in-process), exactly as the
README shows it."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from poc.cli import main
from tests.support.readme import readme_commands

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def readme_run(tmp_path_factory):
    """The README's comparison block: two `poc run` suites, then `poc compare` on their ids,
    in a temporary folder with a temporary snapshot store and sqlite tracking store."""
    root = tmp_path_factory.mktemp("compare")
    shutil.copytree(ROOT / "experiments", root / "experiments")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    experiment_before = os.environ.get("MLFLOW_EXPERIMENT_ID")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # MLflow's sqlite store puts artifacts in ./mlruns: keep them here
        patch.setenv("POC_SNAPSHOT_DIR", str(root / "snapshots"))
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        mlflow.set_tracking_uri(uri)
        *runs, compare = readme_commands("Comparing runs")
        ids, outputs = [], []
        for argv in runs:
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                assert main(argv) == 0, argv
            ids.append(re.search(r"parent run: (\w+)", buffer.getvalue()).group(1))
        argv = [{"<RUN_A>": ids[0], "<RUN_B>": ids[1]}.get(a, a) for a in compare]
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            assert main([*argv, "--n-boot", "300", "--seed", "1"]) == 0
        outputs.append(buffer.getvalue())
        yield {"ids": ids, "out": outputs[0], "root": root}
    mlflow.set_tracking_uri(None)
    # mlflow.set_experiment exports MLFLOW_EXPERIMENT_ID; left behind, it would clash with
    # --experiment-name in later `mlflow run` subprocess tests.
    if experiment_before is None:
        os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    else:
        os.environ["MLFLOW_EXPERIMENT_ID"] = experiment_before


def test_compare_logs_a_sheet_linking_both_runs(readme_run, tmp_path):
    a, b = readme_run["ids"]
    out = readme_run["out"]
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


def test_compare_errors_are_clear(readme_run, capsys):
    a, _ = readme_run["ids"]
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


def test_sigterm_while_compare_logs_ends_its_run_killed(readme_run, monkeypatch, capsys):
    import signal
    import time

    from poc import interrupts

    def sigterm_at_logging(point):
        if point == "logging":
            os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID`
            time.sleep(5)  # the handler raises first

    monkeypatch.setattr(interrupts, "pause_for_test", sigterm_at_logging)
    a, b = readme_run["ids"]
    assert main(["compare", a, b, "--n-boot", "50"]) == 143
    err = capsys.readouterr().err
    assert err.strip() == "interrupted (SIGTERM) ; nothing more was done"
    client = MlflowClient()
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert client.search_runs(experiments, "attributes.status = 'RUNNING'") == []
    killed = client.search_runs(experiments, "attributes.status = 'KILLED'")
    assert [r.info.run_name.startswith("compare ") for r in killed] == [True]
