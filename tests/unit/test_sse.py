"""inspector.sse: the WHATWG event-stream parser (HTML 9.2.6) and per-stream analysis.

Truth comes from the spec's own examples, from a straightforward transliteration of the spec text
(`reference_events`, whole-stream and str-based, nothing shared with the incremental byte parser) and
from a real EventSource in headless Chromium reading a real aiohttp server.
"""

from __future__ import annotations

import re

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector import records
from inspector.sse import Comment, Oversize, ParsedEvent, SseParser, SseStreamAnalysis, Unterminated

from helpers.memory import peak_of
from helpers.sse_reference import parse, events, reference_events, SSE_HEADERS, names, chromium_bom_quirk, BOM_LINE_BREAK


def all_splits(stream: bytes):
    """Every way to cut the stream in two and in three (a few hundred bytes at most)."""
    n = len(stream)
    yield []
    for i in range(1, n):
        yield [i]
    for i in range(1, n, 3):
        for j in range(i + 1, n, 5):
            yield [i, j]


# (name, stream, expected events as (type, data, last event id))
SPEC_CASES = [
    # the stock-ticker example of the spec: several data lines joined by LF
    ("whatwg-yhoo", b"data: YHOO\ndata: +2\ndata: 10\n\n", [("message", "YHOO\n+2\n10", "")]),
    # the spec's "test" stream example: a comment, ids, data lines with and without a space
    (
        "whatwg-test-stream",
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n",
        [("message", "first event", "1"), ("message", "second event", "")],
    ),
    # the spec: empty data lines dispatch "" and "\n"; the last block is unterminated
    ("whatwg-empty-data", b"data\n\ndata\ndata\n\ndata:", [("message", "", ""), ("message", "\n", "")]),
    # the spec: "data:test" and "data: test" are the same
    ("whatwg-space-equivalence", b"data:test\n\ndata: test\n\n", [("message", "test", ""), ("message", "test", "")]),
    ("only-one-space-stripped", b"data:  x \n\n", [("message", " x ", "")]),
    ("tab-not-stripped", b"data:\tx\n\n", [("message", "\tx", "")]),
    ("colon-in-value", b"data: a:b: c\n\n", [("message", "a:b: c", "")]),
    ("crlf", b"data: a\r\ndata: b\r\n\r\n", [("message", "a\nb", "")]),
    ("cr", b"data: a\rdata: b\r\r", [("message", "a\nb", "")]),
    ("mixed-line-ends", b"data: a\r\n\rdata: b\n\r\ndata: c\r\n\n", [("message", "a", ""), ("message", "b", ""), ("message", "c", "")]),
    ("lf-cr-is-two-line-ends", b"data: a\n\rdata: b\n\n", [("message", "a", ""), ("message", "b", "")]),
    ("bom-stripped", b"\xef\xbb\xbfdata: a\n\n", [("message", "a", "")]),
    ("bom-only-once", b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n", [("message", "b", "")]),
    ("bom-not-at-start", b"data: a\n\n\xef\xbb\xbfdata: b\n\n", [("message", "a", "")]),
    ("comment-ignored", b": hi\ndata: a\n:\n\n", [("message", "a", "")]),
    ("comment-only-block-no-dispatch", b": ping\n\n", []),
    ("event-type", b"event: add\ndata: 1\n\n", [("add", "1", "")]),
    ("event-type-empty-is-message", b"event:\ndata: 1\n\n", [("message", "1", "")]),
    ("event-type-no-colon-is-message", b"event\ndata: 1\n\n", [("message", "1", "")]),
    ("event-type-reset-after-dispatch", b"event: add\ndata: 1\n\ndata: 2\n\n", [("add", "1", ""), ("message", "2", "")]),
    ("event-type-reset-without-data", b"event: add\n\ndata: 2\n\n", [("message", "2", "")]),
    ("event-type-last-wins", b"event: a\nevent: b\ndata: 1\n\n", [("b", "1", "")]),
    ("field-names-case-sensitive", b"Data: no\nEVENT: x\ndata: yes\n\n", [("message", "yes", "")]),
    ("unknown-field-ignored", b"foo: bar\ndata: 1\nbaz\n\n", [("message", "1", "")]),
    ("space-before-colon-is-other-field", b"data : x\ndata: y\n\n", [("message", "y", "")]),
    ("id-persists", b"id: 1\ndata: a\n\ndata: b\n\n", [("message", "a", "1"), ("message", "b", "1")]),
    ("id-set-without-data", b"id: 7\n\ndata: a\n\n", [("message", "a", "7")]),
    ("id-empty-resets", b"id: 1\ndata: a\n\nid\ndata: b\n\nid:\ndata: c\n\n", [("message", "a", "1"), ("message", "b", ""), ("message", "c", "")]),
    ("id-null-ignored", b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n", [("message", "a", "1"), ("message", "b", "1")]),
    ("id-after-data-applies", b"data: a\nid: 5\n\n", [("message", "a", "5")]),
    ("id-of-unterminated-event-not-applied", b"id: 1\ndata: a\n\nid: 2\ndata: b\n", [("message", "a", "1")]),
    ("data-null-kept", b"data: a\x00b\n\n", [("message", "a\x00b", "")]),
    ("utf8", "data: café €😀\n\n".encode(), [("message", "café €😀", "")]),
    ("invalid-utf8-replaced", b"data: a\xffb\xc3\n\n", [("message", "a\ufffdb\ufffd", "")]),
    ("utf8-maximal-subparts", b"data: \xf0\x80\x80\xed\xa0\x80\xe2\x82\n\n", [("message", "\ufffd" * 6 + "\ufffd", "")]),
    ("retry-ignored-in-events", b"retry: 1000\ndata: a\n\n", [("message", "a", "")]),
    ("unterminated-line-discarded", b"data: a\n\ndata: b\n\ndata: c", [("message", "a", ""), ("message", "b", "")]),
    ("unterminated-event-discarded", b"data: a\n\ndata: b\n", [("message", "a", "")]),
    ("empty-stream", b"", []),
    ("blank-lines-only", b"\n\n\r\n\r", []),
]


@pytest.mark.parametrize("name,stream,expected", SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_spec_cases(name, stream, expected):
    assert events(stream) == expected
    assert reference_events(stream) == expected  # the oracle agrees: the table itself is right


@pytest.mark.parametrize("name,stream,expected", SPEC_CASES, ids=[c[0] for c in SPEC_CASES])
def test_spec_cases_any_split(name, stream, expected):
    for cuts in all_splits(stream):
        assert events(stream, cuts) == expected, cuts


def test_utf8_maximal_subparts_match_python():
    # U+FFFD per maximal subpart (WHATWG Encoding); F0 80 80 is three errors, ED A0 80 three, E2 82 one
    assert b"\xf0\x80\x80\xed\xa0\x80\xe2\x82".decode("utf-8", "replace") == "\ufffd" * 7


@pytest.mark.parametrize(
    "stream,retry",
    [
        (b"retry: 1500\n", 1500),
        (b"retry:0\n", 0),
        (b"retry: 1000\nretry: 2000\n", 2000),
        (b"retry: 1000\nretry: 10x\n", 1000),
        (b"retry: -5\n", None),
        (b"retry: 1.5\n", None),
        (b"retry:  100\n", None),  # the second space stays in the value: not all digits
        (b"retry: \xd9\xa3\n", None),  # ARABIC-INDIC DIGIT THREE is not an ASCII digit
        (b"retry\n", None),
        (b"retry: 99999999999999999999999\n", None),  # beyond 64 bits: Chromium ignores it too
        (b"retry: 18446744073709551615\n", 18446744073709551615),
    ],
)
def test_retry(stream, retry):
    parser, _ = parse(stream)
    assert parser.retry == retry


def test_retry_reported_on_events():
    _, items = parse(b"data: a\n\nretry: 300\n\ndata: b\n\n")
    assert [e.retry for e in items if isinstance(e, ParsedEvent)] == [None, 300]


def test_last_event_id_is_the_sources_after_blank_line():
    parser = SseParser()
    parser.feed(b"id: 1\n", 0)
    assert parser.last_event_id == ""  # only the buffer is set until the blank line
    parser.feed(b"\n", 0)
    assert parser.last_event_id == "1"  # applied by the blank line although nothing was dispatched
    parser.feed(b"id: 2\ndata: x\n", 0)
    parser.end(1)
    assert parser.last_event_id == "1"  # the unterminated event's id never applies


def test_items_comments_timestamps():
    parser = SseParser()
    assert parser.feed(b": ping\ndata: a\n", 1.0) == [Comment(" ping", 1.0)]
    assert parser.feed(b"\r", 2.0) == [ParsedEvent("message", "a", "", None, 2.0)]  # dispatched at the CR
    assert parser.feed(b"\n:\r\n", 3.0) == [Comment("", 3.0)]  # that LF ended nothing new
    assert parser.comments == 2 and parser.events == 1


def test_crlf_split_across_chunks_is_one_line_end():
    # "data: a" CR | LF "data: b" CRLF CRLF: with CR|LF as two line ends "a" would dispatch alone
    assert events(b"data: a\r\ndata: b\r\n\r\n", [8]) == [("message", "a\nb", "")]


def test_end_reports_unterminated():
    stream = b"data: a\n\nid: 3\ndata: b\ndata: cd\n"
    assert parse(stream)[1][-1] == Unterminated(True, 5, 0, float(len(stream)))  # "b\ncd\n"
    stream = b"data: a\n\ndata: tail"
    assert parse(stream)[1][-1] == Unterminated(True, 0, 10, float(len(stream)))
    stream = b"data: a\n\nid: 4\n"
    assert parse(stream)[1][-1] == Unterminated(False, 0, 0, float(len(stream)))
    _, items = parse(b"data: a\n\n: bye\n")
    assert not any(isinstance(i, Unterminated) for i in items)


# -- hypothesis: chunking never changes the result, and the result is the spec's

_values = st.text(alphabet=st.sampled_from(list("ab :\0\r\né€😀\ufeff")), max_size=8)
_line = st.one_of(
    st.builds(lambda v: "data:" + v, _values),
    st.builds(lambda v: "data: " + v, _values),
    st.just("data"),
    st.builds(lambda v: "event:" + v, st.sampled_from(["", " add", "x", " message"])),
    st.builds(lambda v: "id: " + v, _values),
    st.just("id"),
    st.builds(lambda v: "retry: " + v, st.sampled_from(["10", "x", "", "007"])),
    st.builds(lambda v: ":" + v, _values),
    st.just(""),
    st.just("Data: x"),
)
_ending = st.sampled_from(["\n", "\r", "\r\n"])
_raw = st.sampled_from([b"", b"\xff", b"\xc3", b"\xe2\x82", b"\xf0\x9f"])


@st.composite
def streams(draw):
    parts = [b"\xef\xbb\xbf"] if draw(st.booleans()) else []
    for _ in range(draw(st.integers(0, 14))):
        line = draw(_line).encode("utf-8", "surrogatepass")
        parts.append(line + draw(_raw) + draw(_ending).encode())
    if draw(st.booleans()):
        parts.append(draw(_line).encode())  # unterminated tail
    stream = b"".join(parts)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=12))) if len(stream) > 1 else []
    return stream, cuts


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(streams())
def test_any_chunking_gives_the_spec_events(case):
    stream, cuts = case
    whole = events(stream)
    parser, items = parse(stream, cuts)
    assert [(e.event, e.data, e.id) for e in items if isinstance(e, ParsedEvent)] == whole
    assert whole == reference_events(stream)
    if events(chromium_bom_quirk(stream)) != whole:  # Chromium would show something else: we say so
        assert parser.bom_line_break


