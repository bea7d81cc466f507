"""Exceptions raised by mer_helpers.

Every error a user can trigger with bad input — a command-line argument, a recipe field, a function
argument, a file, a row of a table — is a :class:`MerError`, also a ``ValueError`` (so ``except ValueError``
keeps working), whose message names the offending argument, field, file or row and says what to do about it.

``exit_code`` is what the command line returns for it: 2 for a usage error (a bad argument or recipe field:
the command was not run), 1 for a failure while it ran (an unreadable file, a missing dataset, a bad bundle).
"""

from __future__ import annotations

__all__ = ["MerError", "ParameterError", "AudioError", "DatasetError", "BundleError", "MissingSplitError",
           "LabelError"]


class MerError(ValueError):
    """Base class of the package's user-facing errors."""

    #: Exit code of ``mer`` when this error ends a command.
    exit_code = 1


class ParameterError(MerError):
    """An argument has a bad value (``top_k=0``, ``batch_size=0``, an unknown option, a wrong shape...).

    The message names the argument, the value given and what is allowed.
    """

    exit_code = 2


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


class MissingSplitError(BundleError):
    """Neither a bundle nor a Tracks table records the split asked for.

    Attributes ``table`` (the table's dataset), ``split`` and ``bundle_dataset`` (the dataset whose split the
    bundle records) let a caller word the remedy its own way: ``all_option`` is how the remedy names "every
    track" (``split='all'`` in Python, ``--split all`` on the command line).
    """

    def __init__(self, table, split: str, bundle_dataset, *, all_option: str = "split='all'"):
        self.table, self.split, self.bundle_dataset = table, split, bundle_dataset
        super().__init__(f"{table or 'the table'} has no {split!r} split (no 'split' column, and the bundle "
                         f"records its split only for {bundle_dataset!r}); score every track with "
                         f"{all_option} — only for a model that was not trained on these tracks")


class LabelError(DatasetError):
    """Label values of a Tracks table cannot be used (not numbers, outside the scale, or none usable at all).

    The message names the column, the offending rows (track ids) and the values, and what to do.
    """
