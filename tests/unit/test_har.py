"""HAR source (inspector/sources/har.py) against real recordings (fixtures/har/).

Truth is what the fixture server (fixtures/har/app.py) really sent and received, recorded next to each HAR
in ``*.expected.json``; the HARs were written by a real headless Chromium (Playwright recordHar, and Chrome
DevTools' own HAR exporter running in the DevTools front-end) and by mitmproxy's own HAR export. Tests on the
``synthetic-*`` HARs say so: those are hand-made (fixtures/har/make_synthetic.py).
"""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector.errors import InputError
from inspector.sources import har

from helpers.offline import analyse, by_type, check_messages, check_patterns, expected, patterns
from helpers.har_samples import HAR, _entry, _har, MALFORMED

RECORDED = ["chromium-playwright.har", "chromium-playwright-zip.zip", "chromium-devtools.har", "mitmproxy-11.har",
            "mitmproxy-12.har"]
#: recordings whose HAR has the event stream's events (_eventSourceMessages, or the stored body)
WITH_EVENTS = {"chromium-devtools.har", "mitmproxy-11.har", "mitmproxy-12.har"}


def run(path, options=None):
    return analyse(har.run, path, "har", options)


@pytest.fixture(scope="module", params=RECORDED)
def recording(request):
    path = HAR / request.param
    return request.param, run(path), expected(path)


def test_patterns(recording):
    _, records, truth = recording
    check_patterns(records, truth)


def test_websocket_messages_are_what_was_sent(recording):
    _, records, truth = recording
    messages = by_type(records)["message"]
    check_messages(messages, truth)
    # HAR has messages, not frames: frame-level fields stay null, never invented.
    assert all(m["frames"] is None and m["compressed"] is None for m in messages)
    assert not by_type(records)["frame"]
    # Recorders list no control frames.
    assert {m["opcode_name"] for m in messages} <= {"text", "binary"}


def test_message_times_are_epoch_seconds(recording):
    name, records, _ = recording
    ws_exchange = next(e for e in by_type(records)["exchange"] if e["url"].endswith("/ws"))
    times = [m["ts"] for m in by_type(records)["message"]]
    started = ws_exchange["ts_request"]
    # Playwright writes milliseconds, DevTools and mitmproxy seconds: all must land within seconds of the
    # handshake (a unit mix-up would be off by a factor of 1000).
    assert all(started - 1 < t < started + 30 for t in times), (name, started, times[:3])


def test_handshake_validated_from_har_headers(recording):
    _, records, truth = recording
    (handshake,) = by_type(records)["handshake"]
    assert handshake["valid"] is True
    assert handshake["findings"] == []
    assert handshake["key"] and handshake["accept"] == handshake["expected_accept"]
    assert handshake["subprotocol"] == truth["websocket"]["subprotocol"] == "chat.v1"


def test_sse_events(recording):
    name, records, truth = recording
    events = by_type(records)["sse_event"]
    (stream,) = by_type(records)["sse_stream"]
    if name not in WITH_EVENTS:
        # Playwright stores no body for an EventSource the page closed while open, and no messages.
        assert events == [] and stream["events"] == 0
        return
    want = truth["sse"]["events"]
    assert [(e["event"], e["data"], e["id"]) for e in events] == [(w["event"], w["data"], w["id"]) for w in want]
    assert stream["last_event_id"] == want[-1]["id"]
    if name.startswith("mitmproxy"):  # the stored body also has the retry field and the heartbeat comment
        assert [e["retry"] for e in events] == [truth["sse"]["retry"]] * len(want)
        assert stream["comments"] == truth["sse"]["comments"]
    else:  # _eventSourceMessages carry each event's own arrival time: the server spaced them 0.1 s apart
        gaps = [b["ts"] - a["ts"] for a, b in zip(events, events[1:])]
        assert all(0.05 < g < 1.0 for g in gaps), gaps


