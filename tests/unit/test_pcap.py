"""pcap/pcapng source (inspector.sources.pcap) on real captures (fixtures/pcap, made by make_fixtures.py).

Truth: frame headers from tshark's ``websocket.*`` fields; payloads, SSE events and HTTP exchanges from
what the sending library was asked to send (``<name>.expected.json``).  tshark 4.0 is not the payload
truth: it mis-reassembles messages ending with an empty final fragment and does not inflate fragmented
compressed messages.
"""

from __future__ import annotations

import gzip
import random
import struct
from pathlib import Path

import dpkt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.errors import InputError
from inspector.records import (
    Connection,
    Exchange,
    Frame,
    Handshake,
    Message,
    Pattern,
    SseEvent,
    SseStream,
    WarningRecord,
)
from inspector.sources import SourceOptions, detect, open_source
from inspector.sources.pcap import looks_like_frames, records

from helpers.memory import peak_of
from helpers.pcap_fixtures import FIX, WS, expected, of, packets

VARIANTS = ["ws_plain.pcapng", "ws_plain_null.pcap", "ws_plain_raw.pcap", "ws_plain_vlan.pcap",
            "ws_plain_sll.pcap", "ws_plain_sll2.pcap"]


def messages(recs, direction):
    return [m for m in of(recs, Message) if m.direction == direction]


def _check_sent(sent: list[dict], got: list[Message]) -> None:
    assert len(got) == len(sent)
    for want, m in zip(sent, got):
        assert m.opcode_name == want["opcode"]
        if want["opcode"] == "close":
            assert (m.close_code, m.close_reason) == (want["close_code"], want["close_reason"])
        elif want["opcode"] == "ping":
            assert m.length == want["length"] and bytes.fromhex(m.data) == want["payload"].encode()
        else:
            assert (m.length, m.sha256) == (want["length"], want["sha256"])
            assert m.frames == want["frames"]
            if "text" in want:
                assert m.text == want["text"]
        assert not m.violations


@pytest.mark.parametrize("name", WS)
def test_messages_are_what_the_library_sent(name):
    recs = records(str(FIX / f"{name}.pcap"), strict=True)
    sent = expected(name)["sent"]
    _check_sent(sent["client"], messages(recs, "client"))
    server = [m for m in messages(recs, "server") if m.opcode_name != "pong"]
    _check_sent(sent["server"], server)
    assert not of(recs, WarningRecord)
    assert all(not f.violations for f in of(recs, Frame))
    (hs,) = of(recs, Handshake)
    assert hs.valid
    (conn,) = of(recs, Connection)
    assert (conn.protocol, conn.detected_by, conn.gaps) == ("websocket", "handshake", 0)


