"""The project's exception types.

Every error the library raises for bad input derives from :class:`LowRankError`,
and also from the builtin that describes it (``ValueError``, ``TypeError``), so
``except ValueError`` keeps working for callers who do not know this package.
"""

from __future__ import annotations


class LowRankError(Exception):
    """Base class of every error raised by :mod:`lowrank`."""


class LowRankValueError(LowRankError, ValueError):
    """An argument has the right type but an unacceptable value."""


class LowRankTypeError(LowRankError, TypeError):
    """An argument has the wrong type (not an array, a float rank, ...)."""


class BackendUnavailableError(LowRankError, RuntimeError):
    """A backend was named that this machine cannot provide (no torch, no GPU)."""


def format_choices(choices) -> str:
    """Render accepted values the way error messages quote them: ``'a', 'b'``."""
    return ", ".join(repr(c) for c in choices)
