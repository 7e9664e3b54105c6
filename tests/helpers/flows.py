"""The recorded mitmproxy flow files (fixtures/flows/) read into records by inspector.mitm.flows."""

from __future__ import annotations

from helpers.offline import FIXTURES, analyse
from inspector.mitm import flows

FLOWS = FIXTURES / "flows"


def run(path, options=None):
    return analyse(flows.run, path, "flows", options)
