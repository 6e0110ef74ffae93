"""Experiment specs: YAML parsing, overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from poc.exceptions import ConfigError
from poc.experiment import (
    apply_overrides,
    load_spec,
    parse_list_option,
    reproduce_command,
    spec_from_dict,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted((ROOT / "experiments").glob("*.yaml")))
def test_shipped_specs_load(path):
    if path.name.startswith("allocation"):
        from poc.allocation_suite import load_allocation_spec

        assert load_allocation_spec(path).cells()
        return
    if path.name.startswith("overlays"):
        from poc.overlay_suite import load_overlay_spec

        assert load_overlay_spec(path).cells()
        return
    if path.name.startswith("portfolio"):
        from poc.portfolio.suite import load_portfolio_spec

        assert load_portfolio_spec(path).cells()
        return
    spec = load_spec(path)
    assert spec.cells() and spec.signal


def test_bare_off_in_yaml_is_the_string_off(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("signal: builtin:noise\ngrid:\n  residualize: [off, industry]\n")
    assert load_spec(path).grid["residualize"] == ["off", "industry"]


def test_unknown_top_level_key_is_named():
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['lagz'\]"):
        spec_from_dict({"signal": "builtin:noise", "lagz": [1]})


def test_unknown_grid_axis_is_named():
    with pytest.raises(ConfigError, match="grid: unknown axis 'lags'"):
        spec_from_dict({"signal": "builtin:noise", "grid": {"lags": [1]}})


@pytest.mark.parametrize(
    "grid, match",
    [
        ({"lag": [0.5]}, "grid.lag: expected whole numbers"),
        ({"fractile": [[10, 50, 90]]}, "grid.fractile: expected a \\(low, high\\) pair"),
        ({"lag": []}, "grid.lag: needs at least one value"),
        ({"lag": [1, 1]}, "grid.lag: repeated values"),
        ({"tc_bps": ["cheap"]}, "grid.tc_bps: cannot read"),
    ],
)
def test_bad_grid_values_are_named(grid, match):
    with pytest.raises(ConfigError, match=match):
        spec_from_dict({"signal": "builtin:noise", "grid": grid})


def test_missing_signal():
    with pytest.raises(ConfigError, match="signal: required"):
        spec_from_dict({"name": "x"})


def test_headline_must_be_in_grid():
    with pytest.raises(ConfigError, match=r"headline\.lag: 5 is not in grid\.lag"):
        spec_from_dict({"signal": "builtin:noise", "grid": {"lag": [0, 1]}, "headline": {"lag": 5}})
    spec = spec_from_dict(
        {"signal": "builtin:noise", "grid": {"lag": [0, 1]}, "headline": {"lag": 1}}
    )
    assert spec.headline_cell()["lag"] == 1


def test_overrides_replace_yaml_and_empty_keeps_it():
    spec = spec_from_dict({"signal": "builtin:noise", "grid": {"lag": [0, 1, 2]}, "n_jobs": 2})
    out = apply_overrides(
        spec,
        {
            "lags": "1,3",
            "residualize": "",
            "fractile": "20,80",
            "baselines": "false",
            "n_jobs": None,
        },
    )
    assert out.grid["lag"] == [1, 3]
    assert out.grid["residualize"] == spec.grid["residualize"]
    assert out.grid["fractile"] == [(20.0, 80.0)]
    assert out.baselines is False and out.n_jobs == 2
    assert len(out.cells()) == 2 * 2


def test_parse_several_fractiles():
    assert parse_list_option("fractile", "10,90;20,80") == [(10.0, 90.0), (20.0, 80.0)]


def test_reproduce_command_round_trips(tmp_path):
    spec = spec_from_dict(
        {"signal": "my sig.csv", "grid": {"lag": [0, 2], "fractile": [[20, 80], [10, 90]]}},
        source_path="experiments/default.yaml",
    )
    cmd = reproduce_command(spec, "sp500-v1")
    assert "-P 'signal=my sig.csv'" in cmd
    assert "-P 'fractile=20,80;10,90'" in cmd
    assert "-P lags=0,2" in cmd and "-P snapshot=sp500-v1" in cmd
