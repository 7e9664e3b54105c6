"""`inspector report` opened in a real headless Chromium (file:// URL, network disabled): no console
errors, no request leaves the page, the timeline has a lane per connection and a mark per record, the
search box filters the table, clicking a message shows its payload, and hostile payloads stay text."""

from __future__ import annotations

import io

import pytest

from helpers.browser import Browser, chromium
from helpers.offline import FIXTURES, cli
from inspector.analysis import Analysis, Options
from inspector.present.jsonl import JsonlWriter
from inspector.records import Connection, Exchange, Handshake, Message, SseEvent
from inspector.sources import open_source

pytestmark = pytest.mark.skipif(chromium() is None, reason="chromium is not installed")

FIXTURE_FILES = [FIXTURES / "pcap" / "ws_plain.pcap", FIXTURES / "pcap" / "sse.pcap",
                 FIXTURES / "pcap" / "polling.pcap", FIXTURES / "pcap" / "ws_deflate.pcap",
                 FIXTURES / "har" / "chromium-devtools.har"]
HOSTILE = '</script><script>window.pwned=1</script><img src=x onerror="window.pwned=2"><b>bold</b>'


@pytest.fixture(scope="module")
def browser():
    with Browser() as b:
        yield b


def records_of(path) -> list:
    out: list = []
    analysis = Analysis(out.append, source="test", options=Options())
    open_source(str(path)).run(analysis)
    analysis.finish()
    return out


def make_report(tmp_path, *inputs) -> str:
    target = tmp_path / "report.html"
    run = cli("report", *map(str, inputs), "-o", str(target))
    assert run.returncode == 0, run.stderr
    return target.as_uri()


def count(browser, selector: str) -> int:
    return browser.evaluate(f"document.querySelectorAll({selector!r}).length")


def click(browser, selector: str, index: int = 0) -> None:
    """A real mouse click (Input.dispatchMouseEvent) at the middle of the element."""
    box = browser.evaluate(
        f"(() => {{ const e = document.querySelectorAll({selector!r})[{index}]; e.scrollIntoView({{block: 'center'}});"
        " const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()")
    for kind in ("mousePressed", "mouseReleased"):
        browser.send("Input.dispatchMouseEvent",
                     {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1})


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.name for p in FIXTURE_FILES])
def test_fixture_report_draws_every_record(browser, tmp_path, path):
    records = records_of(path)
    browser.open(make_report(tmp_path, path))
    assert browser.evaluate("window.inspectorReport.ready") is True
    assert browser.errors == []
    assert all(url.startswith("file://") for url in browser.requests) and len(browser.requests) == 1
    assert count(browser, "#timeline .lane") == sum(isinstance(r, Connection) for r in records)
    assert count(browser, "#timeline .mark.msg") == sum(
        isinstance(r, Message) and r.ts is not None for r in records)
    assert count(browser, "#timeline .mark.sse") == sum(isinstance(r, SseEvent) and r.ts is not None for r in records)
    assert count(browser, "#timeline .bar") == sum(isinstance(r, Exchange) and r.ts_request is not None for r in records)
    assert count(browser, "#timeline .mark.hs") == sum(isinstance(r, Handshake) for r in records)
    messages = sum(isinstance(r, Message) for r in records)
    assert count(browser, "#msg-body tr") == min(100, messages)


def test_search_filters_and_click_shows_payload(browser, tmp_path):
    path = FIXTURES / "har" / "chromium-devtools.har"
    records = records_of(path)
    browser.open(make_report(tmp_path, path))
    browser.evaluate("(() => { const s = document.getElementById('f-search'); s.value = 'echo';"
                     " s.dispatchEvent(new Event('input')); })()")
    want = [r.text for r in records if isinstance(r, Message) and r.text and "echo" in r.text.lower()]
    browser.evaluate("new Promise((resolve) => setTimeout(resolve, 400))")
    assert count(browser, "#msg-body tr") == len(want) == 2
    click(browser, "#msg-body tr", 1)
    assert browser.evaluate("document.getElementById('payload').textContent") == want[1]
    click(browser, ".tabs button[data-view=json]")
    # the second echo is of '{"op":"subscribe","topic":"prices"}' prefixed "echo: ": not JSON
    assert browser.evaluate("document.getElementById('payload').textContent").startswith("(not JSON")
    # a mark on the timeline: clicking a client message shows the record and its payload
    first_client = next(r for r in records if isinstance(r, Message) and r.direction == "client")
    browser.evaluate("document.getElementById('f-search').value = ''")
    click(browser, ".tabs button[data-view=text]")
    index = [r for r in records if isinstance(r, Message)].index(first_client)
    # marks a microsecond apart overlap at this zoom: the event goes to this one mark
    browser.evaluate(f"document.querySelector('#timeline .mark.msg[data-i=\"{index}\"]')"
                     ".dispatchEvent(new MouseEvent('click', {bubbles: true}))")
    assert first_client.text in browser.evaluate("document.getElementById('record').textContent")
    assert browser.evaluate("document.getElementById('payload').textContent") == first_client.text
    click(browser, ".tabs button[data-view=hex]")
    assert browser.evaluate("document.getElementById('payload').textContent").startswith(
        "00000000  " + " ".join(f"{b:02x}" for b in first_client.text.encode()[:16]))
    assert browser.errors == []


