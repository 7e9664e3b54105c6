"""One text/event-stream response: its parser's items -> `records.SseEvent` and `records.SseStream`.

`SseStreamAnalysis` wraps one parser for one text/event-stream response (``inspector.analysis`` creates
it) and turns its items into `records.SseEvent` records and, from `SseStreamAnalysis.end`, a `WarningRecord`
record when something was dropped over the caps, then the `records.SseStream` summary (always last),
whose findings are listed in `inspector.sse.findings`.

Resumption (``SseStream.request_last_event_id`` / ``resumed``): the request's Last-Event-ID header is
what the client had seen before reconnecting, and the stream's last event ID starts from it, as in
Chromium (checked by tests/test_sse.py; the spec's per-stream buffer would start empty), so events
without an ``id`` field show it as ``e.lastEventId`` does.  ``resumed`` is None when the request had no
Last-Event-ID or the stream set no non-empty id; otherwise it compares the first non-empty ``id`` the
stream sent with it:
when both are decimal integers, ``resumed`` is True iff the first id is greater (exactly +1 is a clean
resume, more is ``sse-resume-gap``); for other ids it is True iff the first id differs (a heuristic: a
server that restarts its own non-numeric sequence cannot be told apart).  Correlating streams into
reconnect chains is left to ``inspector.analysis``.
"""

from __future__ import annotations

from collections import Counter

from inspector import records
from inspector.sse.findings import (
    finding,
    header_findings,
    last_header,
    stream_findings,
)
from inspector.sse.parser import (
    DEFAULT_MAX_EVENT,
    DEFAULT_MAX_LINE,
    ParsedEvent,
    SseParser,
)

__all__ = ["SseStreamAnalysis"]

_MAX_TYPES = 256  # distinct event types counted one by one; the rest are summed under _OTHER_TYPE
_OTHER_TYPE = "(other types)"


def _decimal(text: str) -> bool:
    """ASCII digits only, short enough for int() (Python refuses over 4300 digits)."""
    return text.isascii() and text.isdigit() and len(text) <= 40


