"""The human phrases and summary of the application layer (present/app.py): decoded fields first, every
text from the traffic escaped."""

from __future__ import annotations

from inspector.present.app import AppSummary, app_text
from inspector.records import AppLayer, Operation


def test_phrases():
    assert app_text(AppLayer(protocol="socket.io", kind="event", name="chat", channel="/", id="0")) == (
        'socket.io event "chat" ns / ack 0')
    assert app_text(AppLayer(protocol="graphql-transport-ws", kind="subscribe", name="Ticks", channel="subscription",
                             id="1")) == 'graphql-transport-ws subscribe "Ticks" (subscription) id 1'
    bad = app_text(AppLayer(protocol="socket.io", kind="event", name="\x1b[31mred", error="not JSON"))
    assert "\x1b" not in bad and bad.endswith("! not JSON")
    batch = AppLayer(protocol="engine.io", kind="payload", packets=[AppLayer(protocol="engine.io", kind="ping")] * 5)
    assert app_text(batch) == "engine.io payload [ping, ping, ping, ping, ...]"


def test_summary_counts_and_percentiles():
    summary = AppSummary()
    for _ in range(3):
        summary.message(AppLayer(protocol="socket.io", kind="event", name="chat"))
    for i, outcome in enumerate(["ok", "ok", "ok", "never answered"]):
        summary.operation(Operation(protocol="socket.io", conn="c", kind="event", name="chat", id=str(i),
                                    ts_start=0.0, ts_end=0.001 * (i + 1), outcome=outcome,
                                    latency_s=0.001 * (i + 1) if outcome == "ok" else None))
    lines = summary.lines()
    assert lines[0] == ('socket.io: event "chat" x3', 2)
    assert lines[1] == ('event "chat": 4 (3 ok, 1 never answered), latency p50 2.0 ms p90 3.0 ms max 3.0 ms', 4)
