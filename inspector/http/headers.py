"""Header lookups on the ``[(name, value), ...]`` lists that records carry."""

from __future__ import annotations

from typing import Iterable

__all__ = ["header"]


def header(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """The first value of header ``name`` (case-insensitive) in a record's header list, None if absent."""
    name = name.lower()
    for key, value in headers:
        if key.lower() == name:
            return value
    return None
