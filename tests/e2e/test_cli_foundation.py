"""The `poc` command line for snapshots and signal validation."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from poc.cli import main

CREATE_SMALL = [
    "snapshot",
    "create",
    "--source",
    "synthetic",
    "--securities",
    "30",
    "--days",
    "60",
    "--seed",
    "2",
]


@pytest.fixture
def store(tmp_path, monkeypatch):
    path = tmp_path / "store"
    monkeypatch.setenv("POC_SNAPSHOT_DIR", str(path))
    return path


def test_create_list_show_verify_and_tamper(store, capsys):
    assert main(CREATE_SMALL) == 0
    out = capsys.readouterr().out
    assert "created" in out and "synthetic-30x60-s2" in out
    assert main(["snapshot", "list"]) == 0
    assert "synthetic-30x60-s2" in capsys.readouterr().out
    assert main(["snapshot", "show", "synthetic-30x60-s2"]) == 0
    assert "planted" in capsys.readouterr().out
    assert main(["snapshot", "verify", "synthetic-30x60-s2"]) == 0

    target = store / "synthetic-30x60-s2" / "returns.parquet"
    data = bytearray(target.read_bytes())
    data[len(data) // 3] ^= 0x01
    target.write_bytes(bytes(data))
    assert main(["snapshot", "verify", "synthetic-30x60-s2"]) == 1
    assert "returns.parquet: sha256" in capsys.readouterr().err

    # An id is never reused.
    assert main(CREATE_SMALL) == 1
    assert "already exists" in capsys.readouterr().err


def test_files_source_needs_id(store, capsys):
    assert main(["snapshot", "create", "--source", "files", "--returns", "x.csv"]) == 1
    assert "--id" in capsys.readouterr().err


@pytest.fixture
def syn_store(store, capsys):
    main(
        [
            "snapshot",
            "create",
            "--source",
            "synthetic",
            "--securities",
            "20",
            "--days",
            "40",
            "--seed",
            "1",
            "--id",
            "tiny",
        ]
    )
    capsys.readouterr()
    return store


def _valid_signal():
    days = pd.bdate_range("2012-01-03", periods=10)
    return pd.DataFrame(
        {
            "security_id": np.tile(np.arange(1, 11), 10),
            "date_sig": np.repeat(days, 10),
            "date_avail": np.repeat(days, 10),
            "signal": np.linspace(-1, 1, 100),
        }
    )


def _defect(kind):
    df = _valid_signal().astype({"date_sig": object, "signal": object})
    if kind == "missing_columns":
        return df.drop(columns=["signal"])
    if kind == "unparseable_dates":
        df.loc[3, "date_sig"] = "31/31/2020"
    elif kind == "non_numeric":
        df.loc[3, "signal"] = "abc"
    elif kind == "infinite":
        df.loc[3, "signal"] = float("inf")
    elif kind == "nan_budget":
        df.loc[:9, "signal"] = np.nan
    elif kind == "duplicates":
        df = pd.concat([df, df.iloc[[3]]])
    elif kind == "lookahead":
        df.loc[3, "date_avail"] = pd.Timestamp("2011-12-01")
    elif kind == "unknown_securities":
        df.loc[3, "security_id"] = 4242
    elif kind == "outside_calendar":
        df.loc[3, "date_sig"] = pd.Timestamp("2030-01-01")
        df.loc[3, "date_avail"] = pd.Timestamp("2030-01-01")
    return df


@pytest.mark.parametrize(
    "kind",
    [
        "missing_columns",
        "unparseable_dates",
        "non_numeric",
        "infinite",
        "nan_budget",
        "duplicates",
        "lookahead",
        "unknown_securities",
        "outside_calendar",
    ],
)
def test_validate_names_each_defect(syn_store, tmp_path, capsys, kind):
    path = tmp_path / "sig.csv"
    _defect(kind).to_csv(path, index=False)
    assert main(["signal", "validate", str(path), "--snapshot", "tiny"]) == 1
    err = capsys.readouterr().err
    assert f"[{kind}]" in err
    if kind != "missing_columns":
        assert "e.g. (security_id=" in err  # example rows are shown


def test_validate_valid_file(syn_store, tmp_path, capsys):
    path = tmp_path / "sig.parquet"
    _valid_signal().to_parquet(path)
    assert main(["signal", "validate", str(path), "--snapshot", "tiny", "--lag", "1"]) == 0
    out = capsys.readouterr().out
    assert "VALID: 100 rows" in out and "earns day d+2" in out


def test_validate_refuses_pickle(syn_store, tmp_path, capsys):
    path = tmp_path / "sig.pkl"
    _valid_signal().to_pickle(path)
    assert main(["signal", "validate", str(path), "--snapshot", "tiny"]) == 1
    assert "--allow-pickle" in capsys.readouterr().err
    assert main(["signal", "validate", str(path), "--snapshot", "tiny", "--allow-pickle"]) == 0


def test_console_script_runs(syn_store):
    result = subprocess.run(
        [sys.executable, "-m", "poc", "snapshot", "verify", "tiny"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout
