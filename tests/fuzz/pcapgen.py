"""A classic pcap (Ethernet, IPv4, TCP) of one connection carrying given byte streams, for the fuzzer."""

from __future__ import annotations

import struct

_CLIENT = (bytes([10, 0, 0, 1]), 40000)
_SERVER = (bytes([10, 0, 0, 2]), 80)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _packet(src, dst, seq: int, ack: int, flags: int, payload: bytes) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
    total = 20 + len(tcp) + len(payload)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 6, 0, src[0], dst[0])
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return eth + ip + tcp + payload


def pcap(segments: list[tuple[str, bytes]], snaplen: int = 262144, linktype: int = 1) -> bytes:
    """A pcap file: SYN handshake, then each ``(sender, bytes)`` as one segment ("client"/"server"), FINs."""
    seq = {"client": 1000, "server": 5000}
    records = []
    t = 1_700_000_000.0

    def add(sender: str, flags: int, payload: bytes = b"") -> None:
        nonlocal t
        src, dst = (_CLIENT, _SERVER) if sender == "client" else (_SERVER, _CLIENT)
        other = "server" if sender == "client" else "client"
        frame = _packet(src, dst, seq[sender], seq[other], flags, payload)
        sec, usec = int(t), int((t % 1) * 1e6)
        records.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
        seq[sender] += len(payload) + (1 if flags & 0x03 else 0)
        t += 0.001

    add("client", 0x02)
    add("server", 0x12)
    add("client", 0x10)
    for sender, payload in segments:
        for start in range(0, max(len(payload), 1), 1400):
            add(sender, 0x18, payload[start:start + 1400])
    add("client", 0x11)
    add("server", 0x11)
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)
    return header + b"".join(records)
