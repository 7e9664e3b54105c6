"""Test harness for the live addon: a real mitmdump subprocess and real peers on 127.0.0.1.

`Mitmdump` starts ``mitmdump`` (``helpers.tools.require``: the running interpreter's own first, so the 3.11 venv
tests mitmproxy 11 and the 3.12 venv mitmproxy 12) on an ephemeral port, waits until it listens, and reads the JSON Lines the addon
writes while the proxy runs.  Peers:

- `WsServer`: a `websockets` server that records every message it receives and runs a script per connection;
- `HttpServer` (aiohttp): an event stream that sends event n+1 only after the client acknowledged event n
  through a separate request (the causal proof that nothing on the path buffers), short- and long-polling
  endpoints, and any extra routes a test adds;
- `RawServer` / `raw_ws_client`: TCP peers that do the upgrade by hand, then send bytes unchanged and
  record every byte they receive (wire-mode byte identity);
- `FrameRecorder`: the frames and masking keys websockets itself serializes (the truth for wire mode);
- `self_signed`: a certificate/key pair made with `cryptography`.

Everything binds 127.0.0.1 port 0.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import hashlib
import ipaddress
import json
import os
import re
import signal
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

from mitmproxy import contentviews as mcv

from helpers.tools import require

REPO = Path(__file__).resolve().parents[2]
ADDON = REPO / "addons" / "inspector.py"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_LISTENING = re.compile(r"listening at (?:http://)?\[?([0-9.:a-f]+)\]?:(\d+)")


class Mitmdump:
    """One mitmdump process.  ``mode`` is ``regular`` or ``reverse:http://127.0.0.1:PORT`` (any mitmproxy mode)."""

    def __init__(
        self,
        workdir: Path,
        mode: str = "regular",
        addon: bool = True,
        options: dict[str, Any] | None = None,
        args: list[str] | None = None,
        name: str = "mitm",
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.mode = mode
        self.addon = addon
        self.options = dict(options or {})
        self.args = list(args or [])
        self.confdir = self.workdir / "mitmconf"
        self.jsonl = self.workdir / f"{name}.jsonl"
        self.log_path = self.workdir / f"{name}.log"
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    def command(self) -> list[str]:
        cmd = [require("mitmdump"), "--listen-host", "127.0.0.1", "--listen-port", "0", "--mode", self.mode]
        cmd += ["--set", f"confdir={self.confdir}", "--set", "termlog_verbosity=info"]
        if self.addon:
            cmd += ["-s", str(ADDON), "--set", f"inspector_jsonl={self.jsonl}"]
        for key, value in self.options.items():
            if isinstance(value, bool):
                value = "true" if value else "false"
            cmd += ["--set", f"{key}={value}"]
        return cmd + self.args

    def start(self, timeout: float = 30) -> "Mitmdump":
        self._log = open(self.log_path, "wb")
        env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1")
        # A test must not inherit a proxy from the environment.
        for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            env.pop(var, None)
        self.proc = subprocess.Popen(
            self.command(), stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.log())
            if match:
                self.port = int(match.group(2))
                return self
            if self.proc.poll() is not None:
                raise RuntimeError(f"mitmdump exited with {self.proc.returncode}:\n{self.log()}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"mitmdump did not listen within {timeout}s:\n{self.log()}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def records(self, type_: str | None = None) -> list[dict]:
        try:
            text = self.jsonl.read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                break  # a line being written right now
            if type_ is None or rec.get("type") == type_:
                out.append(rec)
        return out

    async def await_for(self, predicate: Callable[[list[dict]], Any], timeout: float = 30) -> list[dict]:
        """Poll the JSONL (without blocking the test's event loop) until ``predicate(records)`` is true;
        the records written so far."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            if predicate(records):
                return records
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; records: {json.dumps(records)[:4000]}")
            await asyncio.sleep(0.05)

    def stop(self, timeout: float = 30) -> int | None:
        """SIGINT (mitmdump runs its ``done`` hooks), then wait; kill only if it hangs."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> "Mitmdump":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_mitmdump(args: list[str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """mitmdump to completion (e.g. ``-nr FILE``)."""
    return subprocess.run([require("mitmdump"), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


# --- TLS ---------------------------------------------------------------------------------------------


def self_signed(workdir: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` (IP SAN + DNS SAN); returns (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = workdir / "server-cert.pem", workdir / "server-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def server_ssl(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


def client_ssl(cafile: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(cafile))
    return ctx


# --- WebSocket peers -----------------------------------------------------------------------------------


class FrameRecorder:
    """Records every frame websockets serializes in this process, as the library sent it.

    websockets draws each masking key from ``secrets.token_bytes(4)`` inside ``Frame.serialize``; both are
    wrapped while installed.  Each entry: ``masked`` (client frames), ``fin``, ``opcode`` (from the library's
    frame object), ``rsv1`` (from the first byte it wrote, i.e. after permessage-deflate), ``key`` (the masking
    key it drew, or None) and ``data_len`` (payload length before extensions).
    """

    def __init__(self) -> None:
        self.frames: list[dict] = []

    def client(self) -> list[dict]:
        return [f for f in self.frames if f["masked"]]

    def server(self) -> list[dict]:
        return [f for f in self.frames if not f["masked"]]

    @contextlib.contextmanager
    def installed(self):
        import secrets

        import websockets.frames as wsframes

        original_serialize = wsframes.Frame.serialize
        drawn: list[bytes] = []

        class _Secrets:
            @staticmethod
            def token_bytes(n: int) -> bytes:
                value = secrets.token_bytes(n)
                drawn.append(value)
                return value

        recorder = self

        def serialize(frame, *, mask, extensions=None):
            drawn.clear()
            out = original_serialize(frame, mask=mask, extensions=extensions)
            recorder.frames.append(
                {
                    "masked": mask,
                    "fin": frame.fin,
                    "opcode": int(frame.opcode),
                    "rsv1": bool(out[0] & 0x40),
                    "key": drawn[-1].hex() if mask else None,
                    "data_len": len(frame.data),
                }
            )
            return out

        wsframes.secrets = _Secrets  # type: ignore[assignment]
        wsframes.Frame.serialize = serialize  # type: ignore[method-assign]
        try:
            yield self
        finally:
            wsframes.secrets = secrets  # type: ignore[assignment]
            wsframes.Frame.serialize = original_serialize  # type: ignore[method-assign]


class WsServer:
    """A websockets server recording what it receives; ``script(ws)`` coroutine runs after the handshake."""

    def __init__(self, script=None, ssl_context: ssl.SSLContext | None = None, compression: str | None = None):
        self.script = script
        self.ssl = ssl_context
        self.compression = compression
        self.received: list[str | bytes] = []
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.request_paths: list[str] = []
        self.done = asyncio.Event()

    async def _handler(self, ws) -> None:
        self.request_paths.append(ws.request.path)
        try:
            if self.script is not None:
                await self.script(ws, self)
            async for message in ws:
                self.received.append(message)
        except Exception:  # noqa: BLE001 - a peer's failure shows up as missing data in the test
            pass
        finally:
            self.close_code = ws.close_code
            self.close_reason = ws.close_reason
            self.done.set()

    async def __aenter__(self) -> "WsServer":
        from websockets.asyncio.server import serve

        self._server = await serve(
            self._handler, "127.0.0.1", 0, ssl=self.ssl, compression=self.compression, ping_interval=None
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"{'wss' if self.ssl else 'ws'}://127.0.0.1:{self.port}"


# --- HTTP peers (aiohttp) ----------------------------------------------------------------------------------


class HttpServer:
    """An aiohttp server with the SSE (causal) and polling endpoints, plus any extra routes."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, sse_events: int = 5, long_hold: float = 0.4):
        self.ssl = ssl_context
        self.sse_events = sse_events
        self.long_hold = long_hold
        self.acks: asyncio.Queue[int] = asyncio.Queue()
        self.sse_sent: list[bytes] = []
        self.poll_counter = 0
        self.extra_routes: list = []

    def sse_event_bytes(self, n: int) -> bytes:
        # A mix of fields: id, event type on odd events, multi-line data, a comment (heartbeat), retry once.
        parts = [b": heartbeat\n"] if n == 1 else []
        if n == 0:
            parts.append(b"retry: 1500\n")
        parts.append(f"id: {n}\n".encode())
        if n % 2:
            parts.append(b"event: tick\n")
        parts.append(f"data: event {n}\ndata: line two of {n}\n\n".encode())
        return b"".join(parts)

    async def _sse(self, request):
        from aiohttp import web

        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(request)
        for n in range(self.sse_events):
            chunk = self.sse_event_bytes(n)
            self.sse_sent.append(chunk)
            await resp.write(chunk)
            if n + 1 < self.sse_events:
                # The causal proof: the next event only after the client, through the proxy, got this one.
                while (await self.acks.get()) != n:
                    pass
        await resp.write_eof()
        return resp

    async def _ack(self, request):
        from aiohttp import web

        self.acks.put_nowait(int(request.query["n"]))
        return web.Response(text="ok")

    async def _short(self, request):
        from aiohttp import web

        self.poll_counter += 1
        # Mostly unchanged answers, as short polling usually gets.
        return web.json_response({"version": self.poll_counter // 3})

    async def _long(self, request):
        from aiohttp import web

        await asyncio.sleep(self.long_hold)
        self.poll_counter += 1
        return web.json_response({"update": self.poll_counter})

    async def __aenter__(self) -> "HttpServer":
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/events", self._sse)
        app.router.add_get("/ack", self._ack)
        app.router.add_get("/poll/short", self._short)
        app.router.add_get("/poll/long", self._long)
        for method, path, handler in self.extra_routes:
            app.router.add_route(method, path, handler)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def __aexit__(self, *exc) -> None:
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl else 'http'}://127.0.0.1:{self.port}"


async def read_sse_with_acks(
    session, events_url: str, ack_url: str, count: int, proxy: str | None, before_ack=None, **kw
) -> list[bytes]:
    """Read ``count`` events from ``events_url``, acknowledging each (by its ``id``) before reading on;
    ``await before_ack(n)`` runs between receiving event n and acknowledging it."""
    got: list[bytes] = []
    async with session.get(events_url, proxy=proxy, **kw) as resp:
        assert resp.status == 200, resp.status
        buf = b""
        while len(got) < count:
            chunk = await resp.content.readany()
            if not chunk:
                break
            buf += chunk
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                got.append(event + b"\n\n")
                n = int(re.search(rb"^id: (\d+)$", event, re.M).group(1))
                if before_ack is not None:
                    await before_ack(n)
                async with session.get(f"{ack_url}?n={n}", proxy=proxy, **kw) as ack:
                    assert ack.status == 200
        # Drain to the end of the stream.
        while await resp.content.readany():
            pass
    return got


# --- raw TCP peers --------------------------------------------------------------------------------------


def accept_for(key: bytes) -> bytes:
    """Sec-WebSocket-Accept, computed here independently of inspector.ws.handshake."""
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


class RawServer:
    """Answers the first HTTP request with a 101 (for its Sec-WebSocket-Key), then records every byte it gets
    and sends ``to_send`` (raw bytes, unchanged)."""

    def __init__(self, to_send: bytes = b"") -> None:
        self.to_send = to_send
        self.request = b""
        self.received = bytearray()
        self.closed = asyncio.Event()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.request = head
            key = re.search(rb"(?im)^sec-websocket-key:\s*(\S+)\s*$", head).group(1)
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                b"Sec-WebSocket-Accept: " + accept_for(key) + b"\r\n\r\n"
            )
            writer.write(self.to_send)
            await writer.drain()
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                self.received += data
        finally:
            writer.close()
            self.closed.set()

    async def __aenter__(self) -> "RawServer":
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self._server.close()
        await self._server.wait_closed()


async def raw_ws_client(
    host: str,
    port: int,
    to_send: bytes,
    expect_from_server: int,
    path: str = "/raw",
    absolute_host: str | None = None,
    timeout: float = 20,
    piece: int | None = None,
) -> tuple[bytes, bytes]:
    """A raw socket client: upgrade request, then ``to_send`` unchanged; returns (response head, bytes received
    after it, at least ``expect_from_server`` of them).  ``absolute_host`` makes an absolute-form request
    (regular proxy mode); ``piece`` sends ``to_send`` in writes of that many bytes."""
    reader, writer = await asyncio.open_connection(host, port)
    key = base64.b64encode(os.urandom(16))
    target = f"http://{absolute_host}{path}" if absolute_host else path
    writer.write(
        f"GET {target} HTTP/1.1\r\nHost: {absolute_host or f'{host}:{port}'}\r\n".encode()
        + b"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        + b"Sec-WebSocket-Key: " + key + b"\r\n\r\n"
    )
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    if piece:  # small writes with pauses: the proxy sees frames split across many reads
        for off in range(0, len(to_send), piece):
            writer.write(to_send[off : off + piece])
            await writer.drain()
            await asyncio.sleep(0.002)
    else:
        writer.write(to_send)
    await writer.drain()
    received = bytearray()
    while len(received) < expect_from_server:
        data = await asyncio.wait_for(reader.read(65536), timeout)
        if not data:
            break
        received += data
    writer.close()
    with contextlib.suppress(Exception):
        await writer.wait_closed()
    return head, bytes(received)


MITMPROXY_12 = hasattr(mcv, "Contentview")
