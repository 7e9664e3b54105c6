"""permessage-deflate (RFC 7692): negotiated parameters and a bounded per-direction inflater.

`DeflateParams` holds what the handshake negotiated (RFC 7692 section 7.1): whether each side resets its
LZ77 context after every message (``*_no_context_takeover``, 7.1.1) and each side's LZ77 window size
(``*_max_window_bits``, 7.1.2, 8-15, default 15). `DeflateParams.parse` reads an extension header value
such as ``permessage-deflate; client_max_window_bits=10`` (the ``Sec-WebSocket-Extensions`` response
header, or the CLI's ``--deflate-params``) and returns the problems it found instead of raising (the value is read by
`inspector.ws.extensions.parse_extensions`, leniently).

`Inflater` decompresses one direction's messages (RFC 7692 7.2.2): the message's payloads are one raw
DEFLATE stream; ``00 00 ff ff`` is appended at the end of the message; the context is reset after each
message when the *sending* side negotiated no_context_takeover, and shared across messages otherwise
(also after a message that ends its DEFLATE stream with a BFINAL block, 7.2.3.4: the next stream starts
with the last window of output as its preset dictionary).
Inflation is bounded: output comes in pieces of at most ``chunk`` bytes and a message may not inflate to
more than ``limit`` bytes (`InflateLimit` is raised instead: a deflate bomb costs ``limit`` bytes of
work, never more). The window is the one the sender negotiated (``*_max_window_bits``, 7.1.2), as a
strict receiver's (websockets uses the same ``wbits``): a sender that refers back further than it
promised fails to inflate with zlib's "invalid distance too far back", raised as `WindowExceeded`, as
it would in such a receiver. zlib only checks what is not in the current call's output, so a reference beyond
the window inside one message may pass, depending on how the payload arrived; across messages (context
takeover) it is always caught.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from typing import Iterator

from inspector.records import Direction
from inspector.ws.extensions import parse_extensions

__all__ = [
    "DeflateParams", "Inflater", "InflateLimit", "WindowExceeded", "EXTENSION_NAME", "deflate_problem",
    "deflate_mismatch", "deflate_params",
]

EXTENSION_NAME = "permessage-deflate"
_TAIL = b"\x00\x00\xff\xff"  # RFC 7692 7.2.2: appended to every message's payload before inflating
#: zlib's message for a back-reference beyond the window (RFC 1951 3.2.5 distance > window size)
_TOO_FAR_BACK = "invalid distance too far back"
_HISTORY_SLACK = 4096  # output kept beyond the window, so that trimming it is rare


@dataclass(frozen=True)
class DeflateParams:
    """Negotiated permessage-deflate parameters (RFC 7692 7.1)."""

    client_no_context_takeover: bool = False
    server_no_context_takeover: bool = False
    client_max_window_bits: int = 15
    server_max_window_bits: int = 15

    @classmethod
    def parse(cls, value: str) -> tuple[DeflateParams | None, list[str]]:
        """Parse ``permessage-deflate; param[=value]...`` (a header value; the first
        permessage-deflate element is used).

        Returns ``(params, errors)``: ``params`` is None when there is no permessage-deflate element or
        the errors make it unusable; ``errors`` are one-line descriptions (unknown or duplicate parameter,
        value not 8-15, value on a flag parameter). A ``client_max_window_bits`` without a value (an
        offer, 7.1.2.2) means 15.
        """
        errors: list[str] = []
        offers = [params for name, params in parse_extensions(value, lenient=True) if name == EXTENSION_NAME]
        if not offers:
            return None, [f"no {EXTENSION_NAME} extension in {value!r}"]
        seen: set[str] = set()
        fields: dict[str, object] = {}
        for name, val in offers[0]:
            if name in seen:
                errors.append(f"duplicate parameter {name} (RFC 7692 7)")
                continue
            seen.add(name)
            if name in ("client_no_context_takeover", "server_no_context_takeover"):
                if val is not None:
                    errors.append(f"{name} takes no value, got {val!r} (RFC 7692 7.1.1)")
                    continue
                fields[name] = True
            elif name in ("client_max_window_bits", "server_max_window_bits"):
                if val is None:
                    if name == "server_max_window_bits":
                        errors.append("server_max_window_bits needs a value 8-15 (RFC 7692 7.1.2.1)")
                    continue
                if not (val.isascii() and val.isdigit()) or not 8 <= int(val) <= 15 or val[0] == "0":
                    errors.append(f"{name}={val!r} is not an integer 8-15 (RFC 7692 7.1.2)")
                    continue
                fields[name] = int(val)
            else:
                errors.append(f"unknown parameter {name} (RFC 7692 7)")
        return (None if errors else cls(**fields)), errors  # type: ignore[arg-type]

    def format(self) -> str:
        """The extension header value for these parameters (defaults omitted)."""
        parts = [EXTENSION_NAME]
        if self.client_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.server_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.client_max_window_bits != 15:
            parts.append(f"client_max_window_bits={self.client_max_window_bits}")
        if self.server_max_window_bits != 15:
            parts.append(f"server_max_window_bits={self.server_max_window_bits}")
        return "; ".join(parts)

    def for_sender(self, direction: Direction) -> tuple[bool, int]:
        """``(no_context_takeover, max_window_bits)`` of the side sending in ``direction``."""
        if direction == "client":
            return self.client_no_context_takeover, self.client_max_window_bits
        return self.server_no_context_takeover, self.server_max_window_bits


class WindowExceeded(zlib.error):
    """The sender referred back further than the window it negotiated (``max_window_bits`` < 15)."""


class InflateLimit(Exception):
    """A message inflates to more than the inflater's limit (a deflate bomb, or just too big)."""


