"""Command line of ``poc track`` (daily NAV database) and ``poc compare`` (run comparison).

Kept apart from :mod:`poc.cli` so that file stays a thin dispatcher; like it, this
module reads argv and the environment (``$POC_DB_URL``) and prints.

Commands::

    poc track add NAME --experiment SPEC [--overlay X] [--snapshot ID] [--db URL]
    poc track update [NAME] --snapshot NEWER [--db URL]
    poc track show NAME [--db URL]
    poc track list [--db URL]
    poc track remove NAME [--db URL]
    poc compare RUN_A RUN_B [...] [--experiment NAME]
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable

_snapshot_store: Callable = None  # set by register (cli.snapshot_store)


def _engine(args: argparse.Namespace):
    from poc import trackdb

    url = trackdb.resolve_url(args.db, dict(os.environ))
    return trackdb.connect(url), url


def _redacted(url: str) -> str:
    """The URL without a password, for printing."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url


def _snapshot(args: argparse.Namespace, snapshot_id: str | None):
    from poc.catalog import ensure_snapshot

    return ensure_snapshot(_snapshot_store(args.store), snapshot_id)


def _pct(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:+.2%}"


def _num(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.2f}"


def _print_outcome(verb: str, outcome) -> None:
    last = "none" if outcome.last_date is None else str(outcome.last_date.date())
    nav = "n/a" if outcome.last_nav is None else f"{outcome.last_nav:.4f}"
    first = "" if outcome.first_new is None else f" from {outcome.first_new.date()}"
    print(
        f"{verb} {outcome.name!r} on {outcome.snapshot_id!r}: "
        f"{outcome.appended} new day(s){first}; last day {last}, NAV {nav}"
    )
    if outcome.max_restatement > 1e-12:
        print(
            f"  warning: the snapshot restates stored days (max |return difference| "
            f"{outcome.max_restatement:.3g}); stored rows were kept unchanged"
        )


def _cmd_track_add(args: argparse.Namespace) -> int:
    from poc.track import add_variant, variant_from_file

    variant = variant_from_file(args.experiment, args.overlay)
    snapshot_id = args.snapshot or variant.spec.get("snapshot")
    snapshot = _snapshot(args, snapshot_id)
    engine, url = _engine(args)
    info, outcome = add_variant(engine, args.name, variant, snapshot)
    print(
        f"tracking {info.name!r}: {info.kind} variant {info.variant_id[:12]} "
        f"overlay {info.overlay} in {_redacted(url)}"
    )
    _print_outcome("backfilled", outcome)
    return 0


def _cmd_track_update(args: argparse.Namespace) -> int:
    from poc import trackdb
    from poc.track import update_variant

    engine, _url = _engine(args)
    names = [args.name] if args.name else [p.name for p in trackdb.list_portfolios(engine)]
    if not names:
        print("no tracked portfolios; add one with `poc track add NAME --experiment SPEC`")
        return 0
    snapshot = _snapshot(args, args.snapshot)
    for name in names:
        _print_outcome("updated", update_variant(engine, name, snapshot))
    return 0


def _cmd_track_show(args: argparse.Namespace) -> int:
    import pandas as pd

    from poc import trackdb
    from poc.trailing import trailing_table

    engine, _url = _engine(args)
    info = trackdb.get_portfolio(engine, args.name)
    nav = trackdb.read_nav(engine, args.name)
    print(
        f"{info.name}: {info.kind} variant {info.variant_id[:12]}, overlay {info.overlay}, "
        f"snapshot {info.snapshot_id}"
    )
    if nav.empty:
        print("  no days stored yet")
        return 0
    print(
        f"  {info.n_days} days {info.first_date}..{info.last_date}, NAV {info.last_nav:.4f} "
        f"(base 100)"
    )
    table = trailing_table(nav.set_index("date")["ret"])
    print(f"  {'window':<7}{'from':>12}{'days':>7}{'return':>10}{'Sharpe':>8}")
    for row in table.itertuples():
        start = "" if pd.isna(row.start) else str(pd.Timestamp(row.start).date())
        print(
            f"  {row.window:<7}{start:>12}{row.days:>7}{_pct(row.total_return):>10}"
            f"{_num(row.sharpe):>8}"
        )
    return 0


