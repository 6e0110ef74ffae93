"""Is the MLflow tracking store usable? Asked before any computing, in seconds.

A suite that computes for minutes and then cannot log is wasted work, and
MLflow's own client retries an unreachable server for minutes. So before the
suite starts: for an ``http(s)`` tracking URI one ``GET /health`` with a short
timeout (standard library only: this runs before mlflow is imported); for a
``sqlite`` or ``file`` store, the folder must exist (or be creatable) and be
writable. Failures raise :class:`TrackingStoreError` naming ``MLFLOW_TRACKING_URI``.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

from poc.exceptions import PocError

URI_ENV = "MLFLOW_TRACKING_URI"
TIMEOUT_SECONDS = 3.0


class TrackingStoreError(PocError, OSError):
    """The MLflow tracking store cannot be reached or written."""


def _fix(uri: str) -> str:
    del uri  # every message already names the URI
    return (
        f"start the server, or point {URI_ENV} at a reachable store "
        f"(e.g. export {URI_ENV}=sqlite:///mlflow.db)"
    )


def check_http(uri: str, timeout: float = TIMEOUT_SECONDS) -> None:
    """``GET <uri>/health`` must answer 200 within ``timeout`` seconds."""
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:  # refused, timeout, DNS, bad URL
        reason = getattr(exc, "reason", exc)
        raise TrackingStoreError(
            f"cannot reach the MLflow tracking server {URI_ENV}={uri} ({reason}); {_fix(uri)}"
        ) from None
    if status != 200:
        raise TrackingStoreError(
            f"the MLflow tracking server {URI_ENV}={uri} answered HTTP {status} to /health; "
            f"{_fix(uri)}"
        )


def _writable_folder(folder: Path, uri: str) -> None:
    existing = folder
    while not existing.exists():  # the store may create missing folders itself
        existing = existing.parent
    if not existing.is_dir():
        raise TrackingStoreError(
            f"the tracking store {URI_ENV}={uri} needs folder {folder}, but {existing} is a file; "
            f"{_fix(uri)}"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise TrackingStoreError(
            f"the tracking store {URI_ENV}={uri} is not writable ({existing}); {_fix(uri)}"
        )


def local_store_path(uri: str) -> Path | None:
    """The file (sqlite) or folder (file store) behind a local tracking URI, else None."""
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        # sqlite:///relative.db and sqlite:////absolute.db; ":memory:" has no file.
        path = uri.split("sqlite://", 1)[1].lstrip("/")
        if not path or path.startswith(":memory:"):
            return None
        return Path("/" + path) if uri.startswith("sqlite:////") else Path(path)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and uri:
        return Path(uri)
    return None


def check_tracking_store(uri: str | None, timeout: float = TIMEOUT_SECONDS) -> None:
    """Raise :class:`TrackingStoreError` unless the store at ``uri`` looks usable.

    Parameters
    ----------
    uri : str or None
        ``$MLFLOW_TRACKING_URI``; None or empty means MLflow's default local
        store in the current folder, which must be writable.
    """
    if not uri:
        _writable_folder(Path.cwd(), "(unset: a local store in the current folder)")
        return
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        check_http(uri, timeout)
        return
    path = local_store_path(uri)
    if path is None:
        return  # databricks, postgresql...: MLflow reports its own errors
    if scheme == "sqlite":
        if path.is_dir():
            raise TrackingStoreError(
                f"the tracking store {URI_ENV}={uri} is a folder, not a database file; {_fix(uri)}"
            )
        if path.exists() and not os.access(path, os.W_OK):
            raise TrackingStoreError(
                f"the tracking database {path} is read-only ({URI_ENV}={uri}); {_fix(uri)}"
            )
        _writable_folder(path.parent.resolve(), uri)
        return
    if path.exists() and not path.is_dir():
        raise TrackingStoreError(
            f"the tracking store {URI_ENV}={uri} is a file, not a folder; {_fix(uri)}"
        )
    _writable_folder(path.resolve(), uri)
