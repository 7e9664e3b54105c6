"""The application layer for people: one phrase per decoded payload (``socket.io event "chat" ns /
ack 0``) and a per-protocol summary of messages by kind and name and of operations with their outcomes
and latency (or lifetime) percentiles.  Everything from the traffic goes through `escape_terminal`."""

from __future__ import annotations

from collections import Counter

from inspector.present.escape import escape_terminal
from inspector.records import AppLayer, Operation

__all__ = ["app_text", "AppSummary"]

_MAX_NAMES = 64  # distinct (kind, name) pairs counted per protocol
_MAX_SAMPLES = 10000  # latencies kept per operation name


def _q(text: str | None) -> str:
    return '"' + escape_terminal(text[:80]) + '"' if text is not None else ""


def app_text(layer: AppLayer) -> str:
    """``socket.io event "chat" ns / ack 0``; a polling payload or batch lists its packets' kinds."""
    parts = [escape_terminal(layer.protocol), escape_terminal(layer.kind or "?")]
    if layer.name is not None:
        parts.append(_q(layer.name))
    if layer.channel is not None:
        if layer.protocol.startswith("graphql"):  # the channel is the operation type
            parts.append(f"({escape_terminal(layer.channel[:20])})")
        else:
            parts.append(("ns " if layer.protocol == "socket.io" else "on ") + escape_terminal(layer.channel[:80]))
    if layer.id is not None:
        parts.append(("ack " if layer.protocol == "socket.io" else "id ") + escape_terminal(layer.id[:40]))
    if layer.attachments:
        parts.append(f"+{layer.attachments} attachment{'s' if layer.attachments != 1 else ''}")
    if layer.packets:
        inner = ", ".join(app_text(p).split(" ", 1)[-1] for p in layer.packets[:4])
        parts.append(f"[{inner}{', ...' if len(layer.packets) > 4 else ''}]")
    if layer.error:
        parts.append("! " + escape_terminal(layer.error[:120]))
    return " ".join(parts)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


class AppSummary:
    """Counts fed by the renderer; `lines` gives the summary (escaped text, indent) pairs."""

    def __init__(self) -> None:
        self.kinds: dict[str, Counter] = {}
        self.ops: dict[tuple[str, str, str | None], dict] = {}

    def message(self, layer: AppLayer) -> None:
        for item in layer.packets or (layer,):
            counts = self.kinds.setdefault(item.protocol, Counter())
            key = (item.kind or "?", item.name)
            if key in counts or len(counts) < _MAX_NAMES:
                counts[key] += 1

    def operation(self, op: Operation) -> None:
        key = (op.protocol, op.kind, op.name)
        entry = self.ops.get(key)
        if entry is None:
            if len(self.ops) >= _MAX_NAMES * 8:
                return
            entry = self.ops[key] = {"outcomes": Counter(), "latency": [], "messages": 0}
        entry["outcomes"][op.outcome] += 1
        entry["messages"] += op.messages
        if op.latency_s is not None and len(entry["latency"]) < _MAX_SAMPLES:
            entry["latency"].append(op.latency_s)

    def lines(self) -> list[tuple[str, int]]:
        out: list[tuple[str, int]] = []
        for protocol in sorted(set(self.kinds) | {k[0] for k in self.ops}):
            counts = self.kinds.get(protocol, Counter())
            kinds = ", ".join(f"{escape_terminal(k)}{' ' + _q(n) if n is not None else ''} x{c}"
                              for (k, n), c in counts.most_common(12))
            out.append((f"{escape_terminal(protocol)}: {kinds}" if kinds else escape_terminal(protocol), 2))
            for (p, kind, name), entry in sorted(self.ops.items(), key=lambda kv: -sum(kv[1]["outcomes"].values())):
                if p == protocol:
                    out.append((self._op_line(kind, name, entry), 4))
        return out

    @staticmethod
    def _op_line(kind: str, name: str | None, entry: dict) -> str:
        outcomes = entry["outcomes"]
        total = sum(outcomes.values())
        text = f"{escape_terminal(kind)}{' ' + _q(name) if name is not None else ''}: {total} ("
        text += ", ".join(f"{n} {escape_terminal(o)}" for o, n in outcomes.most_common()) + ")"
        latency = sorted(entry["latency"])
        if latency:
            word = "lifetime" if entry["messages"] or kind in ("subscription", "subscribe") else "latency"
            pick = lambda q: latency[min(len(latency) - 1, int(q * len(latency)))]  # noqa: E731
            text += f", {word} p50 {_ms(pick(0.5))} p90 {_ms(pick(0.9))} max {_ms(latency[-1])}"
        if entry["messages"]:
            text += f", {entry['messages']} stream messages"
        return text
