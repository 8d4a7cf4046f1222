"""The agent's refusals: a `DeviceError` with a short machine-readable ``reason``.

The reason travels on the wire (``{"ok": false, "error": reason, "message": ...}``) and the
host raises the same class again, so scripts branch on ``reason``, people read the message.
"""

from __future__ import annotations

from cardioradar.errors import DeviceError

HINTS = {
    "bad_signature": "sign the bundle with a key the board trusts (agent --pubkey)",
    "unsigned": "sign the bundle (cardioradar bundle build --key ...)",
    "unknown_key": "the board trusts other keys: check the agent's --pubkey",
    "wrong_board": "build the bundle for this board's profile (see `cardioradar board status`)",
    "downgrade": "build the bundle with a security counter >= the installed one",
    "altered_file": "the bundle was modified after signing: rebuild it",
    "test_pending": "wait for the test boot to confirm or roll back (cardioradar board status)",
}


class Refused(DeviceError):
    def __init__(self, reason: str, message: str):
        super().__init__(f"{message} [{reason}]", hint=HINTS.get(reason))
        self.reason = reason
        self.detail = message
