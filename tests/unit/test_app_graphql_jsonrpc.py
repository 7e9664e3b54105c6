"""GraphQL over WebSocket and JSON-RPC 2.0 on the specifications' examples (graphql-ws PROTOCOL.md,
subscriptions-transport-ws PROTOCOL.md, the JSON-RPC 2.0 specification section 7), and fuzz tests."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from inspector.app.base import Operations
from inspector.app.graphql import GraphQlDecoder, operation_of
from inspector.app.jsonrpc import JsonRpcDecoder, decode_jsonrpc


def test_operation_type_and_name_from_the_query_text():
    assert operation_of("subscription OnMessage($room: ID!) { message(room: $room) { text } }") == (
        "subscription", "OnMessage")
    assert operation_of("  # a comment\n mutation\n  Save { save }") == ("mutation", "Save")
    assert operation_of("{ hero { name } }") == ("query", None)
    assert operation_of("query { a }") == ("query", None)
    assert operation_of("fragment F on Hero { name { first } }\nquery Heroes { hero { ...F } }") == ("query", "Heroes")
    assert operation_of("fragment F on X { a") == ("query", None)


def _gql(protocol="graphql-transport-ws") -> GraphQlDecoder:
    return GraphQlDecoder(Operations("c", protocol), protocol)


def _send(d, direction, message, ts):
    return d.message(direction, json.dumps(message).encode(), True, ts, False)


def test_graphql_transport_ws_spec_flow():
    d = _gql()
    assert _send(d, "client", {"type": "connection_init", "payload": {"token": "t"}}, 0).kind == "connection_init"
    sub = _send(d, "client", {"id": "42", "type": "subscribe", "payload": {
        "query": "subscription S { greetings }", "operationName": "S"}}, 1.0)
    assert (sub.kind, sub.id, sub.name, sub.channel) == ("subscribe", "42", "S", "subscription")
    nxt = _send(d, "server", {"id": "42", "type": "next", "payload": {"data": {"greetings": "Hi"}}}, 1.5)
    assert (nxt.name, nxt.args) == ("S", {"data": {"greetings": "Hi"}})
    _send(d, "server", {"id": "42", "type": "error", "payload": [{"message": "boom"}]}, 2.0)
    (op,) = d.ops.out
    assert (op.name, op.outcome, op.error, op.messages, op.latency_s) == ("S", "error", "boom", 1, 1.0)


def test_legacy_graphql_ws_stop_cancels():
    d = _gql("graphql-ws")
    _send(d, "client", {"id": "1", "type": "start", "payload": {"query": "subscription { tick }"}}, 1.0)
    _send(d, "server", {"id": "1", "type": "data", "payload": {"data": {"tick": 1}}}, 1.1)
    assert _send(d, "server", {"type": "ka"}, 1.2).kind == "ka"
    _send(d, "client", {"id": "1", "type": "stop"}, 2.0)
    (op,) = d.ops.out
    assert (op.outcome, op.messages, op.kind) == ("cancelled", 1, "subscription")


def test_graphql_bad_payloads_are_errors():
    d = _gql()
    assert d.message("client", b"{", True, 1, False).error.startswith("not JSON")
    assert d.message("client", b'{"type":1}', True, 1, False).error == "not an object with a string type"
    assert d.message("client", b'{"id":"1","type":"subscribe","payload":{}}', True, 1, False).error == "no query text"


def test_jsonrpc_spec_examples():
    req = decode_jsonrpc(b'{"jsonrpc": "2.0", "method": "subtract", "params": [42, 23], "id": 1}')
    assert (req.kind, req.name, req.args, req.id) == ("request", "subtract", [42, 23], "1")
    note = decode_jsonrpc(b'{"jsonrpc": "2.0", "method": "update", "params": [1,2,3,4,5]}')
    assert (note.kind, note.id) == ("notification", None)
    err = decode_jsonrpc(b'{"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": "1"}')
    assert (err.kind, err.name, err.id) == ("error", "Method not found", "1")
    batch = decode_jsonrpc(b'[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},'
                           b'{"jsonrpc": "2.0", "method"}, {"foo": "boo"}, 1]')
    assert batch.kind == "invalid" and batch.error.startswith("not JSON")
    batch = decode_jsonrpc(b'[{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},'
                           b'{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}, {"foo": "boo"}, 1]')
    assert [m.kind for m in batch.packets] == ["request", "notification", "invalid", "invalid"]
    assert decode_jsonrpc(b"[]").error == "empty batch"
    assert decode_jsonrpc(b'{"method":"x","id":1}').error == 'no "jsonrpc": "2.0" member'


def test_jsonrpc_calls_pair_by_id_across_batches():
    d = JsonRpcDecoder(Operations("c", "jsonrpc"))
    d.message("client", b'[{"jsonrpc":"2.0","method":"a","id":1},{"jsonrpc":"2.0","method":"b","id":2}]', True, 1.0, False)
    d.message("server", b'[{"jsonrpc":"2.0","result":1,"id":2},'
                        b'{"jsonrpc":"2.0","error":{"code":1,"message":"no"},"id":1}]', True, 1.25, False)
    assert [(o.name, o.outcome, o.error, o.latency_s) for o in d.ops.out] == [
        ("b", "ok", None, 0.25), ("a", "error", "no", 0.25)]


_JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                         st.sampled_from(["id", "type", "payload", "query", "jsonrpc", "method", "result", "error"]),
                         inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), _JSON.map(lambda v: json.dumps(v).encode())), st.booleans())
def test_fuzz_graphql_and_jsonrpc_never_raise(payload, truncated):
    for decoder in (_gql(), _gql("graphql-ws"), JsonRpcDecoder(Operations("c", "jsonrpc"))):
        for direction in ("client", "server"):
            layer = decoder.message(direction, payload, True, 1.0, truncated)
            assert layer.protocol and len(layer.name or "") <= 256 and len(layer.id or "") <= 128
        decoder.ops.finish(2.0)
    assert operation_of(payload.decode("utf-8", "replace"))[0] in ("query", "mutation", "subscription")
