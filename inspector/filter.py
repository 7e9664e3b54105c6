"""One record filter for every output: `analyze`'s human renderer, ``--jsonl`` and ``--fail-on``, and the
addon's ``inspector_filter``.

`Filter` holds what to keep; every given criterion must match (they compose by "and"):

- ``conns``: connection ids (``c3``); ``hosts``: a host name, IP or ``host:port`` of the connection (its
  client or server address, or the host of a URL seen on it); ``endpoints``: a substring of a URL seen
  on the connection (``/chat``, ``example.com/events``);
- ``types``: record types (``frame``, ``message``, ``sse_event``, ``exchange``, ``handshake``, ...);
- ``directions``: ``client`` or ``server`` (frames and messages); ``opcodes``: ``text``, ``binary``,
  ``close``, ``ping``, ... (frames and messages);
- ``names``: a violation, handshake finding or note, SSE finding or warning name the record carries;
- ``grep``: a regular expression searched in message text, hex payloads, SSE data and URLs.

Connection-level criteria (conn, host, endpoint) are learnt from the records as they pass: a frame
belongs to the host of its connection's handshake.  A record that lacks what a criterion looks at
(a direction filter and an exchange) does not match.  The `Connection` record of a connection passes
when any of its records passed, so that its summary is printed; `Pattern` records pass when their
endpoint matches the host, endpoint and grep criteria and no other criterion is given.

`FilterSink(sink, flt)` is the one place the filter is applied; ``matched`` counts what passed.

`Filter.parse` reads the addon's option text: terms in mitmproxy's filter-expression style, all of
which must match: ``~c CONN``, ``~d HOST``, ``~u URL-PART``, ``~t TYPE``, ``~dir client|server``,
``~op OPCODE``, ``~n NAME``, ``~b REGEX`` and the shorthands ``~websocket`` (frames, messages,
handshakes) and ``~sse`` (SSE events and streams).  ``!`` and ``|`` are not supported.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from inspector import records
from inspector.errors import InputError

__all__ = ["Filter", "FilterSink"]

_TAGS = {cls: cls.__struct_config__.tag for cls in records.Record.__args__}
RECORD_TYPES = tuple(_TAGS.values())
_WS_TYPES = frozenset({"frame", "message", "handshake"})
_SSE_TYPES = frozenset({"sse_event", "sse_stream"})
_TERMS = {"~c": "conns", "~d": "hosts", "~u": "endpoints", "~t": "types", "~dir": "directions", "~op": "opcodes",
          "~n": "names", "~b": "grep"}


def _names(record) -> list[str]:
    kind = type(record)
    if kind is records.Frame or kind is records.Message:
        return record.violations
    if kind is records.Handshake:
        return [f.name for f in record.findings + record.notes]
    if kind is records.SseStream:
        return [f.name for f in record.findings]
    if kind is records.WarningRecord:
        return [record.name]
    return []


def _texts(record) -> list[str]:
    kind = type(record)
    if kind is records.Message:
        return [t for t in (record.text, record.data, record.close_reason) if t]
    if kind is records.Frame:
        return [record.payload] if record.payload else []
    if kind is records.SseEvent:
        return [record.data, record.event, record.id] + ([record.url] if record.url else [])
    if kind is records.Exchange or kind is records.Handshake:
        return [record.url]
    if kind is records.SseStream:
        return [record.url] if record.url else []
    if kind is records.Pattern:
        return [record.endpoint]
    if kind is records.WarningRecord:
        return [record.message]
    return []


def _url_hosts(url: str) -> set[str]:
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return set()
    if not host:
        return set()
    return {host.lower(), f"{host.lower()}:{port}"} if port else {host.lower()}


def _addr_hosts(addr: str | None) -> set[str]:
    if not addr:
        return set()
    host, _, _ = addr.rpartition(":")
    return {addr.lower(), host.strip("[]").lower()}


@dataclass
class _Seen:
    """What is known of one connection: its hosts, URLs, and whether any of its records passed."""

    hosts: set = field(default_factory=set)
    urls: list = field(default_factory=list)
    passed: bool = False


@dataclass
class Filter:
    conns: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()
    endpoints: tuple[str, ...] = ()
    types: frozenset[str] = frozenset()
    directions: frozenset[str] = frozenset()
    opcodes: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    grep: re.Pattern | None = None
    _seen: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.hosts = frozenset(h.lower() for h in self.hosts)
        unknown = set(self.types) - set(RECORD_TYPES)
        if unknown:
            raise InputError(f"unknown record type {sorted(unknown)[0]!r} (one of {', '.join(RECORD_TYPES)})")
        bad = set(self.directions) - {"client", "server"}
        if bad:
            raise InputError(f"unknown direction {sorted(bad)[0]!r} (client or server)")

    @classmethod
    def parse(cls, text: str) -> Filter:
        """The filter of an ``inspector_filter`` text (see the module docstring); InputError if malformed."""
        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise InputError(f"filter {text!r}: {exc}") from None
        values: dict[str, list[str]] = {}
        i = 0
        while i < len(words):
            word = words[i]
            if word in ("~websocket", "~sse"):
                values.setdefault("types", []).extend(_WS_TYPES if word == "~websocket" else _SSE_TYPES)
                i += 1
                continue
            if word not in _TERMS or i + 1 >= len(words):
                raise InputError(f"filter {text!r}: expected one of {', '.join(_TERMS)} with a value at {word!r}")
            values.setdefault(_TERMS[word], []).append(words[i + 1])
            i += 2
        grep = values.pop("grep", None)
        return cls.build(grep="|".join(f"(?:{g})" for g in grep) if grep else None, **values)

    @classmethod
    def build(cls, *, grep: str | None = None, **values) -> Filter:
        """From option values (iterables of strings, ``grep`` a regular expression); InputError if invalid."""
        try:
            pattern = re.compile(grep) if grep else None
        except re.error as exc:
            raise InputError(f"--grep {grep!r}: {exc}") from None
        kwargs = {k: (tuple(v) if k == "endpoints" else frozenset(v)) for k, v in values.items() if v}
        return cls(grep=pattern, **kwargs)

    def preselected(self) -> Filter:
        """This filter without its connection and host criteria (for a source that applied them itself,
        knowing addresses before any record is made)."""
        return dataclasses.replace(self, conns=frozenset(), hosts=frozenset(), _seen={})

    @property
    def active(self) -> bool:
        return bool(self.conns or self.hosts or self.endpoints or self.types or self.directions or self.opcodes
                    or self.names or self.grep)

    def describe(self) -> str:
        """The criteria in words (for "nothing matched")."""
        parts = [f"{name} {', '.join(sorted(value))}" for name, value in (
            ("connection", self.conns), ("host", self.hosts), ("endpoint", self.endpoints), ("type", self.types),
            ("direction", self.directions), ("opcode", self.opcodes), ("name", self.names)) if value]
        if self.grep is not None:
            parts.append(f"grep {self.grep.pattern!r}")
        return "; ".join(parts)

    def _learn(self, record) -> _Seen | None:
        conn = getattr(record, "conn", None)
        if conn is None:
            return None
        seen = self._seen.get(conn)
        if seen is None:
            seen = self._seen[conn] = _Seen()
        kind = type(record)
        url = getattr(record, "url", None) if kind is not records.WarningRecord else None
        if url and len(seen.urls) < 4 and url not in seen.urls:
            seen.urls.append(url)
            seen.hosts |= _url_hosts(url)
        if kind is records.Connection:
            seen.hosts |= _addr_hosts(record.client) | _addr_hosts(record.server)
        return seen

    def _where(self, record, seen: _Seen | None) -> bool:
        """The connection-level criteria: conn, host, endpoint."""
        if type(record) is records.Pattern:
            hosts, urls = _url_hosts(record.endpoint.partition(" ")[2]), [record.endpoint]
        elif seen is None:
            return not (self.conns or self.hosts or self.endpoints)
        else:
            hosts, urls = seen.hosts, seen.urls
            if self.conns and record.conn not in self.conns:
                return False
        if self.hosts and not (hosts & self.hosts):
            return False
        return not self.endpoints or any(e in u for e in self.endpoints for u in urls)

    def _what(self, record) -> bool:
        """The record-level criteria: type, direction, opcode, name, grep."""
        if self.types and _TAGS.get(type(record)) not in self.types:
            return False
        if self.directions and getattr(record, "direction", None) not in self.directions:
            return False
        if self.opcodes and getattr(record, "opcode_name", None) not in self.opcodes:
            return False
        if self.names and not self.names.intersection(_names(record)):
            return False
        return self.grep is None or any(self.grep.search(t) for t in _texts(record))

    def __call__(self, record) -> bool:
        """Whether ``record`` passes; records must be given in the order they were made."""
        seen = self._learn(record)
        if type(record) is records.Connection:
            if seen is not None:
                del self._seen[record.conn]
            if not self._where(record, seen):
                return False
            if "connection" in self.types or seen is not None and seen.passed:
                return True
            return not (self.types or self.directions or self.opcodes or self.names or self.grep)
        if type(record) is records.Pattern and (self.conns or self.types - {"pattern"} or self.directions
                                                or self.opcodes or self.names):
            return False
        ok = self._where(record, seen) and self._what(record)
        if ok and seen is not None:
            seen.passed = True
        return ok


class FilterSink:
    """A sink in front of ``sink`` passing on the records ``flt`` keeps.

    Counts: ``seen`` records, ``matched`` records kept, ``matched_connections`` kept records that belong
    to a connection, ``warnings`` per warning name (of the kept warnings)."""

    def __init__(self, sink, flt: Filter) -> None:
        self.sink = sink
        self.filter = flt
        self.seen = 0
        self.matched = 0
        self.matched_connections = 0
        self.warnings: Counter = Counter()
        self._many = getattr(sink, "write_many", None)

    def __call__(self, record) -> None:
        self.write_many((record,))

    def write_many(self, batch) -> None:
        batch = batch if isinstance(batch, list) else list(batch)
        self.seen += len(batch)
        if self.filter.active:
            batch = [r for r in batch if self.filter(r)]
        self.matched += len(batch)
        self.matched_connections += sum(getattr(r, "conn", None) is not None for r in batch)
        for record in batch:
            if type(record) is records.WarningRecord:
                self.warnings[record.name] += record.count
        if not batch:
            return
        if self._many is not None:
            self._many(batch)
        else:
            for record in batch:
                self.sink(record)
