"""The hex dump view against xxd's output."""

from __future__ import annotations

import os
import subprocess

import pytest
from helpers.tools import require

from inspector.present.views import hex_dump


@pytest.mark.parametrize("size", [0, 1, 2, 15, 16, 17, 31, 100, 257])
def test_hex_dump_matches_xxd(size):
    data = os.urandom(size)
    expected = subprocess.run([require("xxd")], input=data, capture_output=True, check=True).stdout.decode()
    assert hex_dump(data) == expected.rstrip("\n")
