"""Command line: ``poc <command> ...``. The only module that reads argv and the environment.

Commands::

    poc snapshot create --source bundled|synthetic|files [...]
    poc snapshot list | show ID | verify ID | gc [--dry-run]
    poc signal validate FILE --snapshot ID [--lag L]
    poc run --experiment SPEC [overrides] [--resume PARENT]   (entry point `main`)
    poc allocate --experiment SPEC [overrides] [--resume PARENT]
    poc overlays --experiment SPEC [--overlay ...] [--oos-start ...]
    poc portfolio --experiment SPEC [grid overrides]
    poc backtest --signal S [options]
    poc tearsheet link RUN_ID
    poc track add|update|show|list|remove ...   (poc/cli_track.py)
    poc compare RUN_A RUN_B [...]               (poc/cli_track.py)

Every command exits 0 on success, 1 when the data or a request is bad (one
``error: what ; fix`` line, docs/errors.md), 2 on a usage error, 130/143 when
interrupted, 141 on a closed pipe and 70 on a bug (``POC_DEBUG=1`` shows it).
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
    from poc.catalog import DEFAULT_SNAPSHOT_ID, check_store, create_snapshot, describe_snapshot

    store = check_store(snapshot_store(args.store))  # before minutes of building data
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
    if args.end:
        # A snapshot of the source as it was on a past date (a later one extends it).
        data = sources.truncate_at(data, args.end)
        if not args.id:
            snapshot_id = f"{snapshot_id}-to{args.end}"
    print(f"building snapshot {snapshot_id!r} from {args.source} data ...", flush=True)
    snapshot = create_snapshot(data, store, snapshot_id)
    elapsed = time.perf_counter() - started
    print(f"created {snapshot.path} in {elapsed:.1f}s")
    _print_rows(describe_snapshot(snapshot))
    return 0


def _cmd_snapshot_list(args: argparse.Namespace) -> int:
    from poc.catalog import scan_store

    store = snapshot_store(args.store)
    entries = scan_store(store)
    if not entries:
        print(f"no snapshots in {store}; create one with `poc snapshot create --source bundled`")
        return 0
    print(f"snapshots in {store}:")
    for entry in entries:
        m = entry.manifest
        if m is None:
            # One damaged folder must not hide the others: list it, marked.
            print(f"  {entry.snapshot_id:<28} DAMAGED   {entry.problem}")
            continue
        first, last = m["date_range"]
        print(
            f"  {entry.snapshot_id:<28} {m['source']:<9} {first}..{last} "
            f"{m['counts']['securities']:>6} securities  digest {m['digest'][:12]}"
        )
    return 0


def _cmd_snapshot_gc(args: argparse.Namespace) -> int:
    from poc.catalog import remove_stale_tmp_folders

    store = snapshot_store(args.store)
    stale = remove_stale_tmp_folders(store, dry_run=args.dry_run)
    if not stale:
        print(f"no stale temporary folders in {store}")
        return 0
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(stale)} stale temporary folder(s) left by interrupted creations:")
    for path in stale:
        print(f"  {path}")
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
        print(
            f"error: snapshot {args.snapshot_id!r} FAILED verification: {' | '.join(problems)} ; "
            "the data changed after the snapshot was made: recreate it under a new id",
            file=sys.stderr,
        )
        return 1
    print(f"snapshot {args.snapshot_id!r} OK: every file matches its manifest digest")
    return 0


# --------------------------------------------------------------------------
# signal
# --------------------------------------------------------------------------


def _check_lag(lag: int) -> None:
    from poc.exceptions import ConfigError

    if lag < 0:
        raise ConfigError(
            f"--lag must be 0 or more trading days, got {lag}; 0 trades the day after the "
            "signal is usable"
        )


def _check_nan_budget(budget: float) -> None:
    from poc.exceptions import ConfigError

    if not 0 <= budget <= 1:
        hint = f"; for {budget:g}% pass {budget / 100:g}" if 1 < budget <= 100 else ""
        raise ConfigError(
            f"--nan-budget is a share between 0 and 1 (0.05 means 5%), got {budget:g}{hint}"
        )


def _cmd_signal_validate(args: argparse.Namespace) -> int:
    from poc.catalog import ensure_default_snapshot, open_snapshot
    from poc.contract import align_signal, read_signal, validate_signal

    _check_lag(args.lag)
    _check_nan_budget(args.nan_budget)
    store = snapshot_store(args.store)
    snapshot = (
        ensure_default_snapshot(store)
        if args.snapshot is None
        else open_snapshot(store, args.snapshot)
    )
    frame = read_signal(args.file, allow_pickle=args.allow_pickle, pickle_flag="--allow-pickle")
    calendar = snapshot.calendar()
    report = validate_signal(frame, calendar, snapshot.security_ids(), args.nan_budget)
    print(f"signal {args.file}: {report.n_rows:,} rows, snapshot {snapshot.snapshot_id!r}")
    for note in report.notes:
        print(f"  note: {note}")
    if not report.ok:
        # One line, like every other failure: each problem names its rows and its fix.
        listed = " | ".join(f"[{code}] {message}" for code, message in report.problems)
        print(
            f"error: INVALID: {args.file} breaks the signal contract "
            f"({len(report.problems)} problem(s)): {listed}",
            file=sys.stderr,
        )
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
# run (the MLproject main job) and tear sheet links
# --------------------------------------------------------------------------

_OVERRIDES = (
    "signal",
    "snapshot",
    "signal_name",
    "lags",
    "residualize",
    "weight",
    "fractile",
    "tc_model",
    "tc_bps",
    "rebalance",
    "mincos",
    "start",
    "end",
    "n_jobs",
    "baselines",
    "backend",
    "scheduler",
    "max_cells",
    "oos_start",
)


def _git_commit() -> str | None:
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
        timeout=5,
    ).stdout.strip()
    return commit + ("+dirty" if dirty else "")


def _print_progress(done: int, total: int, result) -> None:
    label = result.name if result.kind == "cell" else f"baseline {result.name}"
    if result.ok:
        detail = f"Sharpe {result.metrics.get('sharpe', float('nan')):6.2f}"
    else:
        detail = f"FAILED: {result.error}"
    print(f"  [{done:>3}/{total}] {label:<40} {detail}  ({result.seconds:.2f}s)", flush=True)


def resolve_signal_path(signal: str | None, cwd: Path | None = None) -> str | None:
    """A relative signal file path made absolute; ``builtin:NAME`` and None pass through.

    Tried in order: the current folder, then ``$PWD`` when it differs (a shell
    that changed folder). Under ``mlflow run`` the current folder is the
    project folder and bash resets ``$PWD`` to it, so a file relative to the
    caller's folder cannot be found: the error says which paths were tried
    and to pass ``-P signal=$PWD/FILE``.
    """
    from poc.exceptions import ConfigError

    if not signal or signal.startswith("builtin:") or "://" in signal:
        return signal
    path = Path(signal).expanduser()
    if path.is_absolute():
        if not path.exists():
            raise ConfigError(f"signal file {path} does not exist; check the path")
        return str(path)
    here = Path(cwd or Path.cwd())
    candidates = [here / path]
    pwd = os.environ.get("PWD")
    if pwd and Path(pwd).resolve() != here.resolve():
        candidates.append(Path(pwd) / path)
    for candidate in candidates:
        if candidate.exists():
            return str(candidate.resolve())
    tried = ", ".join(str(c) for c in candidates)
    raise ConfigError(
        f"signal file {signal!r} not found (tried {tried}); under `mlflow run` relative paths "
        "are read from the project folder, so pass an absolute path, e.g. "
        f"-P signal=$PWD/{signal}"
    )


def local_link(link: str) -> str:
    """A local file path as a ``file://`` URL (terminals make it clickable); URLs unchanged."""
    if "://" in link:
        return link
    return Path(link).resolve().as_uri()


