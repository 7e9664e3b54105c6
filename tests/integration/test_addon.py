"""The live addon in a real mitmdump process, in front of real peers on 127.0.0.1 (see tests/helpers/mitm.py).

Truth comes from the peers: what the websockets client/server sent (messages, and in wire mode the frames and
masking keys websockets serialized), what the raw TCP peers sent and received byte for byte, what the SSE
server sent.  The records are read from the addon's JSONL file while the proxy runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.mitm import (
    ADDON,
    REPO,
    FrameRecorder,
    HttpServer,
    Mitmdump,
    RawServer,
    WsServer,
    client_ssl,
    raw_ws_client,
    read_sse_with_acks,
    run_mitmdump,
    self_signed,
    server_ssl,
)
from helpers.offline import payload
from helpers.tools import require

pytestmark = pytest.mark.timeout(180)


def of(records: list[dict], type_: str, **match) -> list[dict]:
    return [r for r in records if r.get("type") == type_ and all(r.get(k) == v for k, v in match.items())]


def sha(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


# --- options --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "option, message",
    [
        ("inspector_ws_keep=-5", "inspector_ws_keep must be -1"),
        ("inspector_report_interval=-1", "inspector_report_interval must be >= 0"),
        ("inspector_jsonl=/nonexistent-dir/x.jsonl", "directory '/nonexistent-dir' does not exist"),
        ("inspector_log=loud", "inspector_log"),
    ],
)
def test_invalid_option_is_a_clear_error(tmp_path, option, message):
    result = run_mitmdump(["-n", "-s", str(ADDON), "--set", option], cwd=tmp_path, timeout=60)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert message in out
    # mitmproxy frames a script's configure error with the raising frames only: ours, nothing deeper
    assert all("/inspector/" in line for line in out.splitlines() if line.strip().startswith('File "'))


def test_script_loads_from_a_checkout_without_installation(tmp_path):
    """addons/inspector.py puts the repository on sys.path when ``inspector`` is not importable."""
    import mitmproxy

    probe = tmp_path / "probe.py"
    probe.write_text(
        "import importlib.util, runpy\n"
        "assert importlib.util.find_spec('inspector') is None\n"
        f"ns = runpy.run_path({str(ADDON)!r})\n"
        "print(type(ns['addons'][0]).__name__, ns['addons'][0].__module__)\n"
    )
    # -S: site-packages (and the editable install's .pth hook) are not processed; mitmproxy and the other
    # dependencies are found through PYTHONPATH, the repository only through the script's own fallback.
    site = str(Path(mitmproxy.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=site)
    result = subprocess.run(
        [sys.executable, "-S", str(probe)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Inspector inspector.mitm.addon"


def test_installed_addon_path_loads_in_mitmdump(tmp_path):
    """``mitmdump -s "$(inspector addon-path)"``: the printed script loads and registers the options."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "inspector"), "addon-path"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    path = Path(result.stdout.strip())
    assert path.is_file() and path.name == "addon.py"
    bad = run_mitmdump(["-n", "-s", str(path), "--set", "inspector_ws_keep=-7"], cwd=tmp_path, timeout=60)
    assert "inspector_ws_keep must be -1" in bad.stdout + bad.stderr  # the option exists, so the addon loaded


# --- WebSocket, message mode ------------------------------------------------------------------------------

CLIENT_TEXTS = ["hello from client", '{"op": "subscribe", "topics": ["a", "b"]}']
CLIENT_BINARY = bytes(range(256)) * 3
CLIENT_FRAGMENTS = ["frag-one ", "frag-two ", "frag-three"]
SERVER_TEXT = "welcome ☃"
SERVER_BINARY = b"\x00\xffserver-binary"
SERVER_JSON = '{"event": "tick", "n": 1}'


async def _server_script(ws, server):
    await ws.send(SERVER_TEXT)
    await ws.send(SERVER_BINARY)
    await ws.send(SERVER_JSON)
    await ws.send(["srv-a", "srv-b"])  # fragmented


async def _ws_client_session(url: str, *, proxy=None, ssl=None, compression=None, recorder=None):
    from websockets.asyncio.client import connect

    received = []
    async with connect(url, proxy=proxy, ssl=ssl, compression=compression, ping_interval=None) as ws:
        for _ in range(4):
            received.append(await ws.recv())
        for text in CLIENT_TEXTS:
            await ws.send(text)
        await ws.send(CLIENT_BINARY)
        await ws.send(CLIENT_FRAGMENTS)
        pong = await ws.ping(b"ping-payload")
        await asyncio.wait_for(pong, 20)
        await ws.close(4001, "bye now")
    return received


def _expected_client_messages():
    return [(t, "text") for t in CLIENT_TEXTS] + [(CLIENT_BINARY, "binary"), ("".join(CLIENT_FRAGMENTS), "text")]


def _check_messages(records, compression):
    handshakes = of(records, "handshake")
    assert len(handshakes) == 1
    hs = handshakes[0]
    assert hs["valid"] is True and hs["findings"] == [] and hs["status"] == 101
    assert hs["accept"] == hs["expected_accept"]
    assert any("permessage-deflate" in e for e in hs["extensions"]) is (compression == "deflate")

    client = [m for m in of(records, "message", direction="client") if m["opcode_name"] in ("text", "binary")]
    expected = _expected_client_messages()
    assert [(m["opcode_name"], m["length"], m["sha256"]) for m in client] == [
        (kind, len(p.encode() if isinstance(p, str) else p), sha(p)) for p, kind in expected
    ]
    assert client[0]["text"] == CLIENT_TEXTS[0]
    assert client[3]["text"] == "".join(CLIENT_FRAGMENTS)

    server = [m for m in of(records, "message", direction="server") if m["opcode_name"] in ("text", "binary")]
    assert [(m["opcode_name"], m["sha256"]) for m in server] == [
        ("text", sha(SERVER_TEXT)),
        ("binary", sha(SERVER_BINARY)),
        ("text", sha(SERVER_JSON)),
        ("text", sha("srv-asrv-b")),
    ]
    assert server[0]["text"] == SERVER_TEXT

    closes = of(records, "message", opcode_name="close")
    assert closes and closes[0]["direction"] == "client"
    assert closes[0]["close_code"] == 4001 and closes[0]["close_reason"] == "bye now"