class SseStreamAnalysis:
    """One text/event-stream response: bytes in, `records.SseEvent` out, `records.SseStream` at the end.

    ``request_headers`` / ``response_headers`` are lists of (name, value); ``status`` the response status;
    ``ts_start`` the response head's time (rate and first gap count from it).  ``idle_gap`` is the silence
    (seconds, nothing received) that earns ``sse-idle-gap``.
    """

    def __init__(
        self,
        conn: str,
        url: str | None,
        *,
        request_headers=(),
        response_headers=(),
        status: int | None = None,
        ts_start: float | None = None,
        max_line: int = DEFAULT_MAX_LINE,
        max_event: int = DEFAULT_MAX_EVENT,
        idle_gap: float = 30.0,
    ) -> None:
        self.conn = conn
        self.url = url
        self.findings = header_findings(
            status=status, request_headers=request_headers, response_headers=response_headers, url=url
        )
        last_id = last_header(request_headers, "last-event-id")
        self.request_last_event_id = last_id.strip() if last_id is not None else None
        # a browser's reconnected stream starts from the last event ID it had (Chromium does; the spec's
        # per-stream buffer would start empty): events without an id show it
        self.parser = SseParser(
            max_line=max_line, max_event=max_event, last_event_id=self.request_last_event_id or ""
        )
        self.ts_start = ts_start
        self.idle_gap = idle_gap
        self._by_type: Counter[str] = Counter()
        self._index = 0
        self._first_ts: float | None = None  # first event
        self._last_ts: float | None = None  # last event
        self._gap_sum = 0.0
        self._gap_max: float | None = None
        self._gaps = 0
        self._activity: float | None = ts_start  # last time bytes arrived
        self._idle_max = 0.0
        self._last_feed: float | None = None
        self._unterminated = 0
        self._ended = False

    def feed(self, data: bytes, ts: float | None = None) -> list[records.SseEvent]:
        if self._ended or not data:
            return []
        if ts is not None:
            if self._activity is not None:
                self._idle_max = max(self._idle_max, ts - self._activity)
            self._activity = ts
            self._last_feed = ts
            if self.ts_start is None:
                self.ts_start = ts
        out: list[records.SseEvent] = []
        for item in self.parser.feed(data, ts):
            if type(item) is ParsedEvent:
                out.append(self._event(item))
        return out

    def end(self, ts: float | None = None) -> list[records.SseEvent | records.SseStream | records.WarningRecord]:
        if self._ended:
            return []
        self._ended = True
        if ts is not None and self._activity is not None:
            self._idle_max = max(self._idle_max, ts - self._activity)
        for item in self.parser.end(ts):
            if item.has_data:
                self._unterminated += 1
        ts_end = ts if ts is not None else self._last_feed
        return [*self._warnings(), self._summary(ts_end)]

    # -- internals

    def _event(self, item: ParsedEvent) -> records.SseEvent:
        if item.event in self._by_type or len(self._by_type) < _MAX_TYPES:
            self._by_type[item.event] += 1
        else:
            self._by_type[_OTHER_TYPE] += 1
        if item.ts is not None:
            if self._last_ts is not None:
                gap = item.ts - self._last_ts
                self._gap_sum += gap
                self._gaps += 1
                self._gap_max = gap if self._gap_max is None else max(self._gap_max, gap)
            else:
                self._first_ts = item.ts
            self._last_ts = item.ts
        record = records.SseEvent(
            conn=self.conn,
            ts=item.ts,
            event=item.event,
            data=item.data,
            id=item.id,
            retry=item.retry,
            url=self.url,
            index=self._index,
        )
        self._index += 1
        return record

    def _warnings(self) -> list[records.WarningRecord]:
        p = self.parser
        dropped = p.oversize_lines + p.oversize_events
        if not dropped:
            return []
        return [
            records.WarningRecord(
                name="sse-oversize",
                message=f"{p.oversize_lines} line(s) over {p.max_line} bytes and {p.oversize_events} event(s) "
                f"over {p.max_event} bytes were dropped",
                count=dropped,
                conn=self.conn,
            )
        ]

    def _resume(self) -> tuple[bool | None, list[records.Finding]]:
        sent, first = self.request_last_event_id, self.parser.first_id
        if not sent or first is None:
            return None, []
        if _decimal(sent) and _decimal(first):
            a, b = int(sent), int(first)
            if b <= a:
                return False, [
                    finding(
                        "sse-resume-not-honoured",
                        "warning",
                        f"client sent Last-Event-ID {sent} but the first id is {first}: "
                        "events were replayed or restarted",
                    )
                ]
            if b > a + 1:
                return True, [
                    finding(
                        "sse-resume-gap",
                        "info",
                        f"client sent Last-Event-ID {sent}, the first id is {first}: ids in between were not delivered",
                    )
                ]
            return True, []
        return first != sent, []

    def _stream_findings(self) -> list[records.Finding]:
        return self.findings + stream_findings(
            self.parser, unterminated=self._unterminated, idle_max=self._idle_max, idle_gap=self.idle_gap
        )

    def _summary(self, ts_end: float | None) -> records.SseStream:
        p = self.parser
        rate = None
        if self.ts_start is not None and ts_end is not None and ts_end > self.ts_start:
            rate = p.events / (ts_end - self.ts_start)
        resumed, resume_findings = self._resume()
        first = None
        if self._first_ts is not None and self.ts_start is not None:
            first = self._first_ts - self.ts_start
        return records.SseStream(
            conn=self.conn,
            url=self.url,
            events=p.events,
            events_by_type=dict(self._by_type),
            comments=p.comments,
            ts_start=self.ts_start,
            ts_end=ts_end,
            rate_per_s=rate,
            gap_mean_s=self._gap_sum / self._gaps if self._gaps else None,
            gap_max_s=self._gap_max,
            retry=p.retry,
            last_event_id=p.last_event_id,
            request_last_event_id=self.request_last_event_id,
            resumed=resumed,
            dropped=p.oversize_lines + p.oversize_events + self._unterminated,
            findings=self._stream_findings() + resume_findings,
            bytes=p.bytes,
            first_event_s=first,
            idle_max_s=self._idle_max if self._activity is not None else None,
        )