def _run_interruptibly(
    args: argparse.Namespace, keys: Sequence[str], start, rerun_command: str | None = None
):
    """Run a suite under the interruption handler; ``(outcome, None)`` or ``(None, exit code)``.

    ``start(notify, attach_run_id)`` runs the suite (importing what it needs inside, so a
    Ctrl-C during the heavy imports is handled too). ``notify`` prints status lines and
    remembers the parent run id, which the one-line interruption message and the resume
    command name. Suites that cannot resume (overlays, portfolio: they log only once
    every cell is computed) pass ``rerun_command``, which the message names instead.
    """
    from poc import interrupts

    attached = os.environ.get("MLFLOW_RUN_ID") or None
    state: dict[str, str] = {}

    def notify(line: str) -> None:
        if line.startswith("parent run: "):
            state["parent"] = line.split(": ", 1)[1]
        print(line, flush=True)

    try:
        with interrupts.handling_interrupts():
            return start(notify, attached), None
    except KeyboardInterrupt as exc:
        parent = state.get("parent")
        if rerun_command is not None:
            hint = f"rerun with: {rerun_command}"
        else:
            hint = f"resume with: {_resume_command(args, keys, parent or attached or '')}"
        return None, _interrupted(exc, parent, attached, hint)


def _print_verdict(verdict) -> None:
    """The verdict lines of a :class:`poc.verdict.Verdict`: colour, grade, score, reasons."""
    if verdict.grade is None or verdict.score is None:
        print(f"VERDICT: {verdict.color.upper()}  no grade, no score")
    else:
        score = f"score {verdict.score:.1f}/100"
        print(f"VERDICT: {verdict.color.upper()}  grade {verdict.grade}  {score}")
    passed = set(getattr(verdict, "passed", []))
    for reason in verdict.reasons:
        print(f"  {'+' if reason in passed else '-'} {reason}")  # + passed, - an issue


RESULTS_ENV = "POC_RESULTS_DIR"


def _results_dir(suite_name: str) -> Path:
    """Where results go when the tracking store fails: ``$POC_RESULTS_DIR`` (default
    ``./poc-results``) / ``<suite>-<UTC timestamp>``."""
    import re

    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", suite_name).strip("_") or "suite"
    return Path(os.environ.get(RESULTS_ENV) or "poc-results").resolve() / f"{safe}-{stamp}"


