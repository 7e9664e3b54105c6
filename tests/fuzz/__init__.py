"""Fuzzing harness: hostile inputs for every source and the CLI, each run in a subprocess with a time and
memory bound (docs/reliability.md).

- `strategies`: hypothesis strategies for WebSocket frames, HTTP/1.x streams, SSE streams, HAR documents
  and pcap structures (`pcapgen` turns byte streams into a capture);
- `mutate`: a mutation corpus from ``fixtures/`` (bit flips, truncation, duplication, length fields set to
  extremes, gzip damaged late in the stream);
- `runner`: one case = one ``inspector`` subprocess under RLIMIT_AS and a timeout; the outcome is its exit
  code, whether a traceback or a raw control character came out, whether it hung, and its peak RSS.

Long run: ``python -m tests.fuzz --cases 3000`` (``--help`` for the options); a short run is
tests/integration/test_fuzz_short.py.
"""