# --- negotiation checks for the handshake (RFC 7692 section 7.1) ---------------------------------------

_WINDOW_BITS = re.compile(r"[1-9][0-9]?")


def deflate_problem(params: list[tuple[str, str | None]], *, response: bool) -> str | None:
    """Why permessage-deflate parameters are invalid on their own (RFC 7692 section 7.1), or None."""
    seen: set[str] = set()
    for name, value in params:
        if name in seen:
            return f"parameter {name} appears twice (RFC 7692 7.1)"
        seen.add(name)
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                return f"{name} takes no value, got {value!r} (RFC 7692 7.1.1)"
        elif name in ("server_max_window_bits", "client_max_window_bits"):
            if value is None:
                if name == "client_max_window_bits" and not response:
                    continue
                return f"{name} needs a value 8-15 (RFC 7692 7.1.2)"
            if not _WINDOW_BITS.fullmatch(value) or not 8 <= int(value) <= 15:
                return f"{name}={value} is not a window size 8-15 (RFC 7692 7.1.2)"
        else:
            return f"unknown parameter {name} (RFC 7692 7.1)"
    return None


def deflate_mismatch(
    offer: list[tuple[str, str | None]], response: list[tuple[str, str | None]]
) -> str | None:
    """Why a (valid) response does not accept a (valid) offer (RFC 7692 section 7.1), or None."""
    offered = dict(offer)
    accepted = dict(response)
    if "server_no_context_takeover" in offered and "server_no_context_takeover" not in accepted:
        return "the client offered server_no_context_takeover and the server did not accept it (RFC 7692 7.1.1.1)"
    if "server_max_window_bits" in offered:
        limit = int(offered["server_max_window_bits"])
        got = accepted.get("server_max_window_bits")
        if got is None:
            return f"the client offered server_max_window_bits={limit} and the server did not accept it (RFC 7692 7.1.2.1)"
        if int(got) > limit:
            return f"server_max_window_bits={got} exceeds the offered {limit} (RFC 7692 7.1.2.1)"
    if "client_max_window_bits" in accepted and "client_max_window_bits" not in offered:
        return "client_max_window_bits accepted although the client did not offer it (RFC 7692 7.1.2.2)"
    return None


def deflate_params(response: list[tuple[str, str | None]]) -> DeflateParams:
    """The parameters a (valid) permessage-deflate response negotiated."""
    accepted = dict(response)
    return DeflateParams(
        server_no_context_takeover="server_no_context_takeover" in accepted,
        client_no_context_takeover="client_no_context_takeover" in accepted,
        server_max_window_bits=int(accepted.get("server_max_window_bits") or 15),
        client_max_window_bits=int(accepted.get("client_max_window_bits") or 15),
    )


