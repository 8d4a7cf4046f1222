"""Why a bundle is refused: one kind per reason, each message naming what and where.

The board agent branches on the kind and reports its ``code`` on the wire; the CLI prints
the message (exit code 8).
Structured fields (``path``, ``expected_sha256``, ...) are kept on the exception so
callers can log or report them without parsing text.
"""

from __future__ import annotations

from cardioradar.errors import CardioRadarError


class BundleError(CardioRadarError):
    """A firmware bundle was refused (or cannot be read as one)."""

    exit_code = 8
    code = "bundle_error"  # the refusal code on the agent link (docs/agent.md): fixed, whatever the class is called


class NotABundle(BundleError):
    """Not a tar, truncated, wrong layout, an unsafe entry (path traversal, link, device)."""

    code = "not_a_bundle"


class UnsafeEntry(NotABundle):
    """An archive entry that could write outside the slot: ``..``, absolute path, link, device."""

    code = "unsafe_entry"

    def __init__(self, bundle: str, name: str, reason: str):
        super().__init__(
            f"{bundle}: unsafe archive entry {name!r}: {reason}",
            hint="bundles hold plain files under relative paths only; this one was not made by `bundle build`",
        )
        self.name = name


class BadSignature(BundleError):
    """The manifest signature does not verify (manifest edited, or signed by someone else)."""

    code = "bad_signature"


class Unsigned(BadSignature):
    """The bundle carries no signature at all."""

    code = "unsigned"


class UnknownKey(BundleError):
    """Signed by a key that is not among the trusted ones."""

    code = "unknown_key"

    def __init__(self, bundle: str, key_id: str, trusted_ids: list[str]):
        super().__init__(
            f"{bundle}: signed by unknown key {key_id}; trusted keys: {', '.join(trusted_ids) or 'none'}",
            hint="pass the public key that matches the signing key (--pubkey), or re-sign with a trusted key",
        )
        self.key_id = key_id
        self.trusted_ids = tuple(trusted_ids)


class WrongBoard(BundleError):
    """Built for another board profile."""

    code = "wrong_board"

    def __init__(self, bundle: str, expected: str, got: str):
        super().__init__(
            f"{bundle}: built for board {got!r}, this board is {expected!r}",
            hint=f"build a bundle with --board {expected}",
        )
        self.expected = expected
        self.got = got


class AlteredFile(BundleError):
    """A file's bytes differ from the signed manifest (or the file is not listed in it)."""

    code = "altered_file"

    def __init__(self, bundle: str, path: str, expected_sha256: str | None, got_sha256: str,
                 *, detail: str = ""):
        if expected_sha256 is None:
            text = f"{bundle}: file {path} is not listed in the signed manifest (sha256 {got_sha256})"
        else:
            text = f"{bundle}: file {path} was altered: expected sha256 {expected_sha256}, got {got_sha256}"
        super().__init__(text + (f" ({detail})" if detail else ""))
        self.path = path
        self.expected_sha256 = expected_sha256
        self.got_sha256 = got_sha256


class MissingFile(BundleError):
    """Files listed in the signed manifest are absent from the archive."""

    code = "missing_file"

    def __init__(self, bundle: str, paths: list[str], *, detail: str = ""):
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        super().__init__(f"{bundle}: {len(paths)} file(s) listed in the manifest are missing: {shown}"
                         + (f"; {detail}" if detail else ""))
        self.paths = tuple(paths)


class Downgrade(BundleError):
    """The bundle's security counter is lower than the installed one."""

    code = "downgrade"

    def __init__(self, bundle: str, installed_counter: int, bundle_counter: int):
        super().__init__(
            f"{bundle}: downgrade refused: bundle security counter {bundle_counter} is lower than "
            f"the installed {installed_counter}",
            hint="build the bundle with --security-counter at least the installed one",
        )
        self.installed_counter = installed_counter
        self.bundle_counter = bundle_counter


class AgentTooOld(BundleError):
    """The bundle needs a newer update agent than the one installing it."""

    code = "agent_too_old"

    def __init__(self, bundle: str, agent_version: str, min_agent_version: str):
        super().__init__(
            f"{bundle}: needs update agent >= {min_agent_version}, this agent is {agent_version}",
            hint="install an intermediate bundle that updates the agent first",
        )
        self.agent_version = agent_version
        self.min_agent_version = min_agent_version
