"""MQTT 3.1.1 and 5 over WebSocket (binary messages; one message may hold several packets or a part of
one, so each direction keeps a bounded buffer).

Fixed header: packet type (high nibble), flags, remaining length (variable byte integer, at most four
bytes).  Decoded: CONNECT (protocol level, client id), CONNACK (return/reason code), PUBLISH (topic,
QoS, retain, packet id), PUBACK/PUBREC/PUBREL/PUBCOMP, SUBSCRIBE/UNSUBSCRIBE (topic filters),
SUBACK/UNSUBACK, PINGREQ/PINGRESP, DISCONNECT, AUTH; MQTT 5 properties are skipped.

Operations: CONNECT..CONNACK, PUBLISH QoS 1..PUBACK, PUBLISH QoS 2..PUBCOMP (PUBREC counted),
SUBSCRIBE..SUBACK, UNSUBSCRIBE..UNSUBACK; a failure code ends them with outcome error.
"""

from __future__ import annotations

from inspector.app.base import Decoder, Operations, other
from inspector.records import AppLayer

__all__ = ["MqttDecoder", "parse_packet"]

TYPES = (None, "connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp", "subscribe", "suback",
         "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth")
#: a packet longer than this is skipped (counted, not buffered)
MAX_PACKET = 1 << 20
_MAX_PACKETS = 256
_ANSWERS = {"puback": "publish", "pubcomp": "publish", "suback": "subscribe", "unsuback": "unsubscribe"}


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.i = data, 0

    def u8(self) -> int:
        if self.i >= len(self.data):
            raise ValueError("packet ends early")
        self.i += 1
        return self.data[self.i - 1]

    def u16(self) -> int:
        return self.u8() << 8 | self.u8()

    def text(self) -> str:
        n = self.u16()
        if self.i + n > len(self.data):
            raise ValueError("string runs past the packet")
        self.i += n
        return self.data[self.i - n:self.i].decode("utf-8", "replace")[:512]

    def varint(self) -> int:
        value = 0
        for shift in (0, 7, 14, 21):
            b = self.u8()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
        raise ValueError("variable byte integer over four bytes")

    def skip_properties(self, v5: bool) -> None:
        if v5:
            n = self.varint()
            if self.i + n > len(self.data):
                raise ValueError("properties run past the packet")
            self.i += n


def _remaining_length(buf: bytes | bytearray, i: int) -> tuple[int | None, int]:
    """(remaining length, header size) of the packet at ``i``; (None, 0) if the header is not all there;
    (-1, 0) if it is malformed."""
    value = 0
    for k, shift in enumerate((0, 7, 14, 21)):
        if i + 1 + k >= len(buf):
            return None, 0
        b = buf[i + 1 + k]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, 2 + k
    return -1, 0


def parse_packet(b0: int, body: bytes, v5: bool) -> AppLayer:
    t, flags = b0 >> 4, b0 & 0x0F
    layer = AppLayer(protocol="mqtt", kind=TYPES[t] or "reserved")
    if t == 0:
        layer.error = "reserved packet type 0"
        return layer
    r = _Reader(body)
    try:
        _fields(layer, t, flags, r, v5)
    except ValueError as exc:
        layer.error = str(exc)
    return layer


def _fields(layer: AppLayer, t: int, flags: int, r: _Reader, v5: bool) -> None:
    if t == 1:
        name, level = r.text(), None
        level = r.u8()
        r.u8()
        r.u16()
        r.skip_properties(level == 5)
        layer.args = {"protocol": name, "level": level}
        layer.name = r.text()  # the client id
    elif t == 2:
        r.u8()
        code = r.u8()
        layer.args = {"code": code}
        layer.error = f"refused: code {code}" if code else None
    elif t == 3:
        qos = (flags >> 1) & 3
        layer.channel = r.text()
        if qos:
            layer.id = str(r.u16())
        r.skip_properties(v5)
        layer.args = {"qos": qos, "retain": bool(flags & 1), "dup": bool(flags & 8), "bytes": len(r.data) - r.i}
    elif t in (4, 5, 6, 7, 11):
        layer.id = str(r.u16())
        if v5 and r.i < len(r.data):
            code = r.u8()
            layer.args = {"code": code}
            layer.error = f"failed: reason code {code}" if code >= 0x80 else None
    elif t in (8, 10):
        layer.id = str(r.u16())
        r.skip_properties(v5)
        topics = []
        while r.i < len(r.data) and len(topics) < 64:
            topics.append(r.text())
            if t == 8:
                r.u8()
        layer.channel = topics[0] if topics else None
        layer.args = {"topics": topics}
    elif t == 9:
        layer.id = str(r.u16())
        r.skip_properties(v5)
        codes = list(r.data[r.i:r.i + 64])
        layer.args = {"codes": codes}
        layer.error = "refused: " + ", ".join(map(str, codes)) if codes and all(c >= 0x80 for c in codes) else None


