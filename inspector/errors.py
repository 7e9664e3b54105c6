"""The one exception type core modules raise on bad input.

Input problems inside traffic are data (violations, findings, warnings); `InputError` is for a request
that cannot be carried out at all (odd-length hex, an empty input, an unreadable file). Its message is
one line, shown to the user as ``inspector: <message>`` with exit code 2.
"""


class InputError(ValueError):
    """Bad input that makes the requested operation impossible; the message is one line."""
