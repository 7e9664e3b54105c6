"""Rendering records with HumanRenderer into a fake terminal of a given width, and records carrying
hostile text."""

from __future__ import annotations

import io
import re
import unicodedata

from inspector import records
from inspector.present.terminal import HumanRenderer

SGR = re.compile(r"\x1b\[[0-9;]*m")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _columns(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in SGR.sub("", line))


def _render(recs, stream=None, **kw) -> str:
    stream = stream if stream is not None else io.StringIO()
    renderer = HumanRenderer(stream, **kw)
    for record in recs:
        renderer(record)
    renderer.close()
    return stream.getvalue()


def _hostile_records() -> list:
    conn = f"c{HOSTILE}"
    url = f"http://h/{HOSTILE}?q={'長' * 60}"
    return [
        records.Exchange(
            conn=conn, method="GET", url=url, status=101, content_type=f"text/{HOSTILE}", ts_request=1.0,
            ts_response=1.1, ts_end=1.1, request_body_bytes=0, response_body_bytes=0,
        ),
        records.Handshake(
            conn=conn, url=url, valid=False, key="k", accept="a", expected_accept="b", subprotocol=HOSTILE,
            extensions=[HOSTILE],
            findings=[records.Finding(name="accept-mismatch", severity="error", message=f"got {HOSTILE} " * 8)],
        ),
        *[
            records.Frame(
                conn=conn, direction="client", ts=1.2 + i, index=i, fin=True, rsv1=False, rsv2=False, rsv3=False,
                opcode=1, opcode_name="text", masked=False, masking_key=None, payload_len=5,
                violations=["client-frame-unmasked"],
            )
            for i in range(3)
        ],
        records.Message(
            conn=conn, direction="server", ts=2.0, opcode_name="text", length=9, frames=1, compressed=False,
            sha256="00", text=HOSTILE,
        ),
        records.Message(
            conn=conn, direction="server", ts=2.1, opcode_name="close", length=9, frames=1, compressed=False,
            sha256="00", close_code=4000, close_reason=HOSTILE,
        ),
        records.SseEvent(conn=conn, ts=2.2, event=HOSTILE, data=HOSTILE, id=HOSTILE, retry=None),
        records.Connection(
            conn=conn, client=HOSTILE, server="h:80", ts_start=1.0, ts_end=3.0, source="pcap", protocol="websocket",
        ),
        records.Pattern(endpoint=f"GET {url}", pattern="websocket", requests=1, reason=HOSTILE * 5,
                        framework=HOSTILE, transport=HOSTILE),
        # records read back from an untrusted JSONL file: even the "names" may be hostile
        records.Frame(
            conn=conn, direction="server", ts=2.3, index=0, fin=True, rsv1=False, rsv2=False, rsv3=False,
            opcode=1, opcode_name=HOSTILE, masked=False, masking_key=None, payload_len=1, violations=[HOSTILE],
        ),
        records.Connection(
            conn="other", client=None, server=None, ts_start=None, ts_end=None, source="x", protocol=HOSTILE,
        ),
        records.WarningRecord(name="pcap-truncated", message=f"bad {HOSTILE}", count=4, conn=conn),
    ]


HOSTILE = "\x1b[2J\x1b]0;owned\x07\r\x9b31m\u202e"
