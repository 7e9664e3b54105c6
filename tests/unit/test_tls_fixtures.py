"""The committed TLS fixtures (fixtures/pcap/tls, made by make_tls_fixtures.py with real peers and
tcpdump) through the pcap source: decrypted records equal what the senders sent; QUIC is reported."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from inspector.records import to_dict
from inspector.sources import SourceOptions
from inspector.sources.pcap import records

TLS = Path(__file__).resolve().parents[2] / "fixtures" / "pcap" / "tls"
NAMES = ["tls13", "tls12_aes128_gcm", "tls12_chacha20", "tls12_aes128_cbc"]


def run(path: Path, *keylogs: Path) -> list[dict]:
    return [to_dict(r) for r in records(str(path), SourceOptions(keylog=tuple(map(str, keylogs))), strict=True)]


def of(recs: list[dict], kind: str) -> list[dict]:
    return [r for r in recs if r["type"] == kind]


def check(recs: list[dict], truth: dict) -> None:
    for direction in ("client", "server"):
        got = [(m["opcode_name"], m["sha256"], m["length"]) for m in of(recs, "message")
               if m["direction"] == direction and m["opcode_name"] in ("text", "binary")]
        assert got == [(m["opcode"], m["sha256"], m["length"]) for m in truth["messages"][direction]]
    assert [{k: e[k] for k in ("event", "id", "data")} for e in of(recs, "sse_event")] == truth["sse_events"]


@pytest.mark.parametrize("name", NAMES)
def test_fixture_decrypts_to_what_was_sent(name):
    recs = run(TLS / f"{name}.pcap", TLS / f"{name}.keys.log")
    check(recs, json.loads((TLS / f"{name}.expected.json").read_text()))
    assert all(c["tls"]["decrypted"] for c in of(recs, "connection"))
    patterns = {p["pattern"] for p in of(recs, "pattern")}
    assert patterns == {"websocket", "sse"}


def test_pcapng_secrets_block_and_no_keys():
    check(run(TLS / "tls13_secrets.pcapng"), json.loads((TLS / "tls13_secrets.expected.json").read_text()))
    bare = run(TLS / "tls13.pcap")
    warnings = [w for w in of(bare, "warning") if w["name"] == "tls-encrypted"]
    assert [w["conn"] for w in warnings] == ["c1", "c2"]
    assert all(w["message"].endswith("no key") for w in warnings)
    assert not of(bare, "message") and not of(bare, "sse_event")


def _udp_packet(src: int, src_port: int, dst: int, dst_port: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([10, 0, 0, src]),
                     bytes([10, 0, 0, dst]))
    return ip + udp


def test_quic_is_reported_not_dropped(tmp_path):
    # A QUIC Initial (long header, fixed bit) to port 443 and a short-header answer, on raw IP (link 101).
    initial = bytes([0xC3]) + b"\x00\x00\x00\x01" + bytes(40)
    answer = bytes([0x41]) + bytes(30)
    packets = [_udp_packet(1, 50000, 2, 443, initial), _udp_packet(2, 443, 1, 50000, answer),
               _udp_packet(1, 5353, 2, 5353, b"x")]
    body = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)
    for i, packet in enumerate(packets):
        body += struct.pack("<IIII", 1700000000 + i, 0, len(packet), len(packet)) + packet
    path = tmp_path / "quic.pcap"
    path.write_bytes(body)
    recs = run(path)
    [conn] = of(recs, "connection")
    assert conn["protocol"] == "quic" and conn["client"] == "10.0.0.1:50000" and conn["server"] == "10.0.0.2:443"
    assert conn["bytes_client"] == len(initial) and conn["bytes_server"] == len(answer)
    assert [w["name"] for w in of(recs, "warning")] == ["quic-not-decoded"]


def _subset(name: str, tmp_path: Path, keep) -> Path:
    """The fixture capture with only the packets ``keep(index, tcp)`` accepts (dpkt reads and writes)."""
    import dpkt

    out = tmp_path / f"{name}-subset.pcap"
    with open(TLS / f"{name}.pcap", "rb") as f, open(out, "wb") as g:
        reader = dpkt.pcap.Reader(f)
        writer = dpkt.pcap.Writer(g, linktype=reader.datalink())
        for index, (ts, buf) in enumerate(reader):
            tcp = dpkt.ethernet.Ethernet(buf).data.data
            if keep(index, tcp):
                writer.writepkt(buf, ts)
    return out


def test_capture_started_after_the_handshake(tmp_path):
    # Each connection's packets before its first application data record are left out.
    started: set[int] = set()

    def keep(index, tcp) -> bool:
        if tcp.sport in started or tcp.dport in started:
            return True
        if tcp.data[:1] == b"\x17" and len(tcp.data) > 200:  # the client's first request record
            started.add(tcp.sport)
            return True
        return False

    recs = run(_subset("tls13", tmp_path, keep), TLS / "tls13.keys.log")
    reasons = [(w["name"], w["message"]) for w in of(recs, "warning") if w["name"] == "tls-encrypted"]
    assert reasons and all(m.endswith("capture started after the handshake") for _, m in reasons)
    assert not of(recs, "message") and not of(recs, "sse_event")


def test_capture_cut_mid_handshake(tmp_path):
    cut: set[frozenset] = set()

    def keep(index, tcp) -> bool:  # each connection's packets end before the client's Finished flight
        pair = frozenset((tcp.sport, tcp.dport))
        if tcp.data[:1] == b"\x14":  # the client's ChangeCipherSpec + Finished segment
            cut.add(pair)
        return pair not in cut

    recs = run(_subset("tls13", tmp_path, keep), TLS / "tls13.keys.log")
    conns = of(recs, "connection")
    assert conns and all(c["tls"]["reason"] == "handshake incomplete in the capture" for c in conns)
    assert all(c["tls"]["version"] == "TLS 1.3" and c["tls"]["sni"] == "localhost" for c in conns)
