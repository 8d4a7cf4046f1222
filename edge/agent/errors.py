"""The agent's refusals: a `DeviceError` with a short machine-readable ``reason``.

The reason travels on the wire (``{"ok": false, "error": reason, "message": ...}``) and the
host raises the same class again, so scripts branch on ``reason``, people read the message.
Every reason is written out here (`CODES`) or, for a refused bundle, is its error class's
``code`` attribute (`bundleformat.errors`); nothing is derived from a class name.
docs/agent.md carries the same table; tests/test_agent_messages.py checks the two against
each other and against every ``Refused("...")`` in the code.
"""

from __future__ import annotations

from cardioradar.errors import DeviceError

# reason -> when it is sent (agent) or raised (host); bundle refusals are not repeated here
CODES = {
    "unknown_op": "the op number is not one this agent knows",
    "bad_request": "a request field is missing or of the wrong type, or a delta chunk's pieces do not add up",
    "unauthorized": "the agent asks for a token and the request carried none or another",
    "agent_error": "the agent failed on a request (I/O error, a bug); the message names the exception",
    "too_large": "a bundle, an upload chunk or a delta chunk over the agent's limits",
    "no_upload": "UPLOAD_DATA or VERIFY with no upload begun",
    "offset": "an upload chunk at another offset than the board holds (answered as a resync, not refused)",
    "incomplete": "VERIFY before every byte of the upload arrived",
    "sha256_mismatch": "the uploaded bytes do not hash to the SHA-256 declared at UPLOAD_BEGIN",
    "unknown_content": "a delta chunk names a file the board does not hold intact",
    "test_pending": "INSTALL while a slot is under test",
    "busy": "INSTALL would write the slot that runs, unconfirmed (right after a rollback)",
    "empty_slot": "ACTIVATE of a slot that holds nothing",
    "already_confirmed": "ACTIVATE of the confirmed slot",
    "not_installed": "ACTIVATE of a bundle no slot holds",
    "downgrade": "a slot or a bundle below the security floor would run",
    "health_failed": "CONFIRM ran the health check and it failed; the board reboots",
    "no_session": "PULL_BEGIN of a session the board does not have",
    "bad_name": "a session name that is not NAME.db",
    "snapshot_failed": "the SQLite snapshot of a session failed",
    "snapshot_gone": "PULL_DATA of a snapshot the board no longer keeps",
    "rolled_back": "host: the board rolled the new slot back after its test boots",
    "unknown": "host: a refusal that carried no code",
}

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
