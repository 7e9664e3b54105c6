"""Server-Sent Events: the event-stream parser (`parser`), per-response analysis (`stream`), findings (`findings`)."""

from inspector.sse.findings import header_findings
from inspector.sse.parser import Comment, Oversize, ParsedEvent, SseParser, Unterminated
from inspector.sse.stream import SseStreamAnalysis

__all__ = ["Comment", "Oversize", "ParsedEvent", "SseParser", "SseStreamAnalysis", "Unterminated", "header_findings"]
