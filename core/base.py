"""Error types and small helpers shared by every module."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["MXNetError", "MXNetValueError", "MXNetTypeError", "MXNetKeyError", "suggest"]


class MXNetError(Exception):
    """The error users catch: every failure mxlite reports on bad input is one of these."""


class MXNetValueError(MXNetError, ValueError):
    """A bad value: a wrong shape, a missing bind argument, an invalid parameter value."""


class MXNetTypeError(MXNetError, TypeError):
    """A bad call: an unknown keyword argument, a wrong kind of object."""


class MXNetKeyError(MXNetError, KeyError):
    """An unknown name looked up in a table (operator, parameter, output)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return ' Did you mean X?' for the closest of ``choices``, or ''."""
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.5)
    if not match:
        lowered = {c.lower(): c for c in choices}
        if name.lower() in lowered:
            match = [lowered[name.lower()]]
    return f" Did you mean {match[0]!r}?" if match else ""


def string_types() -> tuple[type, ...]:
    return (str,)
