"""`inspector live` starts a real mitmdump with the addon (its default options), between raw TCP peers on
127.0.0.1.

The server sends a text message, then a masked frame (servers must not mask): mitmproxy's own WebSocket
stack refuses it and closes both sides with 1002 itself.  Truth: the bytes the client received (the text
frame, then a close frame the server never sent).  The addon must attribute that close to the proxy, not
to the server, and log a line per message by default.  Likewise the 502 mitmproxy answers for a server it
cannot reach.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import urllib.error
import urllib.request

from helpers.mitm import Mitmdump, RawServer, raw_ws_client


class _Live(Mitmdump):
    """mitmdump as `inspector live` starts it (no inspector option set but the JSON Lines file)."""

    def command(self) -> list[str]:
        return [sys.executable, "-m", "inspector", "live", "--port", "0", "--jsonl", str(self.jsonl), "--",
                "--listen-host", "127.0.0.1", "--set", f"confdir={self.confdir}", "--set", "termlog_verbosity=info"]


def _masked_text(payload: bytes, key: bytes = b"\x01\x02\x03\x04") -> bytes:
    return bytes([0x81, 0x80 | len(payload)]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def test_proxy_made_close_is_attributed_to_the_proxy(tmp_path):
    async def session(mitm: Mitmdump):
        async with RawServer(b"\x81\x02hi" + _masked_text(b"bad")) as server:
            _, received = await raw_ws_client("127.0.0.1", mitm.port, b"", expect_from_server=6,
                                              absolute_host=f"127.0.0.1:{server.port}")
            await asyncio.wait_for(server.closed.wait(), 20)
        return received

    with _Live(tmp_path) as mitm:
        received = asyncio.run(session(mitm))
        asyncio.run(mitm.await_for(lambda recs: any(r["type"] == "message" for r in recs)))
    assert received.startswith(b"\x81\x02hi")
    close = received[4:]
    assert close[0] == 0x88 and struct.unpack(">H", close[2:4])[0] == 1002  # the proxy's close, not the server's
    log = mitm.log()
    assert "message mode:" in log and "wire mode" in log  # the limits, stated once at start-up
    assert "s->c message #0 text 2 B: hi" in log  # a line per message by default
    assert "mitmproxy closed the WebSocket itself with 1002" in log and "inspector_wire" in log
    records = mitm.records()
    closes = [r for r in records if r["type"] == "message" and r["opcode_name"] == "close"]
    assert not [c for c in closes if c["direction"] == "server"]  # the server sent no close
    warning = [r for r in records if r["type"] == "warning" and r["name"] == "proxy-closed"]
    assert warning and warning[0]["conn"] and "server broke the protocol" in warning[0]["message"]


def test_an_answer_mitmproxy_made_is_attributed_to_the_proxy(tmp_path):
    with socket.socket() as s:  # a port nothing listens on (bound, never listening)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with _Live(tmp_path) as mitm:
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": mitm.url}))
            try:
                opener.open(f"http://127.0.0.1:{port}/gone", timeout=30)
                status = 200
            except urllib.error.HTTPError as exc:
                status = exc.code
    assert status == 502  # mitmproxy's own answer: the server was never reached
    warning = [r for r in mitm.records() if r["type"] == "warning" and r["name"] == "proxy-error"]
    assert warning and f"127.0.0.1:{port}/gone" in warning[0]["message"]
    assert "mitmproxy ended GET" in mitm.log()
