"""helpers.tools: how the integration tests find an external tool, and the one reason they skip with."""

from __future__ import annotations

import pytest
from helpers import tools


def _executable(folder, name: str) -> str:
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def test_missing_tool_skips_with_the_one_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(tools.sys, "executable", str(tmp_path / "python"))
    with pytest.raises(pytest.skip.Exception, match=r"^needs tshark on PATH \(apt-get install tshark\)$"):
        tools.require("tshark")
    with pytest.raises(pytest.skip.Exception, match=r"^needs chromium on PATH \(apt-get install chromium\)$"):
        tools.require("chromium")


def test_tool_on_path_is_returned(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(tools.sys, "executable", str(tmp_path / "python"))
    monkeypatch.delenv("INSPECTOR_CHROMIUM", raising=False)
    tshark = _executable(tmp_path, "tshark")
    browser = _executable(tmp_path, "chromium-browser")
    assert tools.require("tshark") == tshark
    assert tools.require("chromium") == browser


def test_chromium_from_the_environment_variable(monkeypatch, tmp_path):
    (tmp_path / "bin").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setattr(tools.sys, "executable", str(tmp_path / "python"))
    _executable(tmp_path / "bin", "chromium")
    chrome = _executable(tmp_path, "my-chrome")
    monkeypatch.setenv("INSPECTOR_CHROMIUM", chrome)
    assert tools.require("chromium") == chrome
    monkeypatch.setenv("INSPECTOR_CHROMIUM", str(tmp_path / "absent"))
    with pytest.raises(pytest.skip.Exception, match=r"^needs chromium on PATH"):
        tools.require("chromium")


def test_the_running_interpreters_bin_comes_first(monkeypatch, tmp_path):
    """mitmdump next to the Python running the tests (its venv's mitmproxy) wins over one on PATH."""
    (tmp_path / "venv").mkdir()
    (tmp_path / "path").mkdir()
    own = _executable(tmp_path / "venv", "mitmdump")
    _executable(tmp_path / "path", "mitmdump")
    monkeypatch.setattr(tools.sys, "executable", str(tmp_path / "venv" / "python"))
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    assert tools.require("mitmdump") == own
