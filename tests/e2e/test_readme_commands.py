"""Every shell command of the README's ```bash blocks, executed as printed.

The commands are read from ``README.md`` itself, so a README edit is covered without a test
edit. Each runs in a sandbox: a temporary working folder holding a copy of the project files
that ``mlflow run .`` needs (so ``./mlruns``, ``./poc-track.db`` land there, never in the
repository), a temporary snapshot store and a temporary SQLite tracking store. ``poc`` and
``python -m poc...`` commands run in-process (fast); ``mlflow run`` commands run as real
subprocesses. Placeholders get real values: ``<RUN_ID>``/``<RUN_A>``/``<RUN_B>`` the parent
runs printed by earlier commands, ``my_signal.parquet`` a valid signal for ``sp500-v1``,
``ret.parquet``/``risk.parquet`` a panel in the ``files`` source's format.

No other test runs a README command verbatim (the track and compare tests add ``--db`` and
``--n-boot``, the ``mlflow run`` tests add ``--experiment-name`` and other ``-P``), so every
command runs here. The exempt ones (installers, the test runner, a server) are listed in
``EXEMPT`` and asserted, so the list cannot grow silently.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from poc.cli import main as poc_main
from poc.sources import bundled_sp500, synthetic_panel

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow

# Commands not executed by any test, and why: installers change the environment, `pytest`
# is this very suite, `mlflow ui` is a server that never exits.
EXEMPT = {
    "pip install -e .": "installs the package into the environment",
    "pip install -e '.[test]'": "installs the package into the environment",
    "pytest": "the test suite itself",
    "mlflow ui": "a long-running server",
}

# What each kind of command must print (matched on the command's leading words, longest
# first). A README command of a new kind fails the test until an expectation is added here.
EXPECT = {
    "mlflow run": "parent run: ",
    "poc run": "parent run: ",
    "poc tearsheet link": "tear sheet: file://",
    "poc backtest": "decile",
    "python -m poc.bench": "run_backtest on synthetic panels",
    "python -m poc.portfolio.acceptance": "planted",
    "poc snapshot create": "created ",
    "poc snapshot list": "sp500-v1",
    "poc snapshot show": "digest",
    "poc snapshot verify": "sp500-v1",
    "poc track add": "backfilled 'planted'",
    "poc track update": "updated 'planted'",
    "poc track show": "NAV ",
    "poc track list": "planted",
    "poc compare": "comparison run: ",
    "poc signal validate": "VALID: ",
}

# README sections whose commands must run first: `poc snapshot create --source bundled`
# refuses an existing id, and the other commands create `sp500-v1` on first use.
FIRST_SECTIONS = ("Snapshots",)


def readme_command_lines() -> list[tuple[str, str]]:
    """``(section heading, command)`` for each command of each ```bash block, in order.

    A command is its words joined by :func:`shlex.join` (so ``".[test]"`` reads
    ``'.[test]'``); ``a && b`` gives two commands; trailing ``# comments`` are dropped.
    """
    section, in_block, out = "", False, []
    for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        if line.startswith("```"):
            in_block = line.strip() == "```bash" and not in_block
            continue
        if in_block and line.strip():
            argv = shlex.split(line, comments=True)
            while "&&" in argv:
                cut = argv.index("&&")
                out.append((section, shlex.join(argv[:cut])))
                argv = argv[cut + 1 :]
            out.append((section, shlex.join(argv)))
    return out


def is_exempt(command: str) -> bool:
    return command in EXEMPT


def expectation(command: str) -> str:
    matches = [k for k in EXPECT if command == k or command.startswith(k + " ")]
    assert matches, f"README command {command!r} has no expected output in EXPECT: add one"
    return EXPECT[max(matches, key=len)]


def _run_order(lines: list[tuple[str, str]]) -> list[str]:
    """Commands to execute: not exempt, each once, the FIRST_SECTIONS first."""
    seen: set[str] = set()
    ordered = [c for s, c in lines if s in FIRST_SECTIONS] + [
        c for s, c in lines if s not in FIRST_SECTIONS
    ]
    out = []
    for command in ordered:
        if is_exempt(command) or (command in seen and not _repeatable(command)):
            continue
        seen.add(command)
        out.append(command)
    return out


def _repeatable(command: str) -> bool:
    # `poc track update` twice is the point of that example (the second appends nothing).
    return command.startswith("poc track update")


