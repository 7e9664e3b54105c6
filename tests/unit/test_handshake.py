"""Tests for inspector.ws.handshake: accept computation, every finding (firing case and near miss), and
handshakes produced by real implementations (websockets, aiohttp, wsproto) captured on 127.0.0.1."""

from __future__ import annotations

import base64

import pytest
import websockets.asyncio.client
import websockets.asyncio.server
import websockets.utils
import wsproto
import wsproto.events
import wsproto.extensions
import wsproto.utilities
from hypothesis import given, settings, strategies as st

from helpers.handshake_peers import validate_capture
from inspector.ws.deflate import DeflateParams
from inspector.ws.handshake import FINDING_NAMES, ExtensionHeaderError, accept_for, parse_extensions, validate
from helpers.handshake_peers import names

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


# --- accept ------------------------------------------------------------------------------------------


def test_rfc6455_section_1_3_example():
    assert accept_for(KEY) == ACCEPT


@settings(max_examples=50)
@given(st.binary(min_size=16, max_size=16))
def test_accept_agrees_with_websockets_and_wsproto(raw):
    key = base64.b64encode(raw).decode()
    assert accept_for(key) == websockets.utils.accept_key(key)
    assert accept_for(key) == wsproto.utilities.generate_accept_token(key.encode()).decode()


# --- findings: one firing case and one near miss each --------------------------------------------------


def base_request():
    return [
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", KEY),
        ("Origin", "http://example.com"),
        ("Sec-WebSocket-Version", "13"),
    ]


