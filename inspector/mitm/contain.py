"""Containment: an exception in inspector's code never reaches mitmproxy, so the user's traffic goes on.

`contained` decorates the addon's conversion methods: the first argument is the flow (or client) whose
``id`` keys the failure.  An exception is logged once for that key as an internal error, with its
traceback, and counted; the addon drops that flow's analysis state (``Containment.on_fail``) and later
calls for the same key are skipped.  The flow itself is never touched here: its bytes go on as they are.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

__all__ = ["Containment", "contained"]

logger = logging.getLogger("inspector")

FAILED_KEEP = 4096  # keys remembered as failed (bounded; the oldest are forgotten first)


class Containment:
    """Keys that failed (bounded), the count of internal errors, and the per-flow clean-up."""

    def __init__(self, on_fail: Callable[[str], None]) -> None:
        self.on_fail = on_fail
        self.errors = 0
        self._failed: OrderedDict[str, None] = OrderedDict()

    def failed(self, key: str) -> bool:
        return key in self._failed

    def fail(self, key: str | None, where: str) -> None:
        """Log the current exception once for ``key`` (None: every time) and forget the flow's analysis."""
        if key is not None:
            if key in self._failed:
                return
            self._failed[key] = None
            if len(self._failed) > FAILED_KEEP:
                self._failed.popitem(last=False)
        self.errors += 1
        subject = f" for flow {key}; the flow goes on unanalysed" if key is not None else ""
        logger.error(f"inspector: internal error in {where}{subject}", exc_info=True)  # noqa: LOG014 (called from the wrapper's handler)
        if key is not None:
            self.on_fail(key)

    def clear(self) -> None:
        self._failed.clear()
        self.errors = 0


def contained(method: Callable | None = None, *, per_flow: bool = True) -> Any:
    """Decorator for a method of an object with a ``containment`` attribute (see the module docstring).
    ``per_flow=False``: a method not about one flow (``done``, a command): logged every time it fails."""

    def wrap(fn: Callable) -> Callable:
        where = fn.__name__.lstrip("_")

        @functools.wraps(fn)
        def wrapper(self: Any, *args: Any) -> Any:
            key = args[0].id if per_flow else None
            if key is not None and self.containment.failed(key):
                return None
            try:
                return fn(self, *args)
            except Exception:  # noqa: BLE001 (containment: nothing may reach mitmproxy)
                self.containment.fail(key, where)
                return None

        return wrapper

    return wrap(method) if method is not None else wrap
