"""`present.timeline.Timeline`: time order within the window, a note where the window is exceeded, the three
time modes, on synthetic timestamps."""

from __future__ import annotations

import io

from inspector.present.timeline import Timeline


def _lines(timeline: Timeline) -> list[str]:
    timeline.flush()
    return timeline.stream.getvalue().splitlines()


def test_lines_come_out_in_time_order_within_the_window():
    t = Timeline(io.StringIO(), width=0, window=10)
    for ts, text in ((100.5, "b"), (100.0, "a"), (101.0, "c")):
        t.add(ts, "c1", [text])
    assert _lines(t) == ["  0.000000 c1 a", "  0.500000 c1 b", "  1.000000 c1 c"]


def test_a_line_older_than_the_window_is_announced():
    t = Timeline(io.StringIO(), width=0, window=2)
    for ts in (10.0, 11.0, 12.0, 13.0):
        t.add(ts, "c1", [f"at {ts}"])
    t.add(9.0, "c1", ["late"])
    lines = _lines(t)
    note = next(i for i, line in enumerate(lines) if line.startswith("(the next line is earlier"))
    assert "more than 2 lines" in lines[note] and lines[note + 1] == " -1.000000 c1 late"
    assert t.late == 1


def test_a_paused_input_prints_what_it_has_and_says_why_a_late_line_is_late():
    t = Timeline(io.StringIO(), width=0)
    t.add(5.0, "c1", ["event"])
    t.flush(final=False)
    assert t.stream.getvalue().endswith("c1 event\n")
    t.add(4.0, "c1", ["request"])
    assert "a growing input is shown as it arrives" in _lines(t)[1]


def test_time_modes_and_unknown_times():
    abs_ = Timeline(io.StringIO(), width=0, time="abs")
    abs_.add(0.25, "c1", ["x"])
    assert _lines(abs_) == ["1970-01-01T00:00:00.250000Z c1 x"]
    delta = Timeline(io.StringIO(), width=0, time="delta")
    for ts in (1.0, 1.5, 3.0):
        delta.add(ts, "c1", ["x"])
    delta.add(None, "c2", ["no time"])
    assert [line.split()[0] for line in _lines(delta)] == ["+0.000000", "+0.500000", "+1.500000", "?"]