def base_response():
    return [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", ACCEPT)]


def run(method="GET", version="HTTP/1.1", request=None, status=101, response=None):
    return validate(
        "c1",
        "ws://server.example.com/chat",
        method=method,
        http_version=version,
        request_headers=base_request() if request is None else request,
        status=status,
        response_headers=base_response() if response is None else response,
    )


def replace(headers, name, value):
    """Headers with every ``name`` removed, and ``(name, value)`` appended unless value is None."""
    out = [(n, v) for n, v in headers if n.lower() != name.lower()]
    if value is not None:
        out.append((name, value))
    return out


def test_base_pair_is_valid_with_no_findings():
    record, deflate = run()
    assert record.valid and record.findings == []
    assert record.key == KEY and record.accept == ACCEPT == record.expected_accept
    assert record.mode == "rfc6455" and record.status == 101
    assert deflate is None


KEY2 = base64.b64encode(bytes(range(16))).decode()
H2 = dict(method="CONNECT", version="HTTP/2.0", status=200, response=[])
H2_REQUEST = [(":protocol", "websocket"), ("Sec-WebSocket-Version", "13")]

# name -> (firing kwargs, near-miss kwargs)
CASES = {
    "request-method-not-get": (
        dict(method="POST"),
        dict(**H2, request=H2_REQUEST),
    ),
    "request-http-version": (dict(version="HTTP/1.0"), dict(version="1.1")),
    "request-host-missing": (
        dict(request=replace(base_request(), "Host", None)),
        dict(request=replace(base_request(), "Host", None) + [("HOST", "h")]),
    ),
    "request-upgrade-missing": (
        dict(request=replace(base_request(), "Upgrade", "h2c")),
        dict(request=replace(base_request(), "Upgrade", "WebSocket")),
    ),
    "request-connection-missing-upgrade": (
        dict(request=replace(base_request(), "Connection", "keep-alive")),
        dict(request=replace(base_request(), "Connection", "keep-alive") + [("connection", "Upgrade")]),
    ),
    "request-key-missing": (
        dict(request=replace(base_request(), "Sec-WebSocket-Key", None)),
        dict(request=replace(base_request(), "Sec-WebSocket-Key", None) + [("sec-websocket-key", KEY)]),
    ),
    "request-key-invalid": (
        dict(
            request=replace(base_request(), "Sec-WebSocket-Key", base64.b64encode(b"x" * 15).decode()),
            response=replace(base_response(), "Sec-WebSocket-Accept", accept_for(base64.b64encode(b"x" * 15).decode())),
        ),
        dict(
            request=replace(base_request(), "Sec-WebSocket-Key", KEY2),
            response=replace(base_response(), "Sec-WebSocket-Accept", accept_for(KEY2)),
        ),
    ),
    "request-version-missing": (
        dict(request=replace(base_request(), "Sec-WebSocket-Version", None)),
        dict(request=replace(base_request(), "Sec-WebSocket-Version", " 13 ")),
    ),
    "request-version-unsupported": (
        dict(request=replace(base_request(), "Sec-WebSocket-Version", "8")),
        dict(request=replace(base_request(), "Sec-WebSocket-Version", "13")),
    ),
    "rfc8441-protocol-invalid": (
        dict(**H2, request=[(":protocol", "webtransport"), ("Sec-WebSocket-Version", "13")]),
        dict(**H2, request=[(":protocol", "WebSocket"), ("Sec-WebSocket-Version", "13")]),
    ),
    "no-response": (dict(status=None, response=[]), dict()),
    "version-not-supported": (
        dict(status=426, response=[("Sec-WebSocket-Version", "13, 8")],
             request=replace(base_request(), "Sec-WebSocket-Version", "13")),
        dict(status=101),
    ),
    "unexpected-status": (dict(status=403, response=[]), dict(status=101)),
    "response-upgrade-missing": (
        dict(response=replace(base_response(), "Upgrade", "h2c")),
        dict(response=replace(base_response(), "Upgrade", "WEBSOCKET")),
    ),
    "response-connection-missing-upgrade": (
        dict(response=replace(base_response(), "Connection", "close")),
        dict(response=replace(base_response(), "Connection", "UPGRADE")),
    ),
    "accept-missing": (
        dict(response=replace(base_response(), "Sec-WebSocket-Accept", None)),
        dict(response=replace(base_response(), "Sec-WebSocket-Accept", None) + [("SEC-WEBSOCKET-ACCEPT", ACCEPT)]),
    ),
    "accept-mismatch": (
        # the accept of the decoded key bytes instead of the key text: a classic server bug
        dict(response=replace(base_response(), "Sec-WebSocket-Accept",
                              accept_for(base64.b64decode(KEY).decode("latin-1")))),
        dict(response=replace(base_response(), "Sec-WebSocket-Accept", ACCEPT)),
    ),
    "subprotocol-not-offered": (
        dict(request=base_request() + [("Sec-WebSocket-Protocol", "chat")],
             response=base_response() + [("Sec-WebSocket-Protocol", "superchat")]),
        dict(request=base_request() + [("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Protocol", "superchat")],
             response=base_response() + [("Sec-WebSocket-Protocol", "superchat")]),
    ),
    "subprotocol-multiple": (
        dict(request=base_request() + [("Sec-WebSocket-Protocol", "chat, superchat")],
             response=base_response() + [("Sec-WebSocket-Protocol", "chat, superchat")]),
        dict(request=base_request() + [("Sec-WebSocket-Protocol", "chat, superchat")],
             response=base_response() + [("Sec-WebSocket-Protocol", "chat")]),
    ),
    "subprotocol-not-selected": (
        dict(request=base_request() + [("Sec-WebSocket-Protocol", "chat")]),
        dict(request=base_request() + [("Sec-WebSocket-Protocol", "chat")],
             response=base_response() + [("Sec-WebSocket-Protocol", "chat")]),
    ),
    "extensions-header-invalid": (
        dict(request=base_request() + [("Sec-WebSocket-Extensions", 'permessage-deflate; client_max_window_bits="1 0"')]),
        dict(request=base_request() + [("Sec-WebSocket-Extensions", 'permessage-deflate; client_max_window_bits="10"')]),
    ),
    "extension-not-offered": (
        dict(response=base_response() + [("Sec-WebSocket-Extensions", "permessage-deflate")]),
        dict(request=base_request() + [("Sec-WebSocket-Extensions", "Permessage-Deflate")],
             response=base_response() + [("Sec-WebSocket-Extensions", "permessage-deflate")]),
    ),
    "extension-duplicated": (
        dict(request=base_request() + [("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover, permessage-deflate")],
             response=base_response() + [("Sec-WebSocket-Extensions", "permessage-deflate"),
                                         ("Sec-WebSocket-Extensions", "permessage-deflate")]),
        dict(request=base_request() + [("Sec-WebSocket-Extensions", "permessage-deflate; server_no_context_takeover, permessage-deflate")],
             response=base_response() + [("Sec-WebSocket-Extensions", "permessage-deflate")]),
    ),
    "extension-not-understood": (
        dict(request=base_request() + [("Sec-WebSocket-Extensions", "x-webkit-deflate-frame")],
             response=base_response() + [("Sec-WebSocket-Extensions", "x-webkit-deflate-frame")]),
        dict(request=base_request() + [("Sec-WebSocket-Extensions", "x-webkit-deflate-frame, permessage-deflate")],
             response=base_response() + [("Sec-WebSocket-Extensions", "permessage-deflate")]),
    ),
    "deflate-offer-invalid": (
        dict(request=base_request() + [("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=16")]),
        dict(request=base_request() + [("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=15; client_max_window_bits")]),
    ),
    "deflate-response-invalid": (
        dict(request=base_request() + [("Sec-WebSocket-Extensions", "permessage-deflate")],
             response=base_response() + [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits=10")]),
        dict(request=base_request() + [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")],
             response=base_response() + [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits=10")]),
    ),
}

WARNINGS = {"subprotocol-not-selected", "extension-not-understood"}


def test_every_documented_finding_has_a_case():
    assert set(CASES) == set(FINDING_NAMES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_finding_fires(name):
    record, _ = run(**CASES[name][0])
    assert name in names(record)
    finding = next(f for f in record.findings + record.notes if f.name == name)
    assert finding.severity == ("warning" if name in WARNINGS else "error")
    assert (finding in record.notes) is (name in WARNINGS)
    assert finding.message and "\n" not in finding.message
    assert record.valid is (name in WARNINGS)


@pytest.mark.parametrize("name", sorted(CASES))
def test_finding_near_miss(name):
    record, _ = run(**CASES[name][1])
    assert record.valid, record.findings
    assert name not in names(record)


def test_unexpected_status_names_the_status():
    for status, words in [(403, "403 Forbidden"), (404, "404 Not Found"), (302, "redirect to '/login'")]:
        record, _ = run(status=status, response=[("Location", "/login")])
        (finding,) = record.findings
        assert finding.name == "unexpected-status" and words in finding.message


def test_426_names_supported_and_requested_versions():
    record, _ = run(status=426, response=[("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Version", "8")],
                    request=replace(base_request(), "Sec-WebSocket-Version", "12"))
    assert names(record) == ["request-version-unsupported", "version-not-supported"]
    message = record.findings[1].message
    assert "13, 8" in message and "12" in message


@pytest.mark.parametrize(
    "offer, response, problem",
    [
        ("permessage-deflate", "permessage-deflate; server_max_window_bits=7", "8-15"),
        ("permessage-deflate", "permessage-deflate; server_max_window_bits=08", "8-15"),
        ("permessage-deflate", "permessage-deflate; server_no_context_takeover; server_no_context_takeover", "twice"),
        ("permessage-deflate", "permessage-deflate; mystery=1", "unknown parameter mystery"),
        ("permessage-deflate", "permessage-deflate; server_no_context_takeover=1", "takes no value"),
        ("permessage-deflate; client_max_window_bits", "permessage-deflate; client_max_window_bits", "needs a value"),
        ("permessage-deflate; server_no_context_takeover", "permessage-deflate", "server_no_context_takeover"),
        ("permessage-deflate; server_max_window_bits=10", "permessage-deflate", "server_max_window_bits=10"),
        ("permessage-deflate; server_max_window_bits=10", "permessage-deflate; server_max_window_bits=12", "exceeds"),
    ],
)
def test_deflate_response_rules(offer, response, problem):
    record, deflate = run(request=base_request() + [("Sec-WebSocket-Extensions", offer)],
                          response=base_response() + [("Sec-WebSocket-Extensions", response)])
    assert names(record) == ["deflate-response-invalid"]
    assert problem in record.findings[0].message
    assert deflate is None


@pytest.mark.parametrize(
    "offer, response, expected",
    [
        ("permessage-deflate", "permessage-deflate", DeflateParams()),
        ("permessage-deflate", "permessage-deflate; server_no_context_takeover; client_no_context_takeover",
         DeflateParams(server_no_context_takeover=True, client_no_context_takeover=True)),
        ("permessage-deflate", "permessage-deflate; server_max_window_bits=9", DeflateParams(server_max_window_bits=9)),
        ("permessage-deflate; server_max_window_bits=10; client_max_window_bits=12",
         "permessage-deflate; server_max_window_bits=8; client_max_window_bits=11",
         DeflateParams(server_max_window_bits=8, client_max_window_bits=11)),
        # the second offer is accepted (the first asked for server_no_context_takeover)
        ("permessage-deflate; server_no_context_takeover, permessage-deflate",
         "permessage-deflate; client_no_context_takeover", DeflateParams(client_no_context_takeover=True)),
    ],
)
def test_negotiated_deflate_params(offer, response, expected):
    record, deflate = run(request=base_request() + [("Sec-WebSocket-Extensions", offer)],
                          response=base_response() + [("Sec-WebSocket-Extensions", response)])
    assert record.valid and record.findings == []
    assert deflate == expected
    assert record.extensions == [response.replace(";  ", "; ")]


def test_deflate_returned_even_if_accept_is_wrong():
    record, deflate = run(request=base_request() + [("Sec-WebSocket-Extensions", "permessage-deflate")],
                          response=replace(base_response(), "Sec-WebSocket-Accept", "AAAA")
                          + [("Sec-WebSocket-Extensions", "permessage-deflate")])
    assert not record.valid and names(record) == ["accept-mismatch"]
    assert deflate == DeflateParams()


def test_rfc8441_is_recognised_without_key_or_accept():
    record, deflate = run(
        method="CONNECT", version="HTTP/2.0", status=200,
        request=H2_REQUEST + [("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Extensions", "permessage-deflate")],
        response=[("Sec-WebSocket-Protocol", "chat"), ("Sec-WebSocket-Extensions", "permessage-deflate")],
    )
    assert record.mode == "rfc8441" and record.valid and record.findings == []
    assert record.key is None and record.expected_accept is None
    assert record.subprotocol == "chat" and deflate == DeflateParams()


def test_rfc8441_without_pseudo_headers_is_not_flagged():
    # e.g. a source that keeps regular headers only: CONNECT over h2 is the extended CONNECT
    record, _ = run(method="CONNECT", version="HTTP/2.0", status=200,
                    request=[("Sec-WebSocket-Version", "13")], response=[])
    assert record.mode == "rfc8441" and record.valid and record.findings == []
    record, _ = run(method="CONNECT", version="HTTP/1.1", status=200, request=[("Sec-WebSocket-Version", "13")],
                    response=[])
    assert record.mode == "rfc6455" and "request-method-not-get" in names(record)


def test_rfc8441_refused():
    record, _ = run(method="CONNECT", version="h2", status=403, request=H2_REQUEST, response=[])
    assert record.mode == "rfc8441" and names(record) == ["unexpected-status"]
    assert "instead of 2xx" in record.findings[0].message


def test_parse_extensions_grammar():
    assert parse_extensions('a; x=1; y="2", , b ;z') == [("a", [("x", "1"), ("y", "2")]), ("b", [("z", None)])]
    assert parse_extensions("") == []
    for bad in ["a;", "a; =1", 'a; x="1', "a b", "a; x=1 2", ";a", 'a; x="a b"', "a; x=\u00e9"]:
        with pytest.raises(ExtensionHeaderError):
            parse_extensions(bad)


# --- truth from independent implementations -----------------------------------------------------------


def test_untrusted_header_values_stay_one_line_and_never_crash():
    odd_key = "d\u20acGhlIHNhbXBsZSBub25jZQ=="  # not latin-1: a source that decoded headers as UTF-8
    record, _ = run(
        request=replace(base_request(), "Sec-WebSocket-Key", odd_key)
        + [("Sec-WebSocket-Protocol", "a\nb, \x1b[31mred")],
        status=302,
        response=[("Location", "/x\r\n\x1b[2J")],
    )
    assert names(record) == ["request-key-invalid", "unexpected-status"]
    for finding in record.findings:
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in finding.message), finding.message
    assert record.expected_accept == accept_for(odd_key)
    record, _ = run(request=base_request() + [("Sec-WebSocket-Protocol", "a\nb, \x1b[31mred")],
                    response=base_response() + [("Sec-WebSocket-Protocol", "\x1b[31mred")])
    assert record.subprotocol == "\x1b[31mred" and record.valid  # data kept as sent; renderers escape


def test_websockets_client_request_answered_by_wsproto_server_is_valid():
    """websockets' client request (sans-IO) answered by wsproto's server with a subprotocol and
    permessage-deflate; websockets accepts the answer, and so must we."""
    from websockets.client import ClientProtocol
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
    from websockets.protocol import State
    from websockets.uri import parse_uri

    client = ClientProtocol(parse_uri("ws://127.0.0.1:9/feed"), subprotocols=["v2.stream", "v1.stream"],
                            extensions=[ClientPerMessageDeflateFactory(client_max_window_bits=True,
                                                                       server_no_context_takeover=True)])
    client.send_request(client.connect())
    request = b"".join(client.data_to_send())
    server = wsproto.WSConnection(wsproto.ConnectionType.SERVER)
    server.receive_data(request)
    (event,) = list(server.events())
    assert isinstance(event, wsproto.events.Request)
    response = server.send(wsproto.events.AcceptConnection(
        subprotocol="v1.stream", extensions=[wsproto.extensions.PerMessageDeflate()]))
    client.receive_data(response)
    assert client.state is State.OPEN, client.handshake_exc  # websockets accepted wsproto's answer
    record, deflate = validate_capture(request, response)
    assert record.valid and record.findings == [], record.findings
    assert record.subprotocol == "v1.stream" and record.offered_subprotocols == ["v2.stream", "v1.stream"]
    assert deflate is not None and deflate.server_no_context_takeover
    assert record.extensions[0].startswith("permessage-deflate")


_NAMES = st.sampled_from(["Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version",
                          "Sec-WebSocket-Protocol", "Sec-WebSocket-Extensions", "Sec-WebSocket-Accept",
                          ":protocol", "Location"])
_VALUES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["websocket", "Upgrade", "13", KEY, ACCEPT, "permessage-deflate",
                     "permessage-deflate; client_max_window_bits", 'a; b="c,d"; e=f, g', "chat, superchat"]),
)
_HEADERS = st.lists(st.tuples(_NAMES, _VALUES), max_size=12)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["GET", "CONNECT", "POST"]), st.sampled_from(["HTTP/1.1", "HTTP/1.0", "h2", None, "?"]),
       _HEADERS, st.one_of(st.none(), st.sampled_from([101, 200, 426, 403])), _HEADERS)
def test_validate_never_raises_and_stays_consistent(method, version, request, status, response):
    record, deflate = validate("c", "ws://h/", method=method, http_version=version, request_headers=request,
                               status=status, response_headers=response)
    assert record.valid == (not record.findings)  # spec/records.md: findings empty when valid
    assert all(f.severity == "error" for f in record.findings)
    assert all(f.severity != "error" for f in record.notes)
    assert {f.name for f in record.findings + record.notes} <= set(FINDING_NAMES)
    assert all("\n" not in f.message and "\r" not in f.message for f in record.findings + record.notes)
    if deflate is not None:
        assert any(e.startswith("permessage-deflate") for e in record.extensions)