def _check_store() -> None:
    # Before anything imports mlflow (whose client retries a dead server for minutes).
    from poc.store_check import URI_ENV, check_tracking_store

    check_tracking_store(os.environ.get(URI_ENV))


def _resume_command(args: argparse.Namespace, keys: Sequence[str], run_id: str) -> str:
    """The command that resumes ``run_id``: this one with ``--resume``.

    Also under ``mlflow run``: ``poc`` resumes into the interrupted suite's experiment,
    where ``mlflow run`` would need the same ``--experiment-name`` again.
    """
    import shlex

    parts = ["poc", args.command, "--experiment", args.experiment]
    for key in keys:
        value = getattr(args, key, None)
        if value not in (None, ""):
            parts += [f"--{key.replace('_', '-')}", str(value)]
    if getattr(args, "store", None):
        parts += ["--store", args.store]
    return shlex.join([*parts, "--resume", run_id])


def _interrupted(exc: BaseException, parent: str | None, attached: str | None, hint: str) -> int:
    """One line, no traceback, for Ctrl-C / SIGTERM; the exit code says which signal.

    ``attached`` is the run ``mlflow run`` created (read before MLflow consumes
    ``MLFLOW_RUN_ID``).
    """
    from poc import interrupts, lifecycle

    run_id = parent or attached
    if run_id:
        from poc import tracking

        # Ends the `mlflow run` run when the interruption came before the suite opened it
        # (a no-op status change otherwise: the suite already ended its runs KILLED).
        if parent is None:
            lifecycle.end_quietly(tracking.end_run, run_id, lifecycle.KILLED)
        signame = str(exc.args[0]) if exc.args else "SIGINT"
        lifecycle.end_quietly(
            lambda rid, _status: tracking.set_tags(rid, {"poc.interrupted": signame}),
            run_id,
            lifecycle.KILLED,
        )
        print(
            f"interrupted: parent run {run_id} ended KILLED; {hint}",
            file=sys.stderr,
            flush=True,
        )
    else:
        print("interrupted before any run was opened; nothing was logged", file=sys.stderr)
    return interrupts.exit_code(exc)


def _cmd_run(args: argparse.Namespace) -> int:
    from poc.catalog import ensure_snapshot
    from poc.experiment import apply_overrides, load_spec, reproduce_command
    from poc.suite import check_backend

    started = time.perf_counter()
    _check_store()
    spec = load_spec(args.experiment)
    args.signal = resolve_signal_path(args.signal)
    spec = apply_overrides(spec, {key: getattr(args, key) for key in _OVERRIDES})
    if not spec.scheduler and os.environ.get("POC_DASK_SCHEDULER"):
        spec = apply_overrides(spec, {"scheduler": os.environ["POC_DASK_SCHEDULER"]})
    check_backend(spec.backend)
    snapshot = ensure_snapshot(snapshot_store(args.store), spec.snapshot)
    cells = spec.cells()
    print(
        f"suite {spec.name!r}: signal {spec.signal} on snapshot {snapshot.snapshot_id!r} "
        f"({snapshot.digest[:12]}), {len(cells)} cells"
        + (" + baselines" if spec.baselines else "")
        + f", n_jobs={spec.n_jobs}",
        flush=True,
    )
    command = reproduce_command(spec, snapshot.snapshot_id)

    def start(notify, attach_run_id):
        from poc.runner import run_experiment

        return run_experiment(
            spec,
            snapshot,
            command=command,
            git_commit=_git_commit(),
            attach_run_id=attach_run_id,
            progress=_print_progress,
            resume_from=args.resume or None,
            notify=notify,
            results_dir=_results_dir(spec.name),
            experiment_name=getattr(args, "experiment_name", None) or None,
        )

    outcome, code = _run_interruptibly(args, _OVERRIDES, start)
    if outcome is None:
        return code
    result = outcome.result
    for note in result.notes:
        print(f"  note: {note}")
    print(f"done in {time.perf_counter() - started:.1f}s")
    print(f"parent run: {outcome.run_id}")
    print(f"tear sheet: {local_link(outcome.link)}")
    # The verdict comes last: `mlflow run` prints its own lines before ours end, and a
    # person reads the bottom of the output first.
    _print_verdict(outcome.result.verdict)
    return 0


_ALLOCATION_OVERRIDES = (
    "model",
    "max_weight",
    "min_weight",
    "rebalance",
    "delay",
    "vol_threshold",
    "vol_scale",
    "commission_bps",
    "slippage_bps",
    "snapshot",
    "start",
    "end",
    "n_jobs",
    "max_cells",
    "oos_start",
)