def _hostile_records(tmp_path):
    t = 1_700_000_000.0
    records = [
        Exchange(conn="c1", method="GET", url="http://127.0.0.1:1/ws?x=" + HOSTILE, status=101, content_type=None,
                 ts_request=t, ts_response=t + 0.01, ts_end=t + 0.01, request_body_bytes=0, response_body_bytes=0),
        Message(conn="c1", direction="server", ts=t + 0.1, opcode_name="text", length=len(HOSTILE), frames=1,
                compressed=False, sha256="0" * 64, text=HOSTILE),
        Message(conn="c1", direction="client", ts=t + 0.2, opcode_name="text", length=9, frames=1,
                compressed=False, sha256="0" * 64, text="\u2028</p>&amp;"),
        SseEvent(conn="c1", ts=t + 0.3, event="<script>", data=HOSTILE, id="<img src=x onerror=alert(1)>",
                 retry=None),
        Connection(conn="c1", client="127.0.0.1:2", server="127.0.0.1:1", ts_start=t, ts_end=t + 1,
                   source="live", protocol="websocket"),
    ]
    buffer = io.BytesIO()
    writer = JsonlWriter(buffer)
    writer.write_many(records)
    writer.flush()
    target = tmp_path / "hostile.jsonl"
    target.write_bytes(buffer.getvalue())
    return target


def test_script_payload_is_text_not_markup(browser, tmp_path):
    uri = make_report(tmp_path, _hostile_records(tmp_path))
    browser.open(uri)
    assert browser.evaluate("window.inspectorReport.ready") is True
    assert browser.evaluate("typeof window.pwned") == "undefined"
    assert browser.errors == [] and len(browser.requests) == 1  # an <img src=x> would have asked for x
    assert count(browser, "img") == 0 and count(browser, "b") == 0
    assert count(browser, "script") == 2  # the data element and the page's own script
    click(browser, "#msg-body tr", 0)
    assert browser.evaluate("document.getElementById('payload').textContent") == HOSTILE
    assert HOSTILE[:60] in browser.evaluate("document.querySelector('#msg-body td.preview').textContent")
    click(browser, "#msg-body tr", 1)
    assert browser.evaluate("document.getElementById('payload').textContent") == "\u2028</p>&amp;"
    assert browser.evaluate("typeof window.pwned") == "undefined"


def test_100k_messages_stay_usable(browser, tmp_path):
    t = 1_700_000_000.0
    buffer = io.BytesIO()
    writer = JsonlWriter(buffer)
    for i in range(100_000):
        writer.write(Message(conn=f"c{i % 4}", direction=("client", "server")[i % 2], ts=t + i * 0.01,
                             opcode_name="text", length=40, frames=1, compressed=False, sha256="0" * 64,
                             text=f'{{"seq": {i}, "price": {i * 0.5}}}'))
    for c in range(4):
        writer.write(Connection(conn=f"c{c}", client=None, server="127.0.0.1:1", ts_start=t, ts_end=t + 1000,
                                source="live", protocol="websocket"))
    writer.flush()
    source = tmp_path / "big.jsonl"
    source.write_bytes(buffer.getvalue())
    browser.open(make_report(tmp_path, source))
    assert browser.evaluate("window.inspectorReport.ready") is True
    assert browser.errors == []
    assert count(browser, "#timeline .lane") == 4
    assert count(browser, "#timeline .mark.msg") == 0 and count(browser, "#timeline .bin") > 0  # binned
    assert count(browser, "#msg-body tr") == 100
    assert "(100000 messages)" in browser.evaluate("document.getElementById('page-info').textContent")
    browser.evaluate("(() => { const s = document.getElementById('f-search'); s.value = '\"seq\": 99999,';"
                     " s.dispatchEvent(new Event('input')); })()")
    browser.evaluate("new Promise((resolve) => setTimeout(resolve, 600))")
    assert count(browser, "#msg-body tr") == 1
    for _ in range(12):  # zoomed in far enough, the marks are drawn one by one
        click(browser, "#zoom-in")
    browser.evaluate("new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 50)))")
    assert 0 < count(browser, "#timeline .mark.msg") <= 4000


def test_sampling_is_said(browser, tmp_path):
    t = 1_700_000_000.0
    buffer = io.BytesIO()
    writer = JsonlWriter(buffer)
    for i in range(3000):
        writer.write(Message(conn="c1", direction="client", ts=t + i, opcode_name="text", length=1, frames=1,
                             compressed=False, sha256="0" * 64, text="x"))
    writer.flush()
    source = tmp_path / "many.jsonl"
    source.write_bytes(buffer.getvalue())
    target = tmp_path / "sampled.html"
    run = cli("report", str(source), "-o", str(target), "--max-messages", "1000")
    assert run.returncode == 0, run.stderr
    browser.open(target.as_uri())
    assert "1 in 4 of 3000" in browser.evaluate("document.getElementById('sampled').textContent")
    assert count(browser, "#timeline .mark.msg") == 750
