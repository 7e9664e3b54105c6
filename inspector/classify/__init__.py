"""Per-endpoint traffic patterns (polling, SSE, WebSocket, streaming): see `inspector.classify.classifier`."""

from inspector.classify.classifier import Classifier
from inspector.classify.efficiency import efficiency, verdict
from inspector.classify.endpoints import KEEP_PARAMS, VOLATILE_PARAMS
from inspector.classify.thresholds import Thresholds

__all__ = ["KEEP_PARAMS", "VOLATILE_PARAMS", "Classifier", "Thresholds", "efficiency", "verdict"]
