"""What every application decoder shares: bounded JSON parsing and the operation table."""

from __future__ import annotations

from typing import Any

import msgspec

from inspector.records import AppLayer, Operation

__all__ = [
    "APP_CAP", "ARGS_CAP", "MAX_OPEN", "Decoder", "Operations", "parse_json", "other", "args_value", "jsonable",
]

#: payload bytes of one message kept for its decoder (longer payloads: their head is decoded)
APP_CAP = 1 << 18
#: a payload's arguments are kept in ``AppLayer.args`` only when their JSON text is at most this long
ARGS_CAP = 4096
#: open operations kept per connection; past it the oldest one ends as "evicted"
MAX_OPEN = 4096


def parse_json(data: bytes | str) -> tuple[Any, str | None]:
    """(value, None), or (None, why it is not JSON)."""
    try:
        return msgspec.json.decode(data), None
    except (ValueError, RecursionError) as exc:  # msgspec.DecodeError is a ValueError
        return None, f"not JSON: {str(exc)[:80]}"


def args_value(value: Any, size: int) -> Any:
    """``value`` if its JSON text (``size`` bytes) fits `ARGS_CAP`, else None."""
    return value if size <= ARGS_CAP else None


def jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` (from MessagePack or a protobuf guess) with only JSON types: bytes become ``"<N bytes>"``,
    map keys strings, anything else its ``str``; nesting past 32 levels ``"..."``."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > 32:
        return "..."
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"<{len(value)} bytes>"
    if isinstance(value, (list, tuple)):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): jsonable(v, depth + 1) for k, v in value.items()}
    return str(value)[:256]


def other(direction: str) -> str:
    return "server" if direction == "client" else "client"


class Operations:
    """Open operations of one connection, keyed by whatever the protocol pairs requests and answers by;
    ended ones become `Operation` records in ``out`` (the session drains it)."""

    def __init__(self, conn: str, protocol: str) -> None:
        self.conn = conn
        self.protocol = protocol
        self._open: dict[Any, dict] = {}
        self.out: list[Operation] = []

    def start(self, key: Any, kind: str, name: str | None, id: str | None, direction: str, ts: float | None,
              channel: str | None = None) -> None:
        if key in self._open:  # the same id again before an answer: the first one is never answered
            self.end(key, ts, "never answered", error="its id was reused")
        elif len(self._open) >= MAX_OPEN:
            self.end(next(iter(self._open)), ts, "never answered", error="evicted: too many open operations")
        self._open[key] = dict(kind=kind, name=name, id=id, direction=direction, ts_start=ts, channel=channel,
                               messages=0)

    def item(self, key: Any) -> bool:
        op = self._open.get(key)
        if op is not None:
            op["messages"] += 1
        return op is not None

    def get(self, key: Any) -> dict | None:
        return self._open.get(key)

    def end(self, key: Any, ts: float | None, outcome: str, error: str | None = None) -> bool:
        op = self._open.pop(key, None)
        if op is None:
            return False
        start = op["ts_start"]
        answered = outcome != "never answered"
        latency = ts - start if answered and ts is not None and start is not None else None
        self.out.append(Operation(protocol=self.protocol, conn=self.conn, ts_end=ts, latency_s=latency,
                                  outcome=outcome, error=error, **op))
        return True

    def finish(self, ts: float | None) -> None:
        """End of the connection: what is still open was never answered."""
        for key in list(self._open):
            self.end(key, ts, "never answered")


class Decoder:
    """One connection's decoder: `message` for each text/binary message (payload capped at `APP_CAP`,
    ``truncated`` when the message was longer); answers an AppLayer or None (not this protocol's)."""

    protocol = ""

    def __init__(self, ops: Operations) -> None:
        self.ops = ops

    def message(self, direction: str, payload: bytes, text: bool, ts: float | None, truncated: bool) -> AppLayer | None:
        raise NotImplementedError