def test_fragmented_compressed_messages_under_context_takeover():
    """tshark 4.0 gets these wrong; the library's own record is the truth."""
    recs = records(str(FIX / "ws_deflate.pcap"), strict=True)
    (hs,) = of(recs, Handshake)
    assert hs.extensions and hs.extensions[0].startswith("permessage-deflate")
    client = messages(recs, "client")
    fragmented = [m for m in client if m.frames > 2 and m.compressed]
    assert len(fragmented) >= 2  # text and binary, each ending with websockets' empty final fragment
    sent = expected("ws_deflate")["sent"]["client"]
    later = [i for i, m in enumerate(client) if m.frames == 1 and m.compressed and i > client.index(fragmented[-1])]
    assert later, "messages after a fragmented compressed one exercise the shared inflate context"
    for i in later:
        assert client[i].sha256 == sent[i]["sha256"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_link_layers_give_the_same_records(variant):
    base = records(str(FIX / "ws_plain.pcap"), strict=True)
    other = records(str(FIX / variant), strict=True)
    assert detect(str(FIX / variant)) == ("pcapng" if variant.endswith("pcapng") else "pcap")
    assert [r for r in other if type(r) in (Frame, Message)] == [r for r in base if type(r) in (Frame, Message)]


def test_gzip_compressed_capture(tmp_path):
    path = tmp_path / "capture.bin"
    path.write_bytes(gzip.compress((FIX / "ws_plain.pcap").read_bytes()))
    assert open_source(str(path)).compressed
    base = of(records(str(FIX / "ws_plain.pcap")), Message)
    assert of(records(str(path)), Message) == base


def test_sse_events_are_what_the_server_sent():
    want = expected("sse")
    recs = records(str(FIX / "sse.pcap"), strict=True)
    events = of(recs, SseEvent)
    assert [(e.event, e.data, e.id) for e in events] == [(e["event"], e["data"], e["id"]) for e in want["events"]]
    assert all(e.retry == want["retry"] for e in events)
    (stream,) = of(recs, SseStream)
    assert stream.comments == want["heartbeats"]
    (ex,) = of(recs, Exchange)
    assert ex.url == want["url"] and ex.content_type.startswith("text/event-stream")
    assert of(recs, Connection)[0].protocol == "sse"


def test_polling_patterns():
    want = expected("polling")
    recs = records(str(FIX / "polling.pcap"), strict=True)
    counts: dict[str, int] = {}
    for ex in of(recs, Exchange):
        assert ex.status == 200 and ex.ts_request <= ex.ts_response <= ex.ts_end
        key = f"{ex.method} {ex.url}"
        counts[key] = counts.get(key, 0) + 1
    assert counts == want["requests"]
    assert {p.endpoint: p.pattern for p in of(recs, Pattern)} == want["patterns"]


def test_http_edge_cases_pipelined_head_204_304_chunked_gzip_close_delimited():
    want = expected("http_edge")
    recs = records(str(FIX / "http_edge.pcap"), strict=True)
    exchanges = of(recs, Exchange)
    got = [{"method": e.method, "url": e.url, "status": e.status, "response_body_bytes": e.response_body_bytes,
            "request_body_bytes": e.request_body_bytes} for e in exchanges]
    (gz,) = [e for e in exchanges if e.url.endswith("/gz")]
    for w, g in zip(want["exchanges"], got):
        if w["response_body_bytes"] is None:  # gzip: the size on the wire is aiohttp's business
            w["response_body_bytes"] = g["response_body_bytes"]
    assert got == want["exchanges"]
    # The body was decoded: its hash is the hash of what the handler returned, not of the gzip bytes.
    assert dict(gz.response_headers)["Content-Encoding"] == "gzip"
    assert gz.response_sha256 == want["gz_sha256"]
    assert 0 < gz.response_body_bytes < 2000


def test_real_capture_loss_is_a_gap_and_the_rest_still_decodes():
    """tcpdump lost one server segment (the empty final fragment of the server's fragmented reply)."""
    recs = records(str(FIX / "ws_deflate_lossy.pcap"), strict=True)
    (conn,) = of(recs, Connection)
    assert conn.gaps == 1
    assert any(w.name == "ws-gap" for w in of(recs, WarningRecord))
    sent = expected("ws_deflate_lossy")["sent"]
    _check_sent(sent["client"], messages(recs, "client"))  # the client direction is complete
    server = [m for m in messages(recs, "server") if m.opcode_name != "pong"]
    # The gap is in the server's fragmented reply (its 10th message): the 9 before it are right.
    assert [m.sha256 for m in server[:9]] == [m["sha256"] for m in sent["server"][:9]]


# -- crafted from real captures: reordering, joining mid-connection, malformed files --------------------------


def write(path: Path, pkts, linktype: int = 1) -> str:
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=linktype, snaplen=262144)
        for ts, buf in pkts:
            w.writepkt(buf, ts)
    return str(path)