def _without_ts(items: list) -> list:
    return [msgspec.structs.replace(i, ts=None) for i in items]


def _is_subsequence(part: list, whole: list) -> bool:
    it = iter(whole)
    return all(any(x == y for y in it) for x in part)


@settings(max_examples=200, deadline=None)
@given(streams(), st.integers(1, 12), st.integers(1, 16))
def test_caps_any_chunking(case, max_line, max_event):
    """With tiny caps: the same items whatever the chunking, and only whole spec events get through."""
    stream, cuts = case
    whole = _without_ts(parse(stream, max_line=max_line, max_event=max_event)[1])
    assert _without_ts(parse(stream, cuts, max_line=max_line, max_event=max_event)[1]) == whole
    ours = [(e.event, e.data) for e in whole if isinstance(e, ParsedEvent)]
    assert _is_subsequence(ours, [(t, d) for t, d, _ in reference_events(stream)])
    assert all(len(e.data) < max_event for e in whole if isinstance(e, ParsedEvent))  # a char is >= 1 byte


@settings(max_examples=100, deadline=None)
@given(streams(), st.integers(1, 3))
def test_byte_by_byte(case, step):
    stream, _ = case
    assert events(stream, list(range(step, len(stream), step))) == events(stream)


# -- memory bounded on endless input


