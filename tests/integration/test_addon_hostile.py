"""Live: a real mitmdump with the addon, driven through hostile traffic (a non-UTF-8 header, a Latin-1
path, a gzip bomb, an oversize SSE line), then ordinary traffic: every ordinary flow's record is written
and its bytes reach the client unchanged."""

from __future__ import annotations

import asyncio
import gzip
import socket

from helpers.mitm import Mitmdump

_BOMB = gzip.compress(b"\0" * (64 << 20))


def _response(path: bytes) -> bytes:
    if path.startswith(b"/sse"):
        body = b"data: " + b"x" * (3 << 20) + b"\n\n"
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    elif path.startswith(b"/bomb"):
        body = _BOMB
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Encoding: gzip\r\n"
    else:
        body = b"ok " + path
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Odd: caf\xe9\r\n"
    return head + b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    path = head.split(b" ", 2)[1]
    writer.write(_response(path))
    await writer.drain()
    writer.close()


def _get(port: int, path: bytes, extra: bytes = b"") -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + b"Connection: close\r\n\r\n")
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    return b"".join(chunks)


def test_hostile_flows_do_not_stop_the_records_of_ordinary_ones(tmp_path):
    async def main() -> None:
        server = await asyncio.start_server(_serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        proxy = Mitmdump(tmp_path, mode=f"reverse:http://127.0.0.1:{port}").start()
        try:
            loop = asyncio.get_running_loop()
            hostile = [(b"/latin-caf\xe9", b""), (b"/h", b"X-L: caf\xe9\r\n"), (b"/bomb", b""), (b"/sse", b""),
                       (b"/h2", b"X-L: \xff\xfe\x1b[2J\r\n")]
            for path, extra in hostile:
                await loop.run_in_executor(None, _get, proxy.port, path, extra)
            ordinary = [f"/ok/{n}".encode() for n in range(10)]
            for path in ordinary:
                answer = await loop.run_in_executor(None, _get, proxy.port, path, b"")
                body = answer.split(b"\r\n\r\n", 1)[1]
                assert body == b"ok " + path  # the server's bytes, unchanged
                assert b"X-Odd: caf\xe9" in answer

            def done(records):
                urls = {r["url"].split("127.0.0.1", 1)[-1].split(":", 1)[-1] for r in records if r["type"] == "exchange"}
                return all(any(u.endswith(p.decode()) for u in urls) for p in ordinary)

            records = await proxy.await_for(done, timeout=60)
        finally:
            proxy.stop()
            server.close()
        assert "Traceback" not in proxy.log()
        assert "internal error" not in proxy.log()
        assert "writing records failed" not in proxy.log()
        assert any(r["type"] == "warning" and r["name"] == "jsonl-text-replaced" for r in records)

    asyncio.run(main())