def test_exchange_times_tell_long_from_short_polling(recording):
    _, records, truth = recording
    exchanges = by_type(records)["exchange"]
    long_polls = [e for e in exchanges if "/poll/long" in e["url"]]
    short_polls = [e for e in exchanges if "/poll/short" in e["url"]]
    assert len(long_polls) == len(truth["long_polling"]["bodies"])
    assert len(short_polls) == len(truth["short_polling"]["bodies"])
    hold = truth["long_polling"]["hold_s"]
    for e in long_polls:
        assert e["ts_request"] <= e["ts_response"] <= e["ts_end"]
        assert hold * 0.95 < e["ts_response"] - e["ts_request"] < hold + 1.0
    for e in short_polls:
        assert e["ts_response"] - e["ts_request"] < 0.5
    # The bodies the server sent, by hash (the classifier's "changed" test relies on it).
    sent = sorted(hashlib.sha256(b.encode()).hexdigest() for b in truth["short_polling"]["bodies"])
    assert sorted(e["response_sha256"] for e in short_polls) == sent


def test_devtools_connection_ids_group_keep_alive_exchanges():
    source = json.loads((HAR / "chromium-devtools.har").read_text())
    ids = [e.get("_connectionId") for e in source["log"]["entries"] if e.get("_resourceType") != "websocket"]
    records = by_type(run(HAR / "chromium-devtools.har"))
    connections = {c["conn"]: c for c in records["connection"]}
    assert len(connections) == len(set(ids)) + 1  # + the WebSocket's own
    for key in set(ids):
        assert connections[f"hc{key}"]["exchanges"] == ids.count(key)
    for c in connections.values():
        exchanges = [e for e in records["exchange"] if e["conn"] == c["conn"]]
        assert c["ts_start"] <= min(e["ts_request"] for e in exchanges)
        assert c["ts_end"] >= max(e["ts_end"] or e["ts_request"] for e in exchanges)


def test_open_shared_connections_are_bounded(monkeypatch):
    """Past MAX_OPEN open shared connections the least recently used is ended; one coming back later
    gets a new id, so ids stay unique."""
    monkeypatch.setattr(har, "MAX_OPEN", 1)
    records = by_type(run(HAR / "chromium-devtools.har"))
    ids = [c["conn"] for c in records["connection"]]
    assert len(ids) == len(set(ids))
    assert any("." in conn for conn in ids)
    assert sum(c["exchanges"] for c in records["connection"]) == len(records["exchange"])


def test_connections_are_har_source(recording):
    _, records, _ = recording
    connections = by_type(records)["connection"]
    assert connections and {c["source"] for c in connections} == {"har"}
    assert len({c["conn"] for c in connections}) == len(connections)
    ws = [c for c in connections if c["protocol"] == "websocket"]
    assert len(ws) == 1 and ws[0]["server"].startswith("127.0.0.1:")
    assert ws[0]["ts_end"] >= max(m["ts"] for m in by_type(records)["message"])