def test_reordered_and_duplicated_packets_give_the_same_messages(tmp_path):
    """Network reordering as one capture point sees it: segments of a burst (no packet of the other side
    in between) arrive in any order; a data segment never comes after the peer's ACK for it.  Plus
    duplicates of earlier packets (retransmissions) anywhere later."""
    pkts = packets("ws_plain.pcap")
    port = expected("ws_plain")["port"]
    rng = random.Random(7)
    runs: list[list] = []
    for p in pkts:
        side = dpkt.ethernet.Ethernet(p[1]).data.data.sport == port
        if runs and runs[-1][0] == side:
            runs[-1][1].append(p)
        else:
            runs.append((side, [p]))
    shuffled = []
    for _, run in runs:
        rng.shuffle(run)
        shuffled += run
    assert shuffled != pkts
    for _ in range(8):
        i = rng.randrange(3, len(shuffled))
        shuffled.insert(rng.randrange(i, len(shuffled) + 1), shuffled[i])
    path = write(tmp_path / "shuffled.pcap", shuffled)

    def per_direction(recs):
        return sorted((m.direction, m.index, m.sha256, m.frames) for m in of(recs, Message))

    base = per_direction(records(str(FIX / "ws_plain.pcap")))
    recs = records(path, strict=True)
    assert per_direction(recs) == base
    assert of(recs, Connection)[0].gaps == 0


def _after_handshake(name: str):
    """The packets after the 101 response: a capture that joined the connection mid-way."""
    pkts = packets(name)
    for i, (_, buf) in enumerate(pkts):
        if b"HTTP/1.1 101" in buf:
            return pkts[i + 1 :]
    raise AssertionError("no 101 in " + name)


def test_mid_connection_websocket_forced_with_ws_port(tmp_path):
    want = expected("ws_plain")
    path = write(tmp_path / "mid.pcap", _after_handshake("ws_plain.pcap"))
    recs = records(path, SourceOptions(ws=(str(want["port"]),), heuristics=False), strict=True)
    (conn,) = of(recs, Connection)
    assert (conn.protocol, conn.detected_by) == ("websocket", "--ws")
    assert conn.server.endswith(f":{want['port']}")
    _check_sent(want["sent"]["client"], messages(recs, "client"))
    assert not of(recs, Handshake)


def test_mid_connection_websocket_found_by_heuristic(tmp_path):
    want = expected("ws_plain")
    path = write(tmp_path / "mid.pcap", _after_handshake("ws_plain.pcap"))
    recs = records(path, strict=True)
    (conn,) = of(recs, Connection)
    assert (conn.protocol, conn.detected_by) == ("websocket", "heuristic")
    _check_sent(want["sent"]["client"], messages(recs, "client"))


def test_heuristic_is_conservative():
    assert looks_like_frames(b"\x81\x85abcd12345\x82\x80wxyz") is True
    assert looks_like_frames(b"\x81\x85abcd1") is None  # one frame, cut: wait for more
    assert looks_like_frames(b"\x81\x05hello") is False  # unmasked: not a client
    assert looks_like_frames(b"\x16\x03\x01\x02\x00\x01") is False  # TLS ClientHello
    assert looks_like_frames(b"SSH-2.0-OpenSSH_9.2\r\n") is False
    assert looks_like_frames(b"\x89\xfe\x01\x00abcd") is False  # control frame > 125
    server = b"\x81\x02hi\x82\x03abc\x89\x00"
    assert looks_like_frames(server, masked=False, min_frames=3) is True
    assert looks_like_frames(server[:6], masked=False, min_frames=3) is None
    assert looks_like_frames(b"HTTP/1.1 200 OK\r\n", masked=False, min_frames=3) is False
    assert looks_like_frames(b"220 smtp.example ESMTP\r\n", masked=False, min_frames=3) is False


def test_non_http_tcp_is_reported_not_decoded(tmp_path):
    pkts = packets("http_edge.pcap")
    out = []
    for ts, buf in pkts:
        eth = dpkt.ethernet.Ethernet(buf)
        tcp = eth.data.data
        if tcp.data:
            tcp.data = bytes(b ^ 0x5A for b in tcp.data)  # same lengths and sequence numbers, not HTTP
            eth.data.sum = 0
            tcp.sum = 0
        out.append((ts, bytes(eth)))
    recs = records(write(tmp_path / "tcp.pcap", out), strict=True)
    assert {c.protocol for c in of(recs, Connection)} == {"tcp"}
    assert not of(recs, Exchange)
    assert any(w.name == "tcp-not-http" and w.count == 2 for w in of(recs, WarningRecord))


