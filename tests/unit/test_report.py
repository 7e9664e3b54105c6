"""present.report without a browser: the embedded JSON cannot break out of its element, sampling keeps
the counts exact and spreads the rows, and the page is one file with no reference to the network."""

from __future__ import annotations

import io
import json
import re

from helpers.offline import FIXTURES
from inspector.analysis import Analysis, Options
from inspector.present.report import ReportBuilder, _Sampled, embed_json
from inspector.records import Message, Pattern
from inspector.sources import open_source


def test_embedded_json_escapes_markup_and_line_separators():
    value = {"text": "</script><script>alert(1)</script>&amp;\u2028\u2029<!--"}
    text = embed_json(value)
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text) == value


def test_sampling_halves_and_doubles_the_stride():
    sample = _Sampled(cap=1000)
    for i in range(10_000):
        sample.add(i)
    assert sample.seen == 10_000 and sample.stride == 16
    assert sample.rows == list(range(0, 10_000, 16))  # evenly spread over the whole run


def _report(path, **kwargs) -> str:
    builder = ReportBuilder(**kwargs)
    analysis = Analysis(builder, source="test", options=Options(strict=True))
    open_source(str(path)).run(analysis)
    analysis.finish()
    out = io.StringIO()
    builder.write(out)
    return out.getvalue()


def test_page_is_self_contained():
    html = _report(FIXTURES / "har" / "chromium-devtools.har")
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)  # no external script, style, font
    assert "<link" not in html
    data = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S).group(1)
    parsed = json.loads(data)
    assert parsed["messages_total"] == len(parsed["messages"]) == 8


def test_cards_have_the_pattern_figures_and_verdict():
    builder = ReportBuilder()
    analysis = Analysis(builder, source="test", options=Options(strict=True))
    open_source(str(FIXTURES / "pcap" / "polling.pcap")).run(analysis)
    analysis.finish()
    cards = {c["pattern"]: c for c in builder.cards()}
    short = cards["short-polling"]
    pattern = next(p for p in builder.patterns if isinstance(p, Pattern) and p.pattern == "short-polling")
    assert short["verdict"].startswith("worth replacing")
    assert ("requests", pattern.requests) in short["figures"]
    (_, asis, _), (_, push, _) = short["chart"]["bytes"]
    assert (asis, push) == (pattern.efficiency["poll_bytes"], pattern.efficiency["push_bytes"])


def test_message_rows_keep_previews_only():
    builder = ReportBuilder()
    text = "x" * 1000
    builder(Message(conn="c1", direction="client", ts=1.0, opcode_name="text", length=1000, frames=1,
                    compressed=False, sha256="0" * 64, text=text))
    row = builder.data()["messages"][0]
    assert len(row[5]) == 200 and row[7] & 4  # cut: the page says it shows a preview