@pytest.mark.parametrize("compression", [None, "deflate"])
@pytest.mark.parametrize("proxy_mode", ["reverse", "regular"])
def test_websocket_messages(tmp_path, proxy_mode, compression):
    async def scenario():
        async with WsServer(_server_script, compression=compression) as server:
            mode = f"reverse:http://127.0.0.1:{server.port}" if proxy_mode == "reverse" else "regular"
            with Mitmdump(tmp_path, mode=mode, options={"inspector_log": "all"}) as mitm:
                if proxy_mode == "reverse":
                    url, proxy = f"ws://127.0.0.1:{mitm.port}/chat", None
                else:
                    url, proxy = f"{server.url}/chat", mitm.url
                received = await _ws_client_session(url, proxy=proxy, compression=compression)
                await asyncio.wait_for(server.done.wait(), 20)
                records = await mitm.await_for(lambda r: of(r, "message", opcode_name="close"))
                log = mitm.log()
            return received, server, records, log

    received, server, records, log = asyncio.run(scenario())
    # The peers got what the other side sent (the proxy relayed everything).
    assert received == [SERVER_TEXT, SERVER_BINARY, SERVER_JSON, "srv-asrv-b"]
    assert server.received == [*CLIENT_TEXTS, CLIENT_BINARY, "".join(CLIENT_FRAGMENTS)]
    assert server.close_code == 4001 and server.close_reason == "bye now"
    _check_messages(records, compression)
    assert server.request_paths == ["/chat"]
    assert "ws handshake" in log and "hello from client" in log


@pytest.mark.parametrize("proxy_mode", ["reverse", "regular"])
def test_websocket_over_tls(tmp_path, proxy_mode):
    cert, key = self_signed(tmp_path)

    async def scenario():
        async with WsServer(_server_script, ssl_context=server_ssl(cert, key)) as server:
            mode = f"reverse:https://127.0.0.1:{server.port}" if proxy_mode == "reverse" else "regular"
            with Mitmdump(tmp_path, mode=mode, options={"ssl_insecure": True}) as mitm:
                ssl_ctx = client_ssl(mitm.ca_file)
                if proxy_mode == "reverse":
                    url, proxy = f"wss://127.0.0.1:{mitm.port}/secure", None
                else:
                    url, proxy = f"{server.url}/secure", mitm.url
                received = await _ws_client_session(url, proxy=proxy, ssl=ssl_ctx)
                await asyncio.wait_for(server.done.wait(), 20)
                records = await mitm.await_for(lambda r: of(r, "message", opcode_name="close"))
            return received, server, records

    received, server, records = asyncio.run(scenario())
    assert received[0] == SERVER_TEXT
    assert server.received[-1] == "".join(CLIENT_FRAGMENTS)
    _check_messages(records, None)
    assert of(records, "handshake")[0]["url"].startswith("https://127.0.0.1")


def test_dropped_websocket_connection_reports_no_close_frame(tmp_path):
    """The server drops the TCP connection without a close frame (mitmproxy reports 1006): the records
    have the messages and the end of the connection, and no invented close message."""

    async def script(ws, server):
        await ws.send("last words")
        ws.transport.abort()

    async def scenario():
        from websockets.asyncio.client import connect

        async with WsServer(script) as server:
            with Mitmdump(tmp_path, mode=f"reverse:http://127.0.0.1:{server.port}") as mitm:
                async with connect(f"ws://127.0.0.1:{mitm.port}/", ping_interval=None) as ws:
                    assert await ws.recv() == "last words"
                    with pytest.raises(Exception):
                        await ws.recv()
                records = await mitm.await_for(lambda r: of(r, "connection", protocol="websocket"))
                return records

    records = asyncio.run(scenario())
    assert [m["text"] for m in of(records, "message")] == ["last words"]
    assert not of(records, "message", opcode_name="close")


