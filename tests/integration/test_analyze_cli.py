"""`inspector analyze` as a user runs it: a real process on the fixtures in fixtures/pcap."""

from __future__ import annotations

import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

import dpkt
import pytest

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "pcap"


def inspector(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inspector", "analyze", *map(str, args)],
                          capture_output=True, text=True, timeout=120, cwd=cwd)


def jsonl(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line]


def expected(name: str) -> dict:
    return json.loads((FIX / f"{name}.expected.json").read_text())


def test_jsonl_to_stdout_has_every_record_type():
    p = inspector("--jsonl", FIX / "ws_plain.pcap", FIX / "sse.pcap", FIX / "polling.pcap")
    assert p.returncode == 0, p.stderr
    recs = jsonl(p.stdout)
    types = {r["type"] for r in recs}
    assert {"connection", "exchange", "handshake", "frame", "message", "sse_event", "sse_stream", "pattern"} <= types
    conns = [r["conn"] for r in recs if r["type"] == "connection"]
    assert len(conns) == len(set(conns)) == 4  # ids stay unique across files (1:c1, 2:c1, ...)
    assert all(r["source"] == "pcap" for r in recs if r["type"] == "connection")
    patterns = {r["endpoint"]: r["pattern"] for r in recs if r["type"] == "pattern"}
    for endpoint, pattern in expected("polling")["patterns"].items():
        assert patterns[endpoint] == pattern
    assert p.stderr == ""


def test_jsonl_to_a_file(tmp_path):
    out = tmp_path / "records.jsonl"
    p = inspector("--jsonl", "-o", out, FIX / "ws_deflate.pcap")
    assert p.returncode == 0 and p.stdout == ""
    messages = [r for r in jsonl(out.read_text()) if r["type"] == "message" and r["direction"] == "client"]
    assert [m["sha256"] for m in messages if "sha256" in m][:3] == [
        m["sha256"] for m in expected("ws_deflate")["sent"]["client"][:3]]


def test_human_summary_by_default():
    p = inspector(FIX / "ws_plain.pcap", FIX / "polling.pcap")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "websocket" in out and "handshake valid" in out
    assert "long-polling" in out and "short-polling" in out
    assert "done here" in out  # the close reason
    assert "{" not in out.splitlines()[0]


def test_frames_option_lists_every_frame():
    plain = inspector(FIX / "ws_plain.pcap").stdout
    frames = inspector("--frames", FIX / "ws_plain.pcap").stdout
    assert len(frames.splitlines()) > len(plain.splitlines()) + 30  # 35 frames in this capture


def test_conn_and_host_filters():
    both = [FIX / "http_edge.pcap"]
    recs = jsonl(inspector("--jsonl", "--conn", "c2", *both).stdout)
    assert {r["conn"] for r in recs if "conn" in r} == {"c2"}
    assert [r["url"].rsplit("/", 1)[1] for r in recs if r["type"] == "exchange"] == ["old"]
    port = expected("http_edge")["port"]
    recs = jsonl(inspector("--jsonl", "--host", f"127.0.0.1:{port}", *both).stdout)
    assert {r["conn"] for r in recs if "conn" in r} == {"c1"}
    recs = jsonl(inspector("--jsonl", "--host", "nowhere.example", *both).stdout)
    assert not [r for r in recs if r["type"] in ("connection", "exchange")]


def _mid_connection(tmp_path) -> Path:
    pkts = list(dpkt.pcap.Reader(open(FIX / "ws_plain.pcap", "rb")))
    start = next(i for i, (_, b) in enumerate(pkts) if b"HTTP/1.1 101" in b) + 1
    path = tmp_path / "mid.pcap"
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, snaplen=262144)
        for ts, buf in pkts[start:]:
            w.writepkt(buf, ts)
    return path


