"""The command line's error boundary: one line per expected failure, exit codes by kind."""

from __future__ import annotations

import errno

import pandas as pd
import pytest
import yaml

from poc import cli
from poc.exceptions import ConfigError, SignalContractError, SnapshotIntegrityError
from poc.failures import (
    EXIT_BROKEN_PIPE,
    EXIT_BUG,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    describe_failure,
    format_failure,
    one_line,
)


def test_one_line_joins_lines_and_drops_bullets():
    assert one_line("a:\n  - b\n  - c\n") == "a: | b | c"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConfigError("grid.lag: expected whole numbers"), "grid.lag: expected whole numbers"),
        (SignalContractError(["x.csv is empty; write a header"]), "x.csv is empty; write a header"),
        (
            SnapshotIntegrityError("s1", ["returns.parquet: missing"]),
            "snapshot 's1' failed verification: | returns.parquet: missing",
        ),
    ],
)
def test_poc_errors_keep_their_message_on_one_line(exc, expected):
    assert describe_failure(exc).startswith(expected)
    line, code = format_failure(exc)
    assert code == EXIT_FAILURE and "\n" not in line and line.startswith("error: ")


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (IsADirectoryError(errno.EISDIR, "Is a directory", "data"), ["'data' is a folder", ";"]),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "s/x"), ["not a folder", "--store"]),
        (PermissionError(errno.EACCES, "Permission denied", "/ro"), ["permission denied", "/ro"]),
        (OSError(errno.ENOSPC, "No space left on device", "/full/f"), ["disk is full", "/full/f"]),
        (OSError(errno.EROFS, "Read-only file system", "/r"), ["read-only file system", "/r"]),
        (
            FileNotFoundError(errno.ENOENT, "No such file", "gone.csv"),
            ["'gone.csv' does not exist"],
        ),
        (UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "invalid byte"), ["not UTF-8", "byte 0"]),
        (MemoryError(), ["out of memory", "smaller grid"]),
    ],
)
def test_os_and_decoding_failures_name_the_problem_and_the_fix(exc, words):
    line, code = format_failure(exc)
    assert code == EXIT_FAILURE
    assert line.startswith("error: ") and " ; " in line and "\n" not in line
    for word in words:
        assert word in line


def test_yaml_and_pandas_parser_errors_are_expected_failures():
    with pytest.raises(yaml.YAMLError) as yaml_error:
        yaml.safe_load("a: [b")
    assert "not valid YAML" in format_failure(yaml_error.value)[0]
    assert "could not be parsed" in format_failure(pd.errors.ParserError("bad row 3"))[0]


def test_broken_pipe_is_silent_and_interrupt_is_130():
    assert format_failure(BrokenPipeError()) == ("", EXIT_BROKEN_PIPE)
    line, code = format_failure(KeyboardInterrupt())
    assert code == EXIT_INTERRUPTED and "interrupted" in line


def test_an_unexpected_exception_is_reported_as_a_bug_with_the_debug_hint():
    line, code = format_failure(ZeroDivisionError("division by zero"))
    assert code == EXIT_BUG
    assert "unexpected ZeroDivisionError" in line and "POC_DEBUG=1" in line


def _raise(exc):
    def command(args):
        raise exc

    return command


@pytest.fixture
def failing_command(monkeypatch):
    """Make `poc snapshot list` raise a given exception (the boundary is what is tested)."""

    def install(exc):
        monkeypatch.setattr(cli, "_cmd_snapshot_list", _raise(exc))

    return install


def test_main_prints_one_line_and_exits_1(failing_command, capsys, monkeypatch):
    monkeypatch.delenv("POC_DEBUG", raising=False)
    failing_command(ConfigError("n_jobs: 0 is not allowed; use 1"))
    assert cli.main(["snapshot", "list"]) == 1
    err = capsys.readouterr().err
    assert err == "error: n_jobs: 0 is not allowed; use 1\n"


def test_poc_debug_shows_the_traceback(failing_command, capsys, monkeypatch):
    monkeypatch.setenv("POC_DEBUG", "1")
    failing_command(ConfigError("bad value; fix it"))
    assert cli.main(["snapshot", "list"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().endswith("error: bad value; fix it")


def test_main_keyboard_interrupt_is_one_line_and_130(failing_command, capsys, monkeypatch):
    monkeypatch.delenv("POC_DEBUG", raising=False)
    failing_command(KeyboardInterrupt())
    assert cli.main(["snapshot", "list"]) == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_main_broken_pipe_exits_quietly(failing_command, capsys):
    failing_command(BrokenPipeError(errno.EPIPE, "Broken pipe"))
    assert cli.main(["snapshot", "list"]) == EXIT_BROKEN_PIPE
    assert capsys.readouterr().err == ""


def test_interruptions_exit_with_the_signal_they_came_from():
    import signal

    from poc.interrupts import Interrupted

    assert format_failure(KeyboardInterrupt()) == (
        "interrupted (Ctrl-C) ; nothing more was done",
        130,
    )
    assert format_failure(Interrupted(signal.SIGINT))[1] == 130
    line, code = format_failure(Interrupted(signal.SIGTERM))
    assert code == 143 and line == "interrupted (SIGTERM) ; nothing more was done"
