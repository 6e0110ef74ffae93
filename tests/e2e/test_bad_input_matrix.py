"""Bad input, as a new user or a hostile tester gives it: every case ends in one clear line.

Each case runs ``poc`` with a bad file, snapshot, parameter or spec and asserts the exit
code, exactly one ``error:`` line naming the problem (and, where it matters, the words
a fix needs), no ``Traceback``, no ``.tmp-*`` folder left in the snapshot store and no
MLflow run left RUNNING. Most cases run in-process through :func:`poc.cli.main` (fast);
a handful run ``python -m poc`` as real subprocesses to prove the boundary end to end
(Ctrl-C, a closed pipe, ``POC_DEBUG=1``).

The messages and exit codes are listed in ``docs/errors.md``.
"""

from __future__ import annotations

import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from poc.catalog import create_snapshot, ensure_snapshot, open_snapshot
from poc.cli import main
from poc.sources import synthetic_panel

ROOT = Path(__file__).resolve().parents[2]
ALLOCATION_SNAPSHOT = "synthetic-12x400-s5"


# --------------------------------------------------------------------------
# The world: a store with good and damaged snapshots, and every bad file
# --------------------------------------------------------------------------


def _write_signal_files(d: Path, good: pd.DataFrame) -> None:
    good.to_csv(d / "good.csv", index=False)
    (d / "empty.csv").write_text("")
    (d / "header.csv").write_text("security_id,date_sig,date_avail,signal\n")
    (d / "adir.csv").mkdir()
    (d / "latin1.csv").write_bytes(
        "security_id,date_sig,date_avail,signal,caf\xe9\n1,2012-01-03,2012-01-03,0.5,x\n".encode(
            "latin1"
        )
    )
    good.head(50).to_csv(d / "csv_inside.parquet", index=False)
    (d / "pickle_inside.parquet").write_bytes(pickle.dumps(good.head(50), protocol=4))
    good.head(50).to_pickle(d / "sig.pkl")
    good.head(50).to_parquet(d / "parquet_inside.csv")
    (d / "damaged.parquet").write_bytes(b"PAR1" + b"\x00garbage" * 20)
    (d / "sig.xlsx").write_bytes(b"PK\x03\x04")

    as_int = good.copy()
    ymd = pd.to_datetime(as_int["date_sig"]).dt.strftime("%Y%m%d").astype(int)
    as_int["date_sig"], as_int["date_avail"] = ymd, ymd
    as_int.to_csv(d / "yyyymmdd.csv", index=False)
    epoch = good.copy()
    seconds = pd.to_datetime(epoch["date_sig"]).astype("int64") // 10**9
    epoch["date_sig"], epoch["date_avail"] = seconds, seconds
    epoch.to_csv(d / "epoch.csv", index=False)
    dst = good.copy()  # 2012-03-11: New York switches from -05:00 to -04:00
    local = pd.to_datetime(dst["date_sig"]).dt.tz_localize("America/New_York").astype(str)
    dst["date_sig"], dst["date_avail"] = local, local
    dst.to_csv(d / "dst.csv", index=False)

    header = "security_id,date_sig,date_avail,signal,signal\n"
    (d / "two_signals.csv").write_text(header + "2,2012-01-03,2012-01-03,0.1,0.2\n")
    good.drop(columns="signal").to_csv(d / "no_signal_column.csv", index=False)
    nans = good.copy()
    nans.loc[nans.index[::2], "signal"] = np.nan
    nans.to_csv(d / "nans.csv", index=False)
    pd.concat([good, good.head(5)]).to_csv(d / "duplicates.csv", index=False)
    early = good.copy()
    early["date_avail"] = pd.to_datetime(early["date_sig"]) - pd.Timedelta(days=3)
    early.to_csv(d / "lookahead.csv", index=False)
    text = good.copy().astype({"signal": object})
    text.loc[text.index[0], "signal"] = "high"
    text.to_csv(d / "text_signal.csv", index=False)
    inf = good.copy()
    inf.loc[inf.index[0], "signal"] = np.inf
    inf.to_csv(d / "infinite.csv", index=False)
    unknown = good.copy()
    unknown.loc[unknown.index[:3], "security_id"] = 999_999
    unknown.to_csv(d / "unknown_ids.csv", index=False)
    outside = good.copy()
    outside["date_sig"], outside["date_avail"] = "1999-01-04", "1999-01-04"
    outside.head(20).to_csv(d / "outside.csv", index=False)
    tickers = good.copy().astype({"security_id": object})
    tickers.loc[tickers.index[0], "security_id"] = "AAPL"
    tickers.to_csv(d / "ticker_ids.csv", index=False)
    bad_date = good.astype({"date_sig": object})
    bad_date.loc[bad_date.index[0], "date_sig"] = "notadate"
    bad_date.to_csv(d / "bad_date.csv", index=False)
    good.to_csv(d / "semicolon.csv", index=False, sep=";")
    (d / "ragged.csv").write_text(
        "security_id,date_sig,date_avail,signal\n2,2012-01-03,2012-01-03,0.1\n"
        "3,2012-01-03,2012-01-03,0.2,9,9\n"
    )


