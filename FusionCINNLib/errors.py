"""Errors the engine raises on purpose; the CLI maps them to exit codes without tracebacks."""

from __future__ import annotations


class FusionError(Exception):
    """Base class: a problem the user can act on. ``str(err)`` is one line."""

    exit_code = 1


class FusionInputError(FusionError):
    """Bad input (missing/corrupt file, wrong shape, mismatched pair): CLI exit code 2."""

    exit_code = 2


class FusionRuntimeError(FusionError):
    """A failure while running (disk full, device failure, NaN loss): CLI exit code 1."""

    exit_code = 1


class FusionCancelled(FusionError):
    """The user cancelled a running job; nothing was written."""

    exit_code = 130


class FusionWarning(UserWarning):
    """Something the engine did to an input that the user should know of (one line, naming the file);
    the CLI prints it even without ``--debug``."""