def test_ws_keep_trims_mitmproxy_message_list(tmp_path):
    """With inspector_ws_keep=2 a long session keeps 2 messages in flow.websocket.messages (checked by a probe
    script loaded after the addon), while every message still becomes a record."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import logging\n"
        "class Probe:\n"
        "    def websocket_message(self, flow):\n"
        "        logging.getLogger('probe').info(f'probe-kept={len(flow.websocket.messages)}')\n"
        "addons = [Probe()]\n"
    )

    async def script(ws, server):
        for i in range(30):
            await ws.send(f"m{i}")

    async def scenario():
        from websockets.asyncio.client import connect

        async with WsServer(script) as server:
            with Mitmdump(tmp_path, mode=f"reverse:http://127.0.0.1:{server.port}",
                          options={"inspector_ws_keep": 2}, args=["-s", str(probe)]) as mitm:
                async with connect(f"ws://127.0.0.1:{mitm.port}/", ping_interval=None) as ws:
                    for _ in range(30):
                        await ws.recv()
                records = await mitm.await_for(lambda r: len(of(r, "message", direction="server")) >= 30)
                return records, mitm.log()

    records, log = asyncio.run(scenario())
    assert [m["text"] for m in of(records, "message", direction="server")][:30] == [f"m{i}" for i in range(30)]
    kept = [int(x.split("probe-kept=")[1].split()[0]) for x in log.splitlines() if "probe-kept=" in x]
    assert len(kept) >= 30 and max(kept) <= 3  # the probe runs after the addon trimmed to 2 (+ none appended)


def test_script_reload_starts_a_fresh_analysis(tmp_path):
    """mitmproxy reloads a script when its file changes (done, then load/configure/running on the same
    instance when loaded from the checkout): records keep flowing into the same file, ids stay unique."""
    script = tmp_path / "inspector_copy.py"
    script.write_text(ADDON.read_text())

    async def session(port: int, text: str) -> None:
        from websockets.asyncio.client import connect

        async with connect(f"ws://127.0.0.1:{port}/r", ping_interval=None) as ws:
            await ws.send(text)
            await ws.recv()

    async def echo(ws, server):
        async for message in ws:
            await ws.send(message)

    async def scenario():
        async with WsServer(echo) as server:
            mitm = Mitmdump(tmp_path, mode=f"reverse:http://127.0.0.1:{server.port}", addon=False,
                            args=["-s", str(script), "--set", f"inspector_jsonl={tmp_path / 'mitm.jsonl'}"])
            with mitm:
                await session(mitm.port, "before reload")
                await mitm.await_for(lambda r: of(r, "message", text="before reload", direction="server"))
                os.utime(script, (time.time() + 5, time.time() + 5))
                deadline = time.monotonic() + 30
                while mitm.log().count("Loading script") < 2 and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                await session(mitm.port, "after reload")
                records = await mitm.await_for(lambda r: of(r, "message", text="after reload", direction="server"))
                return records, mitm.log()

    records, log = asyncio.run(scenario())
    assert log.count("Loading script") >= 2
    handshakes = of(records, "handshake")
    assert len(handshakes) == 2 and handshakes[0]["conn"] != handshakes[1]["conn"]
    assert "Traceback" not in log and "error" not in log.lower()


def test_log_lines_escape_terminal_control_sequences(tmp_path):
    """Payloads are untrusted: ANSI escapes and control characters reach the log only as visible escapes."""
    evil = "\x1b[31mred\x1b[0m \x07bell \u202eevil"

    async def script(ws, server):
        await ws.send(evil)
        await ws.close(4000, "\x1b[2J")

    async def scenario():
        from websockets.asyncio.client import connect

        async with WsServer(script) as server:
            with Mitmdump(tmp_path, mode=f"reverse:http://127.0.0.1:{server.port}",
                          options={"inspector_log": "all"}) as mitm:
                async with connect(f"ws://127.0.0.1:{mitm.port}/", ping_interval=None) as ws:
                    assert await ws.recv() == evil
                    with pytest.raises(Exception):
                        await ws.recv()
                records = await mitm.await_for(lambda r: of(r, "message", opcode_name="close"))
                return records, mitm.log()

    records, log = asyncio.run(scenario())
    assert of(records, "message", direction="server")[0]["text"] == evil  # the record keeps the real text
    ours = "\n".join(line for line in log.splitlines() if "] ws c" in line or "] ws handshake" in line)
    assert "\\x1b[31mred" in ours and "4000 (Private Use)" in ours
    # (mitmproxy's own "Error in WebSocket connection" line prints the close reason raw; not ours)
    assert "\x1b" not in ours and "\x07" not in ours and "\u202e" not in ours


# --- failed upgrade attempts --------------------------------------------------------------------------------

REFUSALS = {
    "/forbidden": b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
    "/upgrade-required": b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n",
    "/bad-accept": (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: dGhpcyBpcyBub3QgaXQ=\r\n\r\n"
    ),
    "/no-key": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
}


async def _refusing_server(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    path = head.split(b" ", 2)[1].decode()
    writer.write(REFUSALS[path])
    await writer.drain()
    if path == "/bad-accept":
        await reader.read()  # keep the "WebSocket" open until the client closes
    writer.close()


async def _upgrade_attempt(port: int, path: str, key: bool = True) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Version: 13\r\n".encode()
        + (b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" if key else b"")
        + b"\r\n"
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
    writer.close()
    return head


def test_failed_upgrade_attempts_are_handshake_records(tmp_path):
    async def scenario():
        server = await asyncio.start_server(_refusing_server, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:
            with Mitmdump(tmp_path, mode=f"reverse:http://127.0.0.1:{port}") as mitm:
                heads = {path: await _upgrade_attempt(mitm.port, path, key=path != "/no-key") for path in REFUSALS}
                records = await mitm.await_for(lambda r: len(of(r, "handshake")) >= 4)
                return heads, records, mitm.log()
        finally:
            server.close()

    heads, records, log = asyncio.run(scenario())
    assert heads["/forbidden"].startswith(b"HTTP/1.1 403") and heads["/upgrade-required"].startswith(b"HTTP/1.1 426")
    by_path = {h["url"].rsplit("/", 1)[-1]: h for h in of(records, "handshake")}
    expected = {"forbidden": 403, "upgrade-required": 426, "bad-accept": 101, "no-key": 400}
    assert {p: (h["valid"], h["status"]) for p, h in by_path.items()} == {p: (False, st) for p, st in expected.items()}
    names = {p: {f["name"] for f in h["findings"]} for p, h in by_path.items()}
    assert "unexpected-status" in names["forbidden"]
    assert "version-not-supported" in names["upgrade-required"]  # 426 + Sec-WebSocket-Version (RFC 6455 4.4)
    assert "accept-mismatch" in names["bad-accept"]
    assert by_path["bad-accept"]["expected_accept"] == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 1.3's example
    assert "request-key-missing" in names["no-key"]
    assert log.count("INVALID") == 4  # one log line per attempt


def test_upgrade_to_an_unreachable_server_is_a_handshake_record(tmp_path):
    async def scenario():
        closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        dead_port = closed.sockets[0].getsockname()[1]
        closed.close()
        await closed.wait_closed()
        with Mitmdump(tmp_path, mode="regular") as mitm:
            reader, writer = await asyncio.open_connection("127.0.0.1", mitm.port)
            writer.write(
                f"GET http://127.0.0.1:{dead_port}/gone HTTP/1.1\r\nHost: 127.0.0.1:{dead_port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n".encode()
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 20)
            writer.close()
            records = await mitm.await_for(lambda r: of(r, "handshake"))
            return head, records

    head, records = asyncio.run(scenario())
    assert head.startswith(b"HTTP/1.1 502")
    hs = of(records, "handshake")[0]
    assert hs["valid"] is False and hs["status"] is None
    assert "no-response" in {f["name"] for f in hs["findings"]}
    assert of(records, "exchange", status=None)


# --- WebSocket, wire mode ------------------------------------------------------------------------------


@pytest.mark.parametrize("compression, tls", [(None, False), ("deflate", False), ("deflate", True)])
def test_wire_mode_reports_original_frames(tmp_path, compression, tls):
    recorder = FrameRecorder()
    cert_key = self_signed(tmp_path) if tls else None

    async def scenario():
        ssl_server = server_ssl(*cert_key) if tls else None
        async with WsServer(_server_script, compression=compression, ssl_context=ssl_server) as server:
            with Mitmdump(tmp_path, mode="regular", options={"inspector_wire": True, "ssl_insecure": True}) as mitm:
                ssl_client = client_ssl(mitm.ca_file) if tls else None
                with recorder.installed():
                    received = await _ws_client_session(
                        f"{server.url}/wire", proxy=mitm.url, ssl=ssl_client, compression=compression
                    )
                    await asyncio.wait_for(server.done.wait(), 20)
                records = await mitm.await_for(
                    lambda r: len(of(r, "frame", direction="client")) >= len(recorder.client())
                    and len(of(r, "frame", direction="server")) >= len(recorder.server())
                )
            return received, server, records

    received, server, records = asyncio.run(scenario())
    assert received == [SERVER_TEXT, SERVER_BINARY, SERVER_JSON, "srv-asrv-b"]
    assert server.received == [*CLIENT_TEXTS, CLIENT_BINARY, "".join(CLIENT_FRAGMENTS)]
    for direction, sent in (("client", recorder.client()), ("server", recorder.server())):
        frames = of(records, "frame", direction=direction)
        assert [
            (f["fin"], f["opcode"], f["rsv1"], f["masked"], f["masking_key"]) for f in frames
        ] == [(s["fin"], s["opcode"], s["rsv1"], s["masked"], s["key"]) for s in sent], direction
        assert [f["index"] for f in frames] == list(range(len(frames)))
        assert all(f["violations"] == [] for f in frames)
        if compression is None:
            assert [f["payload_len"] for f in frames] == [s["data_len"] for s in sent]
    # Fragment boundaries as sent: text FIN=0, continuations, final FIN=1.
    client_frames = of(records, "frame", direction="client")
    assert any(f["opcode"] == 0 for f in client_frames)
    if compression:
        assert any(f["rsv1"] for f in client_frames)
    _check_messages(records, compression)
    # the 101 flow and the TCP flow are one connection in the records
    assert {f["conn"] for f in of(records, "frame")} == {of(records, "handshake")[0]["conn"]}


def _client_frame(opcode: int, payload: bytes, key: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    """A masked client frame built by hand (test-local, independent of inspector.ws.schema)."""
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head + key + masked


def _server_frame(opcode: int, payload: bytes, fin: bool = True, rsv: int = 0) -> bytes:
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    head += bytes([n]) if n < 126 else bytes([126]) + struct.pack("!H", n)
    return head + payload


KEYS = [bytes([0x11, 0x22, 0x33, i]) for i in range(8)]
CLIENT_WIRE = (
    _client_frame(1, b"part-1 ", KEYS[0], fin=False)
    + _client_frame(9, b"ping!", KEYS[1])  # control frame between fragments
    + _client_frame(0, b"part-2", KEYS[2], fin=True)
    + _client_frame(2, os.urandom(300), KEYS[3])  # 16-bit length
    + _client_frame(1, b"rsv2 set", KEYS[4], rsv=0x20)  # violation: rsv-without-extension
    + _client_frame(8, struct.pack("!H", 1000) + b"done", KEYS[5])
)
SERVER_WIRE = (
    _server_frame(1, b"hello")
    + _server_frame(2, bytes(200))
    + _server_frame(0xB, b"reserved")  # violation: reserved-opcode
    + _server_frame(8, struct.pack("!H", 1001) + b"going")
)


async def _raw_session(mitm: Mitmdump, server: RawServer, regular: bool = False, piece: int | None = None):
    absolute = f"127.0.0.1:{server.port}" if regular else None
    head, got = await raw_ws_client(
        "127.0.0.1", mitm.port, CLIENT_WIRE, len(SERVER_WIRE), absolute_host=absolute, piece=piece
    )
    await asyncio.wait_for(server.closed.wait(), 20)
    return head, got, bytes(server.received)


@pytest.mark.parametrize("proxy_mode, piece", [("reverse", None), ("regular", None), ("reverse", 7)])
def test_wire_mode_forwards_bytes_unchanged(tmp_path, proxy_mode, piece):
    """What each raw peer receives equals what the other sent: with the addon in wire mode, and with plain
    mitmdump relaying the upgrade as TCP (``--set websocket=false``, no addon).  With ``piece`` the client
    writes 7 bytes at a time, so frames arrive split across many ``tcp_message`` chunks."""

    async def scenario(addon: bool):
        async with RawServer(SERVER_WIRE) as server:
            mode = f"reverse:http://127.0.0.1:{server.port}" if proxy_mode == "reverse" else "regular"
            options = {"inspector_wire": True} if addon else {"websocket": False}
            with Mitmdump(tmp_path / f"addon-{addon}", mode=mode, addon=addon, options=options) as mitm:
                head, got, server_got = await _raw_session(mitm, server, proxy_mode == "regular", piece)
                records = await mitm.await_for(lambda r: of(r, "frame")) if addon else []
                if addon:
                    records = await mitm.await_for(
                        lambda r: len(of(r, "frame", direction="client")) >= 6
                        and len(of(r, "frame", direction="server")) >= 4
                    )
                log = mitm.log()
            return head, got, server_got, records, log

    head, got, server_got, records, log = asyncio.run(scenario(True))
    _, got_plain, server_got_plain, _, _ = asyncio.run(scenario(False))
    assert head.startswith(b"HTTP/1.1 101")
    assert got == SERVER_WIRE == got_plain
    assert server_got == CLIENT_WIRE == server_got_plain

    client = of(records, "frame", direction="client")
    assert [f["masking_key"] for f in client] == [k.hex() for k in KEYS[:6]]
    assert [(f["fin"], f["opcode"]) for f in client] == [(False, 1), (True, 9), (True, 0), (True, 2), (True, 1), (True, 8)]
    assert client[3]["payload_len"] == 300 and client[3]["length_encoding"] == "16bit"
    assert "rsv-without-extension" in client[4]["violations"]
    server = of(records, "frame", direction="server")
    assert [f["masked"] for f in server] == [False] * 4
    assert "reserved-opcode" in server[2]["violations"]
    texts = [m.get("text") for m in of(records, "message", direction="client")]
    assert "part-1 part-2" in texts
    assert "internal error" not in log


def test_wire_mode_garbage_after_101_keeps_connection(tmp_path):
    """Garbage (not frames) after the 101, both ways: relayed unchanged, violations reported, no addon error."""
    garbage_c = b"\xff" * 10 + b"GET / HTTP/1.1\r\n\r\n" + bytes(range(256))
    garbage_s = bytes([0x81, 0x7F]) + b"\xff" * 8 + b"tail"  # length with MSB set, then truncated

    async def scenario():
        async with RawServer(garbage_s) as server:
            with Mitmdump(tmp_path, mode=f"reverse:http://127.0.0.1:{server.port}",
                          options={"inspector_wire": True}) as mitm:
                head, got = await raw_ws_client("127.0.0.1", mitm.port, garbage_c, len(garbage_s))
                await asyncio.wait_for(server.closed.wait(), 20)
                mitm.stop()
                return got, bytes(server.received), mitm.records(), mitm.log()

    got, server_got, records, log = asyncio.run(scenario())
    assert got == garbage_s and server_got == garbage_c
    frames = of(records, "frame")
    assert any(f["violations"] for f in frames)
    assert "internal error" not in log and "Traceback" not in log


# --- error containment ------------------------------------------------------------------------------------

FAULT_SCRIPT = """
# Loaded after the addon: the addon's record writer raises on chosen records (fault injection).
import inspector.mitm.addon as addon_mod

