"""Benchmark of a suite's compute versus its MLflow logging: ``python -m poc.bench --suite``.

A 30-cell grid (lag 0/1/2 x residualize off/industry x tc_bps 0/5/10/20/50)
of the example signal on the bundled real data, plus the baselines, is
computed once (:func:`poc.suite.run_suite`, timed as *compute*) and then
logged (:func:`poc.runner.log_suite`, timed as *logging*) into

* a fresh local SQLite store (``sqlite:///<tmp>/mlflow.db``, artifacts in
  ``<tmp>/artifacts``), and
* a local ``mlflow server`` on a free port (SQLite backend and artifact root
  in a temporary folder), started by the benchmark and stopped afterwards.

Store growth per child = (bytes of the database file and artifact folder
after logging - before) / number of child runs. Logging share = logging /
(compute + logging). Everything runs in this process with ``n_jobs=1``, except
the tear sheet, which renders in a forked process while the children are
logged (:mod:`poc.background`; ``POC_RENDER_INLINE=1`` keeps it in-process).

Wall times depend on what else the machine runs, so the CPU seconds are printed
too: this process's plus those of the finished child processes (the tear
sheet's renderer), from ``os.times``. The machine's load average is printed
with the table.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

GRID = {
    "lag": [0, 1, 2],
    "residualize": ["off", "industry"],
    "weight": ["equal"],
    "fractile": [[20, 80]],
    "mincos": [3],
    "tc_model": ["naive"],
    "tc_bps": [0, 5, 10, 20, 50],
    "rebalance": ["daily"],
}


@dataclass(frozen=True)
class SuiteBench:
    """One measured suite: where it was logged and what it cost."""

    store: str
    n_children: int
    compute_s: float
    logging_s: float
    growth_bytes: int
    compute_cpu_s: float = float("nan")
    logging_cpu_s: float = float("nan")

    @property
    def logging_share(self) -> float:
        return self.logging_s / (self.compute_s + self.logging_s)

    @property
    def per_child_kb(self) -> float:
        return self.growth_bytes / self.n_children / 1024


def bench_spec(n_jobs: int = 1):
    """The 30-cell benchmark spec (example signal on the bundled data, baselines on)."""
    from poc.experiment import spec_from_dict

    return spec_from_dict(
        {
            "name": "bench-suite-30",
            "snapshot": "sp500-v1",
            "signal": "builtin:high_52w",
            "baselines": True,
            "n_jobs": n_jobs,
            "grid": GRID,
        }
    )


def folder_bytes(*paths: Path) -> int:
    """Total size in bytes of the files under ``paths`` (missing paths count 0)."""
    total = 0
    for path in paths:
        if path.is_file():
            total += path.stat().st_size
        elif path.is_dir():
            total += sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def mlflow_server(
    folder: Path, timeout: float = 90.0, backend_uri: str | None = None
) -> Iterator[str]:
    """A local ``mlflow server`` (SQLite in ``folder`` unless ``backend_uri``, e.g. PostgreSQL);
    yields its URL and stops it afterwards. Artifacts are proxied into ``folder``."""
    port = free_port()
    db = folder / "server.db"
    backend_uri = backend_uri or f"sqlite:///{db}"
    log_path = folder / "server.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "mlflow", "server",
                "--backend-store-uri", backend_uri,
                "--artifacts-destination", str(folder / "server-artifacts"),
                "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"mlflow server did not start on {url}; log:\n{log_path.read_text()[-2000:]}"
                )
            time.sleep(0.3)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait()


def cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its reaped child processes."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _measure(
    store: str, uri: str, sized: list[Path], result, snapshot, compute_cpu: float
) -> SuiteBench:
    import mlflow

    from poc.runner import log_suite

    mlflow.set_tracking_uri(uri)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    # One warm-up log creates the experiment and the tables, as on a user's second run.
    log_suite(result, snapshot, "bench", None, None)
    before = folder_bytes(*sized)
    cpu, started = cpu_seconds(), time.perf_counter()
    log_suite(result, snapshot, "bench", None, None)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
    growth = folder_bytes(*sized) - before
    return SuiteBench(store, len(result.cells), result.seconds, seconds, growth, compute_cpu, cpu)


def run_suite_bench(store_root: Path, servers: bool = True) -> list[SuiteBench]:
    """Compute the 30-cell suite once, log it to SQLite and (``servers``) a local server."""
    from poc.catalog import ensure_snapshot
    from poc.suite import run_suite

    snapshot = ensure_snapshot(store_root, "sp500-v1")
    run_suite(bench_spec(), snapshot)  # warm-up: panel cache, imports
    cpu = cpu_seconds()
    result = run_suite(bench_spec(), snapshot)
    cpu = cpu_seconds() - cpu
    out = []
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    try:
        with tempfile.TemporaryDirectory(prefix="poc-bench-") as tmp:
            folder = Path(tmp)
            db = folder / "mlflow.db"
            uri = f"sqlite:///{db}"
            # Artifacts of a sqlite store default to ./mlartifacts: keep them in the tmp folder.
            cwd = os.getcwd()
            os.chdir(folder)
            try:
                out.append(
                    _measure(
                        "sqlite",
                        uri,
                        [db, folder / "mlruns", folder / "mlartifacts"],
                        result,
                        snapshot,
                        cpu,
                    )
                )
            finally:
                os.chdir(cwd)
            if servers:
                with mlflow_server(folder) as url:
                    sized = [folder / "server.db", folder / "server-artifacts"]
                    out.append(_measure("server", url, sized, result, snapshot, cpu))
    finally:
        if saved is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved
    return out


def print_report(rows: list[SuiteBench]) -> None:
    print("30-cell grid + baselines on the bundled data (sp500-v1, builtin:high_52w, n_jobs=1)")
    print(f"load average (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    header = (
        f"{'store':>7} {'children':>8} {'compute s':>10} {'logging s':>10} {'total s':>8} "
        f"{'logging %':>9} {'KB/child':>9} {'compute cpu s':>13} {'logging cpu s':>13}"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r.store:>7} {r.n_children:>8} {r.compute_s:>10.2f} {r.logging_s:>10.2f} "
            f"{r.compute_s + r.logging_s:>8.2f} {100 * r.logging_share:>8.1f}% "
            f"{r.per_child_kb:>9.1f} {r.compute_cpu_s:>13.2f} {r.logging_cpu_s:>13.2f}",
            flush=True,
        )


def main(store: str | None = None, servers: bool = True) -> int:
    from poc.cli import snapshot_store

    print_report(run_suite_bench(snapshot_store(store), servers=servers))
    return 0
