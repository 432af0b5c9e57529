"""Project-wide settings read from the environment, in one place.

The *fast switch*: set ``LASSNET_FAST=1`` to shrink training and evaluation so that every
chapter of the book executes in a few minutes (CI does this). Chapters ask :func:`fast` (or
:func:`scaled`), read at call time, instead of testing environment variables themselves;
library defaults never depend on it.
"""

from __future__ import annotations

import os

__all__ = ["fast", "scaled", "truthy"]


def truthy(value: str | None) -> bool:
    """Whether an environment variable's value means "on": ``1``, ``true``, ``yes`` or ``on``
    in any case, surrounding whitespace ignored; unset (``None``) or anything else is off.

    The one rule every lassnet switch read from the environment follows (``LASSNET_FAST``
    here, the Hugging Face offline flags in :mod:`lassnet._compat.laion_clap`).

    >>> truthy(" Yes "), truthy("0"), truthy(None)
    (True, False, False)
    """
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def fast() -> bool:
    """Whether the fast switch (``LASSNET_FAST``) is on, read at call time."""
    return truthy(os.environ.get("LASSNET_FAST"))


def scaled(full, quick):
    """Return ``quick`` when the fast switch is on, else ``full``.

    >>> steps = scaled(full=2000, quick=20)
    """
    return quick if fast() else full