def test_garbage_after_101_is_reported_without_crashing(tmp_path):
    out = []
    seen_101 = False
    rng = random.Random(3)
    for ts, buf in packets("ws_plain.pcap"):
        eth = dpkt.ethernet.Ethernet(buf)
        tcp = eth.data.data
        if seen_101 and tcp.data and tcp.sport == expected("ws_plain")["port"]:
            tcp.data = rng.randbytes(len(tcp.data))
        seen_101 = seen_101 or b"HTTP/1.1 101" in bytes(tcp.data)
        out.append((ts, bytes(eth)))
    recs = records(write(tmp_path / "garbage.pcap", out))
    server_frames = [f for f in of(recs, Frame) if f.direction == "server"]
    assert any(f.violations for f in server_frames)
    assert len(messages(recs, "client")) == len(expected("ws_plain")["sent"]["client"])


def test_truncated_file_keeps_what_was_read():
    data = (FIX / "ws_plain.pcap").read_bytes()
    cut = data[: len(data) // 2 + 7]
    recs = _records_of_bytes(cut)
    assert any(w.name == "pcap-truncated" for w in of(recs, WarningRecord))
    assert of(recs, Message) and of(recs, Connection)


def test_corrupt_record_header_is_skipped_and_reading_resumes():
    data = bytearray((FIX / "ws_plain.pcap").read_bytes())
    # The 10th record's caplen becomes absurd.
    pos = 24
    for _ in range(9):
        pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
    struct.pack_into("<I", data, pos + 8, 0x7FFFFFF0)
    recs = _records_of_bytes(bytes(data))
    warnings = {w.name: w for w in of(recs, WarningRecord)}
    assert "pcap-corrupt-record" in warnings
    # Only that record is lost (a 46-byte TCP payload, 112-byte Ethernet frame): every later one is read.
    (base,) = of(records(str(FIX / "ws_plain.pcap")), Connection)
    (conn,) = of(recs, Connection)
    assert conn.bytes_client + conn.bytes_server == base.bytes_client + base.bytes_server - (112 - 66)
    assert conn.gaps == 1


def test_unknown_link_type_is_an_input_error(tmp_path):
    data = bytearray((FIX / "ws_plain.pcap").read_bytes())
    struct.pack_into("<I", data, 20, 147)  # LINKTYPE_USER0
    path = tmp_path / "user0.pcap"
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="link type 147"):
        records(str(path))


def test_header_only_and_empty_files_are_input_errors(tmp_path):
    header = (FIX / "ws_plain.pcap").read_bytes()[:24]
    (tmp_path / "h.pcap").write_bytes(header)
    with pytest.raises(InputError, match="no packets"):
        records(str(tmp_path / "h.pcap"))
    (tmp_path / "e.pcap").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        open_source(str(tmp_path / "e.pcap"))
    (tmp_path / "x.txt").write_bytes(b"hello world\n")
    with pytest.raises(InputError, match="not a capture"):
        open_source(str(tmp_path / "x.txt"))


def _records_of_bytes(data: bytes) -> list:
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".pcap") as f:
        f.write(data)
        f.flush()
        return records(f.name)


def test_snaplen_cut_packets_become_gaps(tmp_path):
    out = []
    for ts, buf in packets("ws_plain.pcap"):
        out.append((ts, buf[:300]))  # like tcpdump -s 300
    with open(tmp_path / "snap.pcap", "wb") as f:
        w = dpkt.pcap.Writer(f, snaplen=300)
        for (ts, cut), (_, full) in zip(out, packets("ws_plain.pcap")):
            # dpkt's Writer records len == caplen; the IP total length still tells what was cut.
            w.writepkt(cut, ts)
    recs = records(str(tmp_path / "snap.pcap"))
    (conn,) = of(recs, Connection)
    assert conn.gaps > 0
    assert of(recs, Handshake)[0].valid  # the handshake fitted in 300 bytes


