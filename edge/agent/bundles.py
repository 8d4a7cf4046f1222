"""The bundle functions the agent needs (verify, extract), from the shared leaf ``bundleformat``.

``bundleformat`` needs only the standard library and ``cryptography``, and ships inside every
bundle, so the board verifies the next bundle with it. Imported when an agent starts, so the
rest of edge imports without ``cryptography``.
"""

from __future__ import annotations

from types import ModuleType


def api() -> ModuleType:
    import bundleformat

    return bundleformat


def refusal_code(exc: BaseException) -> str:
    """The reason the agent reports on the wire: the error class's explicit ``code`` (never
    derived from its name, so renaming a class cannot change the protocol)."""
    return str(type(exc).code)
