"""Acceptance of the honest verdict (issue 9): noise, a planted signal, and selection.

Cheap by design: the suite's own functions (engine cells, evaluation, trust report,
verdict) are called in-process on small synthetic snapshots, without MLflow runs.
Each test prints its figures (run with ``-s`` to see them).
"""

from __future__ import annotations

import collections
import itertools

import numpy as np
import pytest

from poc import evaluation
from poc.catalog import create_snapshot, open_snapshot
from poc.contract import check_signal
from poc.experiment import spec_from_dict
from poc.panel import load_panel
from poc.signals import BASELINES, load_builtin, noise
from poc.sources import synthetic_panel
from poc.suite import dense_signal, evaluate_signal, judge, run_cell, run_suite

pytestmark = pytest.mark.slow

NULL_GRID = {"lag": [0, 1, 2], "residualize": ["off"]}
CELL = {"fractile": (10, 90), "mincos": 3, "tc_bps": 0.0}  # zero cost: the hardest null


@pytest.fixture(scope="module")
def null_store(tmp_path_factory):
    store = tmp_path_factory.mktemp("null")
    create_snapshot(synthetic_panel(40, 500, seed=11), store, "null")
    snapshot = open_snapshot(store, "null")
    panel = load_panel(snapshot)
    baselines = {
        name: dense_signal(panel, check_signal(load_builtin(snapshot, name), panel.dates))
        for name in BASELINES
    }
    return snapshot, panel, baselines


def _grid_cells(grid: dict[str, list]) -> list[dict]:
    axes = list(grid)
    return [
        {**CELL, **dict(zip(axes, values, strict=True))}
        for values in itertools.product(*grid.values())
    ]


def _baseline_results(panel, baselines, base):
    return [run_cell(panel, m, base, name, "baseline") for name, m in baselines.items()]


def _verdict_of(panel, manifest, signal, grid, base, baselines, baseline_results, headline=None):
    cells = [run_cell(panel, signal, p, str(i), "cell") for i, p in enumerate(_grid_cells(grid))]
    if headline is None:
        headline = next(c for c in cells if c.params == base)
    else:
        headline = headline(cells)
        base = headline.params
    results = cells + baseline_results
    ev = evaluate_signal(panel, signal, int(base["lag"]), baselines, headline, baseline_results)
    report, _, verdict = judge(results, headline, base, grid, ev, manifest)
    return verdict, report, ev


def test_null_noise_never_green_rarely_yellow(null_store):
    """100 seeds of pure noise, 3 cells each (lags 0-2) at zero cost, headline lag 0."""
    snapshot, panel, baselines = null_store
    base = {**CELL, "lag": 0, "residualize": "off"}
    baseline_results = _baseline_results(panel, baselines, base)
    colors, grades, dsr = collections.Counter(), collections.Counter(), []
    for seed in range(100):
        verdict, report, _ = _verdict_of(
            panel,
            snapshot.manifest,
            noise(panel, seed),
            NULL_GRID,
            base,
            baselines,
            baseline_results,
        )
        colors[verdict.color] += 1
        grades[verdict.grade] += 1
        dsr.append(report.dsr)
    print(f"\nnull verdicts: {dict(colors)} grades: {dict(sorted(grades.items()))}")
    print(
        f"null DSR: median {np.nanmedian(dsr):.3f}, "
        f"share >= 0.95 {np.mean(np.array(dsr) >= 0.95):.2f}"
    )
    assert colors["green"] == 0
    assert colors["yellow"] <= 5
    assert colors["inconclusive"] == 0


def test_null_21_day_ic_false_positive_rate(null_store):
    """1,000 noise signals (10 per seed, 100 seeds): share with |t| > 1.96 at 21 days."""
    _, panel, _ = null_store
    fwd = evaluation.forward_returns(panel.ret, 21, 0)
    rejected = collections.Counter()
    n = 0
    for seed in range(100):
        rng = np.random.default_rng(10_000 + seed)
        for _ in range(10):
            values = rng.standard_normal(panel.shape)
            s = evaluation.ic_stats(evaluation.cross_sectional_corr(values, fwd), horizon=21)
            rejected["conservative"] += abs(s.t_stat) > 1.96
            rejected["block"] += abs(s.block_t) > 1.96
            rejected["newey_west"] += abs(s.nw_t) > 1.96
            n += 1
    rates = {k: v / n for k, v in rejected.items()}
    print(f"\n21-day IC |t| > 1.96 on {n} null signals: {rates}")
    assert 0.035 <= rates["conservative"] <= 0.065