inspector = addon_mod.addons[0]


class FaultyWriter:
    def __init__(self, inner):
        self.inner = inner

    def write(self, record):
        text = getattr(record, "text", None) or getattr(record, "data", None) or ""
        if isinstance(text, str) and "BOOM" in text:
            raise RuntimeError("injected fault")
        self.inner.write(record)

    def flush(self):
        self.inner.flush()


inspector.output.writer = FaultyWriter(inspector.output.writer)
addons = []
"""


def test_addon_exception_does_not_break_flows(tmp_path):
    """An exception inside the addon (injected for one WebSocket message and one SSE event) is logged once
    per flow; the connections go on, bytes unchanged, other flows are still analysed."""
    fault = tmp_path / "fault.py"
    fault.write_text(FAULT_SCRIPT)

    async def ws_script(ws, server):
        for text in ("BOOM 1", "after boom", "BOOM 2"):
            await ws.send(text)

    async def scenario():
        import aiohttp
        from websockets.asyncio.client import connect

        async with WsServer(ws_script) as server, HttpServer(sse_events=4) as http:
            with Mitmdump(tmp_path, mode="regular", args=["-s", str(fault)]) as mitm:
                async with connect(f"{server.url}/x", proxy=mitm.url, ping_interval=None) as ws:
                    got = [await ws.recv() for _ in range(3)]
                    await ws.send("client after boom")
                async with aiohttp.ClientSession() as session:
                    http.sse_event_bytes = lambda n: f"id: {n}\ndata: {'BOOM' if n == 1 else 'ok'} {n}\n\n".encode()
                    events = await read_sse_with_acks(session, f"{http.url}/events", f"{http.url}/ack", 4, mitm.url)
                    async with session.get(f"{http.url}/poll/short", proxy=mitm.url) as resp:
                        assert resp.status == 200
                await asyncio.wait_for(server.done.wait(), 20)
                records = await mitm.await_for(lambda r: of(r, "exchange", url=f"{http.url}/poll/short"))
                return got, server.received, events, records, mitm.log()

    got, server_received, events, records, log = asyncio.run(scenario())
    assert got == ["BOOM 1", "after boom", "BOOM 2"]
    assert server_received == ["client after boom"]
    assert [e.split(b"\n")[1] for e in events] == [b"data: ok 0", b"data: BOOM 1", b"data: ok 2", b"data: ok 3"]
    assert log.count("internal error") == 2  # once for the WebSocket flow, once for the SSE flow
    assert "injected fault" in log
    assert of(records, "exchange", status=200)  # later flows still analysed


# --- SSE ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("proxy_mode", ["reverse", "regular"])
def test_sse_events_pass_through_live(tmp_path, proxy_mode, tls):
    """Causal proof: the server sends event n+1 only after the client (through the proxy) acknowledged event n,
    so the test can only finish if the proxy passes each event on as it arrives.  Each sse_event record is in
    the JSONL before the client acknowledges, i.e. records are written live."""
    ssl_ctx = None
    if tls:
        cert, key = self_signed(tmp_path)
        ssl_ctx = server_ssl(cert, key)

    async def scenario():
        import aiohttp

        async with HttpServer(ssl_context=ssl_ctx, sse_events=5) as server:
            mode = f"reverse:{server.url}" if proxy_mode == "reverse" else "regular"
            with Mitmdump(tmp_path, mode=mode, options={"ssl_insecure": True}) as mitm:
                if proxy_mode == "reverse":
                    base, proxy = f"{'https' if tls else 'http'}://127.0.0.1:{mitm.port}", None
                else:
                    base, proxy = server.url, mitm.url
                kw = {"ssl": client_ssl(mitm.ca_file)} if tls else {}
                seen_live = []

                async def before_ack(n: int) -> None:
                    # The server is blocked until this ack: the record must be written by now (or soon).
                    await mitm.await_for(lambda r: of(r, "sse_event", id=str(n)), timeout=20)
                    seen_live.append(n)

                async with aiohttp.ClientSession() as session:
                    got = await asyncio.wait_for(
                        read_sse_with_acks(session, f"{base}/events", f"{base}/ack", 5, proxy, before_ack, **kw), 90
                    )
                records = await mitm.await_for(lambda r: of(r, "sse_stream"))
            return got, server.sse_sent, records, seen_live

    got, sent, records, seen_live = asyncio.run(scenario())
    assert b"".join(got).replace(b": heartbeat\n", b"") == b"".join(sent).replace(b": heartbeat\n", b"")
    events = of(records, "sse_event")
    assert [(e["event"], e["data"], e["id"]) for e in events] == [
        ("tick" if n % 2 else "message", f"event {n}\nline two of {n}", str(n)) for n in range(5)
    ]
    assert all(e["retry"] == 1500 for e in events)
    # each event's record was written while the server waited for the ack, i.e. live
    assert seen_live == [0, 1, 2, 3, 4]
    stream = of(records, "sse_stream")[0]
    assert stream["events"] == 5 and stream["comments"] == 1


def test_sse_over_http2_is_streamed_live(tmp_path):
    """curl speaks HTTP/2 to mitmproxy (TLS, ALPN h2); the server sends 3 events and then holds the stream
    open until the test has seen them at the client and in the records: nothing waits for the end."""
    curl_path = require("curl")
    cert, key = self_signed(tmp_path)
    out = tmp_path / "curl.out"

    async def scenario():
        from aiohttp import web

        release = asyncio.Event()

        async def stream(request):
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
            await resp.prepare(request)
            for n in range(3):
                await resp.write(f"id: {n}\ndata: h2 event {n}\n\n".encode())
            await release.wait()
            await resp.write_eof()
            return resp

        server = HttpServer(ssl_context=server_ssl(cert, key))
        server.extra_routes = [("GET", "/h2events", stream)]
        async with server:
            # lazy: mitmproxy negotiates ALPN with the client before it connects upstream, so the client side
            # is HTTP/2 although the aiohttp server speaks HTTP/1.1
            options = {"ssl_insecure": True, "connection_strategy": "lazy"}
            with Mitmdump(tmp_path, mode="regular", options=options) as mitm:
                curl = await asyncio.create_subprocess_exec(
                    curl_path, "-sSN", "--http2", "--proxy", mitm.url, "--cacert", str(mitm.ca_file),
                    "-o", str(out), f"{server.url}/h2events",
                )
                try:
                    records = await mitm.await_for(lambda r: len(of(r, "sse_event")) == 3)
                    deadline = time.monotonic() + 20
                    while (not out.exists() or out.read_bytes().count(b"\n\n") < 3) and time.monotonic() < deadline:
                        await asyncio.sleep(0.05)
                    at_client = out.read_bytes()
                    streaming = not of(mitm.records(), "sse_stream")  # the stream is still open
                finally:
                    release.set()
                    rc = await asyncio.wait_for(curl.wait(), 30)
                final = await mitm.await_for(lambda r: of(r, "sse_stream"))
                return records, at_client, streaming, rc, final

    records, at_client, streaming, rc, final = asyncio.run(scenario())
    assert rc == 0
    assert streaming
    assert at_client == b"".join(f"id: {n}\ndata: h2 event {n}\n\n".encode() for n in range(3))
    assert [e["data"] for e in of(records, "sse_event")] == [f"h2 event {n}" for n in range(3)]
    exchange = [e for e in of(final, "exchange") if e["url"].endswith("/h2events")][0]
    assert exchange["http_version"] == "HTTP/2.0"


def test_oversized_sse_line_passes_unchanged_and_is_counted(tmp_path):
    """A 3 MB line (over inspector_sse_max_line) between two events: the client gets every byte, the
    parser skips the line without buffering it and goes on with the next event."""
    big = b"data: " + b"x" * (3 << 20) + b"\n\n"
    body = b"id: 1\ndata: before\n\n" + big + b"id: 2\ndata: after\n\n"

    async def scenario():
        import aiohttp
        from aiohttp import web

        async def stream(request):
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
            await resp.prepare(request)
            for off in range(0, len(body), 65536):
                await resp.write(body[off : off + 65536])
            await resp.write_eof()
            return resp

        server = HttpServer()
        server.extra_routes = [("GET", "/big", stream)]
        async with server:
            with Mitmdump(tmp_path, mode="regular", options={"inspector_sse_max_line": 65536}) as mitm:
                async with aiohttp.ClientSession() as session:
                    async with session.get(f"{server.url}/big", proxy=mitm.url) as resp:
                        got = await resp.read()
                records = await mitm.await_for(lambda r: of(r, "sse_stream"))
                return got, records, mitm.log()

    got, records, log = asyncio.run(scenario())
    assert got == body
    assert [(e["id"], e["data"]) for e in of(records, "sse_event")] == [("1", "before"), ("2", "after")]
    stream = of(records, "sse_stream")[0]
    assert stream["dropped"] >= 1 and stream["events"] == 2
    exchange = of(records, "exchange", url=stream["url"])[0]
    assert exchange["response_body_bytes"] == len(body)
    assert "internal error" not in log


def test_gzip_event_stream_is_decoded_for_the_parser_and_relayed_as_is(tmp_path):
    """Content-Encoding: gzip, flushed per event: the client gets the compressed bytes unchanged (and each
    event as it is sent: causal acks), the parser sees the decoded events."""
    import zlib

    async def scenario():
        import aiohttp
        from aiohttp import web

        server = HttpServer()
        sent = bytearray()

        async def stream(request):
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Content-Encoding": "gzip",
                                               "Cache-Control": "no-cache"})
            await resp.prepare(request)
            gz = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
            for n in range(3):
                chunk = gz.compress(f"id: {n}\ndata: zipped {n}\n\n".encode()) + gz.flush(zlib.Z_SYNC_FLUSH)
                sent.extend(chunk)
                await resp.write(chunk)
                if n < 2:
                    while (await server.acks.get()) != n:
                        pass
            tail = gz.flush()
            sent.extend(tail)
            await resp.write(tail)
            await resp.write_eof()
            return resp

        server.extra_routes = [("GET", "/gz", stream)]
        async with server:
            with Mitmdump(tmp_path, mode="regular") as mitm:
                async with aiohttp.ClientSession(auto_decompress=False) as session:
                    raw = bytearray()
                    async with session.get(f"{server.url}/gz", proxy=mitm.url) as resp:
                        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
                        text = b""
                        acked = 0
                        while True:
                            chunk = await asyncio.wait_for(resp.content.readany(), 30)
                            if not chunk:
                                break
                            raw += chunk
                            text += inflater.decompress(chunk)
                            while acked < 2 and f"id: {acked}\n".encode() in text:
                                async with session.get(f"{server.url}/ack?n={acked}", proxy=mitm.url) as ack:
                                    assert ack.status == 200
                                acked += 1
                records = await mitm.await_for(lambda r: of(r, "sse_stream"))
                return bytes(raw), bytes(sent), records

    raw, sent, records = asyncio.run(scenario())
    assert raw == sent  # the compressed bytes as the server sent them
    assert [(e["id"], e["data"]) for e in of(records, "sse_event")] == [(str(n), f"zipped {n}") for n in range(3)]
    assert "sse-content-encoding" in {f["name"] for f in of(records, "sse_stream")[0]["findings"]}


def test_report_command_writes_patterns_while_running(tmp_path):
    """The ``inspector.report`` command (called here by a probe script when it sees /trigger-report)."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from mitmproxy import ctx\n"
        "class Probe:\n"
        "    def request(self, flow):\n"
        "        if flow.request.path == '/trigger-report':\n"
        "            ctx.master.commands.call('inspector.report')\n"
        "addons = [Probe()]\n"
    )

    async def scenario():
        import aiohttp

        async with HttpServer() as server:
            with Mitmdump(tmp_path, mode="regular", args=["-s", str(probe)]) as mitm:
                async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as session:
                    for _ in range(5):
                        async with session.get(f"{server.url}/poll/short", proxy=mitm.url) as r:
                            await r.read()
                        await asyncio.sleep(0.1)
                    async with session.get(f"{server.url}/trigger-report", proxy=mitm.url) as r:
                        await r.read()
                records = await mitm.await_for(lambda r: of(r, "pattern"), timeout=20)
                return records, mitm.log()

    records, log = asyncio.run(scenario())
    short = [p for p in of(records, "pattern") if p["endpoint"].endswith("/poll/short")]
    assert short and short[0]["requests"] == 5
    assert "inspector summary" in log


