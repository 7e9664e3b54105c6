"""The human renderer: a record sink that prints what a run found.

`HumanRenderer(stream)` is called with every record (``analysis = Analysis(HumanRenderer(sys.stdout),
...)``) and `close()`\\ d at the end.  It prints:

- per connection, when its `Connection` record arrives (the pipeline emits it last): client -> server,
  protocol, duration, bytes per direction, the first exchanges; for a WebSocket the handshake verdict with
  its findings, message counts per direction and type (incomplete and not inflatable ones counted apart),
  close codes, and every violation name with its count and the first frame that had it; for an event
  stream the events by type, comments, rate and gaps (unknown when the source has no per-event times),
  retry, last event id, resumption and findings;
- per endpoint (`Pattern` records), its pattern with the deciding figures and reason, and for polling
  endpoints the efficiency report ending in the answer to "is it worth replacing?"
  (`classify.verdict`);
- the warnings, with their counts.

With ``show_frames`` a time-ordered timeline (`present.timeline`) comes first: a line per exchange,
frame, message, SSE event and connection warning, printed as made (within the reorder window); the
summaries above are spooled (memory, then a temporary file) and follow it at `close()`.

Everything taken from the traffic (URLs, payload text, header values, reasons, ids) goes through
`escape_terminal`, so escape sequences in a payload are shown, never executed.  Output is ASCII apart from
escaped payload text; lines are cut to ``width`` columns (East Asian wide characters count two; by default
the terminal's, ``COLUMNS`` honoured, and never cut when not a terminal; 0: never).  Colour (ANSI SGR) only
when the stream is a TTY (or ``color=True``), and never when ``NO_COLOR`` is set.  Memory per open
connection is a few counters and at most ``max_exchanges`` exchange lines.
"""

from __future__ import annotations

import shutil
import tempfile
import textwrap
from collections import Counter, OrderedDict
from typing import IO, Any

from inspector import records
from inspector.classify import Thresholds, verdict
from inspector.present.lines import LineWriter
from inspector.present.timeline import WINDOW, Timeline, record_segments
from inspector.present.text import (
    esc,
    fit,
    format_bytes,
    INFLATE_ERRORS,
    message_close_text,
    plural,
)
from inspector.present.text import (
    seconds as _seconds,
)
from inspector.present.app import AppSummary

__all__ = ["HumanRenderer", "fit", "format_bytes"]

_SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "dim"}
_PATTERN_STYLE = {
    "short-polling": "yellow",
    "long-polling": "yellow",
    "sse": "green",
    "websocket": "green",
    "streaming": "cyan",
    "request-response": "dim",
}
_RECENT = 4096  # connections whose latest timeline time is kept
_MAX_TYPES = 32  # distinct SSE event types / message kinds counted per connection


def _ratio(value: float | None) -> str:
    return "?" if value is None else f"{value:.0%}"


class _ConnState:
    """What the renderer keeps about one connection until its Connection record arrives."""

    def __init__(self) -> None:
        self.exchanges: list[records.Exchange] = []
        self.exchange_count = 0
        self.handshakes: list[records.Handshake] = []
        self.messages: dict[str, Counter] = {"client": Counter(), "server": Counter()}
        self.message_bytes: Counter = Counter()
        self.compressed: Counter = Counter()
        self.closes: dict[str, records.Message] = {}
        self.frames = 0
        self.violations: dict[str, list] = {}  # name -> [count, direction, frame index]
        self.sse: list[records.SseStream] = []
        self.sse_events = 0
        self.sse_times: set[float] = set()  # up to two distinct event times: one means "not measured"
        #: per direction: "incomplete" and inflate_error reasons -> messages
        self.marks: dict[str, Counter] = {"client": Counter(), "server": Counter()}


