"""What the application layer costs: one WebSocket of Socket.IO messages through `Analysis`, with the
decoder (URL ``/socket.io/?EIO=4``) and without (a URL and payloads nothing recognises), one run.

    python bench/bench_app.py [--messages 100000] [--repeat 3]

Builds N masked client frames (``42["chat",{"n":i,"text":...}]`` and, every other one, a server ack
``43<i>[...]``), feeds the byte stream of each direction in 64 KiB pieces and prints messages/s (CPU
time, best of ``--repeat`` interleaved rounds) for both, the overhead ratio and the operation records
made.  Never run as a test: wall-clock figures on a shared machine are only comparable within one run.
"""

from __future__ import annotations

import argparse
import time

from inspector import records
from inspector.analysis import Analysis, Options
from inspector.ws.schema import build_frame


def _streams(n: int) -> dict[str, bytes]:
    client, server = bytearray(), bytearray()
    for i in range(n):
        client += build_frame(1, f'42{i}["chat",{{"n":{i},"text":"message number {i}"}}]'.encode(), mask=b"abcd")
        if i % 2 == 0:
            server += build_frame(1, f'43{i}[{{"ok":true}}]'.encode())
    return {"client": bytes(client), "server": bytes(server)}


def _handshake(url: str) -> records.Exchange:
    return records.Exchange(
        conn="c", method="GET", url=url, status=101, content_type=None, ts_request=1.0, ts_response=1.0,
        ts_end=1.0, request_body_bytes=0, response_body_bytes=0, http_version="HTTP/1.1",
        request_headers=[("Host", "h"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                         ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")],
        response_headers=[("Upgrade", "websocket"), ("Connection", "Upgrade"),
                          ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")],
    )


def run(url: str, streams: dict[str, bytes], plain: bool) -> tuple[float, int]:
    out: list = []
    analysis = Analysis(out.append, source="pcap", options=Options(frames=False))
    ws = analysis.websocket("c", handshake=_handshake(url))
    if plain:  # a first payload nothing recognises: the layer gives up at once
        ws.message("client", 1, b"hello", 1.0)
    start = time.process_time()
    for direction, data in streams.items():
        for i in range(0, len(data), 65536):
            ws.data(direction, data[i:i + 65536], 2.0)
    analysis.finish()
    return time.process_time() - start, sum(type(r) is records.Operation for r in out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    streams = _streams(args.messages)
    total = args.messages + (args.messages + 1) // 2
    best = {"decoded": float("inf"), "plain": float("inf")}
    ops = 0
    for _ in range(args.repeat):
        seconds, ops = run("http://h/socket.io/?EIO=4&transport=websocket", streams, plain=False)
        best["decoded"] = min(best["decoded"], seconds)
        seconds, _ = run("http://h/plain", streams, plain=True)
        best["plain"] = min(best["plain"], seconds)
    for name, seconds in best.items():
        print(f"{name:8} {total / seconds:12,.0f} messages/s  ({seconds:.3f} s CPU for {total} messages)")
    print(f"overhead of the Socket.IO layer: x{best['decoded'] / best['plain']:.2f}; {ops} operation records")


if __name__ == "__main__":
    main()
