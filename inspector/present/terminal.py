"""The human renderer: a record sink that prints what a run found, readable at 80 columns.

`HumanRenderer(stream)` is called with every record (``analysis = Analysis(HumanRenderer(sys.stdout),
...)``) and `close()`\\ d at the end.  It prints:

- per connection, when its `Connection` record arrives (the pipeline emits it last): client -> server,
  protocol, duration, bytes per direction, the first exchanges; for a WebSocket the handshake verdict with
  its findings, message counts per direction and type, close codes, and every violation name with its
  count and the first frame that had it; for an event stream the events by type, comments, retry, last
  event id, resumption and findings;
- per endpoint (`Pattern` records), its pattern with the deciding figures and reason, and for polling
  endpoints the efficiency report ending in the answer to "is it worth replacing?"
  (`classify.verdict`);
- the warnings, with their counts.

With ``show_frames`` it also prints one line per exchange, frame, message and SSE event as it arrives,
time relative to the first record, like ``tshark`` does.

Everything taken from the traffic (URLs, payload text, header values, reasons, ids) goes through
`escape_terminal`, so escape sequences in a payload are shown, never executed.  Output is ASCII
apart from escaped payload text; every line is cut to ``width`` columns (East Asian wide characters
count two; ``width`` defaults to the terminal's, 80 when not a terminal).  Colour (ANSI SGR) only when the stream is a TTY (or ``color=True``), and never when the
``NO_COLOR`` environment variable is set.  Memory per open connection is a few counters and at most
``max_exchanges`` exchange lines.
"""

from __future__ import annotations

import os
import textwrap
import unicodedata
from collections import Counter
from typing import IO, Any

from inspector import records
from inspector.classify.classifier import Thresholds, verdict
from inspector.present.escape import escape_terminal

__all__ = ["HumanRenderer", "format_bytes", "fit"]

_STYLES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36", "magenta": "35"}
_SEVERITY_STYLE = {"error": "red", "warning": "yellow", "info": "dim"}
_PATTERN_STYLE = {
    "short-polling": "yellow",
    "long-polling": "yellow",
    "sse": "green",
    "websocket": "green",
    "streaming": "cyan",
    "request-response": "dim",
}
_MAX_TYPES = 32  # distinct SSE event types / message kinds counted per connection


def esc(text: Any) -> str:
    """Untrusted text made safe for the terminal (control characters and escape sequences shown)."""
    return escape_terminal(str(text))


def _char_width(ch: str) -> int:
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _width(text: str) -> int:
    return sum(_char_width(ch) for ch in text) if not text.isascii() else len(text)


def fit(text: str, width: int) -> str:
    """``text`` cut to ``width`` display columns, ending in "..." when cut."""
    if _width(text) <= width:
        return text
    mark = "..." if width > 3 else ""
    out, used = [], 0
    for ch in text:
        w = _char_width(ch)
        if used + w > width - len(mark):
            break
        out.append(ch)
        used += w
    return "".join(out) + mark


def format_bytes(n: int | float | None) -> str:
    """Bytes for people: 512 B, 3.4 kB, 12.0 MB (powers of 1000, as browsers' DevTools show them)."""
    if n is None:
        return "?"
    n = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _seconds(value: float | None) -> str:
    if value is None:
        return "?"
    if value == 0:
        return "0 ms"
    if value < 0.001:
        return f"{value * 1000:.2f} ms"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    return f"{value:.2f} s"


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