class HumanRenderer(LineWriter):
    """A record sink printing a human summary (see the module docstring)."""

    def __init__(
        self,
        stream: IO[str],
        *,
        color: bool | None = None,
        show_frames: bool = False,
        width: int | None = None,
        max_exchanges: int = 3,
        thresholds: Thresholds | None = None,
        time: str = "rel",
        window: int = WINDOW,
    ) -> None:
        super().__init__(stream, color=color, width=width)
        self.show_frames = show_frames
        self.out = stream
        self.timeline: Timeline | None = None
        #: per connection (the latest `_RECENT`): time of its latest timeline line, where its warnings go
        self._last_ts: OrderedDict[str, float] = OrderedDict()
        if show_frames:  # the timeline goes out as it is made; the summaries follow it, spooled
            self.timeline = Timeline(stream, color=self.color, width=self.width, time=time, window=window)
            self.stream = tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+", encoding="utf-8")
        self.max_exchanges = max_exchanges
        self.thresholds = thresholds or Thresholds()
        self._conns: dict[str, _ConnState] = {}
        self._closed = False
        self._app = AppSummary()  # the application layer: messages by kind and name, operations
        # totals for the closing line
        self._protocols: Counter = Counter()
        self._totals: Counter = Counter()

    # -- timeline -----------------------------------------------------------------------------------

    def _timeline(self, record: Any) -> None:
        if self.timeline is None:
            return
        ts, segments = record_segments(record)
        if ts is not None:
            self._last_ts[record.conn] = ts
            self._last_ts.move_to_end(record.conn)
            if len(self._last_ts) > _RECENT:
                self._last_ts.popitem(last=False)
        self.timeline.add(ts, record.conn, segments)

    def idle(self) -> None:
        """The input paused (a growing capture on a pipe): print the timeline lines waiting."""
        if self.timeline is not None:
            self.timeline.flush(final=False)
        self.out.flush()

    # -- the sink --------------------------------------------------------------------------------------

    def __call__(self, record: Any) -> None:
        kind = type(record)
        if kind is records.Frame:
            self._frame(record)
        elif kind is records.Message:
            self._message(record)
        elif kind is records.SseEvent:
            self._totals["events"] += 1
            self._sse_event(record)
        elif kind is records.Exchange:
            self._exchange(record)
            if record.app:  # a polling or JSON-RPC body: counted in the application layer summary
                self._app.message(record.app)
        elif kind is records.Handshake:
            self._state(record.conn).handshakes.append(record)
        elif kind is records.SseStream:
            self._state(record.conn).sse.append(record)
        elif kind is records.Connection:
            self._protocols[record.protocol] += 1
            self._connection(record, self._conns.pop(record.conn, None) or _ConnState())
        elif kind is records.Pattern:
            self._pattern(record)
        elif kind is records.WarningRecord:
            self._warning(record)
        elif kind is records.Operation:
            self._app.operation(record)

    write = __call__

    def close(self) -> None:
        """Print what is still pending (connections whose Connection record never came); flush."""
        if self._closed:
            return
        self._closed = True
        for conn, state in list(self._conns.items()):
            placeholder = records.Connection(
                conn=conn, client=None, server=None, ts_start=None, ts_end=None, source="?", protocol="?"
            )
            self._connection(placeholder, state)
        self._conns.clear()
        if self._app.kinds or self._app.ops:
            self._heading("Application layer")
            for text, indent in self._app.lines():
                self._line(text, indent=indent)
        self._summary()
        if self.timeline is not None:
            self.timeline.flush()
            self.stream.seek(0)
            shutil.copyfileobj(self.stream, self.out)
            self.stream.close()
            self.stream = self.out
        self.out.flush()

    def _summary(self) -> None:
        """One closing line: connections by protocol, exchanges, messages, events, violations, warnings."""
        if not self._protocols and not self._totals:
            return
        n = sum(self._protocols.values())
        items = [plural(n, "connection")]
        if self._protocols:
            items[0] += " (" + ", ".join(f"{count} {esc(name)}" for name, count in self._protocols.most_common()) + ")"
        for key, label in (
            ("exchanges", "exchange"), ("frames", "frame"), ("messages", "message"), ("events", "SSE event"),
            ("endpoints", "endpoint"),
        ):
            if self._totals[key]:
                items.append(plural(self._totals[key], label))
        self.stream.write("\n")
        self._items(items, indent=0, first="Total: ", first_style="bold")
        problems = []
        if self._totals["violations"]:
            problems.append(f"{self._totals['violations']} frames/messages with violations")
        if self._totals["warnings"]:
            problems.append(plural(self._totals["warnings"], "warning"))
        if problems:
            self._items(problems, indent=0, first="       ", style="yellow")

    def _state(self, conn: str) -> _ConnState:
        state = self._conns.get(conn)
        if state is None:
            state = self._conns[conn] = _ConnState()
        return state

    # -- per record --------------------------------------------------------------------------------------

    def _exchange(self, ex: records.Exchange) -> None:
        self._totals["exchanges"] += 1
        state = self._state(ex.conn)
        state.exchange_count += 1
        if len(state.exchanges) < self.max_exchanges:
            state.exchanges.append(ex)
        self._timeline(ex)

    def _frame(self, f: records.Frame) -> None:
        self._totals["frames"] += 1
        if f.violations:
            self._totals["violations"] += 1
        state = self._state(f.conn)
        state.frames += 1
        for name in f.violations:
            entry = state.violations.get(name)
            if entry is None:
                if len(state.violations) < _MAX_TYPES:
                    state.violations[name] = [1, f.direction, f.index]
            else:
                entry[0] += 1
        self._timeline(f)

    def _message(self, m: records.Message) -> None:
        self._totals["messages"] += 1
        state = self._state(m.conn)
        direction = m.direction if m.direction in state.messages else "client"
        counts = state.messages[direction]
        if m.opcode_name in counts or len(counts) < _MAX_TYPES:
            counts[m.opcode_name] += 1
        state.message_bytes[direction] += m.length
        if m.compressed:
            state.compressed[direction] += 1
        if not m.complete:
            state.marks[direction]["incomplete"] += 1
        if m.inflate_error:
            state.marks[direction][m.inflate_error] += 1
        if m.opcode_name == "close" and direction not in state.closes:
            state.closes[direction] = m
        if m.violations and not state.frames:  # whole messages (no Frame records): count their violations
            self._totals["violations"] += 1
            for name in m.violations:
                if name in state.violations or len(state.violations) < _MAX_TYPES:
                    state.violations.setdefault(name, [0, m.direction, None])[0] += 1
        if m.app:
            self._app.message(m.app)
        self._timeline(m)

    def _sse_event(self, e: records.SseEvent) -> None:
        state = self._state(e.conn)
        state.sse_events += 1
        if e.ts is not None and len(state.sse_times) < 2:
            state.sse_times.add(e.ts)
        self._timeline(e)

    # -- summaries ---------------------------------------------------------------------------------------

    @staticmethod
    def _status_style(status: int | None) -> str:
        if status is None or status >= 400:
            return "red"
        return "green" if status < 300 else "yellow"

    def _connection(self, c: records.Connection, state: _ConnState) -> None:
        self._heading("Connections")
        duration = c.ts_end - c.ts_start if c.ts_end is not None and c.ts_start is not None else None
        simple = (
            c.protocol == "http" and state.exchange_count == 1 and c.client is None and not c.gaps
            and c.bytes_client is None and not state.handshakes and not any(state.messages.values())
        )
        if simple:  # one exchange on a connection the source knows nothing else about (HAR): one line
            self._exchange_summary(state.exchanges[0], prefix=(esc(c.conn) + "  ", "bold"), indent=0)
            return
        self._line(
            (esc(c.conn), "bold"),
            f"  {esc(c.client or '?')} -> {esc(c.server or '?')}  ",
            (esc(c.protocol), "cyan"),
            f"  {_seconds(duration)}",
            (f"  ({esc(c.detected_by)})" if c.detected_by and c.detected_by != "handshake" else "", "dim"),
        )
        sizes = []
        if c.bytes_client is not None or c.bytes_server is not None:
            sizes.append(f"bytes client {format_bytes(c.bytes_client)}, server {format_bytes(c.bytes_server)}")
        sizes.append(f"exchanges {state.exchange_count or c.exchanges}")
        if c.gaps:
            sizes.append(f"gaps {c.gaps}")
        self._line(("   ".join(sizes), "dim"), indent=2)
        if c.tls:
            self._tls(c.tls)
        for ex in state.exchanges:
            self._exchange_summary(ex)
        more = state.exchange_count - len(state.exchanges)
        if more > 0:
            self._line((f"... {plural(more, 'more exchange')}", "dim"), indent=4)
        for hs in state.handshakes:
            self._handshake(hs)
        if any(state.messages.values()) or state.violations:
            self._messages(state)
        for stream in state.sse:
            self._sse_stream(stream, state, c.source)

    def _tls(self, tls: records.TlsInfo) -> None:
        facts = [tls.version or "TLS", tls.cipher or "?"]
        if tls.sni:
            facts.append(f"sni {tls.sni}")
        if tls.alpn:
            facts.append(f"alpn {tls.alpn}")
        state = ("decrypted", "green") if tls.decrypted else (f"encrypted ({tls.reason or '?'})", "yellow")
        self._line((esc(state[0]), state[1]), ("  " + esc("  ".join(facts)), "dim"), indent=2)

    def _exchange_summary(self, ex: records.Exchange, *, prefix: tuple[str, str] = ("", None), indent: int = 4) -> None:
        status = f"{ex.status}" if ex.status is not None else "no response"
        took = ex.ts_end - ex.ts_request if ex.ts_end is not None and ex.ts_request is not None else None
        detail = []
        if ex.content_type:
            detail.append(esc(ex.content_type.split(";")[0]))
        if ex.response_body_bytes is not None and ex.status != 101:
            detail.append(format_bytes(ex.response_body_bytes))
        if took is not None:
            detail.append(_seconds(took))
        self._line(
            prefix,
            f"{esc(ex.method)} ",
            (status, self._status_style(ex.status)),
            (f"  {'  '.join(detail)}  " if detail else "  ", "dim"),
            esc(ex.url),
            indent=indent,
        )

    def _handshake(self, hs: records.Handshake) -> None:
        verdict_text = ("handshake valid", "green") if hs.valid else ("handshake INVALID", "red+bold")
        parts: list = [verdict_text]
        if hs.mode != "rfc6455":
            parts.append(f"  ({esc(hs.mode)})")
        if hs.subprotocol:
            parts.append(f"  subprotocol {esc(hs.subprotocol)}")
        self._line(*parts, indent=4)
        if hs.extensions:
            self._wrapped(esc(", ".join(hs.extensions)), indent=6, first="extensions ")
        for finding in hs.findings + hs.notes:
            self._finding(finding, indent=6)

    def _finding(self, finding: records.Finding, *, indent: int) -> None:
        style = _SEVERITY_STYLE.get(finding.severity, None)
        head = f"{esc(finding.severity)} {esc(finding.name)}: "
        body = self.width - indent - len(head)
        lines = textwrap.wrap(esc(finding.message), width=max(20, body)) or [""]
        self._line((head, style), lines[0], indent=indent)
        for line in lines[1:]:
            self._line(" " * len(head), line, indent=indent)

    def _messages(self, state: _ConnState) -> None:
        for direction in ("client", "server"):
            counts = state.messages[direction]
            if not counts:
                continue
            kinds = ", ".join(f"{n} {esc(kind)}" for kind, n in counts.most_common())
            total = sum(counts.values())
            items = [f"{plural(total, 'message')} ({kinds})", format_bytes(state.message_bytes[direction])]
            if state.compressed[direction]:
                items.append(f"{state.compressed[direction]} deflated")
            for mark, n in state.marks[direction].most_common():
                if mark == "incomplete":
                    items.append(f"{n} incomplete (never ended)")
                else:
                    items.append(f"{n} not inflatable: {INFLATE_ERRORS.get(mark, esc(mark))}")
            close = state.closes.get(direction)
            if close is not None:
                items.append(message_close_text(close))
            self._items(items, indent=4, first=f"{direction:7}")
        if state.violations:
            self._line(("violations", "red+bold"), indent=4)
            for name, (count, direction, index) in sorted(state.violations.items(), key=lambda kv: -kv[1][0]):
                first = f"first: {esc(direction)} frame #{index}" if index is not None else f"first: {esc(direction)}"
                self._line((esc(name), "red"), f" x{count}", (f"  ({first})", "dim"), indent=6)

    def _sse_stream(self, s: records.SseStream, state: _ConnState, source: str) -> None:
        types = Counter(s.events_by_type).most_common(5)
        kinds = ", ".join(f"{esc(t)} {n}" for t, n in types)
        if len(s.events_by_type) > 5:
            kinds += ", ..."
        items = [plural(s.events, "event") + (f" ({kinds})" if kinds else "")]
        items.append(plural(s.comments, "comment"))
        if source in ("har", "flows") and s.events > 1 and len(state.sse_times) == 1:  # the body's end, for all
            items.append("rate and gaps unknown (the source has no per-event times, only when the body ended)")
        else:
            if s.rate_per_s is not None and s.events:
                items.append(f"{s.rate_per_s:.1f}/s")
            if s.gap_max_s is not None:
                items.append(f"longest gap {_seconds(s.gap_max_s)}")
        if not s.events and not s.bytes:
            items.append("empty body (browsers' HAR exports save event-stream bodies empty: record with the "
                         "addon or a capture to see the events)")
        if s.retry is not None:
            items.append(f"retry {s.retry} ms")
        if s.last_event_id:
            items.append(f"last id {esc(s.last_event_id)}")
        if s.request_last_event_id is not None:
            how = {True: "resumed", False: "NOT resumed", None: "resumption unknown"}[s.resumed]
            items.append(f"{how} after Last-Event-ID {esc(s.request_last_event_id)}")
        if s.dropped:
            items.append(f"{s.dropped} dropped (over the size cap)")
        self._items(items, indent=4, first="sse ", first_style="green" if not s.findings else "yellow")
        for finding in s.findings:
            self._finding(finding, indent=6)

    def _pattern(self, p: records.Pattern) -> None:
        self._totals["endpoints"] += 1
        self._heading("Endpoints")
        self._line((esc(p.endpoint), "bold"), indent=2)
        figures = [plural(p.requests, "request")]
        if p.interval_s is not None:
            cv = f" (cv {p.interval_cv:.2f})" if p.interval_cv is not None else ""
            figures.append(f"every {_seconds(p.interval_s)}{cv}")
        polled = p.pattern not in ("sse", "websocket", "streaming")
        if p.hold_s is not None and polled:
            figures.append(f"hold {_seconds(p.hold_s)}")
        if p.repoll_gap_s is not None and p.pattern in ("long-polling", "short-polling"):
            figures.append(f"re-poll gap {_seconds(p.repoll_gap_s)}")
        if p.changed_ratio is not None and polled and p.requests > 1:
            figures.append(f"changed {_ratio(p.changed_ratio)}")
        if p.empty_ratio and polled:
            figures.append(f"empty {_ratio(p.empty_ratio)}")
        if p.max_concurrent and p.max_concurrent > 1:
            figures.append(f"{p.max_concurrent} at once")
        self._items(figures, indent=4, first=f"{esc(p.pattern)}  ", first_style=_PATTERN_STYLE.get(p.pattern, "bold"))
        if p.framework:
            fw = f"framework {esc(p.framework)}"
            if p.transport:
                fw += f", transport {esc(p.transport)}"
            if p.upgrade:
                fw += f", upgraded {esc(p.upgrade)}"
            self._line((fw, "magenta"), indent=4)
        if p.reason:
            self._wrapped(esc(p.reason), indent=4, first="why: ")
        if p.efficiency:
            self._efficiency(p)

    def _efficiency(self, p: records.Pattern) -> None:
        e = p.efficiency or {}
        useful, wasted = e.get("useful"), e.get("wasted_requests")
        rate = e.get("requests_per_min")
        cost = []
        if rate is not None:
            cost.append(f"{rate:.0f} req/min")
        cost.append(f"{wasted} of {p.requests} brought nothing new ({format_bytes(e.get('wasted_bytes'))} wasted)")
        if e.get("staleness_s") is not None:
            cost.append(f"updates wait ~{_seconds(e.get('staleness_s'))}")
        self._items(cost, indent=4, first="cost: ")
        push = (
            f"{plural(useful, 'update')} pushed: SSE ~{format_bytes(e.get('sse_bytes'))},"
            f" WebSocket ~{format_bytes(e.get('websocket_bytes'))}, instead of"
            f" {format_bytes(e.get('poll_bytes'))} polled"
        )
        saving = e.get("saving_ratio")
        if saving is not None:
            push += f" (saves {format_bytes(e.get('saving_bytes'))}, {saving:.0%})"
        self._wrapped(push, indent=4, first="push: ")
        answer = verdict(p, self.thresholds)
        if answer:
            style = "yellow+bold" if answer.startswith("worth replacing") else "green"
            self._wrapped(answer, indent=4, first="=> ", style=style)

    def _warning(self, w: records.WarningRecord) -> None:
        self._totals["warnings"] += w.count
        if self.timeline is not None and w.conn is not None:  # capture damage: on its connection's timeline
            head = f"! {esc(w.name)}" + (f" x{w.count}" if w.count != 1 else "") + ": "
            self.timeline.add(self._last_ts.get(w.conn), w.conn, [(head + esc(w.message), "yellow")])
        self._heading("Warnings")
        head = f"{esc(w.name)}" + (f" x{w.count}" if w.count != 1 else "") + ": "
        where = f" ({esc(w.conn)})" if w.conn else ""
        self._wrapped(esc(w.message) + where, indent=2, first=head, style="yellow")
