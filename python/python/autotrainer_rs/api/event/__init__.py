"""0.12's events: ``ApiEventKind``, ``ApiEvent`` / ``ApiEventDict``, the typed
``*Context`` payloads and ``build_event``."""

from . import api_event_payloads
from .api_event import ApiEvent, ApiEventDict
from .api_event_kind import ApiEventKind, ApiPelletShiftSource
from .api_event_payloads import *  # noqa: F401,F403  (the *Context payload types)
from .build_event import build_event

__all__ = [
    "ApiEvent",
    "ApiEventDict",
    "ApiEventKind",
    "ApiPelletShiftSource",
    "build_event",
    *api_event_payloads.__all__,
]
