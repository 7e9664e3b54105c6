"""mitmproxy flow-file source (inspector/sources/flows.py) against real ``mitmdump -w`` recordings.

fixtures/flows/record_mitmdump.py put a real mitmdump (11.0.2 and 12.3.1) in reverse-proxy mode in front of
the fixture server and drove it with a real headless Chromium; ``--wire`` recordings relay the upgraded
connection as raw TCP (``websocket=false``, what the live addon's wire mode does). Truth is the server's
record in ``*.expected.json``; raw frames are also checked against wsproto's frame parser.
"""

from __future__ import annotations

import gzip

import pytest
import wsproto.frame_protocol as wsframes
from mitmproxy import io as mio

from inspector.errors import InputError

from helpers.offline import by_type, check_messages, check_patterns, expected
from helpers.flows import FLOWS, run

RECORDED = ["mitmdump-11.flow", "mitmdump-12.flow", "mitmdump-wire-11.flow", "mitmdump-wire-12.flow"]


@pytest.fixture(scope="module", params=RECORDED)
def recording(request):
    path = FLOWS / request.param
    return request.param, run(path), expected(path)


def test_patterns(recording):
    _, records, truth = recording
    check_patterns(records, truth)


def test_websocket_messages_are_what_was_sent(recording):
    name, records, truth = recording
    messages = by_type(records)["message"]
    check_messages(messages, truth)
    closes = [m for m in messages if m["opcode_name"] == "close"]
    want = (truth["websocket"]["close"]["code"], truth["websocket"]["close"]["reason"])
    if "wire" in name:
        # Raw bytes: the page's close frame and the server's answer, decoded from the wire.
        assert [c["direction"] for c in closes] == ["client", "server"]
        assert (closes[0]["close_code"], closes[0]["close_reason"]) == want
        assert all(m["frames"] == 1 for m in messages)
    else:
        # mitmproxy's message layer records who closed and with what: one close message from that side.
        assert [(c["direction"], c["close_code"], c["close_reason"]) for c in closes] == [("client", *want)]
        assert all(m["frames"] is None for m in messages if m["opcode_name"] != "close")
        assert not by_type(records)["frame"]


def _wsproto_payload_len(payload) -> int:
    """Payload length of a frame as wsproto hands it over (bytes, decoded text, or (code, reason))."""
    if isinstance(payload, str):
        return len(payload.encode())
    if isinstance(payload, tuple):
        code, reason = payload
        return 0 if code is None else 2 + len(reason.encode())
    return len(payload)


@pytest.mark.parametrize("name", [n for n in RECORDED if "wire" in n])
def test_wire_frames_match_wsproto(name):
    """Wire-mode recordings: our Frame records equal what wsproto parses from the same TCP bytes."""
    records = run(FLOWS / name)
    with open(FLOWS / name, "rb") as f:
        (tcp,) = [flow for flow in mio.FlowReader(f).stream() if type(flow).__name__ == "TCPFlow"]
    frames = by_type(records)["frame"]
    for direction, from_client in (("client", True), ("server", False)):
        parser = wsframes.FrameProtocol(client=not from_client, extensions=[])
        parser.receive_bytes(b"".join(m.content for m in tcp.messages if m.from_client == from_client))
        want = [(int(fr.opcode), _wsproto_payload_len(fr.payload)) for fr in parser.received_frames()]
        got = [fr for fr in frames if fr["direction"] == direction]
        assert [(fr["opcode"], fr["payload_len"]) for fr in got] == want
        assert all(fr["masked"] is from_client for fr in got)
        assert all((fr["masking_key"] is not None) is from_client for fr in got)
        assert all(fr["violations"] == [] for fr in got)


def test_handshake(recording):
    _, records, truth = recording
    (handshake,) = by_type(records)["handshake"]
    assert handshake["valid"] is True and handshake["findings"] == []
    assert handshake["accept"] == handshake["expected_accept"]
    assert handshake["subprotocol"] == truth["websocket"]["subprotocol"]


