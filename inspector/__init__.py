"""inspector: shows what real-time web features put on the wire, and whether it is right.

The package is a sans-IO core (frames, messages, handshake, deflate, sse, classify, analysis) with thin
sources (inspector.sources, inspector.mitm) and renderers (inspector.present). docs/internals.md maps it.
"""

__version__ = "0.1.0"
