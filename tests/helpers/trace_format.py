"""The Chrome Trace Event Format's rules, checked on a parsed trace (JSON object form).

From the format's specification ("Trace Event Format", the Google document chrome://tracing and
Perfetto's JSON importer follow): every event has ``ph``, ``pid``, ``tid`` and (except metadata) a
numeric ``ts`` in microseconds; instant events have a scope ``s`` of g/p/t; async events ``b``/``e``
carry ``cat`` and ``id`` and pair up by (pid, cat, id) with the end not before the begin; ``B``/``E``
duration events on one thread nest (no overlap); counters carry numeric ``args``; metadata events use
the names the format defines.
"""

from __future__ import annotations

from collections import defaultdict

PHASES = {"B", "E", "X", "i", "I", "C", "b", "n", "e", "M", "s", "t", "f", "P", "O", "N", "D"}
METADATA = {"process_name", "process_labels", "process_sort_index", "thread_name", "thread_sort_index"}


def check_trace(trace: dict) -> list[dict]:
    """Assert the rules; returns the events."""
    assert isinstance(trace, dict) and isinstance(trace["traceEvents"], list)
    assert trace.get("displayTimeUnit", "ms") in ("ms", "ns")
    events = trace["traceEvents"]
    open_async: dict[tuple, float] = {}
    stacks: dict[tuple, list] = defaultdict(list)
    named = set()
    used = set()
    for event in events:
        ph = event["ph"]
        assert ph in PHASES, event
        assert isinstance(event["pid"], int) and isinstance(event["tid"], int), event
        assert isinstance(event["name"], str) and event["name"], event
        if ph == "M":
            assert event["name"] in METADATA, event
            if event["name"] == "process_name":
                named.add(event["pid"])
            continue
        used.add(event["pid"])
        ts = event["ts"]
        assert isinstance(ts, (int, float)) and ts >= 0, event
        if ph in ("i", "I"):
            assert event.get("s", "t") in ("g", "p", "t"), event
        elif ph in ("b", "e", "n"):
            assert isinstance(event["cat"], str) and isinstance(event["id"], (str, int)), event
            key = (event["pid"], event["cat"], event["id"])
            if ph == "b":
                assert key not in open_async, f"async id reused while open: {event}"
                open_async[key] = ts
            elif ph == "e":
                assert key in open_async, f"end without begin: {event}"
                assert ts >= open_async.pop(key), event
        elif ph == "C":
            assert event["args"] and all(isinstance(v, (int, float)) for v in event["args"].values()), event
        elif ph == "B":
            stacks[(event["pid"], event["tid"])].append(ts)
        elif ph == "E":
            stack = stacks[(event["pid"], event["tid"])]
            assert stack and ts >= stack.pop(), f"E without an enclosing B: {event}"
        elif ph == "X":
            assert event["dur"] >= 0, event
    assert not open_async, f"async slices never ended: {list(open_async)[:3]}"
    assert not any(stacks.values()), "B without E"
    assert used <= named, f"processes without a process_name: {sorted(used - named)[:5]}"
    return events
