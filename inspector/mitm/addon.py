"""The live mitmproxy addon: every WebSocket, event stream and polling exchange through the proxy, as records.

Load it with ``mitmdump -s addons/inspector.py`` from a checkout, or ``mitmdump -s "$(inspector addon-path)"``
when the package is installed.  It adapts mitmproxy's hooks into `inspector.analysis.Analysis`, the pipeline
every source feeds, and writes the records (../shared/spec/records.md) to ``inspector_jsonl``.

- HTTP: each completed exchange (``response``/``error``) becomes an `Exchange`; the classifier sees it.
- Handshakes: every upgrade attempt is validated by `Analysis`: a 101 by `Analysis.websocket`, a refused
  one (403, 426, ..., or no response) when its exchange ends.
- Message mode (default): mitmproxy's WebSocket layer reassembles messages; ``websocket_message`` feeds
  each whole message, ``websocket_end`` the close.  mitmproxy re-frames and re-masks, so frame facts are
  not available here.
- Wire mode (``inspector_wire``): in the ``response`` hook of the 101 the addon sets ``flow.websocket = None``,
  so mitmproxy relays the upgraded connection as raw TCP (also what ``--set websocket=false`` does).  The
  TCP flow shares ``client_conn.id`` with its 101 flow; each ``tcp_message`` chunk goes to the frame decoder
  of its direction unchanged, so records show the original FIN/RSV/masking keys/fragments/violations.
- SSE: on ``responseheaders`` of a ``text/event-stream`` the body is streamed through a callable that feeds
  the SSE parser and returns every chunk unchanged, so events reach the client when sent and memory stays
  bounded.  A bounded copy of the stream's start (``inspector_sse_keep``) is kept for the content views.
- Summary: pattern records on ``done``, on the ``inspector.report`` command and every
  ``inspector_report_interval`` seconds.

Options (``--set name=value``; validated in ``configure``):

| option | default | meaning |
| --- | --- | --- |
| ``inspector_jsonl`` | none | JSON Lines file for the records (appended; ``-`` = stdout), written within 50 ms |
| ``inspector_wire`` | false | wire mode (above) |
| ``inspector_ws_keep`` | 100 | messages mitmproxy keeps per WebSocket/TCP flow (-1: all); records are unaffected |
| ``inspector_report_interval`` | 0 | seconds between pattern summaries (0: on exit and ``inspector.report`` only) |
| ``inspector_log`` | summary | ``summary`` (handshakes, closes, violations, warnings, streams, patterns), ``all`` (also a line per message and event), ``off`` |
| ``inspector_view_cap`` | 256 | characters/bytes of a payload in message records |
| ``inspector_max_message`` | 16 MiB | largest (inflated) WebSocket message analysed; also the cap for hashing decoded bodies |
| ``inspector_sse_max_line``, ``inspector_sse_max_event`` | 1 MiB, 4 MiB | SSE parser caps (bytes still pass) |
| ``inspector_sse_keep`` | 64 KiB | start of a streamed event stream kept in the flow for views and ``-w`` |
| ``inspector_thresholds`` | | classifier thresholds ``name=value,...`` (classify.Thresholds), read at startup |

Containment: every hook catches its own exceptions (`Inspector._fail`): an exception is logged once per
flow, the flow's analysis stops, and the flow itself goes on untouched.  The SSE stream callable returns
the chunk even if parsing fails.  mitmproxy keeps every WebSocket/TCP message of a flow;
``inspector_ws_keep`` trims those lists.  Log lines escape untrusted text (`inspector.present.escape.escape_terminal`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Optional

from mitmproxy import command, ctx, exceptions, http, tcp

from inspector import records as rec
from inspector.analysis import Analysis, Options
from inspector.app.base import APP_CAP
from inspector.app.session import body_decoder
from inspector.classify.classifier import Thresholds
from inspector.http.encoding import BodyDecoder
from inspector.mitm.convert import exchange_from_flow
from inspector.errors import InputError
from inspector.present.escape import escape_terminal
from inspector.present.jsonl import JsonlWriter

logger = logging.getLogger("inspector")

WS_KEEP_DEFAULT = 100
SSE_KEEP_DEFAULT = 65536
_FAILED_KEEP = 4096  # flow ids remembered as failed (bounded)
_LOG_TEXT = 60
_LOG_LEVELS = ("summary", "all", "off")
_VIOLATION_LINES = 10  # violation log lines per connection; the records have them all
FLUSH_INTERVAL = 0.05  # seconds a record may wait before it is written to inspector_jsonl  # characters of a payload shown in a log line


def _escape(text: str, limit: int = _LOG_TEXT) -> str:
    """Untrusted text for a log line: control characters and ANSI escapes made visible, truncated."""
    return escape_terminal(text[:limit]) + ("…" if len(text) > limit else "")


def _is_event_stream(response: http.Response) -> bool:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower() == "text/event-stream"


def _body_sha256(resp: http.Response, limit: int) -> str | None:
    """sha256 of the decoded body (the classifier's "changed" test), decoding at most ``limit`` bytes;
    for encodings not decoded here (br, zstd), of the body as sent.  None when over the limit or corrupt."""
    raw = resp.raw_content
    if raw is None:
        return None
    try:
        decoder = BodyDecoder.for_header(resp.headers.get("content-encoding"), cap=limit)
    except ValueError:
        return hashlib.sha256(raw).hexdigest()
    if decoder is None:
        return hashlib.sha256(raw).hexdigest() if len(raw) <= limit else None
    digest = hashlib.sha256()
    try:
        for piece in decoder.pieces(raw):
            digest.update(piece)
    except ValueError:
        return None
    return digest.hexdigest()


class Inspector:
    def __init__(self) -> None:
        self.analysis: Analysis | None = None
        self._file = None
        self._writer: JsonlWriter | None = None
        self._conns: dict[str, str] = {}  # mitmproxy client_conn.id -> record conn id
        self._conn_seq = 0
        self._exchanges: dict[str, Any] = {}  # flow.id -> exchange handle (streamed SSE)
        self._ws: dict[str, Any] = {}  # flow.id -> Analysis WebSocket handle (message mode)
        self._wire_pending: dict[str, http.HTTPFlow] = {}  # client_conn.id -> 101 flow handed to raw TCP
        self._wire: dict[str, Any] = {}  # tcp flow.id -> Analysis WebSocket handle
        self._failed: OrderedDict[str, None] = OrderedDict()
        self._report_task: asyncio.Task | None = None
        self._running = False  # the `running` hook has fired (the event loop is up)
        self._views: list = []
        self.counts: dict[str, int] = {}
        self._violation_lines: dict[str, int] = {}
        self._ws_keep = WS_KEEP_DEFAULT
        self._log_level = "summary"
        self._max_body = Options.max_message
        self._last_flush = 0.0
        self._flush_timer: asyncio.TimerHandle | None = None

    # --- options -------------------------------------------------------------------------------------

    def load(self, loader) -> None:
        loader.add_option(
            "inspector_jsonl", Optional[str], None, "Write inspector records as JSON Lines to this file ('-' = stdout)."
        )
        loader.add_option(
            "inspector_wire",
            bool,
            False,
            "Wire mode: relay upgraded WebSocket connections as raw TCP and decode the original frames "
            "(FIN, RSV, masking keys, fragments, violations). Bytes are forwarded unchanged.",
        )
        loader.add_option(
            "inspector_ws_keep",
            int,
            WS_KEEP_DEFAULT,
            "Keep at most this many messages per WebSocket/TCP flow in mitmproxy's memory (-1: keep all). "
            "Records are written regardless.",
        )
        loader.add_option(
            "inspector_report_interval",
            int,
            0,
            "Log the polling/pattern summary every N seconds (0: only on exit and on the inspector.report command).",
        )
        loader.add_option(
            "inspector_view_cap", int, 256, "Characters/bytes of a payload kept in message records and views."
        )
        loader.add_option(
            "inspector_max_message",
            int,
            Options.max_message,
            "Largest WebSocket message (after inflating) analysed, bytes; larger ones are cut (deflate bombs).",
        )
        loader.add_option(
            "inspector_sse_max_line",
            int,
            Options.sse_max_line,
            "Longest event-stream line buffered, bytes; longer lines are skipped (the bytes still pass).",
        )
        loader.add_option(
            "inspector_sse_max_event",
            int,
            Options.sse_max_event,
            "Largest event-stream event data buffered, bytes; larger events are dropped and counted.",
        )
        loader.add_option(
            "inspector_thresholds",
            str,
            "",
            "Classifier thresholds, 'name=value,...' (inspector.classify.classifier.Thresholds, e.g. long_poll_hold_s=2); "
            "read at startup.",
        )
        loader.add_option(
            "inspector_sse_keep",
            int,
            SSE_KEEP_DEFAULT,
            "Bytes of a streamed event stream kept in the flow (for content views and saved flows); 0: none.",
        )
        loader.add_option(
            "inspector_log",
            str,
            "summary",
            "Log lines: 'summary' (handshakes, closes, violations, warnings, patterns), 'all' (also a line per "
            "WebSocket message and SSE event; each log line costs mitmproxy ~0.1 ms) or 'off'.",
        )
        from inspector.mitm import contentviews

        self._views = contentviews.register()

    def configure(self, updated: set[str]) -> None:
        opts = ctx.options
        if "inspector_ws_keep" in updated and opts.inspector_ws_keep < -1:
            raise exceptions.OptionsError("inspector_ws_keep must be -1 (keep all) or a count >= 0")
        if "inspector_report_interval" in updated and not opts.inspector_report_interval >= 0:
            raise exceptions.OptionsError("inspector_report_interval must be >= 0 seconds")
        if "inspector_view_cap" in updated and opts.inspector_view_cap < 1:
            raise exceptions.OptionsError("inspector_view_cap must be >= 1")
        if "inspector_sse_keep" in updated and opts.inspector_sse_keep < 0:
            raise exceptions.OptionsError("inspector_sse_keep must be >= 0 bytes")
        if "inspector_log" in updated and opts.inspector_log not in _LOG_LEVELS:
            raise exceptions.OptionsError(f"inspector_log must be one of {', '.join(_LOG_LEVELS)}")
        for name in ("inspector_max_message", "inspector_sse_max_line", "inspector_sse_max_event"):
            if name in updated and getattr(opts, name) < 1:
                raise exceptions.OptionsError(f"{name} must be >= 1 byte")
        thresholds = self._thresholds(opts.inspector_thresholds)
        if "inspector_jsonl" in updated:
            self._open_jsonl(opts.inspector_jsonl)
        # Read per message on the hot path: mitmproxy's option access deep-copies the value each time.
        self._ws_keep = opts.inspector_ws_keep
        self._log_level = opts.inspector_log
        self._max_body = opts.inspector_max_message
        options = Options(
            view_cap=opts.inspector_view_cap,
            max_message=opts.inspector_max_message,
            sse_max_line=opts.inspector_sse_max_line,
            sse_max_event=opts.inspector_sse_max_event,
            thresholds=thresholds,
        )
        if self.analysis is None:
            self.analysis = Analysis(self._emit, source="live", options=options, on_warning=self._on_warning)
        else:
            if "inspector_thresholds" in updated:
                logger.warning("inspector_thresholds: the classifier keeps its thresholds until mitmproxy restarts")
            # Streams that start from now on use the new caps.
            self.analysis.options = dataclasses.replace(options, thresholds=self.analysis.options.thresholds)
        if "inspector_report_interval" in updated and self._running:
            self._start_report_task()

    def _open_jsonl(self, path: str | None) -> None:
        new_file = None
        if path == "-":
            new_file = sys.stdout.buffer
        elif path:
            target = Path(path).expanduser()
            if not target.parent.is_dir():
                raise exceptions.OptionsError(f"inspector_jsonl: directory {str(target.parent)!r} does not exist")
            try:
                new_file = open(target, "ab")
            except OSError as exc:
                raise exceptions.OptionsError(f"inspector_jsonl: cannot open {path!r}: {exc.strerror}") from None
        self._close_jsonl()
        self._file = new_file
        self._writer = JsonlWriter(new_file) if new_file is not None else None

    def _close_jsonl(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        if self._writer is not None:
            self._writer.flush()
        if self._file is not None and self._file is not sys.stdout.buffer:
            self._file.close()
        self._file = self._writer = None

    @staticmethod
    def _thresholds(spec: str) -> Thresholds:
        """``name=value,...`` -> classify.Thresholds (OptionsError naming the problem)."""
        pairs = {}
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, sep, value = item.partition("=")
            if not sep:
                raise exceptions.OptionsError(f"inspector_thresholds: {item!r} is not name=value")
            pairs[name.strip()] = value.strip()
        try:
            return Thresholds.from_mapping(pairs)
        except InputError as exc:
            raise exceptions.OptionsError(f"inspector_thresholds: {exc}") from None

    # --- lifecycle -----------------------------------------------------------------------------------

    def running(self) -> None:
        self._running = True
        self._start_report_task()

    def _start_report_task(self) -> None:
        """(Re)start the periodic report for the current ``inspector_report_interval`` (0: none)."""
        if self._report_task is not None:
            self._report_task.cancel()
            self._report_task = None
        interval = ctx.options.inspector_report_interval
        if interval > 0:
            self._report_task = asyncio.get_running_loop().create_task(self._report_loop(interval))

    async def _report_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.report()

    def done(self) -> None:
        if self._report_task is not None:
            self._report_task.cancel()
        try:
            if self.analysis is not None:
                for conn in list(self._conns):
                    self._end_conn(conn, None)
                self.analysis.finish()
                self._log_summary()
        except Exception:
            logger.exception("inspector: error while finishing the analysis")
        self._close_jsonl()
        from inspector.mitm import contentviews

        contentviews.unregister(self._views)
        self._views = []
        # A script reload calls done, then load/configure/running on this same instance: start afresh
        # (connection ids keep counting, so an appended JSONL file keeps them unique).
        self.analysis = None
        self._report_task = None
        self._running = False
        for state in (self._conns, self._exchanges, self._ws, self._wire, self._wire_pending, self._failed,
                      self.counts, self._violation_lines):
            state.clear()

    @command.command("inspector.report")
    def report(self) -> None:
        """Log the pattern summary now and write the current pattern records."""
        try:
            if self.analysis is not None:
                for pattern in self.analysis.classifier.patterns():
                    self._emit(pattern)
                self._flush()
                self._log_summary()
        except Exception:
            logger.exception("inspector: error while reporting")

    def _log_summary(self) -> None:
        if self._log_level == "off":
            return
        parts = [f"{n} {k}" for k, n in sorted(self.counts.items())]
        logger.info("inspector summary: " + (", ".join(parts) if parts else "no records"))

    # --- records out ---------------------------------------------------------------------------------

    def _emit(self, record) -> None:
        kind = type(record).__name__
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self._writer is not None:
            self._writer.write(record)
        level = self._log_level
        if level != "off":
            self._log_record(record, level == "all")

    def _on_warning(self, name: str, message: str) -> None:
        """First occurrence of a warning name (the WarningRecord with its count comes at the end)."""
        if self._log_level != "off":
            logger.warning(f"inspector warning {name}: {_escape(message, 200)}")

    def _flush(self) -> None:
        """Write pending records now if the last write is FLUSH_INTERVAL old, else within FLUSH_INTERVAL.

        A record reaches the file within FLUSH_INTERVAL seconds (at once when traffic is sparse), while
        a busy proxy writes a batch per interval rather than a syscall per message.
        """
        if self._writer is None:
            return
        now = time.monotonic()
        if now - self._last_flush >= FLUSH_INTERVAL:
            self._writer.flush()
            self._last_flush = now
        elif self._flush_timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._writer.flush()
                return
            self._flush_timer = loop.call_later(FLUSH_INTERVAL, self._timed_flush)

    def _timed_flush(self) -> None:
        self._flush_timer = None
        if self._writer is not None:
            self._writer.flush()
            self._last_flush = time.monotonic()

    def _violation_line(self, conn: str) -> bool:
        """Whether another violation line may be logged for ``conn`` (at most _VIOLATION_LINES each)."""
        n = self._violation_lines.get(conn, 0)
        if n > _VIOLATION_LINES:
            return False
        self._violation_lines[conn] = n + 1
        if n == _VIOLATION_LINES:
            logger.warning(f"ws {conn}: more violations, not logged (see the records)")
            return False
        return True

    def _log_record(self, r, everything: bool) -> None:
        if isinstance(r, rec.Message):
            if everything or r.opcode_name == "close" or (r.violations and self._violation_line(r.conn)):
                arrow = "→" if r.direction == "client" else "←"
                if r.opcode_name == "close" and r.close_code is None:
                    view = "(no status code)"
                elif r.opcode_name == "close":
                    view = f"{r.close_code} ({r.close_code_name or 'unregistered'}) \"{_escape(r.close_reason or '')}\""
                elif r.text is not None:
                    view = f'"{_escape(r.text)}"'
                else:
                    view = (r.data or "")[:32]
                flag = " deflate" if r.compressed else ""
                bad = f" VIOLATIONS {','.join(r.violations)}" if r.violations else ""
                logger.info(f"ws {r.conn} {arrow} {r.opcode_name} {r.length}B{flag} {view}{bad}")
        elif isinstance(r, rec.Frame):
            if r.violations and self._violation_line(r.conn):
                logger.warning(
                    f"ws {r.conn} {r.direction} frame #{r.index} opcode={r.opcode_name}: {', '.join(r.violations)}"
                )
        elif isinstance(r, rec.Handshake):
            if r.valid:
                ext = f" extensions={_escape(', '.join(r.extensions), 120)}" if r.extensions else ""
                proto = f" subprotocol={_escape(r.subprotocol, 60)}" if r.subprotocol else ""
                logger.info(f"ws handshake {r.conn} {_escape(r.url, 200)}: valid {r.status}{proto}{ext}")
            else:
                names = ", ".join(f.name for f in r.findings)
                logger.warning(f"ws handshake {r.conn} {_escape(r.url, 200)}: INVALID {r.status}: {names}")
        elif isinstance(r, rec.SseEvent):
            if everything:
                logger.info(f'sse {r.conn} event={_escape(r.event)} id={_escape(r.id)} data="{_escape(r.data)}"')
        elif isinstance(r, rec.Pattern):
            extra = "".join(
                f" {k}={v:.3g}" for k, v in (("interval_s", r.interval_s), ("hold_s", r.hold_s)) if v is not None
            )
            fw = f" ({r.framework})" if r.framework else ""
            logger.info(f"pattern {_escape(r.endpoint, 200)}: {r.pattern}{fw}, {r.requests} requests{extra}")
        elif isinstance(r, rec.WarningRecord):
            count = f" (x{r.count})" if r.count > 1 else ""
            logger.warning(f"inspector warning {r.name}: {_escape(r.message, 200)}{count}")
        elif isinstance(r, rec.Connection):
            self._violation_lines.pop(r.conn, None)
        elif isinstance(r, rec.SseStream):
            url = _escape(r.url or "", 120)
            line = f"sse stream {r.conn} {url}: {r.events} events, {r.comments} comments"
            if r.findings:
                logger.warning(f"{line}; {', '.join(f.name for f in r.findings)}")
            else:
                logger.info(line)

    # --- containment ---------------------------------------------------------------------------------

    def _failed_before(self, key: str) -> bool:
        return key in self._failed

    def _fail(self, key: str, where: str) -> None:
        """Log the current exception once for ``key`` (a flow id) and stop analysing that flow."""
        if key in self._failed:
            return
        self._failed[key] = None
        if len(self._failed) > _FAILED_KEEP:
            self._failed.popitem(last=False)
        logger.error(f"inspector: internal error in {where} for flow {key}; the flow goes on unanalysed", exc_info=True)
        self._exchanges.pop(key, None)
        self._ws.pop(key, None)
        self._wire.pop(key, None)

    # --- connections ---------------------------------------------------------------------------------

    def _conn(self, flow) -> str:
        """The record conn id of a flow's client connection; announces the connection on first sight."""
        client = flow.client_conn
        cid = self._conns.get(client.id)
        if cid is None:
            self._conn_seq += 1
            cid = self._conns[client.id] = f"c{self._conn_seq}"
            peer = client.peername
            server = flow.server_conn.address if flow.server_conn is not None else None
            if isinstance(flow, http.HTTPFlow):
                server = (flow.request.host, flow.request.port)
            self.analysis.connection(
                cid,
                client=f"{peer[0]}:{peer[1]}" if peer else None,
                server=f"{server[0]}:{server[1]}" if server else None,
                ts=client.timestamp_start,
            )
        return cid

    def _end_conn(self, client_id: str, ts: float | None) -> None:
        cid = self._conns.pop(client_id, None)
        if cid is not None:
            self._wire_pending.pop(client_id, None)
            self.analysis.connection_end(cid, ts)

    def client_disconnected(self, client) -> None:
        try:
            self._end_conn(client.id, client.timestamp_end or time.time())
            self._flush()
        except Exception:
            self._fail(client.id, "client_disconnected")

    # --- HTTP ------------------------------------------------------------------------------------------

    def _exchange(self, flow: http.HTTPFlow, streamed: bool = False) -> rec.Exchange:
        sha = None if (flow.response is None or streamed) else _body_sha256(flow.response, self._max_body)
        return exchange_from_flow(flow, self._conn(flow), streamed=streamed, response_sha256=sha)

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        if self._failed_before(flow.id) or flow.response is None or not _is_event_stream(flow.response):
            return
        if not flow.live:  # read from a file: the body is complete, `response` feeds it
            return
        try:
            self._stream_sse(flow)
        except Exception:
            self._fail(flow.id, "responseheaders")

    def _stream_sse(self, flow: http.HTTPFlow) -> None:
        resp = flow.response
        try:
            decoder = BodyDecoder.for_header(resp.headers.get("content-encoding"), cap=1 << 62)
        except ValueError as exc:
            self.analysis.warning("sse-encoding", f"{flow.request.pretty_url}: {exc}; events not parsed")
            return
        handle = self.analysis.begin_exchange(self._exchange(flow, streamed=True))
        self._exchanges[flow.id] = handle
        self._flush()
        keep = ctx.options.inspector_sse_keep
        kept = bytearray()
        total = [0]
        previous = resp.stream
        flow_id = flow.id

        def stream(data: bytes):
            if callable(previous):
                data = previous(data)
            try:
                if not data:  # end of the body: keep its start in the flow (views, saved flows)
                    if kept and resp.raw_content is None:
                        resp.raw_content = bytes(kept)
                        flow.metadata["inspector_sse_kept"] = f"first {len(kept)} of {total[0]} bytes"
                elif flow_id in self._exchanges:
                    now = time.time()
                    total[0] += len(data)
                    if len(kept) < keep:
                        kept.extend(data[: keep - len(kept)])
                    try:
                        for piece in decoder.pieces(data) if decoder is not None else (data,):
                            handle.body(piece, now)
                    except ValueError as exc:  # a corrupt compressed stream: stop parsing, keep relaying
                        self.analysis.warning("sse-encoding", f"{flow.request.pretty_url}: {exc}; parsing stopped")
                        self._exchanges.pop(flow_id, None)
                    self._flush()
            except Exception:
                self._fail(flow_id, "event-stream parser")
            return data

        stream.total = total  # type: ignore[attr-defined]
        resp.stream = stream

    def response(self, flow: http.HTTPFlow) -> None:
        if self._failed_before(flow.id):
            return
        try:
            self._response(flow)
            self._flush()
        except Exception:
            self._fail(flow.id, "response")

    def _response(self, flow: http.HTTPFlow) -> None:
        resp = flow.response
        handle = self._exchanges.pop(flow.id, None)
        if handle is not None:  # streamed event stream
            stream = resp.stream
            total = stream.total[0] if hasattr(stream, "total") else None
            handle.end(ts_end=resp.timestamp_end, response_body_bytes=total)
            return
        is_ws = resp.status_code == 101 and resp.headers.get("upgrade", "").lower() == "websocket"
        if is_ws and (flow.websocket is None or (ctx.options.inspector_wire and flow.live)):
            # Wire mode: mitmproxy relays the upgraded connection as raw TCP; tcp_start picks it up.  Also
            # for --set websocket=false and for such flows read from a file.  Script addons run before
            # mitmproxy's save addon, so -w then saves the 101 flow as a plain response.
            flow.websocket = None
            flow.metadata["inspector"] = "websocket-wire"
            self._wire_pending[flow.client_conn.id] = flow
            return
        if is_ws and flow.websocket is not None:
            return  # websocket_start creates the stream (and validates the handshake)
        # a refused upgrade (403, 426, ...) or a 101 that is not a WebSocket: Analysis validates it
        handle = self.analysis.begin_exchange(self._exchange(flow))
        app_body = body_decoder(
            flow.request.method, flow.request.pretty_url, resp.status_code, resp.headers.get("content-type")
        )
        if resp.raw_content and (_is_event_stream(resp) or app_body is not None):
            self._feed_body(flow, handle, sse=_is_event_stream(resp))
        handle.end(ts_end=resp.timestamp_end, response_body_bytes=len(resp.raw_content or b""))

    def _feed_body(self, flow: http.HTTPFlow, handle: Any, sse: bool) -> None:
        """A whole response body into Analysis: an event stream not streamed (replayed flows, or another
        addon), or the start of a body `inspector.app` decodes (a little past its cap, so it sees the cut;
        a corrupt encoding there already shows as the missing response_sha256)."""
        resp = flow.response
        fed = 0
        ts = resp.timestamp_end if sse else None  # no time for app-only bodies: the classifier's figures stay
        try:
            decoder = BodyDecoder.for_header(resp.headers.get("content-encoding"), cap=self._max_body)
            for piece in decoder.pieces(resp.raw_content) if decoder is not None else (resp.raw_content,):
                handle.body(piece, ts)
                fed += len(piece)
                if not sse and fed > APP_CAP:
                    break
        except ValueError as exc:
            if sse:
                self.analysis.warning("sse-encoding", f"{flow.request.pretty_url}: {exc}; events not parsed")

    def error(self, flow: http.HTTPFlow) -> None:
        if self._failed_before(flow.id):
            return
        try:
            handle = self._exchanges.pop(flow.id, None)
            if handle is None and flow.websocket is None:
                # an upgrade without a response (the server could not be reached): Analysis validates it
                handle = self.analysis.begin_exchange(self._exchange(flow))
            if handle is not None:
                handle.end(ts_end=flow.error.timestamp if flow.error else time.time(), response_body_bytes=None)
            self._flush()
        except Exception:
            self._fail(flow.id, "error")

    # --- WebSocket, message mode ----------------------------------------------------------------------

    def websocket_start(self, flow: http.HTTPFlow) -> None:
        if self._failed_before(flow.id):
            return
        try:
            exchange = self._exchange(flow)
            self._ws[flow.id] = self.analysis.websocket(exchange.conn, handshake=exchange, detected_by="handshake")
            self._flush()
        except Exception:
            self._fail(flow.id, "websocket_start")

    def websocket_message(self, flow: http.HTTPFlow) -> None:
        messages = flow.websocket.messages
        ws = self._ws.get(flow.id)
        if ws is not None:
            try:
                m = messages[-1]
                ws.message("client" if m.from_client else "server", int(m.type), m.content, m.timestamp)
                self._flush()
            except Exception:
                self._fail(flow.id, "websocket_message")
        keep = self._ws_keep
        if 0 <= keep < len(messages):
            del messages[: len(messages) - keep]

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        ws = self._ws.pop(flow.id, None)
        if ws is None:
            return
        try:
            data = flow.websocket
            # mitmproxy reports the close frame of the side that closed first (the other side's reply is
            # mitmproxy's own).  1006 means no close frame at all (the connection dropped); 1005 a close
            # frame without a status code.
            if data.close_code is not None and data.close_code != 1006:
                payload = b""
                if data.close_code != 1005:
                    payload = data.close_code.to_bytes(2, "big") + (data.close_reason or "").encode()
                ws.message("client" if data.closed_by_client else "server", 8, payload, data.timestamp_end)
            ws.end(data.timestamp_end or time.time())
            self._flush()
        except Exception:
            self._fail(flow.id, "websocket_end")

    # --- WebSocket, wire mode (raw TCP after the 101) --------------------------------------------------

    def tcp_start(self, flow: tcp.TCPFlow) -> None:
        hs_flow = self._wire_pending.pop(flow.client_conn.id, None)
        if hs_flow is None or self._failed_before(hs_flow.id):
            return
        try:
            exchange = self._exchange(hs_flow)
            flow.metadata["inspector"] = "websocket-wire"
            flow.metadata["inspector_handshake_flow"] = hs_flow.id
            flow.metadata["inspector_extensions"] = hs_flow.response.headers.get("sec-websocket-extensions")
            self._wire[flow.id] = self.analysis.websocket(exchange.conn, handshake=exchange, detected_by="handshake")
            self._flush()
        except Exception:
            self._fail(flow.id, "tcp_start")

    def tcp_message(self, flow: tcp.TCPFlow) -> None:
        messages = flow.messages
        m = messages[-1]
        if type(m.content) is bytearray:
            # mitmproxy hands over the bytes that arrived with a 101 as a bytearray, which its flow writer
            # (-w) cannot serialize; the same bytes as bytes (what is sent is unchanged).
            m.content = bytes(m.content)
        ws = self._wire.get(flow.id)
        if ws is not None:
            try:
                ws.data("client" if m.from_client else "server", m.content, m.timestamp)
                self._flush()
            except Exception:
                self._fail(flow.id, "tcp_message")
        keep = self._ws_keep
        if 0 <= keep < len(messages):
            del messages[: len(messages) - keep]
            flow.metadata["inspector_trimmed"] = True

    def tcp_end(self, flow: tcp.TCPFlow) -> None:
        ws = self._wire.pop(flow.id, None)
        if ws is None:
            return
        try:
            ws.end(flow.server_conn.timestamp_end or time.time())
            self._flush()
        except Exception:
            self._fail(flow.id, "tcp_end")

    tcp_error = tcp_end


addons = [Inspector()]
