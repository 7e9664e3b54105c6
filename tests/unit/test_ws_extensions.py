"""inspector.ws.extensions: the one Sec-WebSocket-Extensions parser, on RFC 7692 examples and odd inputs,
and both of its users (handshake.validate, DeflateParams.parse) reading through it."""

from __future__ import annotations

import pytest

from inspector.ws import deflate, handshake
from inspector.ws.deflate import DeflateParams
from inspector.ws.extensions import ExtensionHeaderError, format_extension, parse_extensions

# RFC 7692 section 5.1 and 7.1 examples (offers and responses, as written there)
RFC7692 = [
    ("permessage-deflate", [("permessage-deflate", [])]),
    ("permessage-deflate; client_max_window_bits", [("permessage-deflate", [("client_max_window_bits", None)])]),
    ("permessage-deflate; server_max_window_bits=10",
     [("permessage-deflate", [("server_max_window_bits", "10")])]),
    ("permessage-deflate; client_max_window_bits; server_max_window_bits=10, permessage-deflate; "
     "client_max_window_bits",
     [("permessage-deflate", [("client_max_window_bits", None), ("server_max_window_bits", "10")]),
      ("permessage-deflate", [("client_max_window_bits", None)])]),
    ("permessage-deflate; server_no_context_takeover; client_no_context_takeover",
     [("permessage-deflate", [("server_no_context_takeover", None), ("client_no_context_takeover", None)])]),
    ('permessage-deflate; client_max_window_bits="10"',
     [("permessage-deflate", [("client_max_window_bits", "10")])]),
]


@pytest.mark.parametrize(("value", "expected"), RFC7692)
@pytest.mark.parametrize("lenient", [False, True])
def test_rfc7692_examples(value, expected, lenient):
    assert parse_extensions(value, lenient=lenient) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("", []),
    (" , ,\t", []),
    ("a;x=1,b", [("a", [("x", "1")]), ("b", [])]),
    ('a; x="1;2"', None),  # a quoted value that is no token: strictly an error
    ('a; x="b\\"c"', None),
    ('a; x="\\t"', [("a", [("x", "t")])]),  # backslash escapes unescaped, then a token
    ("a ; x = 1", [("a", [("x", "1")])]),
])
def test_strict_odd_inputs(value, expected):
    if expected is None:
        with pytest.raises(ExtensionHeaderError):
            parse_extensions(value)
    else:
        assert parse_extensions(value) == expected


def test_separators_inside_quotes_separate_nothing():
    assert parse_extensions('A; X="1;2,3", b', lenient=True) == [("a", [("x", "1;2,3")]), ("b", [])]
    assert parse_extensions('a; x="b\\",c"; y', lenient=True) == [("a", [("x", 'b\\",c'), ("y", None)])]


@pytest.mark.parametrize("value", ["a;", "a; =1", 'a; x="1', "a b", "a; x=1 2", ";a", "a; x=\u00e9", "a;;b"])
def test_strict_errors_name_a_position_and_lenient_never_raises(value):
    with pytest.raises(ExtensionHeaderError, match="position|quoted|token"):
        parse_extensions(value)
    assert isinstance(parse_extensions(value, lenient=True), list)


def test_format_round_trips():
    for value, expected in RFC7692:
        assert [parse_extensions(format_extension(e))[0] for e in expected] == expected


def test_both_users_read_through_the_one_parser():
    assert deflate.parse_extensions is parse_extensions
    assert handshake.parse_extensions is parse_extensions
    assert handshake.ExtensionHeaderError is ExtensionHeaderError
    params, errors = DeflateParams.parse('x-other; a="1,2", Permessage-Deflate; Server_Max_Window_Bits="9"')
    assert errors == [] and params == DeflateParams(server_max_window_bits=9)
