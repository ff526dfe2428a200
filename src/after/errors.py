"""The one base class of user errors.

An :class:`AfterError` is a mistake in what the user gave (a file, a config value, a run directory) or a
state the user can fix; its message names the file and says what to do. The CLI prints it on one line
(the traceback only under ``-v``). Anything else that escapes is a bug and keeps its traceback.

Subclasses also derive from the built-in exception their callers historically caught (``ValueError``,
``FileNotFoundError``), so ``except ValueError`` keeps working.
"""
from __future__ import annotations


class AfterError(Exception):
    """A user error: the message names the file or key and says what to do."""


class RunDirectoryError(AfterError, ValueError):
    """A run directory that cannot be used as asked: locked by another process, or holding another run."""


class StateFileError(AfterError, ValueError):
    """A state file of a run directory that does not parse; the message names it and what to do."""