def test_sse_events_from_stored_body(recording):
    _, records, truth = recording
    events = by_type(records)["sse_event"]
    want = truth["sse"]["events"]
    assert [(e["event"], e["data"], e["id"], e["retry"]) for e in events] == [
        (w["event"], w["data"], w["id"], w["retry"]) for w in want]
    (stream,) = by_type(records)["sse_stream"]
    assert stream["comments"] == truth["sse"]["comments"]


def test_exchanges_and_connections(recording):
    _, records, truth = recording
    exchanges = by_type(records)["exchange"]
    long_polls = [e for e in exchanges if "/poll/long" in e["url"]]
    assert len(long_polls) == len(truth["long_polling"]["bodies"])
    assert len([e for e in exchanges if "/poll/short" in e["url"]]) == len(truth["short_polling"]["bodies"])
    for e in long_polls:
        assert e["ts_response"] - e["ts_request"] >= truth["long_polling"]["hold_s"] * 0.95
        assert e["request_header_bytes"] > 0 and e["response_header_bytes"] > 0
    connections = by_type(records)["connection"]
    assert {c["source"] for c in connections} == {"flows"}
    # Keep-alive: several exchanges share one client connection, as mitmproxy recorded them.
    assert len(connections) < len(exchanges)
    assert sum(c["exchanges"] for c in connections) == len(exchanges)
    assert all(c["client"].startswith("127.0.0.1:") for c in connections)
    assert {e["conn"] for e in exchanges} <= {c["conn"] for c in connections}


def test_gzip_and_filters(tmp_path):
    path = tmp_path / "x.flow.gz"
    path.write_bytes(gzip.compress((FLOWS / "mitmdump-12.flow").read_bytes()))
    assert run(path) == run(FLOWS / "mitmdump-12.flow")
    from inspector.sources import SourceOptions

    only = run(FLOWS / "mitmdump-12.flow", SourceOptions(conns=frozenset({"c1"})))
    assert {r["conn"] for r in only if "conn" in r} == {"c1"}


def test_detected_by_content_not_extension(tmp_path):
    from inspector.sources import detect

    renamed = tmp_path / "capture.har"
    renamed.write_bytes((FLOWS / "mitmdump-11.flow").read_bytes())
    assert detect(str(renamed)) == "flows"


def test_tcp_flow_without_handshake_needs_ws_option(tmp_path):
    """The wire-mode TCP flow alone (its 101 flow dropped): WebSocket by --ws or by the frame heuristic,
    plain TCP with neither."""
    from inspector.sources import SourceOptions

    with open(FLOWS / "mitmdump-wire-12.flow", "rb") as f:
        (tcp,) = [flow for flow in mio.FlowReader(f).stream() if type(flow).__name__ == "TCPFlow"]
    path = tmp_path / "tcp-only.flow"
    with path.open("wb") as f:
        mio.FlowWriter(f).add(tcp)
    plain = by_type(run(path, SourceOptions(heuristics=False)))
    (conn,) = plain["connection"]
    assert conn["protocol"] == "tcp" and not plain["frame"]
    assert conn["bytes_client"] == sum(len(m.content) for m in tcp.messages if m.from_client)
    truth = expected(FLOWS / "mitmdump-wire-12.flow")
    port = str(tcp.server_conn.address[1])
    for options, detected_by in ((SourceOptions(ws=(port,), heuristics=False), "--ws"), (None, "heuristic")):
        records = by_type(run(path, options))
        assert records["connection"][0]["detected_by"] == detected_by
        check_messages(records["message"], truth)
        assert not records["handshake"]


@pytest.mark.parametrize("cut", [0.3, 0.77])
def test_truncated_flow_file_is_one_line_error(tmp_path, cut):
    data = (FLOWS / "mitmdump-wire-12.flow").read_bytes()
    path = tmp_path / "cut.flow"
    path.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(InputError, match=r"^mitmproxy flow file") as info:
        run(path)
    assert "\n" not in str(info.value)


def test_garbage_tnetstring_is_one_line_error(tmp_path):
    path = tmp_path / "bad.flow"
    path.write_bytes(b"12:3:abc,4:x\x00yz}" + b"\xff" * 40)
    with pytest.raises(InputError, match=r"^mitmproxy flow file") as info:
        run(path)
    assert "\n" not in str(info.value)