class MqttDecoder(Decoder):
    protocol = "mqtt"

    def __init__(self, ops: Operations) -> None:
        super().__init__(ops)
        self.v5 = False
        self._buf: dict[str, bytearray] = {"client": bytearray(), "server": bytearray()}
        self._skip: dict[str, int] = {"client": 0, "server": 0}  # bytes of an oversized packet still to drop

    def message(self, direction, payload, text, ts, truncated):
        if truncated:  # the cut tail is lost: the stream cannot be followed past this message
            self._buf[direction].clear()
            return AppLayer(protocol="mqtt", kind="unknown", error="message over the decoder's cap: skipped")
        buf = self._buf.setdefault(direction, bytearray())
        skip = min(self._skip.get(direction, 0), len(payload))
        self._skip[direction] = self._skip.get(direction, 0) - skip
        buf += payload[skip:]
        layers = self._packets(direction, buf, ts)
        if not layers:
            return AppLayer(protocol="mqtt", kind="partial", args={"buffered": len(buf)})
        if buf:
            layers[-1].args = dict(layers[-1].args or {}, buffered=len(buf))
        return layers[0] if len(layers) == 1 else AppLayer(protocol="mqtt", kind="packets", packets=layers)

    def _packets(self, direction: str, buf: bytearray, ts) -> list[AppLayer]:
        out: list[AppLayer] = []
        i = 0
        while i < len(buf) and len(out) < _MAX_PACKETS:
            n, size = _remaining_length(buf, i)
            if n is None:
                break
            if n < 0:
                out.append(AppLayer(protocol="mqtt", kind="unknown", error="malformed remaining length"))
                i = len(buf)
                break
            if n > MAX_PACKET:
                out.append(AppLayer(protocol="mqtt", kind=TYPES[buf[i] >> 4] or "reserved",
                                    error=f"packet of {n} bytes over the decoder's cap: skipped"))
                self._skip[direction] = max(0, i + size + n - len(buf))
                i = min(len(buf), i + size + n)
                continue
            if i + size + n > len(buf):
                break
            layer = parse_packet(buf[i], bytes(buf[i + size:i + size + n]), self.v5)
            i += size + n
            self._operation(direction, layer, ts)
            out.append(layer)
        del buf[:i]
        return out

    def _operation(self, direction: str, layer: AppLayer, ts) -> None:
        ops, kind = self.ops, layer.kind
        if kind == "connect":
            self.v5 = isinstance(layer.args, dict) and layer.args.get("level") == 5
            ops.start("connect", "connect", layer.name, None, direction, ts)
        elif kind == "connack":
            ops.end("connect", ts, "error" if layer.error else "ok", error=layer.error)
        elif kind in ("publish", "subscribe", "unsubscribe") and layer.id is not None:
            ops.start((direction, kind, layer.id), kind, layer.channel, layer.id, direction, ts, layer.channel)
        elif kind == "pubrec":
            key = (other(direction), "publish", layer.id)
            if layer.error:
                ops.end(key, ts, "error", error=layer.error)
            else:
                ops.item(key)
        elif kind in _ANSWERS:
            ops.end((other(direction), _ANSWERS[kind], layer.id), ts, "error" if layer.error else "ok",
                    error=layer.error)
