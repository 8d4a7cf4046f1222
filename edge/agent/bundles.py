"""The bundle functions the agent needs (verify, extract), from ``host.bundle``.

``host.bundle`` needs only the standard library, ``cryptography`` and the board-profile
loader, and ships inside every bundle, so the board verifies the next bundle with it.
"""

from __future__ import annotations

import importlib
import re
from types import ModuleType


def api() -> ModuleType:
    return importlib.import_module("host.bundle")


def refusal_code(exc: BaseException) -> str:
    """``WrongBoard`` -> ``wrong_board``: the reason the agent reports on the wire."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(exc).__name__).lower()
