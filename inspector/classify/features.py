"""Timing and content features of one endpoint's samples, and the polling rules that read them.

Features (`Pattern` fields)
    ``requests``; ``interval_s`` / ``interval_cv``: mean and coefficient of variation of the time between
    request starts within one session (see `inspector.classify.sessions`); ``hold_s``: median time from
    the request to the first response data: the first body byte when the pipeline saw it, else the
    response head (``ts_response - ts_request``); servers such as SockJS send the head at once and hold
    the body, so the head alone would hide the hold; ``repoll_gap_s``: median of "response end -> next
    request start" within a session; ``changed_ratio``: share of responses whose body
    (``response_sha256``) differs from the previous response of the same session (the first counts as
    changed); ``empty_ratio``: share of 204/304/empty answers; ``header_bytes_per_body_byte``:
    request+response header bytes per byte of useful response body; ``max_concurrent``: most requests
    open at once; ``duration_s``: first request to last byte.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from itertools import pairwise

from inspector.classify.samples import Sample, by_session, changes, is_empty, median
from inspector.classify.thresholds import Thresholds

__all__ = ["Features", "features", "polling", "useful", "why_not_polling"]


@dataclass
class Features:
    interval: float | None = None
    interval_cv: float | None = None
    hold: float | None = None
    repoll: float | None = None
    body_time: float | None = None
    changed_ratio: float | None = None
    empty_ratio: float | None = None
    header_per_body: float | None = None
    max_concurrent: int | None = None
    duration: float | None = None
    max_session_requests: int = 0
    held: int = 0  # requests held >= long_poll_hold_s
    held_share: float = 0.0


def _rhythm(f: Features, samples: list[Sample], *, loop_only: bool) -> list[bool]:
    """Intervals and re-poll gaps within sessions into ``f``; the known body changes (unless ``loop_only``)."""
    intervals: list[float] = []
    gaps: list[float] = []
    known_changes: list[bool] = []
    for session in by_session(samples).values():
        f.max_session_requests = max(f.max_session_requests, len(session))
        for prev, cur in pairwise(session):
            if prev.ts_request is not None and cur.ts_request is not None:
                intervals.append(cur.ts_request - prev.ts_request)
            end = prev.ts_end if prev.ts_end is not None else prev.ts_response
            if end is not None and cur.ts_request is not None:
                gaps.append(max(0.0, cur.ts_request - end))
        if not loop_only:
            known_changes.extend(c for c in changes(session) if c is not None)
    if intervals:
        mean = statistics.fmean(intervals)
        f.interval = mean
        f.interval_cv = statistics.pstdev(intervals) / mean if mean > 0 else 0.0
    f.repoll = median(gaps)
    return known_changes


def _holds(f: Features, samples: list[Sample], t: Thresholds) -> list[float]:
    """Hold (request -> first response data) into ``f``; how long each body kept flowing."""
    holds = []
    flows = []
    for s in samples:
        if s.websocket or s.ts_request is None:
            continue
        data = s.ts_body if s.ts_body is not None else s.ts_response
        if data is not None:
            holds.append(data - s.ts_request)
        if s.ts_end is not None and s.ts_response is not None:
            # how long data kept flowing: first to last body chunk, else head to end
            flow = s.ts_end - s.ts_response if s.body_spread is None else s.body_spread
            flows.append(flow)
    f.hold = median([max(0.0, h) for h in holds])
    if holds:
        f.held = sum(h >= t.long_poll_hold_s for h in holds)
        f.held_share = f.held / len(holds)
    return flows


def _concurrency(f: Features, samples: list[Sample]) -> None:
    """Most requests open at once and the endpoint's duration into ``f``."""
    events: list[tuple[float, int]] = []
    for s in samples:
        if s.ts_request is None:
            continue
        events.append((s.ts_request, 1))
        end = s.ts_end if s.ts_end is not None else s.ts_response
        if end is not None:
            events.append((end, -1))
    if not events:
        return
    events.sort(key=lambda e: (e[0], e[1]))  # an end at the same instant closes before a start opens
    open_now = peak = 0
    for _, delta in events:
        open_now += delta
        peak = max(peak, open_now)
    f.max_concurrent = peak
    starts = [s.ts_request for s in samples if s.ts_request is not None]
    ends = [e for s in samples for e in (s.ts_end, s.ts_response, s.ts_request) if e is not None]
    f.duration = max(0.0, max(ends) - min(starts))


def features(samples: list[Sample], t: Thresholds, *, loop_only: bool = False) -> Features:
    """The `Pattern` features of one endpoint's samples; ``loop_only``: only what `polling` needs."""
    f = Features()
    known_changes = _rhythm(f, samples, loop_only=loop_only)
    flows = _holds(f, samples, t)
    if loop_only:
        return f
    f.body_time = median([max(0.0, b) for b in flows])
    if known_changes:
        f.changed_ratio = sum(known_changes) / len(known_changes)
    answered = [s for s in samples if s.status is not None and not s.websocket]
    if answered:
        f.empty_ratio = sum(is_empty(s) for s in answered) / len(answered)
    useful_body = sum(s.body for s in useful(samples))
    header_bytes = sum(s.request_bytes + s.response_header_bytes for s in samples)
    if useful_body:
        f.header_per_body = header_bytes / useful_body
    _concurrency(f, samples)
    return f


def polling(f: Features, requests: int, t: Thresholds) -> str | None:
    """Decision rules 4 and 5 (`inspector.classify.classifier`): ``long-polling``, ``short-polling`` or None."""
    if (
        requests >= t.long_poll_min_requests
        and f.held_share >= t.long_poll_held_share
        and f.repoll is not None
        and f.repoll <= t.long_poll_max_repoll_s
    ):
        return "long-polling"
    if (
        f.max_session_requests >= t.short_poll_min_requests
        and f.interval_cv is not None
        and f.interval_cv <= t.short_poll_max_cv
        and f.held_share < t.long_poll_held_share
    ):
        return "short-polling"
    return None


def useful(samples: list[Sample]) -> list[Sample]:
    """Responses that carried new data: 2xx, non-empty, not a framework keep-alive, body changed (or not
    known to be unchanged)."""
    found = []
    for session in by_session(samples).values():
        for s, changed in zip(session, changes(session)):
            if (
                s.status is not None
                and 200 <= s.status < 300
                and not is_empty(s)
                and not s.no_data
                and changed is not False
            ):
                found.append(s)
    return found


def why_not_polling(f: Features, requests: int, t: Thresholds) -> str:
    if requests < 2 or f.max_session_requests < 2:
        return f"{requests} request(s), no repeated requests in one session"
    parts = []
    if f.interval_cv is not None and f.interval_cv > t.short_poll_max_cv:
        parts.append(f"irregular intervals (cv {f.interval_cv:.2f} > {t.short_poll_max_cv:g})")
    if f.held_share >= t.long_poll_held_share and (f.repoll or 0) > t.long_poll_max_repoll_s:
        parts.append(f"{f.held} requests held but the client re-polled only after {f.repoll:.2f} s (median)")
    if f.max_session_requests < t.short_poll_min_requests:
        parts.append(f"at most {f.max_session_requests} requests per session (< {t.short_poll_min_requests})")
    return ", ".join(parts) or "no polling pattern"
