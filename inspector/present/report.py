"""The HTML report: records in, one self-contained HTML file out (``inspector report``).

`ReportBuilder` is a sink: it keeps a compact row per record the page draws (no payload beyond a
preview of `PREVIEW` characters), and `write` renders ``templates/report.html.j2`` (Jinja2, autoescaped)
with the rows embedded as JSON in a ``<script type="application/json">`` element.  The page's own
script (inline, no network) draws the timeline, the message table and the payload views from that JSON
with ``textContent`` only: payloads are untrusted and are never parsed as HTML.

Bounded memory: at most ``max_messages`` message rows are kept.  When a run has more, the builder keeps
every second row and from then on every second one of those, and so on (the stride doubles), so the
rows stay spread over the whole run; the page says it shows a sample (1 in ``stride``) and the counts
stay exact.  SSE event and exchange rows are capped the same way.
"""

from __future__ import annotations

import json
import time
from typing import IO, Any, Iterable

from inspector import __version__, records
from inspector.classify import Thresholds, verdict

__all__ = ["ReportBuilder", "PREVIEW", "embed_json"]

PREVIEW = 200  # characters (text) or bytes (hex) of a payload kept per message
_DIRECTIONS = {"client": 0, "server": 1}


def embed_json(value: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` element: ``<``, ``>``, ``&`` and U+2028/9
    escaped, so no payload can close the element or start markup."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


class _Sampled:
    """Rows kept up to ``cap``; past it, every second one is dropped and the stride doubles."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.rows: list = []
        self.stride = 1
        self.seen = 0

    def add(self, row: Any) -> None:
        self.seen += 1
        if (self.seen - 1) % self.stride:
            return
        self.rows.append(row)
        if len(self.rows) >= self.cap:
            del self.rows[1::2]
            self.stride *= 2


def _round(ts: float | None) -> float | None:
    return None if ts is None else round(ts, 6)


class ReportBuilder:
    """A sink collecting what the report shows; `write(stream)` renders the HTML."""

    def __init__(self, *, title: str = "inspector report", max_messages: int = 250_000,
                 thresholds: Thresholds | None = None) -> None:
        self.title = title
        self.thresholds = thresholds or Thresholds()
        self.conns: dict[str, dict] = {}
        self.exchanges = _Sampled(max_messages)
        self.messages = _Sampled(max_messages)
        self.events = _Sampled(max_messages)
        self.handshakes: list[dict] = []
        self.streams: list[dict] = []
        self.patterns: list[records.Pattern] = []
        self.warnings: list[dict] = []
        self.violations: list[list] = []

    def _conn(self, conn: str) -> int:
        state = self.conns.get(conn)
        if state is None:
            state = self.conns[conn] = {"id": conn, "index": len(self.conns), "server": None, "client": None,
                                        "protocol": "", "start": None, "end": None, "gaps": 0, "exchanges": 0}
        return state["index"]

    # -- records in -------------------------------------------------------------------------------------

    def __call__(self, record: Any) -> None:
        kind = type(record)
        if kind is records.Message:
            self._message(record)
        elif kind is records.Exchange:
            self.exchanges.add([
                self._conn(record.conn), _round(record.ts_request), _round(record.ts_response),
                _round(record.ts_end), record.method, record.url[:500], record.status, record.content_type,
                record.response_body_bytes])
        elif kind is records.SseEvent:
            self.events.add([self._conn(record.conn), _round(record.ts), record.event[:100], record.id[:100],
                             record.data[:PREVIEW], len(record.data)])
        elif kind is records.Frame:
            if record.violations:
                self.violations.append([self._conn(record.conn), _round(record.ts), record.direction,
                                        ", ".join(record.violations)])
        elif kind is records.Handshake:
            self._conn(record.conn)
            self.handshakes.append(records.to_dict(record))
        elif kind is records.SseStream:
            self._conn(record.conn)
            self.streams.append(records.to_dict(record))
        elif kind is records.Connection:
            self._connection(record)
        elif kind is records.Pattern:
            self.patterns.append(record)
        elif kind is records.WarningRecord:
            self.warnings.append(records.to_dict(record))

    def write_many(self, batch: Iterable[Any]) -> None:
        for record in batch:
            self(record)

    def _message(self, m: records.Message) -> None:
        if m.text is not None:
            preview, is_text = m.text[:PREVIEW], 1
        else:
            preview, is_text = (m.data or "")[: PREVIEW * 2], 0
        cut = m.truncated or len(preview) < len(m.text if m.text is not None else m.data or "")
        flags = (1 if m.violations else 0) | (2 if not m.complete else 0) | (4 if cut else 0)
        self.messages.add([self._conn(m.conn), _round(m.ts), _DIRECTIONS.get(m.direction, 0), m.opcode_name,
                           m.length, preview, is_text, flags, m.close_code, ", ".join(m.violations)])

    def _connection(self, c: records.Connection) -> None:
        self._conn(c.conn)
        self.conns[c.conn].update(server=c.server, client=c.client, protocol=c.protocol, start=_round(c.ts_start),
                                  end=_round(c.ts_end), gaps=c.gaps, exchanges=c.exchanges,
                                  bytes_client=c.bytes_client, bytes_server=c.bytes_server)

    # -- HTML out ---------------------------------------------------------------------------------------

    def data(self) -> dict:
        """What the page's script reads (embedded as JSON)."""
        return {
            "conns": list(self.conns.values()),
            "exchanges": self.exchanges.rows,
            "exchanges_total": self.exchanges.seen,
            "messages": self.messages.rows,
            "messages_total": self.messages.seen,
            "messages_stride": self.messages.stride,
            "events": self.events.rows,
            "events_total": self.events.seen,
            "events_stride": self.events.stride,
            "handshakes": [[self.conns[h["conn"]]["index"], h["valid"], h["url"][:500]] for h in self.handshakes],
            "violations": self.violations[:100_000],
            "preview": PREVIEW,
        }

    def cards(self) -> list[dict]:
        """One card per endpoint: pattern, the figures that decided it, verdict, as-is vs push chart."""
        out = []
        for p in self.patterns:
            eff = p.efficiency or {}
            figures = [(name, value) for name, value in (
                ("requests", p.requests), ("interval", _s(p.interval_s)), ("interval cv", p.interval_cv),
                ("hold", _s(p.hold_s)), ("re-poll gap", _s(p.repoll_gap_s)), ("changed", _pct(p.changed_ratio)),
                ("empty", _pct(p.empty_ratio)), ("header bytes per body byte", p.header_bytes_per_body_byte),
                ("max concurrent", p.max_concurrent), ("duration", _s(p.duration_s)),
                ("framework", p.framework), ("transport", p.transport), ("upgrade", p.upgrade),
            ) if value is not None]
            chart = None
            if eff.get("poll_bytes") is not None and eff.get("push_bytes") is not None:
                chart = _chart(p.requests, eff)
            out.append({"endpoint": p.endpoint, "pattern": p.pattern, "reason": p.reason, "figures": figures,
                        "efficiency": [(k, v) for k, v in eff.items() if v is not None],
                        "verdict": verdict(p, self.thresholds), "chart": chart})
        return out

    def write(self, stream: IO[str]) -> None:
        import jinja2

        env = jinja2.Environment(
            loader=jinja2.PackageLoader("inspector.present", "templates"),
            autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        template = env.get_template("report.html.j2")
        groups: dict[str, list[dict]] = {}
        for c in self.conns.values():
            groups.setdefault(c["server"] or "(unknown server)", []).append(c)
        template.stream(
            title=self.title, version=__version__, generated=time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            data=embed_json(self.data()), cards=self.cards(), handshakes=self.handshakes, streams=self.streams,
            warnings=self.warnings, groups=groups, messages_total=self.messages.seen,
            messages_stride=self.messages.stride, events_total=self.events.seen, events_stride=self.events.stride,
            exchanges_total=self.exchanges.seen, exchanges_stride=self.exchanges.stride,
            script=_asset("report.js"), style=_asset("report.css"),
        ).dump(stream)


def _asset(name: str) -> str:
    from importlib.resources import files

    return files("inspector.present").joinpath("templates", name).read_text(encoding="utf-8")


def _s(value: float | None) -> str | None:
    return None if value is None else f"{value:.3f} s"


def _pct(value: float | None) -> str | None:
    return None if value is None else f"{value:.0%}"


def _chart(requests: int, eff: dict) -> dict:
    """Bars (0..1 of the larger value) for bytes and requests, as they are against push."""
    poll, push = eff.get("poll_bytes") or 0, eff.get("push_bytes") or 0
    useful = eff.get("useful") if eff.get("useful") is not None else requests
    top_bytes = max(poll, push, 1)
    top_requests = max(requests, 1)
    return {
        "bytes": [("bytes as is", poll, poll / top_bytes), ("bytes with push", push, push / top_bytes)],
        "requests": [("requests as is", requests, requests / top_requests),
                     ("push messages", useful, min(1.0, useful / top_requests))],
    }
