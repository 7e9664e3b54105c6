"""TCP reassembly (inspector.net.reassembly): ordering, retransmissions, overlaps, gaps, FIN/RST, wrap-around."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.net.reassembly import DATA, FIN, GAP, RST, Direction


def collect(events):
    data = b"".join(e[1] for e in events if e[0] == DATA)
    gaps = [e[1] for e in events if e[0] == GAP]
    return data, gaps


def segments(stream: bytes, isn: int, size: int):
    return [((isn + i) & 0xFFFFFFFF, stream[i : i + size]) for i in range(0, len(stream), size)]


def test_in_order_after_syn():
    d = Direction()
    assert d.segment(1000, b"", 1.0, syn=True) == []
    out = d.segment(1001, b"hello", 1.1) + d.segment(1006, b" world", 1.2)
    assert out == [(DATA, b"hello", 1.1), (DATA, b" world", 1.2)]
    assert d.segment(1012, b"", 1.3, fin=True) == [(FIN, None, 1.3)]


def test_out_of_order_keeps_each_segments_timestamp():
    d = Direction()
    d.segment(0, b"", 0.0, syn=True)
    assert d.segment(6, b"world", 2.0) == []
    assert d.segment(1, b"hello", 3.0) == [(DATA, b"hello", 3.0), (DATA, b"world", 2.0)]
    assert d.out_of_order == 1


def test_retransmission_and_overlap_first_copy_wins():
    d = Direction()
    d.segment(99, b"", 0.0, syn=True)
    d.segment(100, b"abcdef", 1.0)
    assert d.segment(100, b"abcdef", 1.1) == []  # full retransmission
    out = d.segment(103, b"XYZghi", 1.2)  # overlaps 3 delivered bytes
    assert out == [(DATA, b"ghi", 1.2)]
    assert d.retransmitted_bytes == 9 and d.overlaps == 1


def test_mid_connection_start_and_late_old_bytes():
    d = Direction()
    assert d.segment(5000, b"", 0.5) == []  # a pure ACK does not sync
    assert d.segment(5000, b"middle", 1.0) == [(DATA, b"middle", 1.0)]
    assert d.segment(4990, b"0123456789", 1.1) == []  # before the first seen byte: old
    assert d.bytes == 6


def test_sequence_wraparound():
    d = Direction()
    stream = bytes(range(256)) * 40
    isn = 0xFFFFFFFF - 3000
    d.segment(isn, b"", 0.0, syn=True)
    out = []
    for seq, chunk in segments(stream, isn + 1, 1000):
        out += d.segment(seq, chunk, 1.0)
    assert collect(out) == (stream, [])


def test_missing_segment_becomes_gap_when_buffer_is_full():
    d = Direction(max_buffer=2500)
    d.segment(0, b"", 0.0, syn=True)
    segs = segments(b"a" * 1000 + b"b" * 1000 + b"c" * 1000 + b"d" * 1000 + b"e" * 1000, 1, 1000)
    out = d.segment(*segs[0], 1.0)
    for seq, chunk in segs[2:]:  # segment "b" is lost
        out += d.segment(seq, chunk, 2.0)
    data, gaps = collect(out)
    assert gaps == [1000]
    assert data == b"a" * 1000 + b"c" * 1000 + b"d" * 1000 + b"e" * 1000
    assert d.gaps == 1 and d.gap_bytes == 1000
    assert d._pending_bytes == 0


def test_flush_releases_buffered_with_gap_and_fin():
    d = Direction()
    d.segment(0, b"", 0.0, syn=True)
    d.segment(1, b"abc", 1.0)
    assert d.segment(10, b"xyz", 2.0, fin=True) == []
    out = d.flush(3.0)
    assert out[0][0] == GAP and out[0][1] == 6
    assert out[1] == (DATA, b"xyz", 2.0)
    assert out[2][0] == FIN


def test_rst_releases_buffer_and_reports():
    d = Direction()
    d.segment(0, b"", 0.0, syn=True)
    d.segment(5, b"later", 1.0)
    out = d.segment(10, b"", 2.0, rst=True)
    assert [e[0] for e in out] == [GAP, DATA, RST]


def test_segment_count_is_bounded():
    d = Direction(max_segments=10)
    d.segment(0, b"", 0.0, syn=True)
    for i in range(100):
        d.segment(10 + 2 * i, b"x", 1.0)  # every other byte missing
    assert len(d._pending) <= 10


@settings(max_examples=60, deadline=None)
@given(
    stream=st.binary(min_size=1, max_size=3000),
    size=st.integers(1, 400),
    isn=st.integers(0, 0xFFFFFFFF),
    seed=st.integers(0, 2**32),
)
def test_any_reordering_with_duplicates_delivers_the_stream(stream, size, isn, seed):
    rng = random.Random(seed)
    segs = segments(stream, (isn + 1) & 0xFFFFFFFF, size)
    wire = segs + rng.sample(segs, k=min(len(segs), 3))  # some retransmitted
    # Reordering within a window, as real networks do; the SYN comes first.
    wire.sort(key=lambda s: ((s[0] - isn) & 0xFFFFFFFF) + rng.randint(0, 5 * size))
    d = Direction()
    out = d.segment(isn, b"", 0.0, syn=True)
    for seq, chunk in wire:
        out += d.segment(seq, chunk, 1.0)
    out += d.flush(2.0)
    assert collect(out) == (stream, [])


def test_new_syn_versus_retransmitted_syn():
    d = Direction()
    d.segment(1000, b"", 0.0, syn=True)
    d.segment(1001, b"data", 1.0)
    assert not d.is_new_syn(1000)  # the same SYN again
    assert d.is_new_syn(555555)  # the 4-tuple reused with a new initial sequence number
    mid = Direction()
    mid.segment(77, b"joined late", 1.0)
    assert mid.is_new_syn(76)


def test_a_hole_the_peer_acknowledged_is_a_gap_at_once():
    d = Direction()
    d.segment(0, b"", 0.0, syn=True)
    d.segment(1, b"aaaa", 1.0)
    assert d.segment(9, b"cccc", 1.2) == []  # "bbbb" (5-8) is missing
    assert d.acked(5, 1.3) == []  # acknowledges only what was delivered
    out = d.acked(13, 1.4)  # the receiver had 5-12: the capture missed "bbbb"
    assert out == [(GAP, 4, 1.4), (DATA, b"cccc", 1.2)]
    assert d.acked(13, 1.5) == [] and d.gaps == 1


def test_ack_short_of_the_buffered_segment_keeps_waiting_for_the_rest():
    d = Direction()
    d.segment(0, b"", 0.0, syn=True)
    d.segment(1, b"aaaa", 1.0)
    d.segment(13, b"dddd", 1.2)  # 5-12 missing
    out = d.acked(9, 1.3)  # 5-8 acknowledged: lost; 9-12 may still come
    assert out == [(GAP, 4, 1.3)]
    assert d.segment(9, b"cccc", 1.4) == [(DATA, b"cccc", 1.4), (DATA, b"dddd", 1.2)]
