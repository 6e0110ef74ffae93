"""Start a throwaway PostgreSQL server for tests, from the machine's own binaries.

The tests that need a team database (``poc track`` on PostgreSQL, ``mlflow server``
backed by PostgreSQL) use the session fixture ``postgres_url`` from
``tests/conftest.py``, which calls :func:`start_postgres`. The server lives in a
temporary folder, listens on 127.0.0.1 on a free port, trusts local connections
and is stopped when the test session ends. ``.ci/run`` installs the Debian
``postgresql`` package so CI always has the binaries; elsewhere the fixture skips
with the reason.

PostgreSQL refuses to run as root, so when the tests run as root (as in CI) the
server runs as the ``postgres`` system user created by the Debian package.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PostgresServer:
    """A running test server: where it lives and how to reach it."""

    data_dir: Path
    port: int
    user: str
    database: str
    run_as: str | None

    @property
    def url(self) -> str:
        """SQLAlchemy URL using the psycopg (v3) driver."""
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{self.database}"


def find_bin_dir() -> Path | None:
    """The folder holding ``initdb``/``pg_ctl``, or None when PostgreSQL is not installed."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for folder in candidates:
        if (Path(folder) / "initdb").exists() and (Path(folder) / "postgres").exists():
            return Path(folder)
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).parent / "postgres").exists():
        return Path(initdb).parent
    return None


def missing_reason() -> str | None:
    """Why a server cannot be started here, or None when it can."""
    if find_bin_dir() is None:
        return (
            "PostgreSQL server binaries not found (initdb/postgres); "
            "install them with `apt-get install postgresql` (.ci/run does)"
        )
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed; pip install -e '.[test]' installs it"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and no 'postgres' system user to run the server as"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(cmd: list[str], run_as: str | None) -> None:
    if run_as:
        cmd = ["runuser", "-u", run_as, "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout}\n{proc.stderr}")


def start_postgres(root: Path, database: str = "poc") -> PostgresServer:
    """Initialise and start a server under ``root``; return how to reach it.

    Parameters
    ----------
    root : Path
        An empty temporary folder; the cluster and its socket live here.
    database : str
        Name of the database created for the tests.
    """
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError(missing_reason() or "PostgreSQL not found")
    run_as = "postgres" if os.geteuid() == 0 else None
    root.mkdir(parents=True, exist_ok=True)
    data_dir = root / "data"
    if run_as:
        entry = pwd.getpwnam(run_as)
        # The server user must reach the folder: open the path down to it.
        for parent in [root, *root.parents]:
            if parent == Path("/"):
                break
            os.chmod(parent, os.stat(parent).st_mode | 0o011)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    user = "poc"
    _run(
        [
            str(bin_dir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            user,
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        run_as,
    )
    port = _free_port()
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    _run(
        [
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data_dir),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "-l",
            str(root / "server.log"),
            "start",
        ],
        run_as,
    )
    server = PostgresServer(data_dir, port, user, database, run_as)
    _create_database(server)
    return server


def _create_database(server: PostgresServer) -> None:
    import psycopg

    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(
                host="127.0.0.1",
                port=server.port,
                user=server.user,
                dbname="postgres",
                autocommit=True,
                connect_timeout=5,
            ) as conn:
                conn.execute(f'CREATE DATABASE "{server.database}"')
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def stop_postgres(server: PostgresServer) -> None:
    """Stop the server fast; the temporary folder is left to pytest to remove."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        return
    _run(
        [str(bin_dir / "pg_ctl"), "-D", str(server.data_dir), "-m", "fast", "-w", "stop"],
        server.run_as,
    )
