"""IS/OOS split of signal and allocation suites (spec key ``oos_start``, poc.oos)."""

from __future__ import annotations

import datetime as dt

import mlflow
import numpy as np
import pandas as pd
import pytest

from poc.allocation_suite import allocation_spec_from_dict, apply_allocation_overrides
from poc.cli import build_parser
from poc.exceptions import ConfigError
from poc.experiment import apply_overrides, spec_from_dict
from poc.oos import parse_oos_start, resolve_split, with_split
from poc.periods import split_metrics
from poc.suite import CellResult, run_suite

SIGNAL = {"name": "oos", "signal": "builtin:planted", "baselines": False}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0.3", 0.3),
        (0.25, 0.25),
        ("2012-06-01", "2012-06-01"),
        (dt.date(2012, 6, 1), "2012-06-01"),  # YAML reads a bare date as a date
    ],
)
def test_parse_oos_start_reads_dates_and_fractions(value, expected):
    assert parse_oos_start(value) == expected


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("1.5", r"fraction must lie in \(0, 1\)"),
        (0, r"fraction must lie in \(0, 1\)"),
        (1, r"fraction must lie in \(0, 1\)"),
        ("notadate", "cannot read 'notadate' as a date"),
        (True, "expected a date or a fraction"),
    ],
)
def test_bad_oos_start_is_a_config_error(value, match):
    with pytest.raises(ConfigError, match=match):
        parse_oos_start(value)


def test_specs_and_overrides_carry_oos_start():
    assert spec_from_dict(SIGNAL).oos_start is None  # default: no split
    spec = spec_from_dict({**SIGNAL, "oos_start": dt.date(2012, 6, 1)})
    assert spec.oos_start == "2012-06-01"
    assert apply_overrides(spec, {"oos_start": "0.4"}).oos_start == 0.4
    assert apply_overrides(spec, {"oos_start": ""}).oos_start == "2012-06-01"
    with pytest.raises(ConfigError, match="fraction must lie"):
        spec_from_dict({**SIGNAL, "oos_start": 2})
    alloc = allocation_spec_from_dict({"grid": {"model": ["ema"]}, "oos_start": "0.3"})
    assert alloc.oos_start == 0.3
    assert apply_allocation_overrides(alloc, {"oos_start": "2015-01-01"}).oos_start == "2015-01-01"
    with pytest.raises(ConfigError, match="fraction must lie"):
        apply_allocation_overrides(alloc, {"oos_start": "-0.1"})


def test_cli_accepts_both_spellings_of_oos_start():
    parser = build_parser()
    assert parser.parse_args(["run", "--oos_start", "2012-01-01"]).oos_start == "2012-01-01"
    assert parser.parse_args(["run", "--oos-start", "0.3"]).oos_start == "0.3"
    assert parser.parse_args(["allocate", "--oos_start", "0.3"]).oos_start == "0.3"
    assert parser.parse_args(["allocate", "--oos-start", "2015-01-01"]).oos_start == "2015-01-01"


def test_resolve_split_refuses_dates_outside_the_data():
    dates = pd.bdate_range("2012-01-02", periods=100)
    assert resolve_split(dates, None) is None
    assert resolve_split(dates, 0.3) == str(dates[70].date())
    assert resolve_split(dates, "2012-02-04") == "2012-02-06"  # a Saturday: next trading day
    for outside in ("2011-06-01", "2012-01-02", "2013-01-01"):
        with pytest.raises(ConfigError, match="outside the data"):
            resolve_split(dates, outside)


def test_with_split_adds_the_periods_split_and_replaces_a_stale_one():
    dates = pd.bdate_range("2012-01-02", periods=60)
    net = np.random.default_rng(3).normal(0.001, 0.01, 60)
    daily = pd.DataFrame({"date": dates, "net": net})
    cell = CellResult("c", "cell", {}, "FINISHED", {"sharpe": 1.0, "oos_sharpe": 99.0}, daily)
    split = with_split(cell, "2012-02-15")
    expected = split_metrics(pd.Series(net, index=dates), "2012-02-15")
    assert {k: split.metrics[k] for k in expected} == expected
    assert split.metrics["oos_sharpe"] != 99.0 and split.metrics["sharpe"] == 1.0
    assert with_split(cell, None) is cell
    failed = CellResult("f", "cell", {}, "FAILED", error="x")
    assert with_split(failed, "2012-02-15") is failed


