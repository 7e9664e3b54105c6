"""TLS captures of real peers on 127.0.0.1 (tests/helpers/tls_scenario.py: a `websockets` server with
permessage-deflate and an aiohttp event stream behind Python's `ssl`, clients writing a key log, tcpdump on
lo), decrypted by ``inspector analyze --keylog``.

Truth: what the senders sent (`tls_scenario.expected`), and tshark run with the same key log
(``-o tls.keylog_file:KEYS -Y websocket``) for the frame headers and the texts it inflates.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.offline import cli
from helpers.tls_peers import TLS12_SUITES
from helpers.tls_scenario import capture, expected

pytestmark = pytest.mark.skipif(shutil.which("tcpdump") is None or shutil.which("tshark") is None,
                                reason="needs tcpdump and tshark")

VARIANTS = [("1.3", None)] + [("1.2", cipher) for cipher in TLS12_SUITES]
CIPHERS = {None: "TLS_AES_256_GCM_SHA384", "ECDHE-RSA-AES128-GCM-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
           "ECDHE-RSA-CHACHA20-POLY1305": "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
           "ECDHE-RSA-AES128-SHA256": "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"}


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda v: v[1] or "tls1.3")
def captured(request, tmp_path_factory) -> tuple[Path, Path, str, str | None]:
    version, cipher = request.param
    pcap, keys = capture(tmp_path_factory.mktemp("tls"), version, cipher)
    return pcap, keys, version, cipher


def analyze(*args: str) -> list[dict]:
    run = cli("analyze", "--jsonl", *map(str, args))
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def of(records: list[dict], kind: str) -> list[dict]:
    return [r for r in records if r["type"] == kind]


def check_decrypted(records: list[dict]) -> None:
    """Messages and SSE events are what the senders sent."""
    truth = expected()
    for direction in ("client", "server"):
        got = [(m["opcode_name"], m["sha256"], m["length"]) for m in of(records, "message")
               if m["direction"] == direction and m["opcode_name"] in ("text", "binary")]
        assert got == [(m["opcode"], m["sha256"], m["length"]) for m in truth["messages"][direction]], direction
    events = [{"event": e["event"], "id": e["id"], "data": e["data"]} for e in of(records, "sse_event")]
    assert events == truth["sse_events"]


def tshark(pcap: Path, keys: Path) -> dict:
    """Per server/client port: frame headers and the texts tshark inflated, from tshark with the key log."""
    fields = ["tcp.srcport", "websocket.opcode", "websocket.rsv", "websocket.mask", "websocket.payload_length",
              "websocket.payload_length_ext_16", "websocket.payload_length_ext_64", "websocket.payload.text"]
    cmd = ["tshark", "-r", str(pcap), "-o", f"tls.keylog_file:{keys}", "-Y", "websocket", "-T", "fields",
           "-E", "occurrence=a", "-E", "aggregator=|"]
    for field in fields:
        cmd += ["-e", field]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    frames, texts = [], []
    for line in out.splitlines():
        port, opcode, rsv, mask, plen, ext16, ext64, text = line.split("\t")
        ext16_it, ext64_it = iter(ext16.split("|")), iter(ext64.split("|"))
        for op, r, m, length in zip(opcode.split("|"), rsv.split("|"), mask.split("|"), plen.split("|")):
            n = int(length)
            n = int(next(ext16_it)) if n == 126 else int(next(ext64_it)) if n == 127 else n
            frames.append((int(port), int(op), int(r, 16), m in ("1", "True"), n))
        texts += [t for t in text.split("|") if t]
    return {"frames": frames, "texts": texts}


def test_decrypted_websocket_and_sse_equal_what_was_sent(captured):
    pcap, keys, version, cipher = captured
    records = analyze("--keylog", keys, pcap)
    check_decrypted(records)
    connections = of(records, "connection")
    assert [c["protocol"] for c in connections] == ["websocket", "sse"]
    for c in connections:
        assert c["tls"]["decrypted"] is True and c["tls"]["reason"] is None
        assert c["tls"]["version"] == f"TLS {version}" and c["tls"]["cipher"] == CIPHERS[cipher]
        assert c["tls"]["sni"] == "localhost"
    assert not [w for w in of(records, "warning") if w["name"] == "tls-encrypted"]
    handshake = of(records, "handshake")[0]
    assert handshake["valid"] and handshake["extensions"][0].startswith("permessage-deflate")


def test_frames_agree_with_tshark(captured):
    pcap, keys, _, _ = captured
    records = analyze("--keylog", keys, pcap)
    ws = of(records, "connection")[0]
    server_port = int(ws["server"].rsplit(":", 1)[1])
    client_port = int(ws["client"].rsplit(":", 1)[1])
    ours = [(server_port if f["direction"] == "server" else client_port, f["opcode"],
             f["rsv1"] << 2 | f["rsv2"] << 1 | f["rsv3"], f["masked"], f["payload_len"])
            for f in of(records, "frame") if f["conn"] == ws["conn"]]
    theirs = tshark(pcap, keys)
    assert sorted(ours) == sorted(theirs["frames"]) and len(ours) >= 9
    one_line = {m["text"] for m in of(records, "message") if m.get("text") and "\n" not in m["text"]}
    assert one_line and one_line <= set(theirs["texts"])  # tshark inflated the same texts


def test_a_connection_missing_from_the_key_log(captured, tmp_path):
    pcap, keys, _, _ = captured
    lines = keys.read_text().splitlines()
    randoms = list(dict.fromkeys(line.split()[1] for line in lines if line and not line.startswith("#")))
    assert len(randoms) == 2  # the WebSocket connection's, then the event stream's
    partial = tmp_path / "partial.log"
    partial.write_text("\n".join(line for line in lines if randoms[1] not in line) + "\n")
    records = analyze("--keylog", partial, pcap)
    warnings = [w for w in of(records, "warning") if w["name"] == "tls-encrypted"]
    sse_conn = of(records, "connection")[1]
    assert [(w["conn"], w["message"].endswith("no key")) for w in warnings] == [(sse_conn["conn"], True)]
    assert sse_conn["tls"]["reason"] == "no key" and not sse_conn["tls"]["decrypted"]
    assert not of(records, "sse_event") and len(of(records, "message")) >= 8
    # Without any key log: both connections are reported, once each, with the reason.
    bare = analyze(pcap)
    assert sorted(w["conn"] for w in of(bare, "warning") if w["name"] == "tls-encrypted") == ["c1", "c2"]


def test_pcapng_with_injected_secrets_needs_no_flag(captured, tmp_path):
    pcap, keys, _, _ = captured
    if shutil.which("editcap") is None:
        pytest.skip("editcap is not installed")
    pcapng = tmp_path / "with-secrets.pcapng"
    subprocess.run(["editcap", "--inject-secrets", f"tls,{keys}", str(pcap), str(pcapng)], check=True,
                   capture_output=True, timeout=60)
    records = analyze(pcapng)
    check_decrypted(records)
    assert all(c["tls"]["decrypted"] for c in of(records, "connection"))


FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "pcap" / "tls"


def test_cli_keylog_file_missing_and_human_summary():
    run = cli("analyze", "--keylog", "no-such.log", str(FIXTURE / "tls13.pcap"))
    assert run.returncode == 2 and run.stderr == "inspector: --keylog no-such.log: no such file\n"
    run = cli("analyze", "--keylog", str(FIXTURE / "tls13.keys.log"), str(FIXTURE / "tls13.pcap"))
    assert run.returncode == 0 and "Traceback" not in run.stderr
    assert run.stdout.count("decrypted  TLS 1.3  TLS_AES_256_GCM_SHA384  sni localhost") == 2
    run = cli("analyze", str(FIXTURE / "tls13.pcap"))
    assert run.stdout.count("encrypted (no key)") == 2 and "tls-encrypted x2" in run.stderr