def _allocation_command(spec, snapshot_id: str) -> str:
    import shlex

    from poc.experiment import DEFAULT_MAX_CELLS

    parts = ["mlflow", "run", ".", "-e", "allocate", "--env-manager", "local"]
    if spec.source_path:
        parts += ["-P", f"experiment={spec.source_path}"]
    parts += ["-P", f"snapshot={snapshot_id}"]
    for axis, values in spec.grid.items():
        if axis in _ALLOCATION_OVERRIDES:
            parts += ["-P", f"{axis}={','.join(str(v) for v in values)}"]
    # Every -P here must be a parameter of MLproject's `allocate` entry (a test runs it).
    for key in ("start", "end"):
        if getattr(spec, key):
            parts += ["-P", f"{key}={getattr(spec, key)}"]
    if spec.max_cells != DEFAULT_MAX_CELLS:
        parts += ["-P", f"max_cells={spec.max_cells}"]
    if getattr(spec, "oos_start", None) is not None:
        from poc.oos import oos_text

        parts += ["-P", f"oos_start={oos_text(spec.oos_start)}"]
    return shlex.join(parts)


def _cmd_allocate(args: argparse.Namespace) -> int:
    from poc.allocation_suite import apply_allocation_overrides, load_allocation_spec
    from poc.catalog import ensure_snapshot
    from poc.suite import check_backend

    started = time.perf_counter()
    _check_store()
    spec = load_allocation_spec(args.experiment)
    spec = apply_allocation_overrides(
        spec, {key: getattr(args, key) for key in _ALLOCATION_OVERRIDES}
    )
    check_backend(spec.backend)
    snapshot = ensure_snapshot(snapshot_store(args.store), spec.snapshot)
    print(
        f"allocation suite {spec.name!r} on snapshot {snapshot.snapshot_id!r} "
        f"({snapshot.digest[:12]}), {len(spec.cells())} cells, n_jobs={spec.n_jobs}",
        flush=True,
    )
    command = _allocation_command(spec, snapshot.snapshot_id)

    def start(notify, attach_run_id):
        from poc.allocation_runner import run_allocation_experiment

        return run_allocation_experiment(
            spec,
            snapshot,
            command=command,
            git_commit=_git_commit(),
            attach_run_id=attach_run_id,
            progress=_print_progress,
            resume_from=args.resume or None,
            notify=notify,
            results_dir=_results_dir(spec.name),
        )

    outcome, code = _run_interruptibly(args, _ALLOCATION_OVERRIDES, start)
    if outcome is None:
        return code
    result = outcome.result
    for note in result.notes:
        print(f"  note: {note}")
    print(f"done in {time.perf_counter() - started:.1f}s")
    print(f"headline cell {result.headline!r}: Sharpe {outcome.score:.2f}")
    print(f"parent run: {outcome.run_id}")
    print(f"tear sheet: {local_link(outcome.link)}")
    if getattr(result, "verdict", None) is not None:  # judged on active returns, last
        _print_verdict(result.verdict)
    return 0


def _overlay_command(
    spec, snapshot_id: str, oos_start: str | None, overlay: str | None = None
) -> str:
    """The `mlflow run -e overlays` command that reruns this suite, overrides included."""
    import shlex

    parts = ["mlflow", "run", ".", "-e", "overlays", "--env-manager", "local"]
    if spec.source_path:
        parts += ["-P", f"experiment={spec.source_path}"]
    parts += ["-P", f"snapshot={snapshot_id}"]
    if oos_start:
        parts += ["-P", f"oos_start={oos_start}"]
    if overlay:
        parts += ["-P", f"overlay={overlay}"]
    return shlex.join(parts)


def _log_options(command: str, notify, attach_run_id: str | None) -> dict:
    """The keyword arguments every compute-then-log suite logger takes (overlays, portfolio)."""
    return {
        "command": command,
        "git_commit": _git_commit(),
        "attach_run_id": attach_run_id,
        "notify": notify,
    }


def _cmd_overlays(args: argparse.Namespace) -> int:
    from poc.catalog import ensure_snapshot
    from poc.overlay_suite import load_overlay_spec, overlay_spec_with

    started = time.perf_counter()
    _check_store()
    spec = overlay_spec_with(
        load_overlay_spec(args.experiment),
        {"snapshot": args.snapshot, "oos_start": args.oos_start, "overlay": args.overlay},
    )
    snapshot = ensure_snapshot(snapshot_store(args.store), spec.snapshot)
    print(
        f"overlay suite {spec.name!r} on snapshot {snapshot.snapshot_id!r} "
        f"({snapshot.digest[:12]}), {len(spec.cells())} cells",
        flush=True,
    )
    command = _overlay_command(spec, snapshot.snapshot_id, args.oos_start, args.overlay)

    def start(notify, attach_run_id):
        from poc.overlay_runner import log_overlay_suite
        from poc.overlay_suite import run_overlay_suite

        result = run_overlay_suite(spec, snapshot, progress=_print_progress)
        return log_overlay_suite(result, snapshot, **_log_options(command, notify, attach_run_id))

    outcome, code = _run_interruptibly(args, (), start, rerun_command=command)
    if outcome is None:
        return code
    result = outcome.result
    for note in result.notes:
        print(f"  note: {note}")
    for w in result.walk_forwards:
        m = w.result.metrics()
        print(
            f"  {w.name}: OOS Sharpe {m['wf_oos_sharpe']:.2f} vs in-sample best "
            f"{m['wf_is_best_sharpe']:.2f} ({w.result.is_best_cell})"
        )
    print(f"done in {time.perf_counter() - started:.1f}s")
    print(f"parent run: {outcome.run_id}")
    print(f"tear sheet: {local_link(outcome.link)}")
    print(f"headline {result.headline!r}, graded out of sample from {result.oos_start}")
    _print_verdict(result.verdict)
    return 0