def write_inputs(folder: Path) -> None:
    """The README's input files: a valid signal for ``sp500-v1`` and a ``files`` panel."""
    returns = bundled_sp500().returns[["security_id", "date", "ret"]]
    returns = returns.sort_values(["security_id", "date"])
    # A 21-day trailing mean return per name: known at the close of its date.
    value = returns.groupby("security_id")["ret"].transform(lambda r: r.rolling(21).mean())
    signal = pd.DataFrame(
        {
            "security_id": returns["security_id"],
            "date_sig": returns["date"],
            "date_avail": returns["date"],
            "signal": value,
        }
    ).dropna()
    signal.to_parquet(folder / "my_signal.parquet", index=False)
    panel = synthetic_panel(40, 300, seed=11)
    panel.returns[["security_id", "date", "ret"]].to_parquet(folder / "ret.parquet", index=False)
    panel.risk.to_parquet(folder / "risk.parquet", index=False)


def _mlflow_run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    bin_dir = Path(sys.executable).parent
    leaked = ("MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID")
    full_env = {
        **{k: v for k, v in os.environ.items() if k not in leaked},
        **env,
        "PYTHONPATH": str(ROOT),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    proc = subprocess.run(
        [str(bin_dir / "mlflow"), *argv[1:]],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _in_process(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if argv[0] == "poc":
            code = poc_main(argv[1:])
        else:  # python -m MODULE ARGS
            assert argv[:2] == ["python", "-m"], argv
            code = importlib.import_module(argv[2]).main(argv[3:])
    return int(code or 0), out.getvalue() + err.getvalue()


def _substitute(argv: list[str], parents: list[str]) -> list[str]:
    values = {}
    if parents:
        values["<RUN_ID>"] = parents[-1]
    if len(parents) >= 2:
        values["<RUN_A>"], values["<RUN_B>"] = parents[-2], parents[-1]
    for a in argv:
        assert not (a.startswith("<") and a not in values), f"no value for placeholder {a}"
    return [values.get(a, a) for a in argv]


def test_exemptions_are_exactly_the_listed_ones():
    lines = readme_command_lines()
    exempt = sorted({c for _, c in lines if is_exempt(c)})
    assert exempt == sorted(EXEMPT), exempt
    # The quick start stays two lines: the main job and the tests.
    quick = [c for s, c in lines if s == "Quick start"]
    assert quick == [
        "pip install -e .",
        "mlflow run . --env-manager local",
        "pip install -e '.[test]'",
        "pytest",
    ]
    for command in {c for _, c in lines if not is_exempt(c)}:
        expectation(command)


def test_every_readme_command_runs(tmp_path, monkeypatch):
    work = tmp_path / "work"
    work.mkdir()
    for name in ("MLproject", "conda.yaml"):
        shutil.copy(ROOT / name, work / name)
    shutil.copytree(ROOT / "experiments", work / "experiments")
    write_inputs(work)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    env = {"POC_SNAPSHOT_DIR": str(tmp_path / "snapshots"), "MLFLOW_TRACKING_URI": uri}
    experiment_before = os.environ.get("MLFLOW_EXPERIMENT_ID")
    repo_mlruns_before = (ROOT / "mlruns").exists()
    monkeypatch.chdir(work)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    mlflow.set_tracking_uri(uri)
    parents: list[str] = []
    timings: list[tuple[float, str]] = []
    try:
        for command in _run_order(readme_command_lines()):
            argv = _substitute(shlex.split(command), parents)
            started = time.perf_counter()
            if argv[0] == "mlflow":
                code, out = _mlflow_run(argv, work, env)
            else:
                code, out = _in_process(argv)
            timings.append((time.perf_counter() - started, command))
            assert code == 0, f"{command} exited {code}:\n{out[-3000:]}"
            assert expectation(command) in out, f"{command}:\n{out[-3000:]}"
            # A suite prints its parent id more than once (start and end): keep each once.
            parents += list(dict.fromkeys(re.findall(r"parent run: (\w+)", out)))
    finally:
        mlflow.set_tracking_uri(None)
        # mlflow.set_experiment exports MLFLOW_EXPERIMENT_ID; left behind it would clash
        # with --experiment-name in later `mlflow run` subprocess tests.
        if experiment_before is None:
            os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
        else:
            os.environ["MLFLOW_EXPERIMENT_ID"] = experiment_before
        for seconds, command in timings:
            print(f"{seconds:7.1f} s  {command}")
    assert (ROOT / "mlruns").exists() == repo_mlruns_before  # nothing written to the repo
    assert (work / "mlruns").is_dir()