def _feed_repeated(parser: SseParser, chunk: bytes, total: int) -> list:
    items = []
    for _ in range(total // len(chunk)):
        items += parser.feed(chunk, 0.0)
    return items


def test_50mb_single_line_memory_bounded():
    parser = SseParser(max_line=1 << 20)
    chunk = b"x" * 65536

    def feed():
        items = parser.feed(b"data: ", 0.0)
        items += _feed_repeated(parser, chunk, 50 << 20)
        return items + parser.feed(b"\n\ndata: next\n\n", 1.0)

    items, peak = peak_of(feed)
    assert peak < 3 << 20, peak
    assert items == [
        Oversize("line", 6 + (50 << 20), "data", 1.0),
        Oversize("event", 6 + (50 << 20) + 1, "data", 1.0),
        ParsedEvent("message", "next", "", None, 1.0),
    ]
    assert parser.oversize_lines == 1 and parser.oversize_events == 1


def test_50mb_event_of_short_lines_memory_bounded():
    parser = SseParser(max_event=1 << 20)
    chunk = b"data: " + b"y" * 1017 + b"\n"  # 1 KiB per line
    items, peak = peak_of(lambda: _feed_repeated(parser, chunk * 64, 50 << 20)
                          + parser.feed(b"id: 9\n\ndata: next\n\n", 1.0))
    assert peak < 3 << 20, peak
    assert items == [Oversize("event", (50 << 20) // 1024 * 1018, "data", 1.0), ParsedEvent("message", "next", "9", None, 1.0)]


def test_oversize_comment_and_unknown_lines_do_not_drop_the_event():
    parser = SseParser(max_line=100)
    items = parser.feed(b"data: a\n:" + b"c" * 500 + b"\n" + b"z" * 500 + b"\ndata: b\n\n", 0.0)
    assert items == [
        Oversize("line", 501, ":", 0.0),
        Oversize("line", 500, None, 0.0),
        ParsedEvent("message", "a\nb", "", None, 0.0),
    ]
    assert parser.comments == 1


def test_oversize_event_line_drops_the_event():
    parser = SseParser(max_line=50)
    items = parser.feed(b"data: a\nevent: " + b"t" * 100 + b"\ndata: b\n\nevent: ok\ndata: c\n\n", 0.0)
    assert items == [
        Oversize("line", 107, "event", 0.0),
        Oversize("event", 2 + 108 + 2, "event", 0.0),  # "a\n", the line and its end, "b\n"
        ParsedEvent("ok", "c", "", None, 0.0),
    ]


def test_oversize_line_split_over_chunks_and_cr_lf():
    parser = SseParser(max_line=10)
    items = parser.feed(b"data: 0123", 0.0) + parser.feed(b"456789\r", 1.0) + parser.feed(b"\n\ndata: ok\n\n", 2.0)
    assert items == [
        Oversize("line", 16, "data", 1.0),
        Oversize("event", 17, "data", 2.0),  # the event lost its data line: dropped whole
        ParsedEvent("message", "ok", "", None, 2.0),
    ]


def test_many_distinct_types_and_fields_bounded():
    analysis = SseStreamAnalysis("c", None, response_headers=[("Content-Type", "text/event-stream")])
    for i in range(5000):
        analysis.feed(f"event: t{i}\nf{i}: x\ndata: x\n\n".encode(), float(i))
    stream = analysis.end(5000.0)[-1]
    assert len(stream.events_by_type) == 257 and sum(stream.events_by_type.values()) == 5000
    assert len(analysis.parser.unknown_fields) == 32


# -- stream analysis


def run(body_chunks, *, request_headers=(), response_headers=SSE_HEADERS, status=200, ts_start=0.0, end=None, **kw):
    analysis = SseStreamAnalysis(
        "c1", "http://127.0.0.1:8080/events", request_headers=request_headers,
        response_headers=response_headers, status=status, ts_start=ts_start, **kw,
    )
    out = []
    for ts, chunk in body_chunks:
        out += analysis.feed(chunk, ts)
    last = body_chunks[-1][0] if body_chunks else 0.0
    out += analysis.end(end if end is not None else last)
    assert isinstance(out[-1], records.SseStream)
    return out[:-1], out[-1]


def test_stream_summary():
    evs, stream = run(
        [
            (0.5, b"retry: 2000\n: hello\n\n"),
            (1.0, b"event: tick\nid: 1\ndata: a\n\n"),
            (2.0, b"event: tick\nid: 2\ndata: b\n\n:\n"),
            (5.0, b"data: c\n\n"),
        ],
        end=10.0,
    )
    assert [(e.event, e.data, e.id, e.retry, e.index, e.ts) for e in evs] == [
        ("tick", "a", "1", 2000, 0, 1.0),
        ("tick", "b", "2", 2000, 1, 2.0),
        ("message", "c", "2", 2000, 2, 5.0),
    ]
    assert all(e.conn == "c1" and e.url == "http://127.0.0.1:8080/events" for e in evs)
    assert stream.events == 3 and stream.events_by_type == {"tick": 2, "message": 1}
    assert stream.comments == 2 and stream.retry == 2000 and stream.last_event_id == "2"
    assert stream.ts_start == 0.0 and stream.ts_end == 10.0 and stream.rate_per_s == pytest.approx(0.3)
    assert stream.gap_mean_s == pytest.approx(2.0) and stream.gap_max_s == pytest.approx(3.0)
    assert stream.dropped == 0 and stream.findings == [] and stream.resumed is None
    assert stream.bytes == 21 + 27 + 29 + 9 and stream.first_event_s == 1.0 and stream.idle_max_s == pytest.approx(5.0)
    assert records.to_dict(stream)["type"] == "sse_stream"


def test_good_headers_no_findings():
    _, stream = run([(1.0, b"data: a\n\n")], response_headers=[
        ("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-store, no-transform"),
        ("X-Accel-Buffering", "no"), ("Transfer-Encoding", "chunked"),
    ])
    assert stream.findings == []


@pytest.mark.parametrize(
    "status,headers,expected",
    [
        (500, SSE_HEADERS, {"sse-status-not-200"}),
        (204, SSE_HEADERS, {"sse-status-204"}),
        (302, SSE_HEADERS, {"sse-redirect"}),
        (200, [("Cache-Control", "no-cache")], {"sse-content-type-missing"}),
        (200, [("Content-Type", "text/plain"), ("Cache-Control", "no-cache")], {"sse-content-type-wrong"}),
        (200, [("Content-Type", "text/event-stream;charset=iso-8859-1"), ("Cache-Control", "no-cache")], {"sse-charset-not-utf8"}),
        (200, [*SSE_HEADERS, ("Content-Encoding", "gzip")], {"sse-content-encoding"}),
        (200, [*SSE_HEADERS, ("Content-Length", "12")], {"sse-content-length"}),
        (200, [("Content-Type", "text/event-stream")], {"sse-cache-control-missing"}),
        (200, [("Content-Type", "text/event-stream"), ("Cache-Control", "max-age=60")], {"sse-cache-control-missing"}),
        (200, [*SSE_HEADERS, ("X-Accel-Buffering", "yes")], {"sse-x-accel-buffering"}),
        (None, SSE_HEADERS, set()),
    ],
)
def test_header_findings(status, headers, expected):
    _, stream = run([(1.0, b"data: a\n\n")], status=status, response_headers=headers)
    assert names(stream) == expected
    for finding in stream.findings:
        assert re.fullmatch(r"sse(-[a-z0-9]+)+", finding.name) and finding.severity in ("error", "warning", "info")


@pytest.mark.parametrize(
    "request_headers,response_extra,expected",
    [
        ([("Origin", "http://127.0.0.1:8080")], [], set()),  # same origin
        ([("Origin", "http://app.example")], [], {"sse-cors-missing"}),
        ([("Origin", "http://app.example")], [("Access-Control-Allow-Origin", "*")], set()),
        ([("Origin", "http://app.example")], [("Access-Control-Allow-Origin", "http://other.example")], {"sse-cors-missing"}),
        ([("Origin", "http://app.example"), ("Cookie", "s=1")], [("Access-Control-Allow-Origin", "*")], {"sse-cors-credentials"}),
        (
            [("Origin", "http://app.example"), ("Cookie", "s=1")],
            [("Access-Control-Allow-Origin", "http://app.example"), ("Access-Control-Allow-Credentials", "true")],
            set(),
        ),
    ],
)
def test_cors_findings(request_headers, response_extra, expected):
    _, stream = run([(1.0, b"data: a\n\n")], request_headers=request_headers, response_headers=[*SSE_HEADERS, *response_extra])
    assert names(stream) == expected


def test_content_findings():
    _, stream = run(
        [(1.0, b"id: a\x00b\nretry: soon\nevnt: typo\ndata: \xff\n\n"), (40.0, b"data: last\n")],
    )
    assert names(stream) == {
        "sse-id-null", "sse-retry-invalid", "sse-unknown-field", "sse-invalid-utf8", "sse-unterminated-event", "sse-idle-gap",
    }
    assert stream.dropped == 1 and stream.events == 1


@pytest.mark.parametrize(
    "body,expected",
    [
        (b'{"a": 1}\n{"a": 2}\n', {"sse-no-events", "sse-unknown-field"}),
        (b"message: hi\n\n", {"sse-no-events", "sse-unknown-field"}),
        (b"data: never ended\n", {"sse-no-events", "sse-unterminated-event"}),
        (b": just heartbeats\n\n", set()),
        (b"", set()),
    ],
)
def test_no_events(body, expected):
    _, stream = run([(1.0, body)] if body else [])
    assert names(stream) == expected


def test_oversize_warning_record():
    out, stream = run([(1.0, b"data: " + b"x" * 200 + b"\n\ndata: ok\n\n")], max_line=100)
    assert [e.data for e in out if isinstance(e, records.SseEvent)] == ["ok"]
    warning = next(r for r in out if isinstance(r, records.WarningRecord))
    assert warning.name == "sse-oversize" and warning.count == 2 and warning.conn == "c1"
    assert stream.dropped == 2 and "sse-oversize" in names(stream)


@pytest.mark.parametrize(
    "sent,body,resumed,finding",
    [
        (None, b"id: 5\ndata: a\n\n", None, None),
        ("41", b"id: 42\ndata: a\n\n", True, None),
        ("41", b"data: no id\n\nid: 42\ndata: a\n\n", True, None),
        ("41", b"id: 45\ndata: a\n\n", True, "sse-resume-gap"),
        ("41", b"id: 1\ndata: a\n\n", False, "sse-resume-not-honoured"),
        ("41", b"id: 41\ndata: a\n\n", False, "sse-resume-not-honoured"),
        ("41", b"data: no ids at all\n\n", None, None),
        ("abc", b"id: abd\ndata: a\n\n", True, None),
        ("abc", b"id: abc\ndata: a\n\n", False, None),
    ],
)
def test_resume(sent, body, resumed, finding):
    request_headers = [("Last-Event-ID", sent)] if sent is not None else []
    _, stream = run([(1.0, body)], request_headers=request_headers)
    assert stream.request_last_event_id == sent and stream.resumed is resumed
    resume_names = {n for n in names(stream) if n.startswith("sse-resume")}
    assert resume_names == ({finding} if finding else set())


_header_text = st.text(alphabet=st.sampled_from(list("abcxyz-;=,:/ *\"0129²\x00é")), max_size=12)
_header_names = st.sampled_from(
    ["Content-Type", "content-type", "Cache-Control", "Content-Encoding", "Content-Length", "Origin",
     "Access-Control-Allow-Origin", "Cookie", "Last-Event-ID", "X-Accel-Buffering", "X"]
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(max_size=64), max_size=8),
    st.lists(st.tuples(_header_names, _header_text), max_size=6),
    st.lists(st.tuples(_header_names, _header_text), max_size=6),
    st.one_of(st.none(), st.integers(0, 999)),
    st.one_of(st.none(), st.text(max_size=20)),
)
def test_analysis_never_raises(chunks, request_headers, response_headers, status, url):
    analysis = SseStreamAnalysis(
        "c", url, request_headers=request_headers, response_headers=response_headers, status=status, ts_start=0.0
    )
    out = []
    for i, chunk in enumerate(chunks):
        out += analysis.feed(chunk, float(i))
    out += analysis.end(float(len(chunks)))
    stream = out[-1]
    assert isinstance(stream, records.SseStream)
    assert stream.events == sum(isinstance(r, records.SseEvent) for r in out)
    records.to_dict(stream)  # encodable


def test_resume_with_huge_or_unicode_digit_ids():
    for sent, first in [("9" * 5000, "9" * 5001), ("²", "³"), ("1", "9" * 5000)]:
        body = f"id: {first}\ndata: a\n\n".encode()
        _, stream = run([(1.0, body)], request_headers=[("Last-Event-ID", sent)])
        assert stream.resumed is True  # compared as strings: they differ


def test_resumed_stream_starts_from_the_request_last_event_id():
    out, stream = run(
        [(1.0, b"data: replayed without id\n\nid: 42\ndata: b\n\n")], request_headers=[("Last-Event-ID", "41")]
    )
    assert [(e.data, e.id) for e in out] == [("replayed without id", "41"), ("b", "42")]
    assert stream.resumed is True and stream.last_event_id == "42"  # the first id the server sent is 42


def test_end_twice_and_feed_after_end():
    analysis = SseStreamAnalysis("c", None, response_headers=SSE_HEADERS)
    analysis.feed(b"data: a\n\n", 1.0)
    assert isinstance(analysis.end(2.0)[-1], records.SseStream)
    assert analysis.end(3.0) == [] and analysis.feed(b"data: b\n\n", 4.0) == []


def test_bom_line_break_finding():
    for chunks in BOM_LINE_BREAK:
        analysis = SseStreamAnalysis("c", None, response_headers=SSE_HEADERS)
        for chunk in chunks:
            analysis.feed(chunk, 1.0)
        assert names(analysis.end(2.0)[-1]) == {"sse-bom-line-break"}
    harmless = [
        b"\xef\xbb\xbfdata: a\n\n",
        b"\ndata: a\n\n",
        b"\xef\xbb\xbf:\n\n",
        b"\xef\xbb\xbf\r\ndata: a\n\n",
        b"\xef\xbb\xbf\n\ndata: a\n\n",
        b"\xef\xbb\xbf\n: hi\ndata: a\n\n",
    ]
    for stream in harmless:
        for cuts in all_splits(stream):
            assert not parse(stream, cuts)[0].bom_line_break
    for chunks in BOM_LINE_BREAK:
        stream = b"".join(chunks)
        for cuts in all_splits(stream):
            assert parse(stream, cuts)[0].bom_line_break
