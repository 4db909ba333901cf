"""The reference's ``IntEnum``s, made from the Rust core's catalogs (each code
is declared once, in Rust; ``_core.catalogs`` lists them with the
reference's names, aliases included)."""

from enum import IntEnum
from typing import Dict, Type

from .. import _core
from ._generation import V0_9, V0_12

# Codes of one meaning in both generations: one class each.
_SHARED = ("ApiTopic", "ApiCommandRequestResult", "ApiCommandRequestErrorKind", "ApiTrainingMode")


def _is_member(cls, value) -> bool:
    return value in cls._value2member_map_


def _make(name: str, entries, module: str) -> Type[IntEnum]:
    cls = IntEnum(name, entries, module=module)  # type: ignore[misc]
    cls.is_member = classmethod(_is_member)  # type: ignore[attr-defined]
    return cls


def _build() -> Dict[str, Dict[str, Type[IntEnum]]]:
    shared: Dict[str, Type[IntEnum]] = {}
    built: Dict[str, Dict[str, Type[IntEnum]]] = {}
    for generation, module in ((V0_9, "autotrainer_rs.api"), (V0_12, "autotrainer_rs.api")):
        enums: Dict[str, Type[IntEnum]] = {}
        for name, entries in _core.catalogs(generation).items():
            if name in _SHARED:
                if name not in shared:
                    shared[name] = _make(name, entries, module)
                enums[name] = shared[name]
            else:
                enums[name] = _make(name, entries, module)
        built[generation] = enums
    return built


CATALOGS = _build()