def _rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def test_memory_stays_bounded_on_long_streams(tmp_path):
    """64 MB of event stream and 80 MB of WebSocket messages through mitmdump with the addon: its resident
    memory grows by far less than what went through (streamed SSE body, trimmed message list, bounded
    parsers).  The margin is generous: this catches "keeps everything", not allocator noise."""
    event = b"data: " + b"e" * 1000 + b"\n\n"
    sse_total = 64 << 20
    ws_messages, ws_size = 20000, 4096

    async def scenario():
        import aiohttp
        from aiohttp import web
        from websockets.asyncio.client import connect

        async def stream(request):
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
            await resp.prepare(request)
            block = event * 64
            for _ in range(sse_total // len(block)):
                await resp.write(block)
            await resp.write_eof()
            return resp

        async def ws_script(ws, server):
            payload = "w" * ws_size
            for i in range(200 if ws.request.path == "/warm" else ws_messages):
                await ws.send(payload)
                if i % 100 == 99:  # a ping round trip through the proxy bounds what is in flight: growth
                    await (await ws.ping())  # must come from the addon, not from socket buffers

        server = HttpServer()
        server.extra_routes = [("GET", "/endless", stream)]
        async with server, WsServer(ws_script) as ws_server:
            with Mitmdump(tmp_path, mode="regular") as mitm:
                async with aiohttp.ClientSession() as session:
                    # warm-up: imports, first flows, caches
                    async with connect(f"{ws_server.url}/warm", proxy=mitm.url, ping_interval=None) as ws:
                        for _ in range(200):
                            await ws.recv()
                    before = _rss_mb(mitm.proc.pid)
                    async with session.get(f"{server.url}/endless", proxy=mitm.url) as resp:
                        received = 0
                        async for chunk in resp.content.iter_any():
                            received += len(chunk)
                            if received >= sse_total - (1 << 20):
                                after_sse = _rss_mb(mitm.proc.pid)  # near the end, the flow still alive
                    async with connect(f"{ws_server.url}/long", proxy=mitm.url, ping_interval=None,
                                       max_queue=None) as ws:
                        for _ in range(ws_messages):
                            await ws.recv()
                        after_ws = _rss_mb(mitm.proc.pid)  # while the flow (and its message list) is alive
                records = await mitm.await_for(lambda r: len(of(r, "sse_stream")) == 1)
                return received, before, after_sse, after_ws, records

    received, before, after_sse, after_ws, records = asyncio.run(scenario())
    assert received == sse_total // (len(event) * 64) * len(event) * 64
    assert of(records, "sse_stream")[0]["events"] == received // len(event)
    assert after_sse - before < 32, (before, after_sse)
    assert after_ws - after_sse < 32, (after_sse, after_ws)


# --- polling -------------------------------------------------------------------------------------------------


def test_polling_is_classified_live_and_on_exit(tmp_path):
    async def scenario():
        import aiohttp

        async with HttpServer(long_hold=1.2) as server:  # classify.Thresholds.long_poll_hold_s is 1 s
            with Mitmdump(tmp_path, mode="regular", options={"inspector_report_interval": 1}) as mitm:
                # One keep-alive connection per poller, as a browser tab's poller usually has.
                def session():
                    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1))

                async def short_poller():
                    async with session() as s:
                        for _ in range(12):
                            async with s.get(f"{server.url}/poll/short", proxy=mitm.url) as r:
                                await r.read()
                            await asyncio.sleep(0.25)

                async def long_poller():
                    async with session() as s:
                        for _ in range(4):
                            async with s.get(f"{server.url}/poll/long", proxy=mitm.url) as r:
                                await r.read()

                await asyncio.gather(short_poller(), long_poller())
                live = await mitm.await_for(lambda r: of(r, "pattern"), timeout=20)
                mitm.stop()
                return live, mitm.records(), mitm.log()

    live, records, log = asyncio.run(scenario())
    patterns = {p["endpoint"].split()[-1].split("/poll/")[-1]: p for p in of(records, "pattern") if "/poll/" in p["endpoint"]}
    assert patterns["short"]["pattern"] == "short-polling"
    assert patterns["long"]["pattern"] == "long-polling"
    assert patterns["short"]["requests"] == 12 and patterns["long"]["requests"] == 4
    assert of(live, "pattern")  # reported while running (inspector_report_interval)
    assert "pattern GET" in log and "inspector summary" in log