def _write_returns_files(d: Path, returns: pd.DataFrame) -> None:
    base = returns[["security_id", "date", "ret"]].copy()
    dst = base.copy()
    dst["date"] = dst["date"].dt.tz_localize("America/New_York").astype(str)
    dst.to_csv(d / "ret_dst.csv", index=False)
    base.drop(columns="ret").to_csv(d / "ret_no_ret.csv", index=False)
    (d / "ret_latin1.csv").write_bytes(
        "security_id,date,ret\n1,2012-01-03,0.01 \xe9\n".encode("latin1")
    )
    base.head(50).to_pickle(d / "ret.pkl")
    pd.concat([base, base.head(3)]).to_csv(d / "ret_duplicates.csv", index=False)
    epoch = base.copy()
    epoch["date"] = epoch["date"].astype("int64") // 10**9
    epoch.to_csv(d / "ret_epoch.csv", index=False)
    (d / "ret_empty.csv").write_text("")
    (d / "ret_dir").mkdir()


def _write_specs(d: Path) -> None:
    sig = "name: matrix\nsnapshot: syn\nsignal: builtin:planted\nbaselines: false\n"
    grid = "grid:\n  lag: [0, 1]\n  residualize: ['off']\n  mincos: [3]\n"
    specs = {
        "sig.yaml": sig + grid,
        "bad_syntax.yaml": "name: [unclosed\n",
        "headline_list.yaml": sig + "headline: [0, 1]\n" + grid,
        "start_after_end.yaml": sig + "start: '2012-05-01'\nend: '2012-02-01'\n" + grid,
        "start_not_date.yaml": sig + "start: soon\n" + grid,
        "unknown_key.yaml": sig + "lags: [0]\n" + grid,
        "unknown_axis.yaml": sig + "grid:\n  lookback: [5]\n",
        "top_list.yaml": "- name: x\n",
        "no_signal.yaml": "name: x\nsnapshot: syn\n",
        "n_jobs_zero.yaml": sig + "n_jobs: 0\n" + grid,
        "headline_not_in_grid.yaml": sig + "headline: {lag: 5}\n" + grid,
        "python_tag.yaml": sig + "description: !!python/object/apply:os.system ['true']\n",
        "half_lag.yaml": sig + "grid:\n  lag: [0.5]\n",
        "max_cells.yaml": sig + "max_cells: 1\n" + grid,
        "pickle_signal.yaml": f"name: x\nsnapshot: syn\nsignal: {d / 'sig.pkl'}\nbaselines: false\n"
        + grid,
    }
    for name, text in specs.items():
        (d / name).write_text(text)
    (d / "latin1.yaml").write_bytes("name: caf\xe9\nsignal: builtin:planted\n".encode("latin1"))
    (d / "spec_dir").mkdir()
    alloc = f"name: matrix-alloc\nsnapshot: {ALLOCATION_SNAPSHOT}\n"
    alloc_grid = "grid:\n  model: [ema]\n  max_weight: [0.4]\n  delay: [0, 1]\n"
    allocation = {
        "alloc.yaml": alloc + alloc_grid,
        "alloc_headline_list.yaml": alloc + "headline: [ema]\n" + alloc_grid,
        "alloc_unknown_axis.yaml": alloc + "grid:\n  lookahead: [1]\n",
        "alloc_start_after_end.yaml": alloc
        + "start: '2013-01-01'\nend: '2012-01-01'\n"
        + alloc_grid,
    }
    for name, text in allocation.items():
        (d / name).write_text(text)


