"""The addon's mitmproxy options, each declared once: name, type, default, help, and what a valid value is.

The help text is the documentation: ``mitmdump --options`` shows it, and ``python -m inspector.mitm.options``
prints the Markdown table that docs/live.md carries under "Options" (a unit test keeps the two equal).
`declare` adds the options in the addon's ``load``, `check` validates them in ``configure``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Optional

from inspector.analysis import Options
from inspector.classify import Thresholds
from inspector.errors import InputError
from inspector.filter import Filter

__all__ = ["LOG_LEVELS", "OPTIONS", "Option", "check", "declare", "markdown", "parse_thresholds"]

LOG_LEVELS = ("summary", "all", "off")


@dataclasses.dataclass(frozen=True)
class Option:
    name: str
    type: Any
    default: Any
    help: str
    valid: Callable[[Any], bool] | None = None  # None: every value of the type
    requirement: str = ""  # the end of "<name> must be ...", when ``valid`` refuses a value


OPTIONS: tuple[Option, ...] = (
    Option(
        "inspector_jsonl", Optional[str], None,  # noqa: UP045 (mitmproxy 11 option types: typing.Optional)
        "JSON Lines file the records are appended to ('-': stdout); a record is written within 50 ms.",
    ),
    Option(
        "inspector_report", Optional[str], None,  # noqa: UP045
        "Self-contained HTML report (as 'inspector report' writes) written when mitmproxy exits and on the "
        "inspector.report command; it shows the records from when the option was set.",
    ),
    Option(
        "inspector_har", Optional[str], None,  # noqa: UP045
        "HAR 1.2 file (Chrome DevTools imports it, WebSocket messages included) written as connections end and "
        "completed when mitmproxy exits; setting another file completes this one.",
    ),
    Option(
        "inspector_wire", bool, False,
        "Wire mode: relay upgraded WebSocket connections as raw TCP and decode the original frames (FIN, RSV, "
        "masking keys, fragments, violations). Bytes are forwarded unchanged.",
    ),
    Option(
        "inspector_ws_keep", int, 100,
        "Messages mitmproxy keeps in memory per WebSocket/TCP flow (-1: all). Records are written regardless.",
        lambda v: v >= -1, "-1 (keep all) or a count >= 0",
    ),
    Option(
        "inspector_report_interval", int, 0,
        "Seconds between pattern summaries (0: only on exit and on the inspector.report command).",
        lambda v: v >= 0, ">= 0 seconds",
    ),
    Option(
        "inspector_log", str, "all",
        "Log lines: 'all' (a line per WebSocket message and SSE event with an escaped preview, and everything "
        "'summary' logs; each log line costs mitmproxy about 0.1 ms), 'summary' (handshakes, closes, violations, "
        "warnings, event streams, patterns) or 'off'.",
        lambda v: v in LOG_LEVELS, "one of " + ", ".join(LOG_LEVELS),
    ),
    Option(
        "inspector_filter", str, "",
        "Only records matching this filter reach the log and inspector_jsonl: terms that must all match, "
        "~c CONN, ~d HOST, ~u URL-PART, ~t TYPE, ~dir client|server, ~op OPCODE, ~n NAME, ~b REGEX, ~websocket, "
        "~sse (inspector.filter; the same filter as analyze's options).",
    ),
    Option(
        "inspector_view_cap", int, Options.view_cap,
        "Characters/bytes of a payload kept in message records and views.",
        lambda v: v >= 1, ">= 1",
    ),
    Option(
        "inspector_max_message", int, Options.max_message,
        "Largest WebSocket message (after inflating) analysed, bytes; larger ones are cut (deflate bombs). "
        "Also the most of a response body decoded to hash it.",
        lambda v: v >= 1, ">= 1 byte",
    ),
    Option(
        "inspector_sse_max_line", int, Options.sse_max_line,
        "Longest event-stream line buffered, bytes; longer lines are skipped (the bytes still pass).",
        lambda v: v >= 1, ">= 1 byte",
    ),
    Option(
        "inspector_sse_max_event", int, Options.sse_max_event,
        "Largest event-stream event data buffered, bytes; larger events are dropped and counted.",
        lambda v: v >= 1, ">= 1 byte",
    ),
    Option(
        "inspector_sse_keep", int, 64 * 1024,
        "Bytes of the start of a streamed event stream kept in the flow (content views, saved flows); 0: none.",
        lambda v: v >= 0, ">= 0 bytes",
    ),
    Option(
        "inspector_thresholds", str, "",
        "Classifier thresholds, 'name=value,...' (inspector.classify.Thresholds, e.g. "
        "long_poll_hold_s=2); read at startup.",
    ),
)


def declare(loader: Any) -> None:
    """Add every option to mitmproxy (the addon's ``load``)."""
    for option in OPTIONS:
        loader.add_option(option.name, option.type, option.default, option.help)


def check(values: Any, updated: set[str]) -> str | None:
    """The first problem with an updated option's value, as "<name> must be ...", or None."""
    for option in OPTIONS:
        if option.name in updated and option.valid is not None and not option.valid(getattr(values, option.name)):
            return f"{option.name} must be {option.requirement}"
    if "inspector_thresholds" in updated:
        try:
            parse_thresholds(values.inspector_thresholds)
        except InputError as exc:
            return str(exc)
    if "inspector_filter" in updated:
        try:
            Filter.parse(values.inspector_filter)
        except InputError as exc:
            return f"inspector_filter: {exc}"
    return None


def parse_thresholds(spec: str) -> Thresholds:
    """``name=value,...`` -> classify.Thresholds; InputError naming the problem."""
    pairs = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise InputError(f"inspector_thresholds: {item!r} is not name=value")
        pairs[name.strip()] = value.strip()
    try:
        return Thresholds.from_mapping(pairs)
    except InputError as exc:
        raise InputError(f"inspector_thresholds: {exc}") from None


def _type_name(spec: Any) -> str:
    return "str (optional)" if spec == Optional[str] else spec.__name__  # noqa: UP045


def _default(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and value >= 1024 and value % 1024 == 0:
        kib = value // 1024
        return f"{value} ({kib // 1024} MiB)" if kib % 1024 == 0 else f"{value} ({kib} KiB)"
    return f"`{value}`" if isinstance(value, str) and value else ("empty" if value == "" else str(value))


def markdown() -> str:
    """The options as a Markdown table (the section "Options" of docs/live.md)."""
    rows = ["| option | type | default | meaning |", "| --- | --- | --- | --- |"]
    for option in OPTIONS:
        rows.append(f"| `{option.name}` | {_type_name(option.type)} | {_default(option.default)} | {option.help} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
