"""Every ``-P key=value`` a reproduce command prints is a parameter of its MLproject entry,
and `mlflow run` maps each to a CLI option the command accepts."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from poc.allocation_suite import allocation_spec_from_dict
from poc.cli import _allocation_command, build_parser
from poc.experiment import reproduce_command, spec_from_dict

ROOT = Path(__file__).resolve().parents[2]


def _entry(name: str) -> dict:
    return yaml.safe_load((ROOT / "MLproject").read_text())["entry_points"][name]


def _param_keys(command: str) -> tuple[str, list[str]]:
    parts = shlex.split(command)
    entry = parts[parts.index("-e") + 1] if "-e" in parts else "main"
    keys = [parts[i + 1].split("=", 1)[0] for i, p in enumerate(parts) if p == "-P"]
    return entry, keys


def _check(command: str) -> None:
    entry_name, keys = _param_keys(command)
    entry = _entry(entry_name)
    declared = set(entry["parameters"])
    rendered = entry["command"].format(**{k: "1" for k in declared})
    argv = shlex.split(rendered)[3:]  # drop "python -m poc"
    for key in declared:
        assert f"{{{key}}}" in entry["command"], key
    # Undeclared `-P key=value` are appended by `mlflow run` as `--key value` (and logged
    # only when given, never as ''): the CLI must accept each of them in that spelling.
    for key in keys:
        if key not in declared:
            argv += [f"--{key}", "1"]
    build_parser().parse_args(argv)


def test_signal_suite_command_uses_only_main_parameters():
    spec = spec_from_dict(
        {
            "signal": "builtin:planted",
            "start": "2012-01-01",
            "end": "2013-01-01",
            "max_cells": 10,
            "grid": {"lag": [0, 1], "mincos": [5], "tc_model": ["naive"]},
        },
        source_path="experiments/default.yaml",
    )
    command = reproduce_command(spec, "sp500-v1")
    assert "-P mincos=5" in command and "-P tc_model=naive" in command
    assert "-P max_cells=10" in command and "-P start=2012-01-01" in command
    _check(command)


def test_allocation_command_uses_only_allocate_parameters():
    spec = allocation_spec_from_dict(
        {
            "start": "2012-01-01",
            "max_cells": 20,
            "grid": {"model": ["regime"], "slippage_bps": [0, 2], "commission_bps": [5]},
        },
        source_path="experiments/allocation.yaml",
    )
    command = _allocation_command(spec, "sp500-v1")
    assert "-P slippage_bps=0.0,2.0" in command and "-P max_cells=20" in command
    _check(command)


def test_overlay_command_carries_its_overrides():
    from poc.cli import _overlay_command
    from poc.overlay_suite import load_overlay_spec

    spec = load_overlay_spec(ROOT / "experiments" / "overlays.yaml")
    command = _overlay_command(spec, "sp500-v1", "2015-01-01", "none,trend:200")
    assert "-P oos_start=2015-01-01" in command and "-P overlay=none,trend:200" in command
    _check(command)


def test_portfolio_command_carries_every_axis_and_the_dates():
    from poc.cli import _portfolio_command
    from poc.portfolio.suite import portfolio_spec_from_dict

    spec = portfolio_spec_from_dict(
        {
            "signal": "builtin:momentum_12_1",
            "start": "2016-01-01",
            "n_control": 1,
            "grid": {"hold_days": [21], "gate": [True, False], "max_weight": [0.2]},
        },
        source_path="experiments/portfolio.yaml",
    )
    command = _portfolio_command(spec, "sp500-v1")
    assert "-P start=2016-01-01" in command and "-P max_weight=0.2" in command
    assert "-P gate=true,false" in command
    _check(command)


def test_signal_and_allocation_commands_carry_oos_start():
    spec = spec_from_dict(
        {"signal": "builtin:planted", "oos_start": "2012-01-01"},
        source_path="experiments/default.yaml",
    )
    command = reproduce_command(spec, "sp500-v1")
    assert "-P oos_start=2012-01-01" in command
    _check(command)
    assert "oos_start" not in reproduce_command(
        spec_from_dict({"signal": "builtin:planted"}), "sp500-v1"
    )
    alloc = allocation_spec_from_dict(
        {"grid": {"model": ["ema"]}, "oos_start": 0.3}, source_path="experiments/allocation.yaml"
    )
    command = _allocation_command(alloc, "sp500-v1")
    assert "-P oos_start=0.3" in command
    _check(command)
    # The printed value reads back to the same split.
    assert allocation_spec_from_dict({"oos_start": "0.3"}).oos_start == alloc.oos_start
