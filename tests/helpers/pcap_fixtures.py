"""The pcap fixtures (fixtures/pcap/): their paths, what their senders sent, their packets."""

from __future__ import annotations

import json

import dpkt

from helpers.offline import FIXTURES

FIX = FIXTURES / "pcap"
WS = ["ws_plain", "ws_deflate", "ws_ipv6"]


def expected(name: str) -> dict:
    return json.loads((FIX / f"{name}.expected.json").read_text())


def of(recs, kind):
    return [r for r in recs if type(r) is kind]


def packets(name: str):
    with open(FIX / name, "rb") as f:
        return list(dpkt.pcap.Reader(f))