def test_planted_signal_is_green_or_yellow_with_high_dsr(tmp_path):
    """The planted companion on a 1000 x 1000 synthetic snapshot, zero cost."""
    create_snapshot(synthetic_panel(1000, 1000, seed=1), tmp_path, "big")
    snapshot = open_snapshot(tmp_path, "big")
    spec = spec_from_dict(
        {
            "name": "planted",
            "snapshot": "big",
            "signal": "builtin:planted",
            "baselines": False,  # the deflated Sharpe does not depend on them; saves time
            "grid": {
                "lag": [0, 1, 2],
                "residualize": ["off"],
                "fractile": [[10, 90]],
                "mincos": [5],
                "tc_bps": [0],
            },
        }
    )
    result = run_suite(spec, snapshot)
    v, t = result.verdict, result.trust
    print(
        f"\nplanted: {v.color} {v.grade} {v.score:.1f} (weighted {v.uncapped_score:.1f}); "
        f"DSR {t.dsr:.4f} PSR {t.psr:.4f} PBO {t.pbo:.3f} trials {t.n_trials}; "
        f"Sharpe {result.cell(result.headline).metrics['sharpe']:.2f}"
    )
    print("\n".join(f"  - {r}" for r in v.reasons))
    assert v.color in ("green", "yellow")
    assert t.dsr > 0.95


def test_selection_best_of_50_noise_cells_is_deflated(null_store):
    """50-cell grid on noise, the best cell declared headline after the fact."""
    snapshot, panel, baselines = null_store
    from poc.pbo_null import FRACTILES, LAGS, grid_pbo, selection_grid

    grid = {"lag": list(LAGS), "fractile": [(f, 100 - f) for f in FRACTILES]}
    base = {**CELL, "lag": 0, "residualize": "off"}
    baseline_results = _baseline_results(panel, baselines, base)
    rows = []
    for seed in range(5):
        verdict, report, _ = _verdict_of(
            panel,
            snapshot.manifest,
            noise(panel, 500 + seed),
            {**grid, "residualize": ["off"]},
            base,
            baselines,
            baseline_results,
            headline=lambda cells: max(cells, key=lambda c: c.metrics["sharpe"]),
        )
        rows.append((report.n_trials, report.dsr, report.pbo, verdict.color))
    print("\nselection (trials, DSR, PBO, colour):")
    print("\n".join(f"  {r[0]} {r[1]:.4f} {r[2]:.4f} {r[3]}" for r in rows))
    assert all(r[0] == 50 for r in rows)
    assert all(r[1] < 0.5 for r in rows)
    assert all(r[3] != "green" for r in rows)
    # The calibration below (poc.pbo_null) measures PBO on this very grid: same numbers.
    assert grid_pbo(panel, noise(panel, 500), selection_grid()).pbo == rows[0][2]
    # PBO is not asserted seed by seed here: see the calibration test below.


def test_pbo_of_a_noise_selection_centres_on_a_coin_flip(null_store):
    """PBO of the same 50-cell noise grid over 20 seeds, and of the planted signal's grid.

    The issue asks for PBO > 0.5 on one noise grid. Under no skill the in-sample winner's
    out-of-sample rank is uniform, so PBO centres on 0.5 with a wide spread: measured over
    200 seeds (``python -m poc.pbo_null --seeds 200``) mean 0.4993, share above 0.5 0.490,
    min 0.1046 (docs/verdict.md). What holds, and is asserted: noise centres on 0.5, and a
    signal with skill sits well below it.
    """
    from poc.pbo_null import null_pbo

    snapshot, panel, _ = null_store
    result = null_pbo(panel, snapshot, range(500, 520))
    s = result.summary()
    print(f"\nPBO of 20 noise grids: {s}; planted {result.planted_pbo:.4f}")
    standard_error = s["sd"] / np.sqrt(len(result.pbo))
    assert abs(s["mean"] - 0.5) < 3 * standard_error
    assert 0.3 < s["share_above_half"] < 0.7
    assert result.planted_pbo < 0.25


def test_lookahead_signal_is_flagged_and_capped(null_store):
    """A signal equal to the next day's return: the warning leads and the colour is capped."""
    snapshot, panel, baselines = null_store
    leak = np.full(panel.shape, np.nan)
    leak[:-1] = panel.ret[1:]  # usable at d, it "knows" the return of d + 1
    base = {**CELL, "lag": 0, "residualize": "off"}
    verdict, _, ev = _verdict_of(
        panel,
        snapshot.manifest,
        leak,
        NULL_GRID,
        base,
        baselines,
        _baseline_results(panel, baselines, base),
    )
    print(f"\nlookahead: {verdict.color} {verdict.grade}; lag-0/1 IC t {ev['ic_t_by_lag']}")
    assert verdict.reasons[0].startswith("check for lookahead or data leakage")
    assert "collapses to" in verdict.reasons[0] and "net Sharpe" in verdict.reasons[0]
    assert verdict.color != "green"


def _pbo_null(*args: str):
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "poc.pbo_null", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_pbo_null_command_prints_its_table():
    """``python -m poc.pbo_null`` as docs/verdict.md shows it, with 2 seeds instead of 200."""
    done = _pbo_null("--seeds", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].startswith("noise, 2 seeds: mean 0.5284 ")  # seeds 500, 501: PBO 0.5733, 0.4834
    assert lines[2] == "planted: PBO 0.1695"
    bad = _pbo_null("--seeds", "0")
    assert bad.returncode == 2 and "--seeds must be at least 1, got 0" in bad.stderr
    assert "Traceback" not in bad.stderr
