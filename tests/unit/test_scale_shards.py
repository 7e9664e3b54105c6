"""The sharded analysis (`inspector.scale.shard`): every shard run in this process, merged, against the
unsharded pipeline (``analyze --jobs 1``) on captures of real peers (fixtures/pcap and interleaved
copies of them).  Truth: the unsharded run's records; the connection ids and the records' set must not
depend on the number of shards."""

from __future__ import annotations

import random

import pytest

from inspector.records import Connection, Pattern, WarningRecord
from inspector.sources.pcap import shard_of

from helpers.pcap_fixtures import FIX
from helpers.sharded import encoded, mixed_capture, sharded_records, unsharded_records

FIXTURES = sorted(p.name for p in FIX.glob("*.pcap*")) + ["tls/tls13_secrets.pcapng"]


@pytest.mark.parametrize("name", FIXTURES)
@pytest.mark.parametrize("shards", [2, 3])
def test_each_fixture_same_records_with_shards(name, shards):
    whole = unsharded_records([FIX / name])
    assert encoded(sharded_records([FIX / name], shards)) == encoded(whole)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    return mixed_capture(tmp_path_factory.mktemp("scale") / "mixed.pcap", copies=12)


@pytest.mark.parametrize("shards", [1, 2, 4, 7])
def test_many_connections_same_records_and_ids(mixed, shards):
    whole = unsharded_records([mixed])
    merged = sharded_records([mixed], shards)
    assert encoded(merged) == encoded(whole)
    conns = [r.conn for r in whole if type(r) is Connection]
    assert len(conns) == 12 * 5  # 4 captures, polling has two connections
    assert sorted(r.conn for r in merged if type(r) is Connection) == sorted(conns)
    # The documented order: within a connection, records keep the unsharded order; Pattern, then warning
    # records come last.
    for conn in conns[:: 7]:
        assert [encoded([r]) for r in merged if getattr(r, "conn", None) == conn and type(r) is not WarningRecord] \
            == [encoded([r]) for r in whole if getattr(r, "conn", None) == conn and type(r) is not WarningRecord]
    kinds = [type(r) for r in merged]
    first_pattern = kinds.index(Pattern)
    assert all(k in (Pattern, WarningRecord) for k in kinds[first_pattern:])


def test_every_shard_gets_connections(mixed):
    """The hash spreads the 60 connections: no shard of four is empty."""
    import socket

    shards = set()
    for record in unsharded_records([mixed]):
        if type(record) is Connection:
            (cip, cport), (sip, sport) = (a.rsplit(":", 1) for a in (record.client, record.server))
            key = (socket.inet_aton(cip), int(cport), socket.inet_aton(sip), int(sport))
            assert shard_of(key, 4) == shard_of((key[2], key[3], key[0], key[1]), 4)
            shards.add(shard_of(key, 4))
    assert shards == {0, 1, 2, 3}


def test_several_files_shard_too(mixed):
    files = [mixed, FIX / "ws_ipv6.pcap", FIX / "sse.pcap"]
    whole = unsharded_records(files)
    merged = sharded_records(files, 3)
    assert encoded(merged) == encoded(whole)
    assert {r.conn.split(":")[0] for r in merged if type(r) is Connection} == {"1", "2", "3"}


def test_corrupt_region_same_warnings(mixed, tmp_path):
    """Garbage written over part of the capture: the same records and warnings (with their counts, first
    message and connection) with any number of shards."""
    data = bytearray(mixed.read_bytes())
    starts, pos = [], 24  # record headers: 16 bytes, caplen at +8 (little-endian, as dpkt writes)
    while pos + 16 <= len(data):
        starts.append(pos)
        pos += 16 + int.from_bytes(data[pos + 8 : pos + 12], "little")
    rng = random.Random(5)
    for start in (starts[len(starts) // 3], starts[len(starts) // 2]):
        data[start : start + 300] = rng.randbytes(300)
    broken = tmp_path / "broken.pcap"
    broken.write_bytes(bytes(data[: len(data) - 37]))  # and cut inside the last record
    whole = unsharded_records([broken])
    names = {r.name for r in whole if type(r) is WarningRecord}
    assert {"pcap-corrupt-record", "pcap-truncated"} <= names
    for shards in (2, 5):
        merged = sharded_records([broken], shards)
        assert encoded(merged) == encoded(whole)
        assert [r for r in merged if type(r) is WarningRecord] == [r for r in whole if type(r) is WarningRecord]


def test_filters_apply_per_shard(mixed):
    whole = unsharded_records([mixed], conns=("c3", "c17", "c40"))
    merged = sharded_records([mixed], 3, conns=frozenset({"c3", "c17", "c40"}))
    assert encoded(merged) == encoded(whole)
    assert {r.conn for r in merged if type(r) is Connection} == {"c3", "c17", "c40"}
