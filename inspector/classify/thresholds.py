"""The classifier's named constants (`Thresholds`), overridable from the CLI and the addon."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from inspector.errors import InputError

__all__ = ["Thresholds"]


@dataclass(frozen=True)
class Thresholds:
    """The classifier's named constants.  Override with ``Thresholds.from_mapping({"name": value})``."""

    long_poll_hold_s: float = 1.0
    """Median hold (request sent -> first response byte) at or above which the server holds requests.
    Well above any LAN/WAN round trip; below it a request counts as "answered at once"."""

    long_poll_held_share: float = 0.25
    """Share of requests held >= ``long_poll_hold_s`` from which the server is holding requests."""

    long_poll_max_repoll_s: float = 1.0
    """Median gap (response end -> next request) at or below which the client re-polls at once."""

    long_poll_min_requests: int = 2
    """Fewest requests for long polling (one held request alone is just a slow request)."""

    short_poll_min_requests: int = 3
    """Fewest requests in one session for short polling ("several")."""

    short_poll_max_cv: float = 0.5
    """Largest coefficient of variation of the intervals between request starts for "regular"."""

    streaming_body_s: float = 2.0
    """Median first-to-last response byte at or above which a non-SSE body is a stream."""

    volatile_min_requests: int = 3
    """Fewest occurrences of a query parameter before "changes on every request" can make it volatile."""

    volatile_distinct_ratio: float = 0.8
    """Share of distinct values (per occurrence; or of values new on their connection) at or above which
    a query parameter is volatile."""

    replace_wasted_ratio: float = 0.5
    """`verdict`: polling is worth replacing when at least this share of requests carried no new data..."""

    replace_saving_ratio: float = 0.5
    """...or when push would save at least this share of the bytes."""

    replace_staleness_s: float = 1.0
    """...or when updates wait this long on average for the next poll (short polling)."""

    max_samples: int = 10000
    """Per endpoint, timing samples kept (bounded memory); counts and bytes keep adding up past it."""

    max_total_samples: int = 200000
    """Samples kept over all endpoints (about 100 MB at most); past it requests are only counted."""

    max_endpoints: int = 5000
    """Endpoints (method + origin + path) tracked; requests to further ones are counted, not classified."""

    @classmethod
    def from_mapping(cls, overrides: Mapping[str, Any]) -> Thresholds:
        """Thresholds with ``overrides`` (values may be strings, as from a CLI ``name=value``)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {}
        for name, raw in overrides.items():
            key = name.replace("-", "_")
            if key not in fields:
                raise InputError(f"unknown classifier threshold {name!r} (known: {', '.join(fields)})")
            kind = int if fields[key].type in ("int", int) else float
            try:
                value = kind(raw)
            except (TypeError, ValueError):
                raise InputError(f"threshold {name} needs a number, got {raw!r}") from None
            if not math.isfinite(value) or value < 0:
                raise InputError(f"threshold {name} must be a finite number >= 0, got {raw!r}")
            values[key] = value
        return cls(**values)
