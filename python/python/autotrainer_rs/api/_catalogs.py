"""Every catalog enum by generation and reference name (the classes are in
the generated ``_enums_*`` modules)."""

from enum import IntEnum
from typing import Dict, Type

from . import _enums_shared, _enums_v0_9, _enums_v0_12
from ._generation import V0_9, V0_12


def _classes(module) -> Dict[str, Type[IntEnum]]:
    return {name: getattr(module, name) for name in module.__all__}


CATALOGS: Dict[str, Dict[str, Type[IntEnum]]] = {
    V0_9: {**_classes(_enums_shared), **_classes(_enums_v0_9)},
    V0_12: {**_classes(_enums_shared), **_classes(_enums_v0_12)},
}
