"""Signal paths resolved against the caller's folder, and printable local links."""

from __future__ import annotations

from pathlib import Path

import pytest

from poc.cli import local_link, resolve_signal_path
from poc.exceptions import ConfigError


def test_relative_signal_found_via_pwd(tmp_path, monkeypatch):
    (tmp_path / "sig.parquet").write_bytes(b"x")
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setenv("PWD", str(tmp_path))
    assert resolve_signal_path("sig.parquet", cwd=project) == str(tmp_path / "sig.parquet")
    assert resolve_signal_path("builtin:high_52w", cwd=project) == "builtin:high_52w"


def test_missing_signal_names_every_path_tried(tmp_path, monkeypatch):
    monkeypatch.setenv("PWD", str(tmp_path / "caller"))
    with pytest.raises(ConfigError) as err:
        resolve_signal_path("nope.csv", cwd=tmp_path)
    message = str(err.value)
    assert str(tmp_path / "nope.csv") in message
    assert str(tmp_path / "caller" / "nope.csv") in message
    assert "-P signal=$PWD/nope.csv" in message


def test_local_link_is_file_url(tmp_path):
    path = tmp_path / "a b" / "tearsheet.html"
    link = local_link(str(path))
    assert link.startswith("file://") and link.endswith("/a%20b/tearsheet.html")
    assert Path(link.removeprefix("file://").replace("%20", " ")) == path.resolve()
    assert local_link("http://h:5000/#/x") == "http://h:5000/#/x"