def _cmd_tearsheet_link(args: argparse.Namespace) -> int:
    from poc.tracking import describe_run, tearsheet_link

    info = describe_run(args.run_id)
    tags = info["tags"]
    if "verdict" in tags:
        print(f"VERDICT: {tags['verdict'].upper()}  grade {tags.get('grade', '?')}")
    print(f"tear sheet: {local_link(tearsheet_link(args.run_id))}")
    return 0


# --------------------------------------------------------------------------
# backtest
# --------------------------------------------------------------------------


def _parse_fractile(text: str) -> tuple[float, float]:
    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise PocError(
            f"--fractile must be LOW,HIGH percentiles like 20,80, got {text!r}"
        ) from None
    return low, high


def _full_leg_size(n_names: int, fractile: tuple[float, float]) -> int:
    """Names in the smaller leg when every security of the snapshot has a signal."""
    import numpy as np

    from poc.weights import percentile_positions

    sizes = np.array([n_names])
    n_long = n_names - int(percentile_positions(sizes, fractile[1], "high")[0])
    n_short = int(percentile_positions(sizes, fractile[0], "low")[0]) + 1
    return max(1, min(n_long, n_short))


def _cmd_backtest(args: argparse.Namespace) -> int:
    from poc.catalog import DEFAULT_SNAPSHOT_ID, ensure_default_snapshot, open_snapshot
    from poc.contract import align_signal, check_signal, read_signal
    from poc.engine import BacktestConfig, run_backtest
    from poc.panel import load_panel
    from poc.signals import load_builtin

    store = snapshot_store(args.store)
    if args.snapshot in (None, DEFAULT_SNAPSHOT_ID):
        snapshot = ensure_default_snapshot(store)
    else:
        snapshot = open_snapshot(store, args.snapshot)
    fractile = _parse_fractile(args.fractile)
    notes = []
    mincos = args.mincos
    if mincos is None:
        # A snapshot with few names (the bundled one has 20) can never fill a
        # leg of 10: default to what a full cross-section can hold, and say so.
        n_names = len(snapshot.security_ids())
        full = _full_leg_size(n_names, fractile)
        mincos = min(10, full)
        if mincos < 10:
            notes.append(
                f"--mincos defaults to {mincos} (not 10): with {n_names} securities a leg holds at "
                f"most {full} names at fractile {fractile[0]:g},{fractile[1]:g}"
            )
    tc_model = args.tc_model or ("naive" if args.tc_bps else "none")
    config = BacktestConfig(
        lag=args.lag,
        residualize=args.residualize,
        weight=args.weight,
        fractile=fractile,
        mincos=mincos,
        tc_model=tc_model,
        tc_bps=args.tc_bps or 0.0,
        rebalance=args.rebalance,
        from_open=args.from_open,
        max_weight=args.max_weight,
        start=args.start,
        end=args.end,
    )
    if args.signal.startswith("builtin:"):
        frame = load_builtin(snapshot, args.signal.split(":", 1)[1])
    else:
        frame = read_signal(
            args.signal, allow_pickle=args.allow_pickle, pickle_flag="--allow-pickle"
        )
    panel = load_panel(snapshot)
    clean = check_signal(frame, panel.dates, panel.security_ids)
    started = time.perf_counter()
    result = run_backtest(panel, align_signal(clean, panel.dates, config.lag), config)
    elapsed = time.perf_counter() - started

    costs = {
        "none": "no costs",
        "naive": f"{config.tc_bps:g} bps x turnover",
        "spread": "half-spread",
    }
    print(
        f"backtest of {args.signal} on {snapshot.snapshot_id!r} ({snapshot.digest[:12]}) "
        f"in {elapsed:.2f}s"
    )
    print(
        f"  lag {config.lag}{' from the open' if config.from_open else ''}, residualize "
        f"{config.residualize}, {config.weight} weights, fractile {fractile[0]:g},{fractile[1]:g}, "
        f"mincos {config.mincos}, {costs[config.tc_model]}, {config.rebalance} rebalancing"
        + (f", max weight {config.max_weight:g}" if config.max_weight else "")
    )
    for note in notes:
        print(f"  note: {note}")
    counts = result.counts
    dropped = ", ".join(
        f"{key.replace('_', ' ')} {counts[key]:,}"
        for key in ("no_return", "no_exposure", "outside_window", "beyond_calendar")
        if counts.get(key)
    )
    print(
        f"  signal values {counts['signal_values']:,}, used {counts['used']:,}"
        + (f"; dropped: {dropped}" if dropped else "")
    )
    if not counts["days"]:
        print(
            "error: no day had a position: every day's cross-section was too small (fewer than 2 "
            f"names, or a leg below mincos={config.mincos}); lower --mincos or widen --fractile",
            file=sys.stderr,
        )
        return 1
    if counts["flat_days"]:
        print(
            f"  {counts['flat_days']:,} of {counts['days']:,} days flat: a leg had fewer than "
            f"mincos={config.mincos} names (or no names) that day"
        )
    table = result.summary
    columns = {
        "sharpe": ("Sharpe", "{:7.2f}"),
        "ann_ret": ("ann.ret", "{:8.1%}"),
        "ann_vol": ("ann.vol", "{:8.1%}"),
        "max_dd": ("max DD", "{:8.1%}"),
        "calmar": ("Calmar", "{:7.2f}"),
        "turnover": ("turnover", "{:8.2f}"),
        "n_periods": ("days", "{:6.0f}"),
    }
    print()
    header = " ".join(f"{label:>{len(fmt.format(0.0))}}" for label, fmt in columns.values())
    print(f"  {'':<8}{header}")
    for _, row in table.iterrows():
        label = "overall" if row["slice"] == "overall" else str(row["label"])
        if row["slice"] == "cap":
            label = f"cap:{label}"
        print(f"  {label:<8}" + " ".join(fmt.format(row[key]) for key, (_, fmt) in columns.items()))
    print()
    print("  decile  mean ret (bps)  hit rate      count")
    for _, row in result.fractile.iterrows():
        print(
            f"  {int(row['decile']):>6}  {row['mean_return'] * 1e4:>14.2f}  "
            f"{row['hit_rate']:>8.1%}  {int(row['count']):>9,}"
        )
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
    create.add_argument(
        "--end", default=None, help="keep only dates up to END (YYYY-MM-DD): the source as of then"
    )
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

    gc = snap_cmds.add_parser(
        "gc", help="remove temporary folders left by killed snapshot or cache creations"
    )
    gc.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    _add_store(gc)
    gc.set_defaults(func=_cmd_snapshot_gc)

    sig = commands.add_parser("signal", help="validate signal files against the contract")
    sig_cmds = sig.add_subparsers(dest="signal_command", required=True)
    val = sig_cmds.add_parser("validate", help="validate a signal file against a snapshot")
    val.add_argument("file", help="signal table (.csv or .parquet)")
    val.add_argument("--snapshot", default=None, help="snapshot id (default: the bundled one)")
    val.add_argument("--lag", type=int, default=0, help="lag in trading days (default 0)")
    val.add_argument(
        "--nan-budget",
        type=float,
        default=0.05,
        help="max share of NaN signals, between 0 and 1 (default 0.05 = 5%%)",
    )
    val.add_argument(
        "--allow-pickle", action="store_true", help="read a pickle file (runs code from the file)"
    )
    _add_store(val)
    val.set_defaults(func=_cmd_signal_validate)

    run = commands.add_parser(
        "run", help="run an experiment suite and log it to MLflow (MLproject entry point `main`)"
    )
    run.add_argument(
        "--experiment", default="experiments/default.yaml", help="experiment spec YAML"
    )
    run.add_argument("--signal", default=None, help="signal file or builtin:NAME")
    run.add_argument(
        "--signal-name", "--signal_name", dest="signal_name", default=None, help="display name"
    )
    run.add_argument("--snapshot", default=None, help="snapshot id")
    run.add_argument("--lags", default=None, help="e.g. 0,1,2")
    run.add_argument("--residualize", default=None, help="e.g. off,industry,all")
    run.add_argument("--weight", default=None, help="equal and/or signal")
    run.add_argument("--fractile", default=None, help="low,high percentiles; several: 10,90;20,80")
    run.add_argument(
        "--tc-model", "--tc_model", dest="tc_model", default=None, help="none, naive or spread"
    )
    run.add_argument(
        "--tc-bps", "--tc_bps", dest="tc_bps", default=None, help="cost in bps per unit turnover"
    )
    run.add_argument("--rebalance", default=None, help="daily, weekly and/or monthly")
    run.add_argument("--mincos", default=None, help="minimum names per leg")
    run.add_argument("--start", default=None, help="first signal date (YYYY-MM-DD)")
    run.add_argument("--end", default=None, help="last signal date (YYYY-MM-DD)")
    run.add_argument(
        "--n-jobs", "--n_jobs", dest="n_jobs", default=None, help="parallel workers (-1: all cores)"
    )
    run.add_argument("--baselines", default=None, help="true or false")
    run.add_argument("--backend", default=None, help="joblib backend (loky, threading, dask...)")
    run.add_argument(
        "--scheduler",
        default=None,
        help="Dask scheduler address for --backend dask (default: the spec's scheduler:, "
        "else $POC_DASK_SCHEDULER, else a local cluster)",
    )
    run.add_argument(
        "--experiment-name",
        "--experiment_name",
        dest="experiment_name",
        default=None,
        help="MLflow experiment (default: the spec's name; ignored under `mlflow run`)",
    )
    run.add_argument(
        "--max-cells",
        "--max_cells",
        dest="max_cells",
        default=None,
        help="refuse larger grids (default 5000)",
    )
    run.add_argument(
        "--oos-start",
        "--oos_start",
        dest="oos_start",
        default=None,
        help="split metrics in/out of sample: a date (2015-01-01) or a fraction (0.3)",
    )
    run.add_argument(
        "--resume",
        default=None,
        metavar="PARENT_RUN_ID",
        help="resume an interrupted suite: reuse its finished cells, compute the rest",
    )
    _add_store(run)
    run.set_defaults(func=_cmd_run)

    alloc = commands.add_parser(
        "allocate", help="run an allocation grid and log it (MLproject entry point `allocate`)"
    )
    alloc.add_argument("--experiment", default="experiments/allocation.yaml")
    for key in _ALLOCATION_OVERRIDES:
        alloc.add_argument(
            *dict.fromkeys([f"--{key.replace('_', '-')}", f"--{key}"]),
            dest=key,
            default=None,
            help="comma-separated grid values"
            if key not in ("snapshot", "start", "end", "n_jobs", "max_cells", "oos_start")
            else None,
        )
    alloc.add_argument(
        "--resume",
        default=None,
        metavar="PARENT_RUN_ID",
        help="resume an interrupted allocation suite: reuse its finished cells",
    )
    _add_store(alloc)
    alloc.set_defaults(func=_cmd_allocate)

    over = commands.add_parser(
        "overlays",
        help="raw vs risk-overlay variants, IS/OOS and walk-forward (MLproject entry point "
        "`overlays`)",
    )
    over.add_argument("--experiment", default="experiments/overlays.yaml")
    over.add_argument("--snapshot", default=None, help="snapshot id (default: the spec's)")
    over.add_argument(
        "--oos-start", "--oos_start", dest="oos_start", default=None, help="date or fraction"
    )
    over.add_argument("--overlay", default=None, help="comma-separated overlays (grid axis)")
    _add_store(over)
    over.set_defaults(func=_cmd_overlays)

    sheet = commands.add_parser("tearsheet", help="tear sheet links")
    sheet_cmds = sheet.add_subparsers(dest="tearsheet_command", required=True)
    link = sheet_cmds.add_parser("link", help="print the tear sheet link of a parent run")
    link.add_argument("run_id")
    link.set_defaults(func=_cmd_tearsheet_link)

    bt = commands.add_parser("backtest", help="backtest one signal and print its summary")
    bt.add_argument("--snapshot", default=None, help="snapshot id (default: the bundled one)")
    bt.add_argument("--signal", required=True, help="signal file (.csv/.parquet) or builtin:NAME")
    bt.add_argument("--lag", type=int, default=0, help="lag in trading days (default 0)")
    bt.add_argument("--residualize", choices=["off", "industry", "all"], default="off")
    bt.add_argument("--weight", choices=["equal", "signal"], default="equal")
    bt.add_argument("--fractile", default="10,90", help="low,high percentiles (default 10,90)")
    bt.add_argument(
        "--mincos",
        type=int,
        default=None,
        help="min names per leg (default 10, or fewer when the snapshot cannot fill 10)",
    )
    bt.add_argument("--tc-model", choices=["none", "naive", "spread"], default=None)
    bt.add_argument("--tc-bps", type=float, default=None, help="bps per unit turnover (naive)")
    bt.add_argument("--rebalance", choices=["daily", "weekly", "monthly"], default="daily")
    bt.add_argument("--from-open", action="store_true", help="trade at the open (needs openret)")
    bt.add_argument("--max-weight", type=float, default=None, help="cap per name within a leg")
    bt.add_argument("--start", default=None, help="first earning date (YYYY-MM-DD)")
    bt.add_argument("--end", default=None, help="last earning date (YYYY-MM-DD)")
    bt.add_argument(
        "--allow-pickle", action="store_true", help="read a pickle file (runs code from the file)"
    )
    _add_store(bt)
    bt.set_defaults(func=_cmd_backtest)

    for register in _EXTRA_COMMANDS:
        register(commands)
    return parser


