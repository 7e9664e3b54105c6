"""The records every source emits and every renderer reads (docs/records.md).

Records are msgspec Structs: creating one costs about as much as a tuple and the JSON encoder writes
hundreds of thousands a second, which matters on big captures (a frame record per WebSocket frame).
Each record carries its type in the ``type`` field of its JSON object.  Times are Unix epoch seconds,
byte strings are lowercase hex unless a field says otherwise, ``None`` (JSON ``null``) is "not known".

`inspector.present.jsonl.JsonlWriter` is the one place records become JSON Lines; nothing else should
encode them.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

__all__ = [
    "Direction",
    "Connection",
    "TlsInfo",
    "Exchange",
    "Finding",
    "Handshake",
    "Frame",
    "Message",
    "SseEvent",
    "SseStream",
    "Pattern",
    "WarningRecord",
    "AppLayer",
    "Operation",
    "Record",
    "to_dict",
]


#: The side that sent a frame or message (the ``direction`` field of `Frame` and `Message`).
Direction = Literal["client", "server"]


class _Record(msgspec.Struct, kw_only=True, tag_field="type", gc=False):
    """Base: every record is a keyword-only Struct tagged with its ``type``.

    ``gc=False``: records are not tracked by the cycle collector (they hold only strings, numbers and
    lists/dicts of those, so they cannot form a cycle). A WebSocket capture makes two records per frame;
    tracking them costs ~12% of the decode time in bench/bench_frames.py.
    """


class AppLayer(msgspec.Struct, kw_only=True, gc=False):
    """What an application protocol (`inspector.app`) made of a message, an SSE event or a polling body.

    ``protocol`` is the protocol's usual name (``socket.io``, ``engine.io``, ``graphql-transport-ws``,
    ``jsonrpc``, ...), ``kind`` its own packet or message type lowercased, ``name`` the event, method or
    operation name, ``id`` the ack, invocation or operation id, ``channel`` the namespace, topic or
    destination.  ``error`` says why a payload did not parse (the other fields then hold what did).
    """

    protocol: str
    kind: str | None = None
    name: str | None = None
    id: str | None = None
    channel: str | None = None
    #: the arguments or payload as JSON values, when the payload fitted the decoder's cap
    args: Any = None
    error: str | None = None
    #: binary attachments announced (Socket.IO BINARY_EVENT/BINARY_ACK), or this attachment's 0-based number
    attachments: int | None = None
    attachment: int | None = None
    #: the packets of a polling payload or of a batch, each an AppLayer of its own
    packets: list["AppLayer"] | None = None


class TlsInfo(msgspec.Struct, kw_only=True, gc=False):
    """``Connection.tls``: what the TLS handshake said and whether the payload could be decrypted."""

    version: str | None  # "TLS 1.3", "TLS 1.2", ...
    cipher: str | None  # IANA name, or 0x.... for a suite this reader does not know
    sni: str | None
    alpn: str | None  # the protocol the server selected
    decrypted: bool
    reason: str | None  # why not (or not fully) decrypted; None when decrypted
    alpn_offered: list[str] = msgspec.field(default_factory=list)


class Connection(_Record, tag="connection"):

    conn: str
    client: str | None
    server: str | None
    ts_start: float | None
    ts_end: float | None
    source: str  # live | pcap | har | flows
    #: http | websocket | sse | tcp (what the connection turned out to carry)
    protocol: str = "http"
    bytes_client: int | None = None  # payload bytes client -> server
    bytes_server: int | None = None  # payload bytes server -> client
    #: how the protocol was decided: "handshake", "--ws", "heuristic", ...
    detected_by: str | None = None
    exchanges: int = 0
    gaps: int = 0  # missing-segment gaps in the capture (pcap only)
    #: TLS connections only (the field is absent from other connections' records)
    tls: TlsInfo | msgspec.UnsetType = msgspec.UNSET


class Exchange(_Record, tag="exchange"):
    conn: str
    method: str
    url: str
    status: int | None
    content_type: str | None
    ts_request: float | None
    ts_response: float | None
    ts_end: float | None
    request_body_bytes: int | None
    response_body_bytes: int | None
    http_version: str | None = None
    reason: str | None = None
    request_header_bytes: int | None = None
    response_header_bytes: int | None = None
    #: sha256 of the (decoded) response body when the source had it; the classifier's "changed" test
    response_sha256: str | None = None
    request_headers: list[tuple[str, str]] = msgspec.field(default_factory=list)
    response_headers: list[tuple[str, str]] = msgspec.field(default_factory=list)
    #: the application layer of the response body (a polling payload); absent when none decoded it
    app: AppLayer | msgspec.UnsetType = msgspec.UNSET


class Finding(msgspec.Struct, kw_only=True):
    name: str
    severity: str  # error | warning | info
    message: str


class Handshake(_Record, tag="handshake"):
    conn: str
    url: str
    valid: bool
    key: str | None
    accept: str | None
    expected_accept: str | None
    subprotocol: str | None
    extensions: list[str]
    findings: list[Finding]  # errors only: empty exactly when valid
    status: int | None = None
    #: warnings and remarks that do not make the handshake invalid (a subprotocol offered but none chosen)
    notes: list[Finding] = msgspec.field(default_factory=list)
    #: "rfc6455" (HTTP/1.1 Upgrade) or "rfc8441" (HTTP/2 extended CONNECT)
    mode: str = "rfc6455"
    offered_subprotocols: list[str] = msgspec.field(default_factory=list)
    offered_extensions: list[str] = msgspec.field(default_factory=list)


class Frame(_Record, tag="frame"):
    conn: str
    direction: str  # client | server
    ts: float | None
    index: int
    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    opcode: int
    opcode_name: str
    masked: bool | None  # None: a truncated header ends before it
    masking_key: str | None
    payload_len: int | None  # as declared; None: a truncated header ends before it
    violations: list[str]
    offset: int | None = None  # byte offset of the frame in its direction's stream
    length_encoding: str | None = None  # 7bit | 16bit | 64bit
    complete: bool = True
    #: hex of the first bytes of the unmasked (not inflated) payload, only when asked for
    #: (WebSocketStream(..., frame_payloads=True)); capped like Message.data
    payload: str | None = None


class Message(_Record, tag="message"):
    conn: str
    direction: str
    ts: float | None
    opcode_name: str
    length: int
    frames: int | None
    compressed: bool | None
    sha256: str
    text: str | None = None
    truncated: bool = False
    close_code: int | None = None
    close_reason: str | None = None
    close_code_name: str | None = None
    #: hex of the first bytes of a binary/ping/pong payload (capped like ``text``)
    data: str | None = None
    index: int = 0  # 0-based per direction
    ts_first: float | None = None  # of the first frame
    wire_length: int | None = None  # payload bytes on the wire (before inflating)
    violations: list[str] = msgspec.field(default_factory=list)
    #: False when the message never ended (input ended or a gap came inside it, or a new message
    #: replaced it: new-message-while-fragmented); its fields cover what was received
    complete: bool = True
    #: why a compressed message is not (fully) inflated: "limit" (inflated size over the cap: a
    #: deflate bomb?), "error" (corrupt DEFLATE data), "window" (a back-reference beyond the window the
    #: sender negotiated), "context-lost" (an earlier failure broke the shared LZ77 context);
    #: length/sha256 then cover the bytes inflated before it
    inflate_error: str | None = None
    #: the application layer (`inspector.app`); absent when none decoded the payload
    app: AppLayer | msgspec.UnsetType = msgspec.UNSET


class SseEvent(_Record, tag="sse_event"):
    conn: str
    ts: float | None
    event: str
    data: str
    id: str
    retry: int | None
    url: str | None = None
    index: int = 0
    #: the application layer (`inspector.app`); absent when none decoded the data
    app: AppLayer | msgspec.UnsetType = msgspec.UNSET


class SseStream(_Record, tag="sse_stream"):
    """Summary of one event stream (one response), emitted when it ends."""

    conn: str
    url: str | None
    events: int
    events_by_type: dict[str, int]
    comments: int  # heartbeats
    ts_start: float | None
    ts_end: float | None
    rate_per_s: float | None
    gap_mean_s: float | None
    gap_max_s: float | None
    retry: int | None
    last_event_id: str
    request_last_event_id: str | None  # Last-Event-ID the client sent, if any
    resumed: bool | None  # the first event's id follows the Last-Event-ID sent
    dropped: int  # lines/events over the size cap
    findings: list[Finding]
    bytes: int = 0  # body bytes read (after de-chunking and decompression)
    first_event_s: float | None = None  # from ts_start (the response head) to the first event
    idle_max_s: float | None = None  # longest time with nothing received (not even a comment)


class Pattern(_Record, tag="pattern"):
    endpoint: str
    pattern: str  # short-polling | long-polling | sse | websocket | streaming | request-response
    requests: int
    framework: str | None = None
    transport: str | None = None
    interval_s: float | None = None
    interval_cv: float | None = None
    hold_s: float | None = None
    repoll_gap_s: float | None = None
    changed_ratio: float | None = None
    empty_ratio: float | None = None
    header_bytes_per_body_byte: float | None = None
    max_concurrent: int | None = None
    duration_s: float | None = None
    #: polling endpoints only: requests_per_min, useful, wasted_requests, wasted_bytes, staleness_s,
    #: push_bytes, poll_bytes, saving_ratio
    efficiency: dict[str, float | int | None] | None = None
    reason: str | None = None
    #: a framework session seen on one transport and then on another, e.g. "polling->websocket"
    upgrade: str | None = None


class WarningRecord(_Record, tag="warning"):
    """A problem in the input (never a traceback): what, how often, where."""

    name: str
    message: str
    count: int = 1
    conn: str | None = None


class Operation(_Record, tag="operation"):
    """One request/response pair an application protocol defines (a Socket.IO emit with its ack, a
    GraphQL subscribe..complete, a JSON-RPC call and its result): emitted when it ends, or at the
    connection's end with ``outcome`` "never answered"."""

    protocol: str
    conn: str
    kind: str
    name: str | None
    id: str | None
    ts_start: float | None
    ts_end: float | None
    latency_s: float | None
    outcome: str  # ok | error | cancelled | never answered
    channel: str | None = None
    direction: str | None = None  # who started it: client | server
    #: messages the operation carried between its start and its end (stream items, GraphQL next)
    messages: int = 0
    error: str | None = None


Record = (
    Connection | Exchange | Handshake | Frame | Message | SseEvent | SseStream | Pattern | WarningRecord | Operation
)


def to_dict(record: Record) -> dict:
    """The record as the JSON object `JsonlWriter` writes (for tests and renderers)."""
    return msgspec.json.decode(msgspec.json.encode(record))
