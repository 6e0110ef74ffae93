"""Benchmark of one complete backtest: ``python -m poc.bench``.

For synthetic panels of 500 x 756 and 3000 x 2520 (securities x days) it
prints the wall time and peak memory of :func:`poc.engine.run_backtest`
(every output: daily table, summary with years and cap terciles, decile
table) for each residualization, with the panel and the dense signal already
in memory (built from :func:`poc.sources.synthetic_panel`, not timed).

* Wall time: best of several runs (``time.perf_counter``), after one
  warm-up run. The warm-up also builds the panel's derived arrays that depend
  on the data only (cap-tercile layout, standardized style stack), which a
  suite computes once per panel, not once per backtest.
* Peak memory: the peak of memory allocated by Python and numpy during one
  run, above what was allocated before it (``tracemalloc``, which numpy
  reports its array buffers to), in a separate run so tracing does not
  slow the timed ones. The process's lifetime peak resident set size
  (``resource.getrusage``) is printed at the end for context.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
import tracemalloc
from collections.abc import Sequence

import numpy as np

from poc.contract import align_signal, check_signal
from poc.engine import RESIDUALIZE, BacktestConfig, run_backtest
from poc.panel import Panel, panel_from_data, signal_matrix
from poc.sources import synthetic_panel

SIZES = ((500, 756), (3000, 2520))


def planted_panel(n_securities: int, n_days: int, seed: int = 1) -> tuple[Panel, np.ndarray]:
    """A synthetic panel and its planted signal as a dense matrix."""
    data = synthetic_panel(n_securities, n_days, seed)
    panel = panel_from_data(data, snapshot_id=f"synthetic-{n_securities}x{n_days}-s{seed}")
    clean = check_signal(data.signals["planted"], panel.dates, panel.security_ids)
    return panel, signal_matrix(align_signal(clean, panel.dates), panel)


def time_backtest(panel: Panel, signal: np.ndarray, config: BacktestConfig, repeat: int) -> float:
    """Best wall time of ``repeat`` runs, in seconds."""
    best = np.inf
    for _ in range(repeat):
        started = time.perf_counter()
        run_backtest(panel, signal, config)
        best = min(best, time.perf_counter() - started)
    return best


def peak_memory(panel: Panel, signal: np.ndarray, config: BacktestConfig) -> int:
    """Peak bytes allocated during one run above the level before it (tracemalloc)."""
    gc.collect()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    run_backtest(panel, signal, config)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak - base


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m poc.bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--repeat", type=int, default=15, help="timed runs per small cell (best is shown)"
    )
    parser.add_argument("--small-only", action="store_true", help="only the 500 x 756 panel")
    parser.add_argument(
        "--suite",
        action="store_true",
        help="compute vs MLflow logging time of a 30-cell suite (SQLite and a local server)",
    )
    parser.add_argument("--no-server", action="store_true", help="with --suite: SQLite only")
    args = parser.parse_args(argv)
    if args.suite:
        from poc.bench_suite import main as suite_main

        return suite_main(servers=not args.no_server)

    print("run_backtest on synthetic panels (planted signal, lag 0, deciles, equal weights)")
    print("time = best wall time of the runs; peak = tracemalloc peak during one run")
    header = (
        f"{'panel':>12} {'rows':>10} {'residualize':>11} {'time s':>9} {'rows/s':>12} "
        f"{'peak MB':>9}"
    )
    print(header)
    print("-" * len(header))
    for n_securities, n_days in SIZES[:1] if args.small_only else SIZES:
        panel, signal = planted_panel(n_securities, n_days)
        rows = n_securities * n_days
        repeat = args.repeat if rows < 1_000_000 else max(2, args.repeat // 4)
        for mode in RESIDUALIZE:
            config = BacktestConfig(residualize=mode)
            run_backtest(panel, signal, config)  # warm-up: imports, page faults of the panel
            seconds = time_backtest(panel, signal, config, repeat)
            peak = peak_memory(panel, signal, config)
            print(
                f"{n_securities:>5} x {n_days:<4} {rows:>10,} {mode:>11} {seconds:>9.4f} "
                f"{rows / seconds:>12,.0f} {peak / 2**20:>9.1f}",
                flush=True,
            )
        del panel, signal
        gc.collect()
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"process peak RSS (resource.getrusage, includes building the panels): {maxrss_mb:,.0f} MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