def test_big_endian_pcap(tmp_path):
    """The same records from a file written by a big-endian host (headers byte-swapped)."""
    data = (FIX / "ws_plain.pcap").read_bytes()
    magic, major, minor, zone, sigfigs, snaplen, linktype = struct.unpack_from("<IHHiIII", data)
    out = [struct.pack(">IHHiIII", magic, major, minor, zone, sigfigs, snaplen, linktype)]
    pos = 24
    while pos < len(data):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", data, pos)
        out.append(struct.pack(">IIII", sec, usec, caplen, wirelen) + data[pos + 16 : pos + 16 + caplen])
        pos += 16 + caplen
    path = tmp_path / "be.pcap"
    path.write_bytes(b"".join(out))
    assert path.read_bytes()[:4] == b"\xa1\xb2\xc3\xd4"
    assert of(records(str(path)), Message) == of(records(str(FIX / "ws_plain.pcap")), Message)


def _many_connections(path: Path, copies: int) -> None:
    """ws_plain's connection repeated ``copies`` times, one after the other, each from its own client port."""
    pkts = packets("ws_plain.pcap")
    port = expected("ws_plain")["port"]
    span = pkts[-1][0] - pkts[0][0] + 0.01
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, snaplen=262144)
        for copy in range(copies):
            for ts, buf in pkts:
                eth = dpkt.ethernet.Ethernet(buf)
                tcp = eth.data.data
                if tcp.sport == port:
                    tcp.dport = 20000 + copy
                else:
                    tcp.sport = 20000 + copy
                tcp.sum = 0
                w.writepkt(bytes(eth), ts + copy * span)


def test_memory_does_not_grow_with_the_number_of_finished_connections(tmp_path):
    from inspector.analysis import Analysis
    from inspector.sources.pcap import run

    peaks = {}
    for copies in (2, 20, 80):  # the first run imports the analysers lazily: a warm-up, not compared
        path = tmp_path / f"many{copies}.pcap"
        _many_connections(path, copies)
        counted = {"n": 0}

        def sink(record):
            counted["n"] += 1

        analysis = Analysis(sink, source="pcap")
        _, peaks[copies] = peak_of(lambda: (run(str(path), analysis), analysis.finish()))
        assert counted["n"] > copies * 50
    # Four times the connections (each flushed at its FIN; both files span several 1 MiB read blocks):
    # the peak stays within 256 KiB.
    assert peaks[80] < peaks[20] + 256 * 1024, peaks


def test_reused_four_tuple_is_a_new_connection(tmp_path):
    """ws_plain's connection twice from the same client port, the second without the first's FIN/ACKs."""
    pkts = packets("ws_plain.pcap")
    span = pkts[-1][0] - pkts[0][0] + 0.01
    first = [p for p in pkts if not dpkt.ethernet.Ethernet(p[1]).data.data.flags & dpkt.tcp.TH_FIN]
    second = []
    for ts, buf in pkts:
        eth = dpkt.ethernet.Ethernet(buf)
        tcp = eth.data.data
        port = expected("ws_plain")["port"]
        if tcp.sport == port:
            tcp.ack = (tcp.ack + 1_000_000) & 0xFFFFFFFF
        else:
            tcp.seq = (tcp.seq + 1_000_000) & 0xFFFFFFFF
        tcp.sum = 0
        second.append((ts + span, bytes(eth)))
    recs = records(write(tmp_path / "reuse.pcap", first + second), strict=True)
    conns = of(recs, Connection)
    assert len(conns) == 2 and {c.client for c in conns} == {conns[0].client}
    assert len(messages(recs, "client")) == 2 * len(expected("ws_plain")["sent"]["client"])


def test_http_joined_mid_connection_resyncs_at_the_next_request(tmp_path):
    pkts = packets("polling.pcap")
    # Drop the handshake and cut into the first response: its head is missing, its body arrives first.
    first_response = next(i for i, (_, b) in enumerate(pkts) if b"HTTP/1.1 200" in b)
    eth = dpkt.ethernet.Ethernet(pkts[first_response][1])
    tcp = eth.data.data
    head_len = bytes(tcp.data).index(b"\r\n\r\n") + 4
    tcp.seq = (tcp.seq + head_len) & 0xFFFFFFFF
    tcp.data = bytes(tcp.data)[head_len:]
    eth.data.len -= head_len
    eth.data.sum = tcp.sum = 0
    cut = [(pkts[first_response][0], bytes(eth))] + pkts[first_response + 1 :]
    recs = records(write(tmp_path / "mid_http.pcap", cut), strict=True)
    polls = [e for e in of(recs, Exchange) if e.url.endswith("/api/poll")]
    assert len(polls) == expected("polling")["requests"][polls[0].method + " " + polls[0].url] - 1
    assert [(e.status, e.response_body_bytes) for e in polls] == [(200, 27)] * len(polls)
    assert of(recs, Connection)[0].protocol == "http"


