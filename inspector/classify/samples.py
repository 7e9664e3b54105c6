"""What the classifier keeps: one `Sample` per request, grouped into a `Base` per method + origin + path
and split into `Endpoint`s; small helpers every stage shares."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

__all__ = ["Base", "Endpoint", "Sample", "by_session", "changes", "finite", "is_empty", "median", "rounded"]


@dataclass(slots=True)
class Sample:
    """One request, as much as the classifier needs of it."""

    ts_request: float | None
    ts_response: float | None
    ts_end: float | None
    status: int | None
    sha: str | None
    body: int
    request_bytes: int  # request head + body
    response_header_bytes: int
    params: tuple[tuple[str, str], ...]
    path_session: str  # a session id in the path (SockJS)
    client: str
    content_type: str
    has_length: bool
    subprotocol: str | None
    websocket: bool
    conn: str
    sse_resumed: bool | None = None
    no_data: bool = False  # a framework's keep-alive body (Engine.IO ping/noop): never new data
    session: str = ""  # decided by `Classifier._split` at each `patterns()` call
    ts_body: float | None = None  # first body byte
    body_spread: float | None = None  # first to last body byte


@dataclass
class Base:
    """All requests to one method + origin + (normalised) path, before the query split."""

    method: str
    origin: str
    path: str
    raw_path: str
    sockjs_transport: str | None
    samples: list[Sample]
    overflow: int = 0  # requests past max_samples (counted, not sampled)
    overflow_bytes: int = 0


@dataclass
class Endpoint:
    """One classified endpoint: a base's samples that share the non-volatile query parameters."""

    label: str
    base: Base
    framework: str | None
    params: dict[str, str]
    samples: list[Sample]
    overflow: int
    overflow_bytes: int
    upgrade: str | None = None


def by_session(samples: list[Sample]) -> dict[str, list[Sample]]:
    """Samples grouped by their session, each group in request order (unknown times last)."""
    sessions: dict[str, list[Sample]] = {}
    for s in samples:
        sessions.setdefault(s.session, []).append(s)
    for group in sessions.values():
        group.sort(key=lambda s: (s.ts_request is None, s.ts_request or 0.0))
    return sessions


def is_empty(s: Sample) -> bool:
    return s.status in (204, 304) or (s.status is not None and s.body == 0)


def changes(session: list[Sample]) -> list[bool | None]:
    """Per sample: body differs from the previous known body of its session (None: body unknown)."""
    out: list[bool | None] = []
    previous: str | None = None
    for s in session:
        if s.sha is None or s.status is None:
            out.append(None)
            continue
        out.append(s.sha != previous)
        previous = s.sha
    return out


def finite(ts: float | None) -> float | None:
    """A usable timestamp (epoch or relative seconds), else None: NaN, infinities and values beyond
    +-1e12 s (year 33658) are broken input and would overflow the statistics."""
    return ts if ts is not None and -1e12 < ts < 1e12 else None


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)