class Inflater:
    """Bounded permessage-deflate decompression of one direction's messages (RFC 7692 7.2.2).

    Per message: `begin()`, `feed(payload)` for each frame's payload (any chunking), `finish()`.
    ``feed`` and ``finish`` yield inflated pieces of at most ``chunk`` bytes; they raise `InflateLimit`
    past ``limit`` bytes for the message and ``zlib.error`` on a corrupt stream. After either, the
    shared context is unusable (`context_lost`) until a reset: with no_context_takeover the next
    message starts afresh, with context takeover later messages cannot be inflated.
    """

    def __init__(self, no_context_takeover: bool = False, max_window_bits: int = 15, *,
                 limit: int = 64 << 20, chunk: int = 1 << 16) -> None:
        self.no_context_takeover = no_context_takeover
        self.max_window_bits = max_window_bits
        self.limit = limit
        self.chunk = chunk
        self._d = None
        self._produced = 0
        self.context_lost = False
        self._tail_fed = False  # `whole` already inflated this message's tail
        self._pending: tuple = ((), None)  # `whole` -> `rest`: pieces produced, exception raised
        #: with context takeover, the latest output (a window of it, at most 4 KiB more: memory per
        #: direction stays about what zlib holds itself): the preset dictionary of the next stream
        #: when a BFINAL block ends one
        self._history: bytearray | None = None if no_context_takeover else bytearray()
        self._window = 1 << max_window_bits

    @classmethod
    def for_direction(cls, params: DeflateParams, direction: Direction, **kwargs) -> Inflater:
        no_takeover, bits = params.for_sender(direction)
        return cls(no_takeover, bits, **kwargs)

    def begin(self) -> bool:
        """Start a message; False when the shared context was lost earlier (cannot inflate)."""
        if self.context_lost and not self.no_context_takeover:
            return False
        if self._d is None or self.no_context_takeover or self._d.eof or self.context_lost:
            if self._d is not None and self._d.eof and self._history:
                # A block with BFINAL=1 ended the previous stream (RFC 7692 7.2.3.4); the next message is
                # still inflated "using the LZ77 sliding window used to process the last compressed
                # message" (7.2.2): a new stream whose preset dictionary is that window.
                window = bytes(self._history[-self._window :])
                self._d = zlib.decompressobj(-self.max_window_bits, zdict=window)
            else:
                self._d = zlib.decompressobj(-self.max_window_bits)
            self.context_lost = False
        self._produced = 0
        self._tail_fed = False
        return True

    def whole(self, payload: bytes) -> bytes | None:
        """A one-frame message after `begin`: its payload and the ``00 00 ff ff`` tail in one decompress
        call (bytes after a BFINAL block land in ``unused_data``, ignored as in `feed`).

        Returns the inflated message when it came out whole (under one ``chunk`` and the ``limit``); the
        message is then finished. Otherwise returns None and `rest` yields the output piece by piece
        (bounded like `feed`; it raises what the call raised), then `finish`.
        """
        d = self._d
        cap = min(self.chunk, self.limit + 1)
        self._tail_fed = True
        try:
            out = d.decompress(payload + _TAIL, cap)
        except zlib.error as exc:
            self.context_lost = True
            self._pending = (self._before_error(payload), self._named(exc))
            return None
        if len(out) >= cap or d.unconsumed_tail:
            self._pending = ((out,), None)
            return None
        if self.no_context_takeover:
            self._d = None
        else:
            self._remember(out)
        return out

    def _before_error(self, payload: bytes) -> list[bytes]:
        """The pieces `feed(payload)` and `finish` yield before the error that `whole`'s one call hit (a
        call that raises returns nothing): a new decompressor in the state the message started from (after
        the previous message's sync flush that state is the window, kept in the history) inflates the
        payload, then the tail, call by call as `feed` does, up to the error."""
        window = bytes(self._history[-self._window :]) if self._history else b""
        d = zlib.decompressobj(-self.max_window_bits, zdict=window) if window else zlib.decompressobj(-self.max_window_bits)
        cap = min(self.chunk, self.limit + 1)
        pieces: list[bytes] = []
        for data in (payload, _TAIL):
            try:
                while not d.eof:
                    out = d.decompress(data, cap)
                    if out:
                        pieces.append(out)
                    data = d.unconsumed_tail
                    if not data and len(out) < cap:
                        break
            except zlib.error:
                break
        return pieces

    def _remember(self, piece: bytes) -> None:
        """Add inflated output to the history (context takeover only), keeping about one window."""
        history = self._history
        if history is not None:
            history += piece
            if len(history) > self._window + _HISTORY_SLACK:
                del history[: -self._window]

    def rest(self) -> Iterator[bytes]:
        """After `whole` returned None: the message's inflated pieces, as `feed` would yield them."""
        pieces, error = self._pending
        self._pending = ((), None)
        for piece in pieces:
            if piece:
                self._produced += len(piece)
                if self._produced > self.limit:
                    self.context_lost = True
                    raise InflateLimit(f"message inflates to more than {self.limit} bytes")
                self._remember(piece)
                yield piece
        if error is not None:
            raise error
        yield from self.feed(self._d.unconsumed_tail)

    def abandon(self) -> None:
        """The message will not be finished (cut off, or replaced): the shared context is unusable."""
        self.context_lost = True

    def feed(self, data: bytes) -> Iterator[bytes]:
        d = self._d
        try:
            while True:
                if d.eof:
                    return  # bytes after BFINAL are not part of the stream
                room = self.limit - self._produced
                out = d.decompress(data, min(self.chunk, room + 1))
                if out:
                    self._produced += len(out)
                    if self._produced > self.limit:
                        raise InflateLimit(f"message inflates to more than {self.limit} bytes")
                    self._remember(out)
                    yield out
                data = d.unconsumed_tail
                if not data and len(out) < min(self.chunk, room + 1):
                    return
        except InflateLimit:
            self.context_lost = True
            raise
        except zlib.error as exc:
            self.context_lost = True
            raise self._named(exc) from None

    def _named(self, exc: zlib.error) -> zlib.error:
        """``exc`` as `WindowExceeded` when it is a reference beyond a negotiated window under 2^15."""
        if self.max_window_bits < 15 and _TOO_FAR_BACK in str(exc):
            return WindowExceeded(str(exc))
        return exc

    def finish(self) -> Iterator[bytes]:
        """End of message: inflate the ``00 00 ff ff`` tail (RFC 7692 7.2.2), unless `whole` did."""
        if not self._tail_fed:
            yield from self.feed(_TAIL)
        if self.no_context_takeover:
            self._d = None
