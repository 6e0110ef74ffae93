"""Speed of one portfolio book: ``python -m poc.portfolio.bench``.

For seeded OHLC bars (:func:`poc.portfolio.acceptance.planted_market`) of
20 x 8313 (the bundled data's shape), 500 x 756 and 3000 x 2520 (securities x
days) it prints the best wall time in milliseconds of :func:`simulate` over a
few runs after one warm-up, with OHLC rules and with close-only rules (the same
closes without opens, highs and lows). Data generation is not timed. The config
is the acceptance config with ``max_positions`` 20.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Sequence

from poc.portfolio.acceptance import ACCEPTANCE_CONFIG, planted_market
from poc.portfolio.simulate import Bars, simulate

SIZES = ((20, 8313), (500, 756), (3000, 2520))


def best_ms(bars: Bars, signal, config, repeat: int) -> float:
    """Best wall time of ``repeat`` runs after one warm-up, in milliseconds."""
    simulate(bars, signal, config)
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        simulate(bars, signal, config)
        best = min(best, time.perf_counter() - started)
    return best * 1e3


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--sizes", default=None, help="comma-separated NxT (default 20x8313,500x756,3000x2520)"
    )
    args = parser.parse_args(argv)
    sizes = SIZES
    if args.sizes:
        sizes = tuple(tuple(int(v) for v in s.split("x")) for s in args.sizes.split(","))
    config = dataclasses.replace(ACCEPTANCE_CONFIG, max_positions=20)
    print(f"{'securities x days':>18}  {'OHLC ms/book':>13}  {'close-only ms/book':>18}")
    for n, t in sizes:
        market = planted_market(n, t, seed=1)
        close_only = Bars(market.bars.dates, market.bars.close)
        ohlc = best_ms(market.bars, market.planted, config, args.repeat)
        closes = best_ms(close_only, market.planted, config, args.repeat)
        print(f"{f'{n} x {t}':>18}  {ohlc:13.1f}  {closes:18.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