# Later modules (backtest, suite, tear sheet, allocation) register their
# sub-commands here so this file stays a thin dispatcher.
_EXTRA_COMMANDS: list[Callable[[argparse._SubParsersAction], None]] = []


def _register_track_and_compare(commands: argparse._SubParsersAction) -> None:
    from poc.cli_track import register

    register(commands, snapshot_store, _add_store)


_EXTRA_COMMANDS.append(_register_track_and_compare)


# --------------------------------------------------------------------------
# portfolio (MLproject entry point `portfolio`): a signal's capital-constrained book
# --------------------------------------------------------------------------

_PORTFOLIO_GRID = (
    "hold_days",
    "gate",
    "gate_percentile",
    "max_positions",
    "risk_per_trade",
    "stop_multiple",
    "max_weight",
    "decay_percentile",
    "lag",
    "commission_bps",
    "slippage_bps",
)
_PORTFOLIO_SETTINGS = ("signal", "snapshot", "start", "end", "n_jobs", "n_control", "seed")


def _portfolio_command(spec, snapshot_id: str) -> str:
    import shlex

    parts = ["mlflow", "run", ".", "-e", "portfolio", "--env-manager", "local"]
    if spec.source_path:
        parts += ["-P", f"experiment={spec.source_path}"]
    parts += ["-P", f"signal={spec.signal}", "-P", f"snapshot={snapshot_id}"]
    # Every axis with its resolved values, so a command-line override is reproduced too.
    for axis in _PORTFOLIO_GRID:
        if axis in spec.grid:
            values = ",".join(
                str(v).lower() if isinstance(v, bool) else str(v) for v in spec.grid[axis]
            )
            parts += ["-P", f"{axis}={values}"]
    for key in ("start", "end", "seed"):
        value = getattr(spec, key, None)
        if value not in (None, ""):
            parts += ["-P", f"{key}={value}"]
    parts += ["-P", f"n_control={spec.n_control}"]
    return shlex.join(parts)