def test_pcapng_cut_or_with_a_corrupt_block_length(tmp_path):
    data = bytearray((FIX / "ws_plain.pcapng").read_bytes())
    (tmp_path / "cut.pcapng").write_bytes(bytes(data[: len(data) // 2]))
    recs = records(str(tmp_path / "cut.pcapng"))
    assert any(w.name == "pcap-truncated" for w in of(recs, WarningRecord)) and of(recs, Message)
    # The fifth block claims ~4 GiB: reading stops there instead of swallowing the file.
    pos = 0
    for _ in range(4):
        pos += struct.unpack_from("<I", data, pos + 4)[0]
    struct.pack_into("<I", data, pos + 4, 0xFFFFFF00)
    path = tmp_path / "corrupt.pcapng.gz"
    path.write_bytes(gzip.compress(bytes(data)))
    recs = records(str(path))
    assert [w.name for w in of(recs, WarningRecord)] == ["pcap-corrupt-record"]
    assert of(recs, Connection)


def test_mid_connection_server_push_found_by_heuristic(tmp_path):
    """Joined mid-way, and the capture holds only what the server sent (its replies and pong/close)."""
    want = expected("ws_plain")
    port = want["port"]
    server_only = [p for p in _after_handshake("ws_plain.pcap")
                   if dpkt.ethernet.Ethernet(p[1]).data.data.sport == port]
    recs = records(write(tmp_path / "push.pcap", server_only), strict=True)
    (conn,) = of(recs, Connection)
    assert (conn.protocol, conn.detected_by) == ("websocket", "heuristic")
    assert conn.server.endswith(f":{port}")
    server = [m for m in messages(recs, "server") if m.opcode_name != "pong"]
    _check_sent(want["sent"]["server"], server)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32), name=st.sampled_from(["ws_plain.pcap", "ws_deflate.pcap", "sse.pcap",
                                                          "http_edge.pcap", "ws_plain.pcapng"]))
def test_damaged_captures_never_raise(tmp_path_factory, seed, name):
    """Random byte changes and cuts anywhere (headers, TCP, HTTP, frames): records or an InputError."""
    rng = random.Random(seed)
    data = bytearray((FIX / name).read_bytes())
    for _ in range(rng.randint(1, 20)):
        pos = rng.randrange(len(data))
        if rng.random() < 0.7:
            data[pos] = rng.randrange(256)
        else:
            del data[pos : pos + rng.randint(1, 200)]
    path = tmp_path_factory.mktemp("damaged") / name
    path.write_bytes(bytes(data))
    try:
        recs = records(str(path), strict=True)  # strict: an analyser exception fails the test
    except InputError:
        return
    assert recs == [] or type(recs[-1]) in (Pattern, WarningRecord, Connection)  # finish() ran to its end


def test_tls_is_named_not_decoded(tmp_path):
    """A TLS ClientHello where the request was (same length, so TCP stays consistent)."""
    out = []
    for ts, buf in packets("sse.pcap"):
        if b"GET /events" in buf:
            start = buf.index(b"GET /events")
            n = len(buf) - start
            buf = buf[:start] + (b"\x16\x03\x01" + n.to_bytes(2, "big") + b"\x01" + bytes(n))[:n]
        out.append((ts, buf))
    recs = records(write(tmp_path / "tls.pcap", out), strict=True)
    assert [c.protocol for c in of(recs, Connection)] == ["tcp"]
    assert [w.name for w in of(recs, WarningRecord)] == ["tls-encrypted"]
