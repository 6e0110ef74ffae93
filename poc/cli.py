"""Command line: ``poc <command> ...``. The only module that reads argv and the environment.

Commands::

    poc snapshot create --source bundled|synthetic|files [...]
    poc snapshot list | show ID | verify ID
    poc signal validate FILE --snapshot ID [--lag L]

Every command exits 0 on success, 1 when the data or a request is bad (the
message says what and how to fix it) and 2 on a usage error.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from poc.exceptions import PocError

STORE_ENV = "POC_SNAPSHOT_DIR"


def snapshot_store(explicit: str | None = None) -> Path:
    """The snapshot store: ``--store``, else ``$POC_SNAPSHOT_DIR``, else ``./snapshots``."""
    return Path(explicit or os.environ.get(STORE_ENV) or "snapshots").resolve()


def _print_rows(rows: Sequence[tuple[str, str]]) -> None:
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")


# --------------------------------------------------------------------------
# snapshot
# --------------------------------------------------------------------------


def _cmd_snapshot_create(args: argparse.Namespace) -> int:
    from poc import sources
    from poc.catalog import DEFAULT_SNAPSHOT_ID, create_snapshot, describe_snapshot

    store = snapshot_store(args.store)
    started = time.perf_counter()
    if args.source == "bundled":
        data = sources.bundled_sp500()
        snapshot_id = args.id or DEFAULT_SNAPSHOT_ID
    elif args.source == "synthetic":
        try:
            n = int(args.securities or 500)
        except ValueError:
            raise PocError(
                f"--securities must be a number of names for --source synthetic, got "
                f"{args.securities!r}"
            ) from None
        data = sources.synthetic_panel(n, args.days, args.seed)
        snapshot_id = args.id or f"synthetic-{n}x{args.days}-s{args.seed}"
    else:
        if not args.returns:
            raise PocError("--source files needs --returns FILE (columns security_id, date, ret)")
        if not args.id:
            raise PocError("--source files needs --id NAME for the new snapshot (e.g. my-data-v1)")
        data = sources.from_files(args.returns, args.risk, args.securities, args.benchmark)
        snapshot_id = args.id
    print(f"building snapshot {snapshot_id!r} from {args.source} data ...", flush=True)
    snapshot = create_snapshot(data, store, snapshot_id)
    elapsed = time.perf_counter() - started
    print(f"created {snapshot.path} in {elapsed:.1f}s")
    _print_rows(describe_snapshot(snapshot))
    return 0


def _cmd_snapshot_list(args: argparse.Namespace) -> int:
    from poc.catalog import list_snapshots, open_snapshot

    store = snapshot_store(args.store)
    ids = list_snapshots(store)
    if not ids:
        print(f"no snapshots in {store}; create one with `poc snapshot create --source bundled`")
        return 0
    print(f"snapshots in {store}:")
    for snapshot_id in ids:
        m = open_snapshot(store, snapshot_id, verify=False).manifest
        print(
            f"  {snapshot_id:<28} {m['source']:<9} {m['date_range'][0]}..{m['date_range'][1]} "
            f"{m['counts']['securities']:>6} securities  digest {m['digest'][:12]}"
        )
    return 0


def _cmd_snapshot_show(args: argparse.Namespace) -> int:
    from poc.catalog import describe_snapshot, open_snapshot

    snapshot = open_snapshot(snapshot_store(args.store), args.snapshot_id, verify=False)
    _print_rows(describe_snapshot(snapshot))
    notes = snapshot.manifest.get("notes", [])
    if notes:
        print("  notes:")
        for note in notes:
            print(f"    - {note}")
    return 0


def _cmd_snapshot_verify(args: argparse.Namespace) -> int:
    from poc.catalog import verify_snapshot

    problems = verify_snapshot(snapshot_store(args.store), args.snapshot_id)
    if problems:
        print(f"snapshot {args.snapshot_id!r} FAILED verification:", file=sys.stderr)
        for line in problems:
            print(f"  - {line}", file=sys.stderr)
        return 1
    print(f"snapshot {args.snapshot_id!r} OK: every file matches its manifest digest")
    return 0


# --------------------------------------------------------------------------
# signal
# --------------------------------------------------------------------------


def _cmd_signal_validate(args: argparse.Namespace) -> int:
    from poc.catalog import ensure_default_snapshot, open_snapshot
    from poc.contract import align_signal, read_signal, validate_signal

    store = snapshot_store(args.store)
    snapshot = (
        ensure_default_snapshot(store)
        if args.snapshot is None
        else open_snapshot(store, args.snapshot)
    )
    frame = read_signal(args.file, allow_pickle=args.allow_pickle)
    calendar = snapshot.calendar()
    report = validate_signal(frame, calendar, snapshot.security_ids(), args.nan_budget)
    print(f"signal {args.file}: {report.n_rows:,} rows, snapshot {snapshot.snapshot_id!r}")
    for note in report.notes:
        print(f"  note: {note}")
    if not report.ok:
        print(f"INVALID: {len(report.problems)} problem(s)", file=sys.stderr)
        for code, message in report.problems:
            print(f"  [{code}] {message}", file=sys.stderr)
        return 1
    aligned = align_signal(report.clean, calendar, args.lag)
    f = aligned.frame
    print(
        f"VALID: {len(f):,} rows usable from {f['date_usable'].min().date()} to "
        f"{f['date_usable'].max().date()}, {f['security_id'].nunique():,} securities, "
        f"lag {args.lag} (a row usable at the close of day d earns day d+{1 + args.lag})"
    )
    for reason, count in aligned.dropped.items():
        if count:
            print(f"  dropped {count:,} row(s): {reason}")
    return 0


# --------------------------------------------------------------------------
# run (the MLproject main job)
# --------------------------------------------------------------------------


def _cmd_run(args: argparse.Namespace) -> int:
    from poc.catalog import describe_snapshot, ensure_default_snapshot

    snapshot = ensure_default_snapshot(snapshot_store(args.store))
    print(f"default snapshot {snapshot.snapshot_id!r} is ready and verified:")
    _print_rows(describe_snapshot(snapshot))
    return 0


# --------------------------------------------------------------------------
# parser
# --------------------------------------------------------------------------


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        default=None,
        help=f"snapshot store folder (default: ${STORE_ENV} or ./snapshots)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``poc`` argument parser (one sub-parser per command)."""
    parser = argparse.ArgumentParser(
        prog="poc", description="Signal and allocation research on MLflow."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    snap = commands.add_parser("snapshot", help="create, list, show and verify data snapshots")
    snap_cmds = snap.add_subparsers(dest="snapshot_command", required=True)

    create = snap_cmds.add_parser("create", help="create a new immutable snapshot")
    create.add_argument("--source", choices=["bundled", "synthetic", "files"], required=True)
    create.add_argument("--id", default=None, help="snapshot id (default depends on source)")
    create.add_argument(
        "--securities",
        default=None,
        help="synthetic: number of securities (default 500); files: securities table FILE",
    )
    create.add_argument("--days", type=int, default=756, help="synthetic: trading days")
    create.add_argument("--seed", type=int, default=1, help="synthetic: random seed")
    create.add_argument("--returns", default=None, help="files: returns table (CSV/parquet)")
    create.add_argument("--risk", default=None, help="files: risk table (CSV/parquet)")
    create.add_argument("--benchmark", default=None, help="files: benchmark returns (date, ret)")
    _add_store(create)
    create.set_defaults(func=_cmd_snapshot_create)

    for name, func, text in (
        ("list", _cmd_snapshot_list, "list the snapshots in the store"),
        ("show", _cmd_snapshot_show, "show a snapshot's manifest"),
        ("verify", _cmd_snapshot_verify, "check every file against the manifest digests"),
    ):
        sub = snap_cmds.add_parser(name, help=text)
        if name != "list":
            sub.add_argument("snapshot_id")
        _add_store(sub)
        sub.set_defaults(func=func)

    sig = commands.add_parser("signal", help="validate signal files against the contract")
    sig_cmds = sig.add_subparsers(dest="signal_command", required=True)
    val = sig_cmds.add_parser("validate", help="validate a signal file against a snapshot")
    val.add_argument("file", help="signal table (.csv or .parquet)")
    val.add_argument("--snapshot", default=None, help="snapshot id (default: the bundled one)")
    val.add_argument("--lag", type=int, default=0, help="lag in trading days (default 0)")
    val.add_argument("--nan-budget", type=float, default=0.05, help="max share of NaN signals")
    val.add_argument(
        "--allow-pickle", action="store_true", help="read a pickle file (runs code from the file)"
    )
    _add_store(val)
    val.set_defaults(func=_cmd_signal_validate)

    run = commands.add_parser("run", help="the main job (MLproject entry point `main`)")
    _add_store(run)
    run.set_defaults(func=_cmd_run)

    for register in _EXTRA_COMMANDS:
        register(commands)
    return parser


# Later modules (backtest, suite, tear sheet, allocation) register their
# sub-commands here so this file stays a thin dispatcher.
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``poc`` console script."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PocError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