def test_signal_suite_logs_oos_metrics_and_grades_the_oos_sharpe(
    synthetic_store, synthetic_snapshot, tmp_path, monkeypatch
):
    from poc.runner import run_experiment
    from poc.tearsheet import render, suite_context

    grid = {"lag": [0, 1], "mincos": [5]}
    with pytest.raises(ConfigError, match="outside the data"):
        run_suite(
            spec_from_dict({**SIGNAL, "grid": grid, "oos_start": "2030-01-01"}), synthetic_snapshot
        )
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.chdir(tmp_path)  # a SQL store's artifacts default to ./mlruns: not in the repo
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("POC_SNAPSHOT_DIR", str(synthetic_store))
    mlflow.set_tracking_uri(uri)
    spec = spec_from_dict({**SIGNAL, "grid": grid, "oos_start": 0.3})
    outcome = run_experiment(spec, synthetic_snapshot, command="poc run --oos_start 0.3")
    client = mlflow.tracking.MlflowClient(uri)
    children = client.search_runs(
        [outcome.experiment_id],
        f"tags.mlflow.parentRunId = '{outcome.run_id}'",
    )
    assert len(children) == 4
    for child in children:
        m = child.data.metrics
        assert {"is_sharpe", "oos_sharpe", "is_days", "oos_days"} <= set(m)
        assert m["is_days"] + m["oos_days"] > 250
    # The verdict's Sharpe is the headline's OOS Sharpe, not its full-period one.
    result = run_suite(spec, synthetic_snapshot)
    headline = result.cell(result.headline)
    assert result.verdict_inputs.sharpe == headline.metrics["oos_sharpe"]
    assert result.verdict_inputs.sharpe != headline.metrics["sharpe"]
    html = render("suite.html.j2", suite_context(result, {"run_id": "x", "command": "c"}))
    assert 'id="isoos"' in html and f"Sharpe graded out of sample: from {result.oos_start}" in html
    # Without oos_start: no split metrics, the full-period Sharpe is graded, no IS/OOS table.
    plain = run_suite(spec_from_dict({**SIGNAL, "grid": grid}), synthetic_snapshot)
    head = plain.cell(plain.headline)
    assert not any(k.startswith("oos_") for k in head.metrics)
    assert plain.verdict_inputs.sharpe == head.metrics["sharpe"]
    assert 'id="isoos"' not in render("suite.html.j2", suite_context(plain, {"run_id": "x"}))


def test_allocation_suite_splits_cells_and_grades_the_active_oos_sharpe(bundled_snapshot):
    from poc.allocation_sheet import allocation_context
    from poc.allocation_suite import run_allocation_suite
    from poc.tearsheet import render

    raw = {"name": "oos", "grid": {"model": ["ema"]}}
    with pytest.raises(ConfigError, match="outside the data"):
        run_allocation_suite(
            allocation_spec_from_dict({**raw, "oos_start": "1980-01-01"}), bundled_snapshot
        )
    result = run_allocation_suite(
        allocation_spec_from_dict({**raw, "oos_start": "2015-01-01"}), bundled_snapshot
    )
    cell = result.cell(result.headline)
    assert result.oos_start == "2015-01-02"  # the first trading day of 2015
    assert cell.metrics["is_days"] + cell.metrics["oos_days"] == cell.daily["net"].notna().sum()
    daily = cell.daily.set_index("date")
    active = split_metrics(daily["net"] - daily["benchmark"], result.oos_start)["oos_sharpe"]
    sharpe = next(c for c in result.verdict.components if c.name == "sharpe")
    assert sharpe.detail == f"Sharpe {active:.2f} (2.0 scores 100)"
    html = render("allocation.html.j2", allocation_context(result, {"run_id": "x"}))
    assert 'id="isoos"' in html and "active return over the benchmark" in html
