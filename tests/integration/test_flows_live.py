"""mitmproxy flow files as a user makes and reads them: a live mitmdump recording real peers, and
`inspector analyze` in a subprocess; truth from what the peers sent (fixtures' expected.json)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys

import pytest
from helpers.flows import FLOWS, run
from helpers.offline import (
    FIXTURES,
    analyse,
    by_type,
    check_messages,
    check_patterns,
    cli,
    expected,
)
from helpers.tools import require


async def _client_session(port: int, websocket_only: bool = False, deflate: bool = False) -> None:
    """What the fixture page does (WebSocket, EventSource, short and long polling), done by aiohttp."""
    import aiohttp

    base = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as session:
        url = base + ("/ws?deflate=1" if deflate else "/ws")
        async with session.ws_connect(url, protocols=("chat.v1",), compress=15 if deflate else 0) as ws:
            await ws.send_str("hello from page")
            await ws.send_str(json.dumps({"op": "subscribe"}))
            await ws.send_bytes(bytes([0, 1, 2, 253, 254, 255]))
            for _ in range(5):
                await ws.receive()
            await ws.close(code=1000, message=b"page done")
        if websocket_only:
            return
        async with session.get(base + "/events") as resp:
            await resp.read()
        for n in range(4):
            async with session.get(f"{base}/poll/short?n={n}") as resp:
                await resp.read()
            await asyncio.sleep(0.25)
        for n in range(2):
            async with session.get(f"{base}/poll/long?n={n}") as resp:
                await resp.read()


async def _record_live(tmp_path, wire: bool = False, deflate: bool = False):
    if str(FIXTURES / "har") not in sys.path:
        sys.path.insert(0, str(FIXTURES / "har"))
    import app  # the fixture server (fixtures/har/app.py)

    truth = app.Truth()
    runner, app_port = await app.start(truth)
    flow_path, har_path = tmp_path / "live.flow", tmp_path / "live.har"
    mitmdump = require("mitmdump")
    proxy = await asyncio.create_subprocess_exec(
        mitmdump, "--mode", f"reverse:http://127.0.0.1:{app_port}", "--listen-host", "127.0.0.1",
        "--listen-port", "0", "-w", str(flow_path),
        *(["--set", "websocket=false", "-s", str(FLOWS / "bytes_fix.py")] if wire else ["--set", f"hardump={har_path}"]),
        "--set", "termlog_verbosity=info", "--set", "flow_detail=0",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        while True:
            line = (await asyncio.wait_for(proxy.stdout.readline(), 30)).decode()
            assert line, "mitmdump exited before listening"
            found = re.search(r"listening at 127\.0\.0\.1:(\d+)", line)
            if found:
                break
        await _client_session(int(found.group(1)), websocket_only=wire or deflate, deflate=deflate)
        await asyncio.sleep(0.3)
    finally:
        proxy.send_signal(signal.SIGINT)
        await proxy.communicate()
        await runner.cleanup()
    return flow_path, har_path, truth.as_dict()


def test_cli_several_files_keep_ids_unique():
    result = cli("analyze", "--jsonl", str(FLOWS / "mitmdump-11.flow"), str(FIXTURES / "har" / "mitmproxy-11.har"))
    assert result.returncode == 0, result.stderr
    connections = [json.loads(line) for line in result.stdout.splitlines() if '"type":"connection"' in line]
    ids = [c["conn"] for c in connections]
    assert len(ids) == len(set(ids))
    assert {c["source"] for c in connections if c["conn"].startswith("1:")} == {"flows"}
    assert {c["source"] for c in connections if c["conn"].startswith("2:")} == {"har"}


def test_live_mitmdump_flow_file_and_har(tmp_path):
    """A fresh `mitmdump -w ... --set hardump=...` recording: both files give what the server sent."""
    from inspector.sources import har

    flow_path, har_path, truth = asyncio.run(_record_live(tmp_path))
    for records in (run(flow_path), analyse(har.run, har_path, "har")):
        check_patterns(records, truth)
        check_messages(by_type(records)["message"], truth)
        events = by_type(records)["sse_event"]
        assert [(e["event"], e["data"], e["id"]) for e in events] == [
            (w["event"], w["data"], w["id"]) for w in truth["sse"]["events"]]
        (handshake,) = by_type(records)["handshake"]
        assert handshake["valid"] is True


@pytest.mark.parametrize("wire", [False, True], ids=["messages", "wire"])
def test_live_permessage_deflate(tmp_path, wire):
    """permessage-deflate negotiated through a real mitmdump: mitmproxy's messages are already inflated;
    in wire mode the compressed frames are inflated with the parameters the handshake negotiated."""
    flow_path, _, truth = asyncio.run(_record_live(tmp_path, wire=wire, deflate=True))
    records = by_type(run(flow_path))
    (handshake,) = records["handshake"]
    assert handshake["valid"] is True and handshake["extensions"][0].startswith("permessage-deflate")
    check_messages(records["message"], truth)
    data = [m for m in records["message"] if m["opcode_name"] in ("text", "binary")]
    if wire:
        assert any(m["compressed"] for m in data)
        assert any(f["rsv1"] for f in records["frame"])
    else:
        assert all(m["compressed"] is None for m in data) and not records["frame"]


def test_cli_analyze_flows_human():
    result = cli("analyze", str(FLOWS / "mitmdump-12.flow"))
    assert result.returncode == 0, result.stderr
    for text in ("short-polling", "long-polling", "sse", "websocket", "handshake valid"):
        assert text in result.stdout


def test_cli_analyze_flows_jsonl():
    result = cli("analyze", "--jsonl", str(FLOWS / "mitmdump-wire-11.flow"))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    check_messages(by_type(records)["message"], expected(FLOWS / "mitmdump-wire-11.flow"))
    assert by_type(records)["frame"]


def test_cli_truncated_flow_exit_2(tmp_path):
    data = (FLOWS / "mitmdump-11.flow").read_bytes()
    path = tmp_path / "cut.flow"
    path.write_bytes(data[: len(data) // 2])
    result = cli("analyze", "--jsonl", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "mitmproxy flow file" in lines[0] and "Traceback" not in result.stderr
