"""The names of RFC 6455 / RFC 7692 violations (../shared/spec/violations.md), one constant each.

These strings appear in ``Frame.violations`` (and ``Message.violations``), in ``inspector decode --json``
and everywhere else; code refers to the constants so a typo cannot invent a new name.

Where each one is decided:

* from a frame header alone (`inspector.ws.header`): ``reserved-opcode``, ``control-frame-too-long``,
  ``fragmented-control-frame``, ``non-minimal-length``, ``length-msb-set``, ``client-frame-unmasked``,
  ``server-frame-masked``, ``rsv-without-extension`` and ``rsv1-on-control-or-continuation`` (the last
  two depend on whether permessage-deflate was negotiated);
* from end of input (`inspector.ws.decoder.FrameDecoder.end`): ``truncated``;
* from per-direction state and payloads (`inspector.ws.messages`): ``continuation-without-start``,
  ``new-message-while-fragmented``, ``data-after-close``, ``invalid-utf8``, ``close-payload-length-1``,
  ``invalid-close-code``.
"""

TRUNCATED = "truncated"
RSV_WITHOUT_EXTENSION = "rsv-without-extension"  # RFC 6455 5.2
RSV1_ON_CONTROL_OR_CONTINUATION = "rsv1-on-control-or-continuation"  # RFC 7692 6.1
RESERVED_OPCODE = "reserved-opcode"  # RFC 6455 5.2
CONTROL_FRAME_TOO_LONG = "control-frame-too-long"  # RFC 6455 5.5
FRAGMENTED_CONTROL_FRAME = "fragmented-control-frame"  # RFC 6455 5.4, 5.5
NON_MINIMAL_LENGTH = "non-minimal-length"  # RFC 6455 5.2
LENGTH_MSB_SET = "length-msb-set"  # RFC 6455 5.2
CLIENT_FRAME_UNMASKED = "client-frame-unmasked"  # RFC 6455 5.1, 5.3
SERVER_FRAME_MASKED = "server-frame-masked"  # RFC 6455 5.1
CONTINUATION_WITHOUT_START = "continuation-without-start"  # RFC 6455 5.4
NEW_MESSAGE_WHILE_FRAGMENTED = "new-message-while-fragmented"  # RFC 6455 5.4
INVALID_UTF8 = "invalid-utf8"  # RFC 6455 5.6, 5.5.1, 8.1
CLOSE_PAYLOAD_LENGTH_1 = "close-payload-length-1"  # RFC 6455 5.5.1
INVALID_CLOSE_CODE = "invalid-close-code"  # RFC 6455 7.4
DATA_AFTER_CLOSE = "data-after-close"  # RFC 6455 5.5.1

#: every name, in the order of the spec table
ALL = (
    TRUNCATED,
    RSV_WITHOUT_EXTENSION,
    RSV1_ON_CONTROL_OR_CONTINUATION,
    RESERVED_OPCODE,
    CONTROL_FRAME_TOO_LONG,
    FRAGMENTED_CONTROL_FRAME,
    NON_MINIMAL_LENGTH,
    LENGTH_MSB_SET,
    CLIENT_FRAME_UNMASKED,
    SERVER_FRAME_MASKED,
    CONTINUATION_WITHOUT_START,
    NEW_MESSAGE_WHILE_FRAGMENTED,
    INVALID_UTF8,
    CLOSE_PAYLOAD_LENGTH_1,
    INVALID_CLOSE_CODE,
    DATA_AFTER_CLOSE,
)