def test_tampered_accept_is_flagged(tmp_path):
    """The DevTools recording with its Sec-WebSocket-Accept changed: the verdict comes from the headers."""
    source = json.loads((HAR / "chromium-devtools.har").read_text())
    (ws,) = [e for e in source["log"]["entries"] if e.get("_resourceType") == "websocket"]
    for header in ws["response"]["headers"]:
        if header["name"].lower() == "sec-websocket-accept":
            header["value"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    path = tmp_path / "tampered.har"
    path.write_text(json.dumps(source))
    (handshake,) = by_type(run(path))["handshake"]
    assert handshake["valid"] is False
    assert [f["name"] for f in handshake["findings"]] == ["accept-mismatch"]


# --- synthetic HARs (hand-made by fixtures/har/make_synthetic.py) ---------------------------------------


def test_synthetic_firefox_style_local_offset_gives_same_times():
    """SYNTHETIC: the Playwright recording rewritten as Firefox writes HARs (local offset, no extensions)."""
    original = by_type(run(HAR / "chromium-playwright.har"))
    firefox = run(HAR / "synthetic-firefox-style.har")
    source = json.loads((HAR / "synthetic-firefox-style.har").read_text())
    assert "+01:00" in source["log"]["entries"][0]["startedDateTime"]
    assert [e["ts_request"] for e in by_type(firefox)["exchange"]] == pytest.approx(
        [e["ts_request"] for e in original["exchange"]], abs=1e-3)
    assert patterns(firefox)["/poll/long"] == "long-polling"
    assert patterns(firefox)["/poll/short"] == "short-polling"
    (handshake,) = by_type(firefox)["handshake"]  # no _resourceType: found by its 101 and ws:// URL
    assert handshake["valid"] is True
    assert by_type(firefox)["message"] == []


def test_synthetic_edge_cases():
    """SYNTHETIC: HTTP/2 WebSocket, relative message times, DevTools error pseudo-frame, bad base64,
    a base64 event-stream body, an entry without response and with every timing -1."""
    records = by_type(run(HAR / "synthetic-edge-cases.har"))
    truth = expected(HAR / "synthetic-edge-cases.har")
    (handshake,) = records["handshake"]
    assert handshake["mode"] == "rfc8441" and handshake["valid"] is True
    assert patterns(run(HAR / "synthetic-edge-cases.har"))["/h2ws"] == "websocket"
    assert not [f for f in handshake["findings"] if "key" in f["name"] or "accept" in f["name"]]
    messages = records["message"]
    assert [(m["direction"], m["opcode_name"]) for m in messages] == [
        ("client", "text"), ("server", "binary"), ("server", "ping"), ("server", "close")]
    assert all(m["ts"] is None for m in messages)  # relative clock: left null, not invented
    assert messages[1]["data"] == b"not base64!".hex()
    assert (messages[3]["close_code"], messages[3]["close_reason"]) == (1000, "bye")
    warnings = {w["name"]: w["count"] for w in records["warning"]}
    assert warnings == {"har-message-time-unknown": 4, "har-binary-not-base64": 1}
    events = records["sse_event"]
    assert [(e["event"], e["data"], e["id"], e["retry"]) for e in events] == [
        ("tick", "one", "7", 2000), ("message", "two", "7", 2000)]
    assert truth["sse_body"].count("\n\n") == 4
    # startedDateTime 00:00:01 + blocked 1 ms + send 1 + wait 98 + receive 1400
    stream = next(e for e in records["exchange"] if e["url"].endswith("/stream"))
    t0 = truth["t0"]
    assert stream["ts_request"] == pytest.approx(t0 + 1.001)
    assert stream["ts_response"] == pytest.approx(t0 + 1.100)
    assert stream["ts_end"] == pytest.approx(t0 + 2.500)
    no_response = next(e for e in records["exchange"] if e["url"].endswith("/api"))
    assert no_response["status"] is None and no_response["ts_response"] is None and no_response["ts_end"] is None
    assert no_response["request_body_bytes"] == len('{"a": 1}')


# --- incremental reading, gzip, options -------------------------------------------------------------------


def test_entries_are_streamed_not_loaded(tmp_path):
    """The first entries come out before the parser reaches a later error: the file is not loaded whole."""
    source = (HAR / "mitmproxy-12.har").read_bytes()
    cut = source.index(b'"startedDateTime"', source.index(b'"startedDateTime"') + 1)
    path = tmp_path / "cut.har"
    path.write_bytes(source[:cut] + b"@@@ not json")
    with path.open("rb") as f:
        entries = har.read_entries(f)
        first = next(entries)
        assert first["request"]["url"].startswith("http://127.0.0.1:")
        with pytest.raises(InputError, match=r"^HAR is not valid JSON after entry 0: "):
            next(entries)


def test_gzip_har_and_filters(tmp_path):
    path = tmp_path / "x.har.gz"
    path.write_bytes(gzip.compress((HAR / "mitmproxy-11.har").read_bytes()))
    plain = run(HAR / "mitmproxy-11.har")
    assert run(path) == plain
    from inspector.sources import SourceOptions

    only_ws = run(HAR / "mitmproxy-11.har", SourceOptions(conns=frozenset({"h3"})))
    assert {r["conn"] for r in only_ws if "conn" in r} == {"h3"}
    entries = json.loads((HAR / "chromium-devtools.har").read_text())["log"]["entries"]
    ids = [e["_connectionId"] for e in entries if e.get("_connectionId")]
    busiest = "hc" + max(ids, key=ids.count)
    shared = run(HAR / "chromium-devtools.har", SourceOptions(conns=frozenset({busiest})))
    assert len(by_type(shared)["exchange"]) > 1 and {r["conn"] for r in shared if "conn" in r} == {busiest}
    nothing = run(HAR / "mitmproxy-11.har", SourceOptions(hosts=frozenset({"192.0.2.1"})))
    assert not by_type(nothing)["exchange"]
    seen = []
    run(HAR / "mitmproxy-11.har", SourceOptions(progress=seen.append))
    assert sum(seen) == (HAR / "mitmproxy-11.har").stat().st_size


def test_zip_har_problems(tmp_path):
    import zipfile

    source = HAR / "chromium-playwright-zip.zip"
    with zipfile.ZipFile(source) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    no_har = tmp_path / "no-har.zip"
    with zipfile.ZipFile(no_har, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(InputError, match=r"zip archive without a \.har file$"):
        run(no_har)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(InputError, match=r"not a readable zip archive") as info:
        run(cut)
    assert "\n" not in str(info.value)
    # Without its attached files: the exchanges are still there, bodies and messages are not (a warning).
    bare = tmp_path / "bare.zip"
    with zipfile.ZipFile(bare, "w") as archive:
        archive.writestr("har.har", members["har.har"])
    records = by_type(run(bare))
    assert len(records["exchange"]) == len(by_type(run(source))["exchange"])
    assert not records["message"]
    assert {w["name"] for w in records["warning"]} == {"har-attachment-missing"}


def test_detected_by_content(tmp_path):
    from inspector.sources import detect

    renamed = tmp_path / "capture.bin"
    renamed.write_bytes((HAR / "chromium-devtools.har").read_bytes())
    assert detect(str(renamed)) == "har"
    renamed.write_bytes((HAR / "chromium-playwright-zip.zip").read_bytes())
    assert detect(str(renamed)) == "har"


# --- malformed HARs: one line naming the problem --------------------------------------------------------


@pytest.mark.parametrize("name,text,message", MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_har_is_one_line_error(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=message) as info:
        run(path)
    assert "\n" not in str(info.value)


def test_empty_entries_is_fine(tmp_path):
    path = tmp_path / "empty.har"
    path.write_text('{"log": {"version": "1.2", "entries": []}}')
    assert by_type(run(path))["exchange"] == []


def test_started_date_time_forms():
    where = har._Where(0)
    utc = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    assert har.parse_started("2026-01-01T00:00:00Z", where) == utc
    assert har.parse_started("2026-01-01T01:00:00.000+01:00", where) == utc
    assert har.parse_started("2026-01-01T00:00:00.123456+00:00", where) == pytest.approx(utc + 0.123456)


# --- any JSON in any field: records or a one-line InputError, nothing else ----------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_PATHS = [
    "startedDateTime", "timings", "timings__wait", "timings__receive", "timings__blocked", "request",
    "request__method", "request__url", "request__headers", "request__bodySize", "request__httpVersion",
    "response", "response__status", "response__headers", "response__content", "response__content__text",
    "response__content__encoding", "response__content__size", "response__content__mimeType",
    "_webSocketMessages", "_eventSourceMessages", "_resourceType", "serverIPAddress",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.dictionaries(st.sampled_from(_PATHS), _json_values, min_size=1, max_size=3),
       websocket=st.booleans())
def test_any_field_value_is_records_or_input_error(tmp_path, changes, websocket):
    entry = _entry()
    if websocket:
        entry["_resourceType"] = "websocket"
        entry["_webSocketMessages"] = [{"type": "send", "time": 1.7e9, "opcode": 1, "data": "x"}]
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = entry
        for p in parents:
            node = node.get(p) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node[last] = value
    path = tmp_path / "fuzz.har"
    path.write_text(_har(entry))
    try:
        records = run(path)
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc).startswith("HAR")
    else:
        assert by_type(records)["exchange"]
