"""The session store: one SQLite database (WAL) per session. See docs/session-store.md.

Public API: SessionWriter (+ CommitInfo), SessionReader (+ EcgSeries and its status
codes VALID / EXCLUDED / MISSING / DAMAGED), SCHEMA_VERSION.
"""

from edge.store.reader import DAMAGED, EXCLUDED, MISSING, VALID, EcgSeries, SessionReader
from edge.store.schema import SCHEMA_VERSION
from edge.store.writer import SYNCHRONOUS, CommitInfo, SessionWriter

__all__ = [
    "DAMAGED", "EXCLUDED", "MISSING", "SCHEMA_VERSION", "SYNCHRONOUS", "VALID",
    "CommitInfo", "EcgSeries", "SessionReader", "SessionWriter",
]
