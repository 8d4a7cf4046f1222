"""The product's exceptions: one root, a few kinds, messages that name the problem.

The CLI maps each kind to an exit code and prints ``hint`` when there is one
(the esptool pattern: one place turns errors into exit codes and advice).
"""

from __future__ import annotations


class CardioRadarError(Exception):
    """Root of every error the product raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class ConfigError(CardioRadarError):
    """A board profile, radar .cfg, model metadata or CLI argument is wrong."""

    exit_code = 2


class InputDataError(CardioRadarError):
    """A data file (recording, session, frames.bin) cannot be used as given."""

    exit_code = 3


class TransportError(CardioRadarError):
    """A port is missing, busy, unplugged or not the port it should be."""

    exit_code = 4


class DeviceError(CardioRadarError):
    """The device answered, but refused or reported an error."""

    exit_code = 5


class DeviceTimeout(CardioRadarError):
    """The device did not answer in time."""

    exit_code = 6


class FramingError(CardioRadarError):
    """Bytes on a link could not be decoded as the protocol says."""

    exit_code = 7


class GoalMissed(CardioRadarError):
    """A benchmark run with ``--check`` measured a figure short of its goal (the goals: each
    bench's ``--help``). Code 8 is taken by `bundleformat.errors.BundleError`."""

    exit_code = 9
