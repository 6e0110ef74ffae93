"""Where PBO sits when nothing has skill: ``python -m poc.pbo_null --seeds 200``.

The calibration behind the selection test of the honest verdict (docs/verdict.md):
a 50-cell grid (lags 0-4 x 10 fractiles, zero cost) of one pure-noise signal on a
40 x 500 synthetic snapshot, once per seed, and the same grid of the ``planted``
companion for contrast. For every grid it computes the probability of backtest
overfitting by CSCV (:func:`poc.trust.pbo_cscv`) over the cells' daily net returns,
exactly as a suite does (:func:`poc.trust_suite.net_matrix`), and prints the
distribution of PBO across seeds.

Under no skill the in-sample winner's out-of-sample rank is uniform, so PBO
centres on 0.5 (not above it) with a wide spread: a single grid's PBO says
"no better than a coin flip", and only a low PBO says anything in favour.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from poc import trust
from poc.panel import Panel

SNAPSHOT_SHAPE = (40, 500)  # securities x days, as the null test's snapshot
SNAPSHOT_SEED = 11
LAGS = range(5)
FRACTILES = (10, 12, 15, 20, 25, 30, 35, 40, 45, 48)  # long the top f%, short the bottom f%
BASE_CELL = {"mincos": 3, "tc_bps": 0.0, "residualize": "off"}  # zero cost: the hardest null


def selection_grid() -> list[dict]:
    """The 50 cells: every lag 0-4 with every fractile (f, 100 - f)."""
    return [
        {**BASE_CELL, "lag": lag, "fractile": (f, 100 - f)}
        for lag, f in itertools.product(LAGS, FRACTILES)
    ]


def grid_pbo(panel: Panel, signal: np.ndarray, cells: Sequence[dict]) -> trust.PBOResult:
    """PBO by CSCV of the grid ``cells`` of ``signal``, over the cells that traded."""
    from poc.suite import run_cell
    from poc.trust_suite import net_matrix

    results = [run_cell(panel, signal, p, str(i), "cell") for i, p in enumerate(cells)]
    return trust.pbo_cscv(net_matrix([r for r in results if r.ok])[0])


def null_panel(store: str) -> tuple[Panel, object]:
    """The synthetic null snapshot, created in ``store``, and its panel."""
    from poc.catalog import create_snapshot, open_snapshot
    from poc.panel import load_panel
    from poc.sources import synthetic_panel

    n_securities, n_days = SNAPSHOT_SHAPE
    create_snapshot(synthetic_panel(n_securities, n_days, seed=SNAPSHOT_SEED), store, "null")
    snapshot = open_snapshot(store, "null")
    return load_panel(snapshot), snapshot


@dataclass(frozen=True)
class NullPBO:
    """PBO of the selection grid for each noise seed, and of the planted signal."""

    seeds: list[int]
    pbo: np.ndarray
    planted_pbo: float

    def summary(self) -> dict[str, float]:
        """Mean, median, standard deviation, share above 0.5, min and max across seeds."""
        p = self.pbo
        return {
            "mean": float(p.mean()),
            "median": float(np.median(p)),
            "sd": float(p.std(ddof=1)) if len(p) > 1 else float("nan"),
            "share_above_half": float(np.mean(p > 0.5)),
            "min": float(p.min()),
            "max": float(p.max()),
        }


def null_pbo(panel: Panel, snapshot, seeds: Sequence[int]) -> NullPBO:
    """PBO of the 50-cell grid of noise for each seed (``noise(panel, seed)``), and planted."""
    from poc.contract import check_signal
    from poc.signals import load_builtin, noise
    from poc.suite import dense_signal

    cells = selection_grid()
    pbo = np.array([grid_pbo(panel, noise(panel, seed), cells).pbo for seed in seeds])
    planted = dense_signal(panel, check_signal(load_builtin(snapshot, "planted"), panel.dates))
    return NullPBO(list(seeds), pbo, grid_pbo(panel, planted, cells).pbo)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m poc.pbo_null", description=__doc__)
    parser.add_argument("--seeds", type=int, default=200, help="noise seeds (default 200)")
    parser.add_argument("--first-seed", type=int, default=500, help="first seed (default 500)")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="poc-pbo-null-") as store:
        panel, snapshot = null_panel(store)
        result = null_pbo(panel, snapshot, range(args.first_seed, args.first_seed + args.seeds))
    s = result.summary()
    n, d = SNAPSHOT_SHAPE
    print(f"PBO of a 50-cell grid (lags 0-4 x 10 fractiles, zero cost) on a {n} x {d} snapshot")
    print(
        f"noise, {len(result.seeds)} seeds: mean {s['mean']:.4f}  median {s['median']:.4f}  "
        f"sd {s['sd']:.4f}  share > 0.5 {s['share_above_half']:.3f}  "
        f"min {s['min']:.4f}  max {s['max']:.4f}"
    )
    print(f"planted: PBO {result.planted_pbo:.4f}")
    print(f"({time.perf_counter() - started:.1f}s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