def _damage_store(store: Path) -> None:
    (store / "nomani").mkdir()
    for name, text in (("emptymani", "{}"), ("badjson", "{bad"), ("listmani", "[1, 2]")):
        shutil.copytree(store / "syn", store / name)
        (store / name / "manifest.json").write_text(text)
    shutil.copytree(store / "syn", store / "tampered")
    returns = store / "tampered" / "returns.parquet"
    data = bytearray(returns.read_bytes())
    data[len(data) // 2] ^= 0xFF
    returns.write_bytes(bytes(data))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Files and stores for every case; the working folder and MLflow store are temporary."""
    d = tmp_path_factory.mktemp("bad_input")
    store = d / "store"
    create_snapshot(synthetic_panel(30, 120, seed=3), store, "syn")
    ensure_snapshot(store, ALLOCATION_SNAPSHOT)
    syn = open_snapshot(store, "syn")
    _write_signal_files(d, syn.read("signals/planted"))
    _write_returns_files(d, syn.read("returns"))
    _write_specs(d)
    _damage_store(store)
    (d / "store_file").write_text("not a folder")
    uri = f"sqlite:///{d / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(d)
        patch.setenv("POC_SNAPSHOT_DIR", str(store))
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("POC_DEBUG", raising=False)
        patch.delenv("MLFLOW_RUN_ID", raising=False)
        mlflow.set_tracking_uri(uri)
        yield {"d": d, "store": store, "uri": uri}
    mlflow.set_tracking_uri(None)


# --------------------------------------------------------------------------
# The cases
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """``poc ARGV`` (``{d}`` is the world's folder) and what it must print."""

    id: str
    argv: tuple[str, ...]
    words: tuple[str, ...] = ()
    code: int = 1
    absent: tuple[str, ...] = ()
    out: tuple[str, ...] = field(default=())


def _validate(name: str, *words: str, code: int = 1, extra=(), absent=(), out=()) -> Case:
    argv = ("signal", "validate", f"{{d}}/{name}", "--snapshot", "syn", *extra)
    suffix = "".join(extra).replace("--", "-")
    return Case(f"validate-{name}{suffix}", argv, words, code, absent, out)


def _files(name: str, *words: str, code: int = 1, absent=(), sid=None) -> Case:
    argv = ("snapshot", "create", "--source", "files", "--returns", f"{{d}}/{name}")
    return Case(f"create-{name}", (*argv, "--id", sid or "from-files"), words, code, absent)


def _run(case_id: str, *args: str, words=(), code=1, spec="sig.yaml") -> Case:
    return Case(f"run-{case_id}", ("run", "--experiment", f"{{d}}/{spec}", *args), words, code)


def _alloc(case_id: str, *args: str, words=(), code=1, spec="alloc.yaml") -> Case:
    return Case(
        f"allocate-{case_id}", ("allocate", "--experiment", f"{{d}}/{spec}", *args), words, code
    )


SIGNAL_FILES = [
    _validate("empty.csv", "empty.csv", "is empty (0 bytes)", "header row"),
    _validate("header.csv", "[empty]", "no rows"),
    _validate("adir.csv", "adir.csv", "is a folder, not a file"),
    _validate("latin1.csv", "latin1.csv", "is not UTF-8", "iconv"),
    _validate("csv_inside.parquet", "not a parquet file", "CSV text", "csv_inside.csv"),
    _validate("pickle_inside.parquet", "holds a pickle despite its name", "--allow-pickle"),
    _validate("parquet_inside.csv", "has a CSV name but holds parquet"),
    _validate("damaged.parquet", "damaged parquet file"),
    _validate("sig.pkl", "holds a pickle", "--allow-pickle"),
    _validate("sig.xlsx", "unknown file type '.xlsx'", ".csv or .parquet"),
    _validate("missing.csv", "does not exist"),
    _validate("yyyymmdd.csv", code=0, out=("VALID",)),
    _validate("dst.csv", code=0, out=("VALID", "2012-01-03")),
    _validate("epoch.csv", "epoch seconds", "unit='s'", absent=("duplicate",)),
    _validate("two_signals.csv", "['signal'] more than once"),
    _validate("no_signal_column.csv", "[missing_columns]", "signal"),
    _validate("nans.csv", "[nan_budget]", "--nan-budget"),
    _validate("duplicates.csv", "[duplicates]", "drop duplicates"),
    _validate("lookahead.csv", "[lookahead]", "date_avail before date_sig"),
    _validate("text_signal.csv", "[non_numeric]", "'high'"),
    _validate("infinite.csv", "[infinite]", "clip or drop"),
    _validate("unknown_ids.csv", "[unknown_securities]", "999999"),
    _validate("outside.csv", "[outside_calendar]", "1999-01-04"),
    _validate("ticker_ids.csv", "[bad_security_id]", "AAPL"),
    _validate("bad_date.csv", "[unparseable_dates]", "notadate"),
    _validate("semicolon.csv", "[missing_columns]"),
    _validate("ragged.csv", "ragged.csv is not a readable CSV", "delimiter"),
    _validate("good.csv", "--lag must be 0 or more", extra=("--lag", "-1")),
    _validate(
        "good.csv",
        "--nan-budget is a share between 0 and 1",
        "pass 0.05",
        extra=("--nan-budget", "5"),
    ),
    _validate("good.csv", "--nan-budget is a share", extra=("--nan-budget", "-0.1")),
    _validate("good.csv", "invalid int value", code=2, extra=("--lag", "abc")),
    Case(
        "backtest-pickle",
        ("backtest", "--signal", "{d}/sig.pkl", "--snapshot", "syn"),
        ("holds a pickle", "--allow-pickle"),
    ),
    Case(
        "backtest-empty",
        ("backtest", "--signal", "{d}/empty.csv", "--snapshot", "syn"),
        ("is empty",),
    ),
]

SNAPSHOTS = [
    Case("show-unknown", ("snapshot", "show", "nosuch"), ("no snapshot 'nosuch'", "known:")),
    Case("show-newline-id", ("snapshot", "show", "syn\n"), ("is not valid",)),
    Case("show-traversal", ("snapshot", "show", "../etc"), ("is not valid",)),
    Case(
        "show-no-manifest",
        ("snapshot", "show", "nomani"),
        ("'nomani' is damaged", "no manifest.json"),
        absent=("no snapshot",),
    ),
    Case("show-empty-manifest", ("snapshot", "show", "emptymani"), ("damaged", "lacks the key")),
    Case("show-bad-json", ("snapshot", "show", "badjson"), ("damaged", "not valid JSON")),
    Case("show-list-manifest", ("snapshot", "show", "listmani"), ("does not hold a JSON object",)),
    Case("list-with-damaged", ("snapshot", "list"), code=0, out=("DAMAGED", "syn ")),
    Case(
        "verify-tampered",
        ("snapshot", "verify", "tampered"),
        ("FAILED verification", "returns.parquet: sha256"),
    ),
    Case(
        "validate-on-tampered",
        ("signal", "validate", "{d}/good.csv", "--snapshot", "tampered"),
        ("failed verification", "returns.parquet"),
    ),
    Case(
        "validate-on-damaged",
        ("signal", "validate", "{d}/good.csv", "--snapshot", "nomani"),
        ("damaged",),
    ),
    Case(
        "list-store-is-file",
        ("snapshot", "list", "--store", "{d}/store_file"),
        ("is a file, not a folder", "--store"),
    ),
    Case(
        "create-store-is-file",
        (
            "snapshot",
            "create",
            "--source",
            "synthetic",
            "--securities",
            "5",
            "--days",
            "30",
            "--store",
            "{d}/store_file",
        ),
        ("is a file, not a folder",),
    ),
    Case(
        "validate-store-is-file",
        ("signal", "validate", "{d}/good.csv", "--snapshot", "syn", "--store", "{d}/store_file"),
        ("is a file, not a folder",),
    ),
    Case(
        "create-existing",
        ("snapshot", "create", "--source", "synthetic", "--id", "syn"),
        ("already exists", "syn-v2"),
    ),
    Case(
        "create-bad-id",
        ("snapshot", "create", "--source", "synthetic", "--id", "a b"),
        ("is not valid",),
    ),
    Case(
        "create-securities-text",
        ("snapshot", "create", "--source", "synthetic", "--securities", "abc"),
        ("--securities must be a number",),
    ),
    Case(
        "create-files-no-returns",
        ("snapshot", "create", "--source", "files", "--id", "x"),
        ("--returns",),
    ),
    _files("ret_no_ret.csv", "missing column(s) ['ret']"),
    _files("ret_latin1.csv", "not UTF-8"),
    _files("ret.pkl", "holds a pickle", absent=("--allow-pickle",)),
    _files("ret_duplicates.csv", "3 duplicate (security_id, date) rows"),
    _files("ret_epoch.csv", "epoch seconds"),
    _files("ret_empty.csv", "is empty"),
    _files("ret_dir", "is a folder, not a file"),
    _files("missing.csv", "does not exist"),
    _files("ret_dst.csv", code=0, sid="dst-files"),
]

PARAMETERS = [
    _run("n-jobs-zero", "--n-jobs", "0", words=("n_jobs: 0 is not allowed",)),
    _run("n-jobs-text", "--n-jobs", "abc", words=("n_jobs: expected a whole number", "'abc'")),
    _run("start-not-date", "--start", "notadate", words=("start='notadate' is not a date",)),
    _run(
        "start-after-end",
        "--start",
        "2012-05-01",
        "--end",
        "2012-02-01",
        words=("start 2012-05-01 is after end 2012-02-01",),
    ),
    _run("negative-lag", "--lags", "-1", words=("lag=-1 is not valid",)),
    _run("lag-text", "--lags", "a", words=("grid.lag: cannot read",)),
    _run("fractile-single", "--fractile", "10", words=("grid.fractile", "pair")),
    _run("fractile-reversed", "--fractile", "90,10", words=("low must be below high",)),
    _run("weight-bogus", "--weight", "bogus", words=("weight='bogus'", "equal, signal")),
    _run("residualize-bogus", "--residualize", "bogus", words=("residualize='bogus'",)),
    _run("tc-model-bogus", "--tc-model", "bogus", words=("tc_model='bogus'",)),
    _run("rebalance-bogus", "--rebalance", "yearly", words=("rebalance='yearly'",)),
    _run("backend-bogus", "--backend", "nosuch", words=("not a joblib backend",)),
    _run("baselines-bogus", "--baselines", "maybe", words=("baselines: expected true or false",)),
    _run(
        "max-cells-small",
        "--max-cells",
        "1",
        words=("2 cells", "more than max_cells=1", "--max-cells 2", "-P max_cells=2"),
    ),
    _run("max-cells-zero", "--max-cells", "0", words=("max_cells: expected a positive",)),
    _run(
        "grid-too-big",
        "--lags",
        ",".join(map(str, range(300))),
        "--residualize",
        "off,industry,all",
        "--weight",
        "equal,signal",
        "--rebalance",
        "daily,weekly,monthly",
        words=("5,400 cells", "300 lag"),
    ),
    _run(
        "grid-unbounded",
        "--lags",
        ",".join(map(str, range(10_000))),
        "--tc-bps",
        ",".join(map(str, range(1000))),
        words=("10,000,000 cells", "--max-cells 10000000"),
    ),
    _run("snapshot-unknown", "--snapshot", "nosuch", words=("no snapshot 'nosuch'",)),
    _run("signal-missing", "--signal", "{d}/missing.csv", words=("does not exist",)),
    _run("signal-pickle", spec="pickle_signal.yaml", words=("holds a pickle",)),
]

SPECS = [
    _run("yaml-syntax", spec="bad_syntax.yaml", words=("not valid YAML",)),
    _run("yaml-latin1", spec="latin1.yaml", words=("latin1.yaml", "is not UTF-8")),
    _run(
        "yaml-headline-list",
        spec="headline_list.yaml",
        words=("headline: expected a mapping", "[0, 1]"),
    ),
    _run("yaml-start-after-end", spec="start_after_end.yaml", words=("is after end",)),
    _run("yaml-start-not-date", spec="start_not_date.yaml", words=("start='soon' is not a date",)),
    _run("yaml-dir", spec="spec_dir", words=("is a folder, not a file",)),
    _run("yaml-missing", spec="missing.yaml", words=("does not exist",)),
    _run("yaml-unknown-key", spec="unknown_key.yaml", words=("unknown key(s) ['lags']",)),
    _run("yaml-unknown-axis", spec="unknown_axis.yaml", words=("unknown axis 'lookback'",)),
    _run("yaml-top-level-list", spec="top_list.yaml", words=("must be a mapping",)),
    _run("yaml-no-signal", spec="no_signal.yaml", words=("signal: required",)),
    _run("yaml-n-jobs-zero", spec="n_jobs_zero.yaml", words=("n_jobs: 0 is not allowed",)),
    _run(
        "yaml-headline-not-in-grid",
        spec="headline_not_in_grid.yaml",
        words=("headline.lag", "is not in grid.lag"),
    ),
    _run("yaml-python-tag", spec="python_tag.yaml", words=("not valid YAML",)),
    _run("yaml-half-lag", spec="half_lag.yaml", words=("grid.lag: expected whole numbers",)),
    _run("yaml-max-cells", spec="max_cells.yaml", words=("more than max_cells=1",)),
]

ALLOCATION = [
    _alloc("n-jobs-text", "--n-jobs", "abc", words=("n_jobs: expected a whole number",)),
    _alloc("n-jobs-zero", "--n-jobs", "0", words=("n_jobs: 0 is not allowed",)),
    _alloc("start-not-date", "--start", "notadate", words=("is not a date",)),
    _alloc("start-after-end", spec="alloc_start_after_end.yaml", words=("is after end",)),
    _alloc("too-few-days", "--start", "2013-05-01", words=("trading days", "at least 300")),
    _alloc("model-bogus", "--model", "mvo", words=("model must be one of",)),
    _alloc("slippage-negative", "--slippage-bps", "-2", words=("slippage_bps must be in",)),
    _alloc(
        "regime-caps",
        "--model",
        "regime",
        "--max-weight",
        "0.02",
        words=(
            "model regime",
            "0.02 x 12 assets = 0.24 < invested 1",
            "raise max_weight to at least 0.08333",
        ),
    ),
    # Synthetic sectors (IND01...) are no GICS sectors: the regime model is refused up front.
    _alloc(
        "regime-sectors",
        "--model",
        "regime",
        words=("model regime cannot run on snapshot", "no GICS sector", "--model ema,hrp"),
    ),
    _alloc(
        "hrp-caps",
        "--model",
        "hrp",
        "--max-weight",
        "0.02",
        words=("model hrp", "could never be fully invested"),
    ),
    Case(
        "allocate-ema-caps",
        ("allocate", "--experiment", "{d}/alloc.yaml", "--max-weight", "0.02"),
        ("model ema", "raise max_weight to at least 0.2"),
        absent=("top_k to",),
    ),
    _alloc("max-cells", "--max-cells", "1", words=("2 cells", "more than max_cells=1")),
    _alloc("spec-dir", spec="spec_dir", words=("is a folder",)),
    _alloc("headline-list", spec="alloc_headline_list.yaml", words=("expected a mapping",)),
    _alloc("unknown-axis", spec="alloc_unknown_axis.yaml", words=("unknown axis 'lookahead'",)),
    _alloc("snapshot-unknown", "--snapshot", "nosuch", words=("no snapshot 'nosuch'",)),
]

CLI = [
    Case("gc-dry-run", ("snapshot", "gc", "--dry-run"), code=0, out=("no stale temporary",)),
    Case("gc", ("snapshot", "gc"), code=0, out=("no stale temporary",)),
    Case("link-malformed", ("tearsheet", "link", "nosuchrun"), ("not an MLflow run id",)),
    Case("link-traversal", ("tearsheet", "link", "../../etc"), ("not an MLflow run id",)),
    Case("link-unknown", ("tearsheet", "link", "0" * 32), ("no run 000", "MLFLOW_TRACKING_URI")),
    Case(
        "backtest-start-not-date",
        ("backtest", "--signal", "{d}/good.csv", "--snapshot", "syn", "--start", "notadate"),
        ("is not a date",),
    ),
    Case(
        "backtest-start-after-end",
        (
            "backtest",
            "--signal",
            "{d}/good.csv",
            "--snapshot",
            "syn",
            "--start",
            "2012-05-01",
            "--end",
            "2012-02-01",
        ),
        ("is after end",),
    ),
    Case(
        "backtest-fractile",
        ("backtest", "--signal", "{d}/good.csv", "--snapshot", "syn", "--fractile", "a,b"),
        ("--fractile must be LOW,HIGH",),
    ),
    Case(
        "backtest-builtin-unknown",
        ("backtest", "--signal", "builtin:nosuch", "--snapshot", "syn"),
        ("unknown builtin signal 'nosuch'",),
    ),
    Case("no-command", (), ("required",), code=2),
    Case("unknown-command", ("frobnicate",), ("invalid choice",), code=2),
]

CASES = SIGNAL_FILES + SNAPSHOTS + PARAMETERS + SPECS + ALLOCATION + CLI
TOUCHES_MLFLOW = ("run", "allocate", "tearsheet")
MLFLOW_LOG = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d INFO mlflow[.\w]*: ")


def _running_runs() -> list[str]:
    client = MlflowClient()
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, "attributes.status = 'RUNNING'") if ids else []
    return [r.info.run_id for r in runs]


def _tmp_left(store: Path) -> list[Path]:
    return sorted(store.rglob(".tmp-*"))


def _check_output(case: Case, code: int, out: str, err: str) -> None:
    assert code == case.code, f"exit {code}, expected {case.code}\nout: {out}\nerr: {err}"
    assert "Traceback" not in out + err
    error_lines = [line for line in err.splitlines() if "error:" in line]
    if case.code == 0:
        assert not error_lines, err
    else:
        assert len(error_lines) == 1, err
        if case.code == 1:
            # Only MLflow's own INFO log lines (a new experiment, a new database) may join it.
            ours = [line for line in err.splitlines() if not MLFLOW_LOG.match(line)]
            assert len(ours) == 1 and ours[0].startswith("error: "), err
        for word in case.words:
            assert word in error_lines[0], f"{word!r} not in: {error_lines[0]}"
        for word in case.absent:
            assert word not in error_lines[0], f"{word!r} in: {error_lines[0]}"
    for word in case.out:
        assert word in out, f"{word!r} not in stdout: {out}"


def test_the_matrix_has_enough_cases():
    assert len(CASES) >= 60
    assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, world, capsys):
    argv = [a.replace("{d}", str(world["d"])) for a in case.argv]
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors exit 2 by themselves
        code = exc.code
    captured = capsys.readouterr()
    _check_output(case, code, captured.out, captured.err)
    assert _tmp_left(world["store"]) == []
    if argv and argv[0] in TOUCHES_MLFLOW:
        assert _running_runs() == []


