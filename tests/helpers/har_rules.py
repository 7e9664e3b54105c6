"""HAR 1.2's required structure (the specification, "HTTP Archive 1.2"), checked on a parsed HAR, and
Chrome's WebSocket extension as Chrome DevTools writes it (fixtures/har/chromium-devtools.har)."""

from __future__ import annotations

import datetime as _dt

_TIMINGS_REQUIRED = ("send", "wait", "receive")
_TIMINGS_OPTIONAL = ("blocked", "dns", "connect", "ssl")


def _nv(items) -> None:
    assert isinstance(items, list)
    for item in items:
        assert isinstance(item["name"], str) and isinstance(item["value"], str), item


def check_entry(entry: dict) -> None:
    _dt.datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00"))
    assert isinstance(entry["time"], (int, float)) and entry["time"] >= 0
    request, response = entry["request"], entry["response"]
    for key in ("method", "url", "httpVersion"):
        assert isinstance(request[key], str)
    for part in (request, response):
        _nv(part["headers"])
        _nv(part["cookies"])
        assert isinstance(part["headersSize"], int) and isinstance(part["bodySize"], int)
    _nv(request["queryString"])
    assert isinstance(response["status"], int) and isinstance(response["statusText"], str)
    assert isinstance(response["redirectURL"], str)
    content = response["content"]
    assert isinstance(content["size"], int) and isinstance(content["mimeType"], str)
    assert isinstance(entry["cache"], dict)
    timings = entry["timings"]
    for key in _TIMINGS_REQUIRED + _TIMINGS_OPTIONAL:
        # -1: not known (HAR's value for phases that do not apply; the reader takes it as unknown)
        assert timings.get(key, -1) == -1 or timings[key] >= 0, (key, timings)
    total = sum(timings[k] for k in _TIMINGS_REQUIRED + _TIMINGS_OPTIONAL if timings.get(k, -1) >= 0)
    assert abs(total - entry["time"]) < 0.01, (total, entry["time"])
    if entry.get("_resourceType") == "websocket":
        for message in entry["_webSocketMessages"]:
            assert message["type"] in ("send", "receive")
            assert message["time"] is None or isinstance(message["time"], float)  # None: the source had no time
            assert message["opcode"] in (0, 1, 2, 8, 9, 10)
            assert isinstance(message["data"], str)


def check_har(har: dict) -> None:
    log = har["log"]
    assert log["version"] == "1.2"
    assert isinstance(log["creator"]["name"], str) and isinstance(log["creator"]["version"], str)
    assert isinstance(log["entries"], list)
    for entry in log["entries"]:
        check_entry(entry)