def test_ws_option_forces_frame_decoding(tmp_path):
    path = _mid_connection(tmp_path)
    port = expected("ws_plain")["port"]
    recs = jsonl(inspector("--jsonl", "--no-ws-heuristic", "--ws", port, path).stdout)
    (conn,) = [r for r in recs if r["type"] == "connection"]
    assert (conn["protocol"], conn["detected_by"]) == ("websocket", "--ws")
    recs = jsonl(inspector("--jsonl", "--no-ws-heuristic", path).stdout)
    (conn,) = [r for r in recs if r["type"] == "connection"]
    assert conn["protocol"] == "tcp"
    recs = jsonl(inspector("--jsonl", "--ws", f"127.0.0.1:{port}", path).stdout)
    assert [r["detected_by"] for r in recs if r["type"] == "connection"] == ["--ws"]


def _garbage_after_101(tmp_path) -> Path:
    rng = random.Random(5)
    port = expected("ws_plain")["port"]
    path = tmp_path / "garbage.pcap"
    seen = False
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, snaplen=262144)
        for ts, buf in dpkt.pcap.Reader(open(FIX / "ws_plain.pcap", "rb")):
            eth = dpkt.ethernet.Ethernet(buf)
            tcp = eth.data.data
            if seen and tcp.data and tcp.sport == port:
                tcp.data = rng.randbytes(len(tcp.data))
            seen = seen or b"HTTP/1.1 101" in bytes(tcp.data)
            w.writepkt(bytes(eth), ts)
    return path


def test_fail_on_violations_and_invalid_handshake(tmp_path):
    garbage = _garbage_after_101(tmp_path)
    assert inspector("--jsonl", garbage).returncode == 0
    assert inspector("--jsonl", "--fail-on", "violations", garbage).returncode == 1
    assert inspector("--jsonl", "--fail-on", "violations", FIX / "ws_plain.pcap").returncode == 0
    assert inspector("--jsonl", "--fail-on", "invalid-handshake", FIX / "ws_plain.pcap").returncode == 0
    # A 101 whose Sec-WebSocket-Accept is wrong (same length, so TCP stays consistent).
    bad = tmp_path / "bad_accept.pcap"
    with open(bad, "wb") as f:
        w = dpkt.pcap.Writer(f, snaplen=262144)
        for ts, buf in dpkt.pcap.Reader(open(FIX / "ws_plain.pcap", "rb")):
            if b"Sec-WebSocket-Accept: " in buf:
                i = buf.index(b"Sec-WebSocket-Accept: ") + len(b"Sec-WebSocket-Accept: ")
                buf = buf[:i] + (b"A" if buf[i:i + 1] != b"A" else b"B") + buf[i + 1:]
            w.writepkt(buf, ts)
    p = inspector("--fail-on", "invalid-handshake", bad)
    assert p.returncode == 1 and "Traceback" not in p.stderr


def test_malformed_inputs_warn_with_counts_and_never_trace(tmp_path):
    data = (FIX / "ws_plain.pcap").read_bytes()
    truncated = tmp_path / "truncated.pcap"
    truncated.write_bytes(data[: len(data) - 50])
    p = inspector("--jsonl", truncated)
    assert p.returncode == 0
    assert "pcap-truncated x1" in p.stderr and len(p.stderr.splitlines()) == 1
    assert any(r["type"] == "warning" and r["name"] == "pcap-truncated" for r in jsonl(p.stdout))

    gz = tmp_path / "capture.pcap.gz"
    gz.write_bytes(gzip.compress(data)[:-200])  # a cut gzip stream
    p = inspector("--jsonl", gz)
    assert "Traceback" not in p.stderr and p.returncode == 0
    assert "warnings:" in p.stderr

    garbage = _garbage_after_101(tmp_path)
    p = inspector(garbage)
    assert p.returncode == 0 and "Traceback" not in p.stderr