def _cmd_portfolio(args: argparse.Namespace) -> int:
    from poc.catalog import ensure_snapshot
    from poc.portfolio.suite import apply_portfolio_overrides, load_portfolio_spec
    from poc.suite import check_backend

    started = time.perf_counter()
    _check_store()
    spec = load_portfolio_spec(args.experiment)
    keys = (*_PORTFOLIO_GRID, *_PORTFOLIO_SETTINGS)
    spec = apply_portfolio_overrides(spec, {key: getattr(args, key) for key in keys})
    check_backend(spec.backend)
    snapshot = ensure_snapshot(snapshot_store(args.store), spec.snapshot)
    print(
        f"portfolio suite {spec.name!r}: signal {spec.signal} on snapshot "
        f"{snapshot.snapshot_id!r} ({snapshot.digest[:12]}), {len(spec.cells())} cells x "
        f"(1 + {spec.n_control} random-entry draws), n_jobs={spec.n_jobs}",
        flush=True,
    )
    command = _portfolio_command(spec, snapshot.snapshot_id)

    def progress(done: int, total: int, result) -> None:
        m = result.metrics
        detail = (
            f"expectancy {m.get('expectancy', float('nan')):8.4%}  bound "
            f"{m.get('control_bound', float('nan')):8.4%}"
            if result.ok
            else f"FAILED: {result.error}"
        )
        print(f"  [{done:>3}/{total}] {result.name:<48} {detail}  ({result.seconds:.2f}s)")

    def start(notify, attach_run_id):
        from poc.portfolio.report import log_portfolio_suite
        from poc.portfolio.suite import run_portfolio_suite

        result = run_portfolio_suite(spec, snapshot, progress=progress)
        return log_portfolio_suite(result, snapshot, **_log_options(command, notify, attach_run_id))

    outcome, code = _run_interruptibly(args, (), start, rerun_command=command)
    if outcome is None:
        return code
    from poc.portfolio.report import headline_summary

    result = outcome.result
    for note in result.notes:
        print(f"  note: {note}")
    h = headline_summary(result)
    print(f"done in {time.perf_counter() - started:.1f}s")
    print(
        f"headline cell {result.headline!r}: {h['n_trades']:.0f} trades, expectancy "
        f"{h['expectancy']:.4%} per trade, mean R {h['mean_r']:.3f}, random-entry bound "
        f"{h['control_bound']:.4%}: "
        + ("BEATS the control" if h["beats_control"] == 1.0 else "does not beat the control")
    )
    print(f"parent run: {outcome.run_id}")
    print(f"tear sheet: {local_link(outcome.link)}")
    return 0


