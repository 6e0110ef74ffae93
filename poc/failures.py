"""Turn an exception into the one line a user reads, and the exit code ``poc`` returns.

:func:`poc.cli.main` is the single error boundary of the command line: every
expected failure (a :class:`~poc.exceptions.PocError`, a file that is a folder,
a read-only or full disk, a file that is not UTF-8, broken YAML, a CSV pandas
cannot parse) becomes ``error: <what> ; <fix>`` on stderr and exit code 1.
``POC_DEBUG=1`` prints the traceback as well. See ``docs/errors.md``.

This module only formats; it never prints and never reads the environment.
"""

from __future__ import annotations

import errno

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_BUG = 70  # sysexits EX_SOFTWARE: an unexpected exception, i.e. a bug in poc
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what `cmd | head` reports for cmd

DEBUG_HINT = "rerun with POC_DEBUG=1 to see the traceback"


def one_line(text: str) -> str:
    """``text`` on one line: line breaks and bullet prefixes become ``" | "`` separators."""
    parts = [part.strip().removeprefix("- ").strip() for part in str(text).splitlines()]
    return " | ".join(part for part in parts if part)


def _path_of(exc: OSError) -> str:
    name = exc.filename if exc.filename is not None else exc.filename2
    return repr(str(name)) if name is not None else "a path"


def _describe_os_error(exc: OSError) -> str:
    """``what ; fix`` for the OSError family (folders as files, permissions, full disks)."""
    path = _path_of(exc)
    code = exc.errno
    if isinstance(exc, IsADirectoryError) or code == errno.EISDIR:
        return f"{path} is a folder, not a file ; pass the path of a file (e.g. a .csv inside it)"
    if isinstance(exc, NotADirectoryError) or code == errno.ENOTDIR:
        return (
            f"{path}: part of this path is a file, not a folder ; point it at a folder "
            "(e.g. --store or POC_SNAPSHOT_DIR at a directory)"
        )
    if isinstance(exc, FileNotFoundError) or code == errno.ENOENT:
        return f"{path} does not exist ; check the path"
    if isinstance(exc, FileExistsError) or code == errno.EEXIST:
        return f"{path} already exists ; choose another name or remove it"
    if code == errno.ENOSPC:
        return (
            f"the disk is full (writing {path}) ; free some space or point POC_SNAPSHOT_DIR / "
            "MLFLOW_TRACKING_URI at a disk with room"
        )
    if code == errno.EROFS:
        return (
            f"{path} is on a read-only file system ; use a writable folder (--store, "
            "POC_SNAPSHOT_DIR or MLFLOW_TRACKING_URI)"
        )
    if isinstance(exc, PermissionError) or code in (errno.EACCES, errno.EPERM):
        return (
            f"permission denied on {path} ; make it readable/writable for you or use another "
            "folder (--store, POC_SNAPSHOT_DIR or MLFLOW_TRACKING_URI)"
        )
    reason = exc.strerror or type(exc).__name__
    return f"{reason} on {path} ; check the path, the disk and your permissions"


def _is_from(exc: BaseException, *packages: str) -> bool:
    module = type(exc).__module__ or ""
    return any(module == p or module.startswith(p + ".") for p in packages)


def describe_failure(exc: BaseException) -> str | None:
    """The ``what ; fix`` text of an expected failure, or None for an unexpected one (a bug).

    Parameters
    ----------
    exc : BaseException
        The exception that reached the command line's boundary.

    Returns
    -------
    str or None
        One line without the ``error:`` prefix; None when ``exc`` is not a
        failure a user can fix (the caller then reports a bug).
    """
    from poc.exceptions import PocError

    if isinstance(exc, PocError):
        problems = getattr(exc, "problems", None)
        if isinstance(problems, list) and len(problems) == 1:
            # A one-problem contract error: the problem itself is the message.
            return one_line(problems[0])
        return one_line(str(exc))
    if isinstance(exc, UnicodeDecodeError):
        return (
            f"a file is not UTF-8 text ({exc.reason} at byte {exc.start}) ; save it as UTF-8 "
            "(e.g. `iconv -f latin1 -t utf-8`)"
        )
    if isinstance(exc, OSError):
        return _describe_os_error(exc)
    if _is_from(exc, "yaml"):
        return f"not valid YAML ({one_line(str(exc))}) ; fix the file's syntax"
    if _is_from(exc, "pandas.errors") and type(exc).__name__ in ("ParserError", "EmptyDataError"):
        return f"a table could not be parsed ({one_line(str(exc))}) ; check it is a valid CSV"
    if isinstance(exc, MemoryError):
        return "out of memory ; use a smaller grid, snapshot or date range, or fewer --n-jobs"
    return None


def format_failure(exc: BaseException) -> tuple[str, int]:
    """The line to print on stderr and the exit code for ``exc``.

    Expected failures give ``("error: <what> ; <fix>", 1)``; ``BrokenPipeError``
    gives ``("", 141)`` (the reader went away: say nothing); ``KeyboardInterrupt``
    gives ``("interrupted", 130)``; anything else is a bug: a one-line summary
    and exit code 70.
    """
    if isinstance(exc, BrokenPipeError):
        return "", EXIT_BROKEN_PIPE
    if isinstance(exc, KeyboardInterrupt):
        from poc.interrupts import exit_code

        # Interrupted (poc.interrupts) knows whether it was SIGTERM: 143, not 130.
        code = exit_code(exc)
        what = "Ctrl-C" if code == EXIT_INTERRUPTED else str(exc.args[0] if exc.args else code)
        return f"interrupted ({what}) ; nothing more was done", code
    text = describe_failure(exc)
    if text is not None:
        return f"error: {text}", EXIT_FAILURE
    detail = one_line(str(exc)) or "no message"
    return (
        f"error: unexpected {type(exc).__name__}: {detail} ; this is a bug in poc: "
        f"{DEBUG_HINT} and report it",
        EXIT_BUG,
    )
