"""Upstream workarounds for LAION-CLAP (``laion-clap``) and the Hugging Face hub.

Used by :class:`lassnet.query.clap.CLAPEncoder` (taught in chapter 4, QueryNet); nothing
here is specific to lassnet's models.

* **Importing laion-clap.** ``import laion_clap`` runs its ``__init__``, which builds three
  tokenizers (BERT, RoBERTa, BART) from the Hugging Face hub whether they are needed or not,
  and without a network retries for minutes. :func:`import_clap_module` imports only the
  model definitions, the ``clap_module`` sub-package, by file spec. laion-clap itself imports
  that sub-package as a top-level package (it appends its own folder to ``sys.path``), so it
  is registered in ``sys.modules`` under the same name and a later ``import laion_clap``
  reuses this copy. Can go when laion-clap's ``__init__`` stops touching the hub.
* **Going offline in a running program.** ``huggingface_hub`` reads ``HF_HUB_OFFLINE`` once,
  when it is imported, and ``transformers`` caches its own answer; setting the environment
  variable later changes nothing. :func:`hub_offline` switches the flags those libraries
  consult for the length of a ``with`` block and restores everything on exit.
  :func:`hub_reachable` tells whether the hub answers at all, and :func:`env_offline`
  whether the user asked for offline mode (``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``,
  read with :func:`lassnet.settings.truthy`).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import socket
import sys
import types
import warnings
from pathlib import Path
from urllib.parse import urlparse

from ..settings import truthy

__all__ = [
    "INSTALL_HINT",
    "import_clap_module",
    "hub_offline",
    "hub_reachable",
    "env_offline",
]

INSTALL_HINT = (
    "the 'clap' query encoder needs laion-clap and the packages it imports: "
    "pip install 'lassnet[clap]' && pip install --no-deps laion-clap==1.1.7"
)
#: the environment variables that put the Hugging Face libraries offline
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


# ---------------------------------------------------------------------------- import
def import_clap_module() -> types.ModuleType:
    """Import laion-clap's model definitions (``clap_module``) without ``laion_clap/__init__``.

    Returns the module (already imported ones are reused when they are laion-clap's). Raises
    ``ImportError`` with the install command if laion-clap or a package it imports is missing,
    and when another package named ``clap_module`` is already imported.
    """
    existing = sys.modules.get("clap_module")
    if existing is not None:
        if "laion_clap" not in str(getattr(existing, "__file__", "")):
            raise ImportError(
                f"another package named clap_module is already imported ({existing.__file__})"
            )
        return existing
    spec = importlib.util.find_spec("laion_clap")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(INSTALL_HINT)
    root = Path(list(spec.submodule_search_locations)[0]) / "clap_module"
    sub = importlib.util.spec_from_file_location(
        "clap_module", root / "__init__.py", submodule_search_locations=[str(root)]
    )
    if sub is None or sub.loader is None:
        raise ImportError(f"laion-clap is installed without its clap_module ({root}). "
                          + INSTALL_HINT)
    module = importlib.util.module_from_spec(sub)
    sys.modules["clap_module"] = module
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sub.loader.exec_module(module)
    except ImportError as err:
        for name in [n for n in sys.modules if n == "clap_module" or n.startswith("clap_module.")]:
            del sys.modules[name]
        raise ImportError(f"{INSTALL_HINT} (missing: {err.name or err})") from err
    return module


# ---------------------------------------------------------------------------- hub access
def _hub_endpoint_host() -> str:
    """The hub's host name: ``HF_ENDPOINT``'s (a mirror) or ``huggingface.co``."""
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    return urlparse(endpoint).hostname or "huggingface.co"


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the Hugging Face hub (port 443 of ``HF_ENDPOINT``'s host)
    opens within ``timeout`` seconds."""
    try:
        socket.create_connection((_hub_endpoint_host(), 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def env_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` is on
    (:func:`lassnet.settings.truthy`: ``1``, ``true``, ``yes`` or ``on``)."""
    return any(truthy(os.environ.get(name)) for name in OFFLINE_VARIABLES)


@contextlib.contextmanager
def hub_offline(enabled: bool = True):
    """Within the block, ``transformers`` reads only local files and the hub's cache.

    Sets ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` and also the flags that
    ``huggingface_hub.constants`` and ``transformers.utils.hub`` read them into at import;
    everything is restored on exit, also after an exception. ``enabled=False`` changes nothing.
    """
    if not enabled:
        yield
        return
    saved_env = {k: os.environ.get(k) for k in OFFLINE_VARIABLES}
    for name in OFFLINE_VARIABLES:
        os.environ[name] = "1"
    patched = []
    for module_name, attr in (
        ("huggingface_hub.constants", "HF_HUB_OFFLINE"),
        ("transformers.utils.hub", "_is_offline_mode"),
    ):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        if hasattr(module, attr):
            patched.append((module, attr, getattr(module, attr)))
            setattr(module, attr, True)
    try:
        yield
    finally:
        for module, attr, value in patched:
            setattr(module, attr, value)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
