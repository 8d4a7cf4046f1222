"""The bundle functions the agent needs (verify, extract), from ``host.bundle``.

``host.bundle`` needs only the standard library, ``cryptography`` and the board-profile
loader, and ships inside every bundle, so the board verifies the next bundle with it.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def api() -> ModuleType:
    return importlib.import_module("host.bundle")


def refusal_code(exc: BaseException) -> str:
    """The reason the agent reports on the wire: the error class's explicit ``code`` (never
    derived from its name, so renaming a class cannot change the protocol)."""
    return str(type(exc).code)
