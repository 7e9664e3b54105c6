"""pcap/pcapng reading checked against Wireshark's own tools: tshark's dissection, editcap and mergecap output."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from helpers.pcap_fixtures import FIX, WS, expected, of, packets
from helpers.tools import require

from inspector.records import (
    Connection,
    Frame,
    Message,
    SseEvent,
    WarningRecord,
)
from inspector.sources.pcap import records


def tshark_frames(path: Path, server_port: int) -> dict[str, list[tuple]]:
    fields = ["tcp.srcport", "websocket.fin", "websocket.rsv", "websocket.opcode", "websocket.mask",
              "websocket.payload_length", "websocket.payload_length_ext_16", "websocket.payload_length_ext_64",
              "websocket.masking_key"]
    cmd = [require("tshark"), "-r", str(path), "-Y", "websocket", "-T", "fields", "-E", "occurrence=a", "-E",
           "aggregator=|"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    frames = {"client": [], "server": []}
    for line in out.splitlines():
        cols = line.split("\t")
        direction = "server" if int(cols[0]) == server_port else "client"
        fin, rsv, opcode, mask, plen = (c.split("|") for c in cols[1:6])
        ext16 = iter(cols[6].split("|")) if cols[6] else iter(())
        ext64 = iter(cols[7].split("|")) if cols[7] else iter(())
        keys = iter(cols[8].split("|")) if cols[8] else iter(())
        for i in range(len(fin)):
            length = int(plen[i])
            if length == 126:
                length = int(next(ext16))
            elif length == 127:
                length = int(next(ext64))
            masked = mask[i] in ("1", "True")
            frames[direction].append((
                fin[i] in ("1", "True"), int(rsv[i], 16), int(opcode[i]), masked, length,
                next(keys) if masked else None,
            ))
    return frames


def our_frames(recs) -> dict[str, list[tuple]]:
    out = {"client": [], "server": []}
    for f in of(recs, Frame):
        rsv = (f.rsv1 << 2) | (f.rsv2 << 1) | f.rsv3
        out[f.direction].append((f.fin, rsv, f.opcode, f.masked, f.payload_len, f.masking_key))
    return out


@pytest.mark.parametrize("name", WS)
def test_frame_headers_agree_with_tshark(name):
    path = FIX / f"{name}.pcap"
    recs = records(str(path), strict=True)
    theirs = tshark_frames(path, expected(name)["port"])
    ours = our_frames(recs)
    assert len(theirs["client"]) >= 3 and len(theirs["server"]) >= 3
    assert ours == theirs


def test_nanosecond_pcap(tmp_path):
    nano = tmp_path / "nano.pcap"
    subprocess.run([require("editcap"), "-F", "nsecpcap", str(FIX / "ws_plain.pcap"), str(nano)], check=True)
    assert nano.read_bytes()[:4] == b"\x4d\x3c\xb2\xa1"
    base = of(records(str(FIX / "ws_plain.pcap")), Message)
    got = of(records(str(nano)), Message)
    assert [(m.direction, m.sha256) for m in got] == [(m.direction, m.sha256) for m in base]
    assert all(abs(a.ts - b.ts) < 1e-6 for a, b in zip(got, base))


def test_pcapng_interfaces_with_different_link_types(tmp_path):
    """mergecap writes one interface per input: raw IP and Ethernet, plus one with an unknown link type."""
    user0 = bytearray((FIX / "polling.pcap").read_bytes())
    struct.pack_into("<I", user0, 20, 147)
    (tmp_path / "user0.pcap").write_bytes(bytes(user0))
    merged = tmp_path / "merged.pcapng"
    subprocess.run([require("mergecap"), "-F", "pcapng", "-w", str(merged), str(FIX / "ws_plain_raw.pcap"),
                    str(FIX / "sse.pcap"), str(tmp_path / "user0.pcap")], check=True)
    recs = records(str(merged), strict=True)
    assert of(recs, Message) == of(records(str(FIX / "ws_plain.pcap")), Message)
    sse = [(e.ts, e.event, e.data, e.id) for e in of(records(str(FIX / "sse.pcap")), SseEvent)]
    assert [(e.ts, e.event, e.data, e.id) for e in of(recs, SseEvent)] == sse
    assert {c.protocol for c in of(recs, Connection)} == {"websocket", "sse"}
    (warning,) = of(recs, WarningRecord)
    assert warning.name == "pcap-unsupported-linktype" and warning.count == len(packets("polling.pcap"))
