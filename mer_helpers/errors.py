"""Exceptions raised by mer_helpers.

Every error a user can trigger with bad input is a ``ValueError`` subclass whose message names the offending file or
field and says what to do about it.
"""

from __future__ import annotations


class MerError(ValueError):
    """Base class of the package's user-facing errors."""


class AudioError(MerError):
    """An audio file could not be read (missing, empty, truncated, not audio, a directory...).

    The message always names the file and the reason.
    """

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read audio file {self.path!r}: {reason}")


class DatasetError(MerError):
    """A dataset folder is missing, incomplete or has an unexpected layout."""


class BundleError(MerError):
    """A model bundle is missing, incomplete or from an incompatible version."""


class LabelError(DatasetError):
    """Label values of a Tracks table cannot be used (not numbers, outside the scale, or none usable at all).

    The message names the column, the offending rows (track ids) and the values, and what to do.
    """
