"""0.12's events (the typed ``*Context`` payloads and ``build_event`` are not
provided yet: build the context as a dict)."""

from .api_event import ApiEvent, ApiEventDict
from .api_event_kind import ApiEventKind, ApiPelletShiftSource

__all__ = ["ApiEvent", "ApiEventDict", "ApiEventKind", "ApiPelletShiftSource"]