def test_unreadable_inputs_exit_2_with_one_line(tmp_path):
    user0 = bytearray((FIX / "ws_plain.pcap").read_bytes())
    user0[20:24] = (147).to_bytes(4, "little")
    (tmp_path / "user0.pcap").write_bytes(bytes(user0))
    (tmp_path / "notes.txt").write_text("not a capture\n")
    (tmp_path / "header.pcap").write_bytes((FIX / "ws_plain.pcap").read_bytes()[:24])
    for name, needle in [("user0.pcap", "link type 147"), ("notes.txt", "not a capture"),
                         ("header.pcap", "no packets"), ("missing.pcap", "No such file")]:
        p = inspector("--jsonl", tmp_path / name)
        assert p.returncode == 2, name
        assert needle in p.stderr and "Traceback" not in p.stderr
        assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_one_unreadable_file_among_good_ones(tmp_path):
    user0 = bytearray((FIX / "ws_plain.pcap").read_bytes())
    user0[20:24] = (147).to_bytes(4, "little")
    (tmp_path / "user0.pcap").write_bytes(bytes(user0))
    p = inspector("--jsonl", FIX / "sse.pcap", tmp_path / "user0.pcap")
    assert p.returncode == 2 and "link type 147" in p.stderr
    assert any(r["type"] == "sse_event" for r in jsonl(p.stdout))  # the readable file was analysed


def test_view_cap_limits_payload_views():
    recs = jsonl(inspector("--jsonl", "--view-cap", "8", FIX / "ws_plain.pcap").stdout)
    texts = [r for r in recs if r["type"] == "message" and r.get("text") is not None]
    long = [r for r in texts if r["length"] > 8]
    assert long and all(len(r["text"]) <= 8 and r["truncated"] for r in long)
    full = jsonl(inspector("--jsonl", FIX / "ws_plain.pcap").stdout)
    assert any(r["type"] == "message" and r.get("text") == "hello again, hello again, hello again" for r in full)


def test_progress_bar_goes_to_stderr_only():
    p = inspector("--jsonl", "--progress", FIX / "ws_plain.pcap")
    assert p.returncode == 0
    assert "ws_plain.pcap" in p.stderr  # click's progress bar label (no animation: stderr is not a TTY)
    assert all(line.startswith("{") for line in p.stdout.splitlines())


def test_host_filter_matches_the_host_header(tmp_path):
    port = expected("http_edge")["port"]
    path = tmp_path / "named.pcap"
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, snaplen=262144)
        for ts, buf in dpkt.pcap.Reader(open(FIX / "http_edge.pcap", "rb")):
            # Same length, so sequence numbers stay right: "127.0.0.1" -> "localhost" in c1's Host headers.
            w.writepkt(buf.replace(f"Host: 127.0.0.1:{port}".encode(), f"Host: localhost:{port}".encode()), ts)
    recs = jsonl(inspector("--jsonl", "--host", "localhost", path).stdout)
    assert {r["conn"] for r in recs if "conn" in r} == {"c1"}
    assert all(r["url"].startswith(f"http://localhost:{port}/") for r in recs if r["type"] == "exchange")
    recs = jsonl(inspector("--jsonl", "--host", f"localhost:{port}", path).stdout)
    assert {r["conn"] for r in recs if r["type"] == "connection"} == {"c1"}


def test_ws_option_defers_to_a_handshake_in_the_capture():
    port = expected("ws_plain")["port"]
    recs = jsonl(inspector("--jsonl", "--ws", port, FIX / "ws_plain.pcap").stdout)
    (conn,) = [r for r in recs if r["type"] == "connection"]
    assert conn["detected_by"] == "handshake"
    assert [r["valid"] for r in recs if r["type"] == "handshake"] == [True]
    assert not [r for r in recs if r["type"] == "frame" and r["violations"]]


def test_threshold_override_changes_the_classification():
    """The long poll (held 1.5 s by the fixture server) stops being one when the hold threshold is 100 s."""
    def pattern(*args):
        result = inspector("--jsonl", *args, FIX / "polling.pcap")
        assert result.returncode == 0, result.stderr
        return {r["endpoint"].rsplit("/", 1)[1]: r["pattern"] for r in jsonl(result.stdout) if r["type"] == "pattern"}

    assert pattern()["longpoll"] == "long-polling"
    assert pattern("--threshold", "long_poll_hold_s=100")["longpoll"] != "long-polling"


@pytest.mark.parametrize("value", ["nosuch=1", "long_poll_hold_s=x", "long_poll_hold_s", "short_poll_max_cv=-1"])
def test_bad_threshold_is_one_line(value):
    result = inspector("--threshold", value, FIX / "polling.pcap")
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("inspector: ") and "threshold" in lines[0]
    assert "Traceback" not in result.stderr
