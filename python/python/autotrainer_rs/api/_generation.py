"""Which protocol generation the names shared by both generations follow.

0.9.11 and 0.12 of the reference put some names at the same place with
different numbers (``ApiCommand``; ``ApiEventKind`` at the package top
level). They follow ``AUTOTRAINER_RS_PROTOCOL`` ("0.9.11", the default, or
"0.12"), read once at import, which is also the default of
``RpcOptions.protocol``. Names each generation keeps at a place of its own
(``api.api_event_kind`` for 0.9.11, ``api.event.api_event_kind`` for 0.12)
always follow their generation.
"""

import os

V0_9 = "0.9.11"
V0_12 = "0.12"


def normalize(text: str) -> str:
    """ "0.9", "0.9.11" -> "0.9.11"; "0.12", "0.12.0" -> "0.12"; else ValueError."""
    parts = text.strip().lstrip("v").split(".")
    if parts[:2] == ["0", "9"]:
        return V0_9
    if parts[:2] == ["0", "12"]:
        return V0_12
    raise ValueError(f"'{text}' is not a protocol generation (0.9.11 or 0.12)")


PROTOCOL = normalize(os.environ.get("AUTOTRAINER_RS_PROTOCOL", V0_9))
