"""What a person sees when a capture is damaged: fixtures/pcap/ws_deflate.pcap with one server packet
removed (the permessage-deflate context is lost from there on).  Truth: what the server sent
(fixtures/pcap/ws_deflate.expected.json); every server message line either shows the start of what
the server sent or says it could not be inflated, never an empty message.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

from click.testing import CliRunner

from inspector.cli import cli
from inspector.present.text import esc

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "pcap"


def _without_server_packet(tmp_path: Path, which: int) -> tuple[Path, dict]:
    """The capture minus the ``which``-th server packet carrying TCP payload (classic pcap, Ethernet, IPv4)."""
    truth = json.loads((FIX / "ws_deflate.expected.json").read_text())
    data = (FIX / "ws_deflate.pcap").read_bytes()
    pos, packets = 24, []
    while pos < len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        packets.append(data[pos : pos + 16 + caplen])
        pos += 16 + caplen
    server = []
    for i, packet in enumerate(packets):
        ip = packet[16 + 14 :]
        tcp = ip[(ip[0] & 15) * 4 :]
        if struct.unpack_from(">H", tcp)[0] == truth["port"] and len(tcp) > (tcp[12] >> 4) * 4:
            server.append(i)
    out = tmp_path / "damaged.pcap"
    out.write_bytes(data[:24] + b"".join(p for i, p in enumerate(packets) if i != server[which]))
    return out, truth


def test_lost_deflate_context_is_marked_on_each_line_and_counted(tmp_path):
    path, truth = _without_server_packet(tmp_path, 3)
    result = CliRunner().invoke(cli, ["analyze", "--frames", "--width", "0", str(path)])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if " s->c message #" in line]
    sent = truth["sent"]["server"]
    assert len(lines) <= len(sent)
    texts = [esc(m["text"]) for m in sent if m.get("text") is not None]
    marked = 0
    for line in lines:
        assert " 0 B deflated" not in line  # never an empty message in place of one not inflated
        if "NOT INFLATED (context lost" in line:
            marked += 1
            assert " on the wire" in line and ": " not in line.split("NOT INFLATED", 1)[1]
        elif " text " in line and " deflated: " in line:
            shown = line.split(" deflated: ", 1)[1].removesuffix("...")
            assert any(text.startswith(shown) for text in texts), line
    assert marked >= 3
    summary = re.search(r"server +\d+ messages .*", result.stdout).group(0)
    assert f"{marked} not inflatable: context lost" in summary
    assert "inflate-context-lost" in result.stderr
