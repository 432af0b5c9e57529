"""Project-wide settings read from the environment, in one place.

The *fast switch*: set ``LASSNET_FAST=1`` to shrink training and evaluation so that every
chapter of the book executes in a few minutes (CI does this). Chapters and library code ask
``lassnet.settings.FAST`` (or :func:`scaled`) instead of testing environment variables
themselves.
"""

from __future__ import annotations

import os

__all__ = ["FAST", "fast", "scaled", "truthy"]


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


#: The fast switch as it was when :mod:`lassnet` was imported.
FAST: bool = fast()


def scaled(full, quick):
    """Return ``quick`` when the fast switch is on, else ``full``.

    >>> steps = scaled(full=2000, quick=20)
    """
    return quick if fast() else full
