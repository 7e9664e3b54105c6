"""External tools the integration tests drive, found in one place.

``require(name)`` returns the path of the executable, or skips the calling test with the one reason
``needs NAME on PATH (HOW TO INSTALL)``.  The running interpreter's own bin directory is searched before
``PATH``, so ``mitmdump`` is the one of the mitmproxy installed next to the Python running the tests.
Chromium is ``$INSPECTOR_CHROMIUM`` when set, otherwise the first of chromium, chromium-browser and
google-chrome found.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

INSTALL = {
    "chromium": "apt-get install chromium",
    "tshark": "apt-get install tshark",
    "editcap": "apt-get install wireshark-common",
    "mergecap": "apt-get install wireshark-common",
    "tcpdump": "apt-get install tcpdump",
    "curl": "apt-get install curl",
    "xxd": "apt-get install xxd",
    "od": "apt-get install coreutils",
    "hexdump": "apt-get install bsdextrautils",
    "mitmdump": "pip install mitmproxy",
    "mitmweb": "pip install mitmproxy",
}

_NAMES = {"chromium": ("chromium", "chromium-browser", "google-chrome")}


def find(name: str) -> str | None:
    """The path of the executable ``name`` (see the module docstring), or None."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    if name == "chromium" and os.environ.get("INSPECTOR_CHROMIUM"):
        return shutil.which(os.environ["INSPECTOR_CHROMIUM"], path=search)
    for candidate in _NAMES.get(name, (name,)):
        path = shutil.which(candidate, path=search)
        if path is not None:
            return path
    return None


def require(name: str) -> str:
    """The path of the executable ``name``; skips the test when it is missing."""
    path = find(name)
    if path is None:
        pytest.skip(f"needs {name} on PATH ({INSTALL.get(name, 'install ' + name)})")
    return path