def _cmd_track_list(args: argparse.Namespace) -> int:
    from poc import trackdb

    engine, url = _engine(args)
    rows = trackdb.list_portfolios(engine)
    if not rows:
        print(f"no tracked portfolios in {_redacted(url)}")
        return 0
    print(f"tracked portfolios in {_redacted(url)}:")
    for p in rows:
        last = "-" if p.last_date is None else str(p.last_date)
        nav = "-" if p.last_nav is None else f"{p.last_nav:.4f}"
        print(
            f"  {p.name:<24} {p.kind:<10} overlay {p.overlay:<20} {p.n_days:>6} days "
            f"to {last}  NAV {nav}  snapshot {p.snapshot_id}"
        )
    return 0


def _cmd_track_remove(args: argparse.Namespace) -> int:
    from poc import trackdb

    engine, _url = _engine(args)
    n = trackdb.remove_portfolio(engine, args.name)
    print(f"removed {args.name!r} and its {n} stored day(s)")
    return 0


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        default=None,
        help="SQLAlchemy URL or SQLite file (default: $POC_DB_URL or ./poc-track.db)",
    )


def register(commands, snapshot_store: Callable, add_store: Callable) -> None:
    """Add the ``track`` and ``compare`` sub-commands to the ``poc`` parser."""
    global _snapshot_store
    _snapshot_store = snapshot_store

    track = commands.add_parser("track", help="daily NAV of tracked variants in a database")
    sub = track.add_subparsers(dest="track_command", required=True)

    add = sub.add_parser("add", help="register a variant and backfill its NAV")
    add.add_argument("name")
    add.add_argument("--experiment", required=True, help="signal or allocation spec YAML")
    add.add_argument("--overlay", default="none", help="none or e.g. voltarget:0.10:63")
    add.add_argument("--snapshot", default=None, help="snapshot id (default: the spec's)")
    add.set_defaults(func=_cmd_track_add)

    upd = sub.add_parser("update", help="append the new days of a newer snapshot")
    upd.add_argument("name", nargs="?", default=None, help="one portfolio (default: all)")
    upd.add_argument("--snapshot", required=True, help="the newer snapshot id")
    upd.set_defaults(func=_cmd_track_update)

    show = sub.add_parser("show", help="MTD, QTD, YTD, 1Y, 3Y, since inception")
    show.add_argument("name")
    show.set_defaults(func=_cmd_track_show)

    lst = sub.add_parser("list", help="list the tracked portfolios")
    lst.set_defaults(func=_cmd_track_list)

    rm = sub.add_parser("remove", help="delete a portfolio and its stored days")
    rm.add_argument("name")
    rm.set_defaults(func=_cmd_track_remove)

    for parser in (add, upd, show, lst, rm):
        _add_db(parser)
        add_store(parser)

    register_compare(commands)


def _cmd_compare(args: argparse.Namespace) -> int:
    from poc import interrupts
    from poc.compare_run import compare_runs

    # SIGTERM as well as Ctrl-C must reach parent_run, which ends the run KILLED.
    with interrupts.handling_interrupts():
        outcome = compare_runs(
            args.run_ids,
            experiment=args.experiment,
            n_boot=args.n_boot,
            block=args.block,
            seed=args.seed,
        )
    for r in outcome.runs:
        print(f"  {r.label}: headline {r.headline!r}, {len(r.returns):,} days")
    for d in outcome.differences:
        for iv in d.intervals:
            flag = "" if iv.covers_zero else "  (interval excludes 0)"
            print(
                f"  {d.other} - {d.reference}: {iv.metric} {iv.difference:+.4f} "
                f"95% [{iv.low:+.4f}, {iv.high:+.4f}]{flag}"
            )
    print(f"comparison run: {outcome.run_id}")
    print(f"comparison sheet: {outcome.link}")
    return 0


def register_compare(commands) -> None:
    """Add ``poc compare RUN_A RUN_B [...]``."""
    cmp_ = commands.add_parser(
        "compare", help="compare the headline cells of runs; logs compare.html to a new run"
    )
    cmp_.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="two or more parent run ids")
    cmp_.add_argument("--experiment", default="poc-compare", help="MLflow experiment")
    cmp_.add_argument("--n-boot", dest="n_boot", type=int, default=1000, help="resamples")
    cmp_.add_argument("--block", type=float, default=20.0, help="mean block length (days)")
    cmp_.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    cmp_.set_defaults(func=_cmd_compare)