def _register_portfolio(commands: argparse._SubParsersAction) -> None:
    folio = commands.add_parser(
        "portfolio",
        help="simulate a signal as a capital-constrained book over a grid and log it "
        "(MLproject entry point `portfolio`)",
    )
    folio.add_argument("--experiment", default="experiments/portfolio.yaml")
    # Both spellings: `mlflow run -P hold_days=21` appends `--hold_days 21`.
    for key in _PORTFOLIO_GRID:
        folio.add_argument(
            *dict.fromkeys([f"--{key.replace('_', '-')}", f"--{key}"]),
            dest=key,
            default=None,
            help="comma-separated grid values",
        )
    for key in _PORTFOLIO_SETTINGS:
        folio.add_argument(
            *dict.fromkeys([f"--{key.replace('_', '-')}", f"--{key}"]), dest=key, default=None
        )
    _add_store(folio)
    folio.set_defaults(func=_cmd_portfolio)


_EXTRA_COMMANDS.append(_register_portfolio)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``poc`` console script."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (Exception, KeyboardInterrupt) as exc:
        return _report_failure(exc)


def _report_failure(exc: BaseException) -> int:
    """The command line's one error boundary: one ``error: what ; fix`` line and an exit code.

    ``POC_DEBUG=1`` also prints the traceback. A closed pipe (``poc snapshot
    list | head``) ends quietly with 141.
    """
    import traceback

    from poc.failures import EXIT_BROKEN_PIPE, format_failure

    line, code = format_failure(exc)
    if code == EXIT_BROKEN_PIPE:
        _silence_stdout()
        return code
    if os.environ.get("POC_DEBUG", "").strip() not in ("", "0"):
        traceback.print_exception(exc, file=sys.stderr)
    print(line, file=sys.stderr, flush=True)
    return code


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # in-process callers (tests) have no real file descriptor; nothing to do


if __name__ == "__main__":
    sys.exit(main())
