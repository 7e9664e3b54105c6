"""`inspector decode --json` run in process through click's CliRunner, parsed."""

from __future__ import annotations

import json

from click.testing import CliRunner

from inspector.cli import cli


def decode_json(*args: str, input: str | bytes | None = None) -> dict:
    result = CliRunner().invoke(cli, ["decode", "--json", *args], input=input)
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.output)


FRAME_KEYS = {"offset", "fin", "rsv1", "rsv2", "rsv3", "opcode", "opcode_name", "masked", "masking_key",
              "payload_len", "length_encoding", "payload", "complete"}
