"""Scale-out engines for the grid: joblib's Dask backend on a ``distributed`` cluster.

``backend: dask`` in a spec (or ``--backend dask``) runs the cells on a Dask
cluster through joblib's Dask backend. The scheduler address comes from the
spec's ``scheduler:`` key, else ``$POC_DASK_SCHEDULER`` (read by the command
line and passed in), else a local cluster in this process
(``distributed.LocalCluster``, stopped when the suite ends). Workers only
compute; the parent process still does all MLflow logging.

``dask[distributed]`` is the optional extra ``dask`` (``pip install poc[dask]``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from poc.exceptions import ConfigError

SCHEDULER_ENV = "POC_DASK_SCHEDULER"


@contextmanager
def dask_client(address: str | None = None) -> Iterator[object]:
    """A ``distributed.Client`` for ``address`` (a local cluster when None); joblib's
    ``dask`` backend is registered and uses it while the context is open."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError(
            "backend 'dask' needs dask[distributed]; install it with `pip install poc[dask]` "
            "(or `pip install 'dask[distributed]'`)"
        ) from exc
    # Importing the client registers joblib's "dask" backend (joblib.parallel.BACKENDS).
    if address:
        try:
            client = Client(address, timeout="20s")
        except OSError as exc:
            raise ConfigError(
                f"cannot reach the Dask scheduler at {address!r} ({exc}); check the address "
                f"(spec `scheduler:` or ${SCHEDULER_ENV}) and that the scheduler is running"
            ) from exc
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@contextmanager
def engine(backend: str, scheduler: str | None = None) -> Iterator[None]:
    """Open what ``backend`` needs around a suite's cells (nothing for joblib's own)."""
    if backend != "dask":
        yield
        return
    with dask_client(scheduler):
        yield
