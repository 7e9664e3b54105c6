"""Peak memory of one step, for the tests that bound what untrusted input may cost (tracemalloc)."""

from __future__ import annotations

import tracemalloc


def peak_of(step):
    """(``step()``'s result, the peak bytes Python allocated while it ran)."""
    tracemalloc.start()
    try:
        result = step()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