class HumanRenderer:
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
    ) -> None:
        self.stream = stream
        if "NO_COLOR" in os.environ:
            color = False
        elif color is None:
            isatty = getattr(stream, "isatty", None)
            color = bool(isatty and isatty())
        self.color = color
        self.show_frames = show_frames
        self.width = max(40, width if width is not None else _terminal_width(stream))
        self.max_exchanges = max_exchanges
        self.thresholds = thresholds or Thresholds()
        self._conns: dict[str, _ConnState] = {}
        self._t0: float | None = None
        self._section: str | None = None
        self._closed = False
        # totals for the closing line
        self._protocols: Counter = Counter()
        self._totals: Counter = Counter()

    # -- output primitives -----------------------------------------------------------------------------

    def _paint(self, text: str, style: str | None) -> str:
        if not self.color or not style:
            return text
        codes = ";".join(_STYLES[s] for s in style.split("+"))
        return f"\x1b[{codes}m{text}\x1b[0m"

    def _line(self, *segments: tuple[str, str | None] | str, indent: int = 0) -> None:
        """One output line of (text, style) segments (texts already escaped), cut to the width."""
        parts = [(s, None) if isinstance(s, str) else s for s in segments]
        budget = self.width - indent
        out = []
        for text, style in parts:
            if budget <= 0:
                break
            w = _width(text)
            if w > budget:
                text = fit(text, budget)
                w = _width(text)
            out.append(self._paint(text, style))
            budget -= w
        self.stream.write(" " * indent + "".join(out) + "\n")

    def _wrapped(
        self, text: str, *, indent: int, first: str = "", style: str | None = None, first_style: str = "dim"
    ) -> None:
        """A paragraph wrapped to the width; ``first`` prefixes the first line (continuations align)."""
        body = self.width - indent - len(first)
        lines = textwrap.wrap(text, width=max(20, body), break_on_hyphens=False) or [""]
        for i, line in enumerate(lines):
            prefix = first if i == 0 else " " * len(first)
            self._line((prefix, first_style), (line, style), indent=indent)

    def _items(
        self, items: list[str], *, indent: int, first: str = "", style: str | None = None, first_style: str = "dim",
        sep: str = ", ",
    ) -> None:
        """Items joined by ``sep`` and wrapped between items (an item is split only if it cannot fit)."""
        body = max(20, self.width - indent - len(first))
        lines: list[str] = []
        current = ""
        for item in items:
            candidate = f"{current}{sep}{item}" if current else item
            if _width(candidate) + len(sep.rstrip()) <= body or not current:
                current = candidate
            else:
                lines.append(current + sep.rstrip())
                current = item
        if current:
            lines.append(current)
        wrapped = [piece for line in lines for piece in (textwrap.wrap(line, width=body) or [""])]
        for i, line in enumerate(wrapped or [""]):
            prefix = first if i == 0 else " " * len(first)
            self._line((prefix, first_style), (line, style), indent=indent)

    def _heading(self, name: str) -> None:
        if self._section != name:
            self._section = name
            self.stream.write("\n")
            self._line((name, "bold"))

    def _live(self, ts: float | None, conn: str, *segments) -> None:
        """One ``show_frames`` line: relative time, connection, then the segments."""
        self._section = None  # a summary printed after live lines gets its heading again
        self._line((f"{self._rel(ts)} {esc(conn)} ", "dim"), *segments)

    def _rel(self, ts: float | None) -> str:
        if ts is None:
            return "         ?"
        if self._t0 is None:
            self._t0 = ts
        return f"{ts - self._t0:10.6f}"

    # -- the sink --------------------------------------------------------------------------------------

    def __call__(self, record: Any) -> None:
        kind = type(record)
        if kind is records.Frame:
            self._frame(record)
        elif kind is records.Message:
            self._message(record)
        elif kind is records.SseEvent:
            self._totals["events"] += 1
            self._state(record.conn).sse_events += 1
            if self.show_frames:
                self._sse_event_line(record)
        elif kind is records.Exchange:
            self._exchange(record)
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
        self._summary()
        self.stream.flush()

    def _summary(self) -> None:
        """One closing line: connections by protocol, exchanges, messages, events, violations, warnings."""
        if not self._protocols and not self._totals:
            return
        n = sum(self._protocols.values())
        items = [f"{n} connection{'s' if n != 1 else ''}"]
        if self._protocols:
            items[0] += " (" + ", ".join(f"{count} {esc(name)}" for name, count in self._protocols.most_common()) + ")"
        for key, label in (
            ("exchanges", "exchange"), ("frames", "frame"), ("messages", "message"), ("events", "SSE event"),
            ("endpoints", "endpoint"),
        ):
            if self._totals[key]:
                items.append(f"{self._totals[key]} {label}{'s' if self._totals[key] != 1 else ''}")
        self.stream.write("\n")
        self._items(items, indent=0, first="Total: ", first_style="bold")
        problems = []
        if self._totals["violations"]:
            problems.append(f"{self._totals['violations']} frames/messages with violations")
        if self._totals["warnings"]:
            problems.append(f"{self._totals['warnings']} warning{'s' if self._totals['warnings'] != 1 else ''}")
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
        if self.show_frames:
            status = str(ex.status) if ex.status is not None else "no response"
            self._live(
                ex.ts_request,
                ex.conn,
                f"{esc(ex.method)} ",
                (status, self._status_style(ex.status)),
                f" {esc(ex.url)}",
            )

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
        if not self.show_frames:
            return
        flags = " ".join(flag for flag, on in (("FIN", f.fin), ("RSV1", f.rsv1), ("RSV2", f.rsv2), ("RSV3", f.rsv3)) if on)
        segments: list = [f"{_arrow(f.direction)} frame #{f.index} {esc(f.opcode_name)} len {f.payload_len}"]
        if flags:
            segments.append(f" {flags}")
        if not f.complete:
            segments.append((" incomplete", "yellow"))
        if f.violations:
            segments.append((" ! " + esc(", ".join(f.violations)), "red"))
        if f.masked:
            segments.append((f" mask {f.masking_key}" if f.masking_key else " masked", "dim"))
        self._live(f.ts, f.conn, *segments)

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
        if m.opcode_name == "close" and direction not in state.closes:
            state.closes[direction] = m
        if m.violations and not state.frames:  # whole messages (no Frame records): count their violations
            self._totals["violations"] += 1
            for name in m.violations:
                if name in state.violations or len(state.violations) < _MAX_TYPES:
                    state.violations.setdefault(name, [0, m.direction, None])[0] += 1
        if not self.show_frames:
            return
        segments: list = [f"{_arrow(m.direction)} message #{m.index} {esc(m.opcode_name)} {format_bytes(m.length)}"]
        if m.compressed:
            segments.append(" deflated")
        if m.opcode_name == "close":
            segments.append(f" {_close_text(m)}")
        elif m.text is not None:
            segments.append(f": {esc(m.text)}" + ("..." if m.truncated else ""))
        elif m.data:
            segments.append(f": {esc(m.data)}" + ("..." if m.truncated else ""))
        if m.violations:
            segments.insert(1, (" ! " + esc(", ".join(m.violations)), "red"))
        self._live(m.ts, m.conn, *segments)

    def _sse_event_line(self, e: records.SseEvent) -> None:
        self._live(
            e.ts,
            e.conn,
            f"sse #{e.index} {esc(e.event)}",
            (f" id={esc(e.id)}" if e.id else "", "dim"),
            f": {esc(e.data)}",
        )

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
            self._line((f"... {more} more exchange{'s' if more > 1 else ''}", "dim"), indent=4)
        for hs in state.handshakes:
            self._handshake(hs)
        if any(state.messages.values()) or state.violations:
            self._messages(state)
        for stream in state.sse:
            self._sse_stream(stream)

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
            items = [f"{total} message{'s' if total != 1 else ''} ({kinds})", format_bytes(state.message_bytes[direction])]
            if state.compressed[direction]:
                items.append(f"{state.compressed[direction]} deflated")
            close = state.closes.get(direction)
            if close is not None:
                items.append(_close_text(close))
            self._items(items, indent=4, first=f"{direction:7}")
        if state.violations:
            self._line(("violations", "red+bold"), indent=4)
            for name, (count, direction, index) in sorted(state.violations.items(), key=lambda kv: -kv[1][0]):
                first = f"first: {esc(direction)} frame #{index}" if index is not None else f"first: {esc(direction)}"
                self._line((esc(name), "red"), f" x{count}", (f"  ({first})", "dim"), indent=6)

    def _sse_stream(self, s: records.SseStream) -> None:
        types = Counter(s.events_by_type).most_common(5)
        kinds = ", ".join(f"{esc(t)} {n}" for t, n in types)
        if len(s.events_by_type) > 5:
            kinds += ", ..."
        items = [f"{s.events} event{'s' if s.events != 1 else ''}" + (f" ({kinds})" if kinds else "")]
        items.append(f"{s.comments} comment{'s' if s.comments != 1 else ''}")
        if s.rate_per_s is not None and s.events:
            items.append(f"{s.rate_per_s:.1f}/s")
        if s.gap_max_s is not None:
            items.append(f"longest gap {_seconds(s.gap_max_s)}")
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
        figures = [f"{p.requests} request{'s' if p.requests != 1 else ''}"]
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
            f"{useful} update{'s' if useful != 1 else ''} pushed: SSE ~{format_bytes(e.get('sse_bytes'))},"
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
        self._heading("Warnings")
        head = f"{esc(w.name)}" + (f" x{w.count}" if w.count != 1 else "") + ": "
        where = f" ({esc(w.conn)})" if w.conn else ""
        self._wrapped(esc(w.message) + where, indent=2, first=head, style="yellow")


def _terminal_width(stream: IO[str]) -> int:
    """The terminal's width when ``stream`` is one, else 80."""
    try:
        if stream.isatty():
            return os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        pass
    return 80


def _arrow(direction: str) -> str:
    return "c->s" if direction == "client" else "s->c"


def _close_text(m: records.Message) -> str:
    if m.close_code is None:
        return "close (no code)"
    name = f" {esc(m.close_code_name)}" if m.close_code_name else ""
    reason = f' "{esc(m.close_reason)}"' if m.close_reason else ""
    return f"close {m.close_code}{name}{reason}"