# --------------------------------------------------------------------------
# Real subprocesses: the boundary end to end
# --------------------------------------------------------------------------


def _env(world, **extra) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "POC_SNAPSHOT_DIR": str(world["store"]),
        "MLFLOW_TRACKING_URI": world["uri"],
    }
    env.pop("POC_DEBUG", None)
    env.update(extra)
    return env


def _poc(world, *args, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "poc", *args],
        cwd=world["d"],
        env=_env(world, **extra),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("signal", "validate", "{d}/latin1.csv", "--snapshot", "syn"), ("is not UTF-8",)),
        (("run", "--experiment", "{d}/headline_list.yaml"), ("headline: expected a mapping",)),
        (("tearsheet", "link", "f" * 32), ("no run fff",)),
    ],
    ids=["validate-latin1", "run-headline-list", "link-unknown"],
)
def test_subprocess_prints_one_line_and_exits_1(world, args, words):
    proc = _poc(world, *[a.replace("{d}", str(world["d"])) for a in args])
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    ours = [line for line in proc.stderr.splitlines() if not MLFLOW_LOG.match(line)]
    assert len(ours) == 1 and ours[0].startswith("error: "), proc.stderr
    for word in words:
        assert word in proc.stderr
    assert _running_runs() == []


@pytest.mark.slow
def test_subprocess_poc_debug_shows_the_traceback(world):
    proc = _poc(world, "run", "--experiment", str(world["d"] / "bad_syntax.yaml"), POC_DEBUG="1")
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr
    assert proc.stderr.rstrip().splitlines()[-1].startswith("error: ")


@pytest.mark.slow
def test_subprocess_closed_pipe_exits_quietly(world):
    """`poc snapshot list | head -0`: the reader is gone before the first line is written."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "poc", "snapshot", "list"],
        cwd=world["d"],
        env=_env(world),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert err == ""


@pytest.mark.slow
def test_subprocess_ctrl_c_during_snapshot_creation(world, tmp_path):
    """SIGINT mid-creation: one line, exit 130, and no half-written `.tmp-*` folder left."""
    store = tmp_path / "store"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "poc",
            "snapshot",
            "create",
            "--source",
            "synthetic",
            "--securities",
            "500",
            "--days",
            "1500",
            "--store",
            str(store),
        ],
        cwd=world["d"],
        env=_env(world),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not list(store.glob(".tmp-*")) and proc.poll() is None:  # writing has begun
        assert time.monotonic() < deadline, "the creation never started writing"
        time.sleep(0.005)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in out + err
    assert err.startswith("interrupted") and err.count("\n") == 1, err
    assert _tmp_left(store) == [] and not (store / "synthetic-500x1500-s1").exists()