# --- replay ----------------------------------------------------------------------------------------------

COMPARED = {
    "handshake": ("url", "valid", "key", "accept", "extensions", "subprotocol", "status"),
    "message": ("direction", "opcode_name", "length", "sha256", "text", "close_code", "close_reason"),
    "sse_event": ("event", "data", "id", "retry"),
    "exchange": ("method", "url", "status", "content_type"),
    "pattern": ("endpoint", "pattern", "requests"),
}


WIRE_FRAME_FIELDS = ("direction", "index", "fin", "rsv1", "opcode", "masked", "masking_key", "payload_len", "violations")


def _replay(flow_file: Path, tmp_path: Path) -> list[dict]:
    """The records of ``mitmdump -nr FLOW_FILE -s addons/inspector.py`` (a replay, no network)."""
    out = tmp_path / "replay.jsonl"
    result = run_mitmdump(
        ["-nr", str(flow_file), "-s", str(ADDON), "--set", f"inspector_jsonl={out}",
         "--set", f"confdir={tmp_path / 'mitmconf'}"],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.parametrize("wire", [False, True])
def test_replayed_flow_file_gives_the_same_records(tmp_path, wire):
    """Live records vs ``mitmdump -nr FILE -s addons/inspector.py``: compared field by field for handshake,
    message, sse_event, exchange and pattern records (COMPARED; in wire mode also frame records, with the
    masking keys: WIRE_FRAME_FIELDS); conn ids and timestamps are not compared
    (replayed SSE events carry the response's end time, replayed flows have no client disconnects)."""
    flows = tmp_path / "flows.mitm"

    async def scenario():
        import aiohttp

        async with WsServer(_server_script) as ws_server, HttpServer(sse_events=3) as server:
            with Mitmdump(tmp_path, mode="regular", args=["-w", str(flows)], options={"inspector_wire": wire}) as mitm:
                await _ws_client_session(f"{ws_server.url}/chat", proxy=mitm.url)
                async with aiohttp.ClientSession() as session:
                    await read_sse_with_acks(session, f"{server.url}/events", f"{server.url}/ack", 3, mitm.url)
                    for _ in range(3):
                        async with session.get(f"{server.url}/poll/short", proxy=mitm.url) as r:
                            await r.read()
                await asyncio.wait_for(ws_server.done.wait(), 20)
                await mitm.await_for(lambda r: of(r, "message", opcode_name="close") and of(r, "sse_stream"))
                mitm.stop()
                return mitm.records(), mitm.log()

    live, log = asyncio.run(scenario())
    assert "Addon error" not in log  # e.g. mitmproxy's flow writer failing on a TCP message
    replayed = _replay(flows, tmp_path)

    def project(records, type_):
        return sorted(json.dumps([r.get(k) for k in compared[type_]]) for r in of(records, type_))

    compared = dict(COMPARED, frame=WIRE_FRAME_FIELDS) if wire else COMPARED
    for type_ in compared:
        assert project(live, type_), type_
        assert project(replayed, type_) == project(live, type_), type_


FLOW_FIXTURES = REPO / "fixtures" / "flows"


@pytest.mark.parametrize("kind", ["", "wire-"])
def test_recorded_chromium_session_replays_to_the_servers_truth(tmp_path, kind):
    """The shared flow fixtures (Chromium through mitmdump, message layer and ``websocket=false``), replayed
    with ``mitmdump -nr``: messages, close, SSE events and polling patterns vs what the server sent."""
    import mitmproxy.version

    major = mitmproxy.version.VERSION.split(".")[0]
    flow_file = FLOW_FIXTURES / f"mitmdump-{kind}{major}.flow"
    truth = json.loads(flow_file.with_suffix(".expected.json").read_text())
    records = _replay(flow_file, tmp_path)
    ws = truth["websocket"]
    for direction, sent in (("client", ws["client_messages"]), ("server", ws["server_messages"])):
        data = [m for m in of(records, "message", direction=direction) if m["opcode_name"] in ("text", "binary")]
        assert [(m["opcode_name"], m["sha256"]) for m in data] == [(m["type"], sha(payload(m))) for m in sent]
    closes = of(records, "message", opcode_name="close")
    assert (closes[0]["close_code"], closes[0]["close_reason"]) == (ws["close"]["code"], ws["close"]["reason"])
    hs = of(records, "handshake")[0]
    assert hs["valid"] and hs["subprotocol"] == ws["subprotocol"]
    if kind:  # wire mode: frames with the browser's masking keys, every client frame masked
        frames = of(records, "frame", direction="client")
        assert frames and all(f["masked"] and len(f["masking_key"]) == 8 for f in frames)
        assert all(not f["masked"] for f in of(records, "frame", direction="server"))
    assert [(e["event"], e["id"], e["data"], e["retry"]) for e in of(records, "sse_event")] == [
        (e["event"], e["id"], e["data"], e["retry"]) for e in truth["sse"]["events"]
    ]
    patterns = {p["endpoint"].split("?")[0].rsplit("/", 2)[-2:][-1]: p["pattern"] for p in of(records, "pattern")}
    assert patterns["short"] == "short-polling" and patterns["long"] == "long-polling"
    assert patterns["events"] == "sse" and patterns["ws"] == "websocket"


# --- Chromium -----------------------------------------------------------------------------------------------

PAGE = """<!doctype html><title>inspector live test</title><body><pre id=log></pre><script>
const log = (s) => { document.getElementById('log').textContent += s + '\\n'; };
const ws = new WebSocket(`ws://${location.host}/ws`);
ws.onopen = () => ws.send('hello from chromium');
ws.onmessage = (e) => log('ws ' + e.data);
const es = new EventSource('/stream');
es.onmessage = (e) => log('sse ' + e.data);
let polls = 0;
async function poll() {
  while (polls < 10) {
    const r = await fetch('/poll/short', {cache: 'no-store'});
    log('poll ' + (await r.text()));
    polls += 1;
    await new Promise((ok) => setTimeout(ok, 250));
  }
}
poll();
</script>"""


def test_chromium_websocket_eventsource_and_polling(tmp_path):
    chromium = require("chromium")

    async def scenario():
        from aiohttp import web

        async def page(request):
            return web.Response(text=PAGE, content_type="text/html")

        async def ws_handler(request):
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            async for msg in ws:
                await ws.send_str(f"echo {msg.data}")
            return ws

        async def stream(request):
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
            await resp.prepare(request)
            for n in range(3):
                await resp.write(f"id: {n}\ndata: update {n}\n\n".encode())
                await asyncio.sleep(0.2)
            await asyncio.sleep(30)
            return resp

        server = HttpServer()
        server.extra_routes = [("GET", "/", page), ("GET", "/ws", ws_handler), ("GET", "/stream", stream)]
        async with server:
            with Mitmdump(tmp_path, mode="regular") as mitm:
                profile = tmp_path / "chromium-profile"
                proc = await asyncio.create_subprocess_exec(
                    chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", f"--proxy-server=http://127.0.0.1:{mitm.port}",
                    "--proxy-bypass-list=<-loopback>", "--remote-debugging-port=0", f"{server.url}/",
                    stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                )
                try:
                    await mitm.await_for(
                        lambda r: of(r, "message", direction="server")
                        and len(of(r, "sse_event")) >= 3
                        and len(of(r, "exchange", url=f"{server.url}/poll/short")) >= 10,
                        timeout=60,
                    )
                finally:
                    proc.terminate()
                    await proc.wait()
                mitm.stop()
                return server, mitm.records()

    server, records = asyncio.run(scenario())
    assert [m["text"] for m in of(records, "message", direction="client")][:1] == ["hello from chromium"]
    assert of(records, "message", direction="server")[0]["text"] == "echo hello from chromium"
    assert [e["data"] for e in of(records, "sse_event")][:3] == ["update 0", "update 1", "update 2"]
    assert of(records, "handshake")[0]["valid"] is True
    patterns = {p["endpoint"]: p["pattern"] for p in of(records, "pattern")}
    assert patterns.get(f"GET {server.url}/poll/short") == "short-polling", patterns
    assert patterns.get(f"GET {server.url}/stream") == "sse", patterns
    assert patterns.get(f"GET {server.url}/ws") == "websocket", patterns
