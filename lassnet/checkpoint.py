"""Checkpoint files: written atomically, stamped, checksummed, and read without running code.

Every lassnet file of weights (a separator, a model, a training checkpoint, the audio tower)
is a ``torch.save`` of a plain dictionary written by :func:`save` and read back by
:func:`load`:

* **atomic** — written to a temporary file beside the target and renamed onto it only when
  complete (:func:`lassnet.files.atomic_write`); a crash never leaves a torn file.
* **stamped** — ``format`` (``"lassnet.<kind>/<version>"``), plus the ``lassnet`` and
  ``torch`` versions that wrote it. :func:`load` checks the kind and says what a wrong file
  is ("a training checkpoint, not a model file"; "an AudioSep checkpoint: use ...").
* **checksummed** — ``checksum`` is a SHA-256 over every tensor's bytes and every value of
  the dictionary. ``torch.load`` does not notice flipped bytes inside tensor data; the
  checksum does, and a damaged file is refused instead of separating garbage.
* **safe** — read with ``torch.load(weights_only=True)``: tensors and plain data only,
  nothing in the file is ever executed. (Files written with a newer pickle protocol than that
  loader parses go through a restricted unpickler with the same allow-list.)

All of it raises one exception type, :class:`CheckpointError` (a ``ValueError``), with a
one-line message that names the file and what is wrong with it.

Taught in chapter 7 (Training), where the refusal of a booby-trapped file is demonstrated.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import hashlib
import io
import os
import pickle
import re
import types
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .files import atomic_write

__all__ = [
    "CheckpointError",
    "KINDS",
    "save",
    "load",
    "read_file",
    "checksum",
    "load_state",
]

#: What each kind of lassnet file holds, as :func:`load` names it in messages.
KINDS = {
    "separator": "a separator (SeparationNet.save)",
    "model": "a model (LASSModel.save, or a training run's model.pt)",
    "train": "a training checkpoint (a run's checkpoint.pt)",
    "audio-tower": "an audio-tower file (lassnet train-query)",
}
#: Formats written by earlier versions, read as today's.
_ALIASES = {"lassnet-audio-tower/1": "lassnet.audio-tower/1"}
_FORMAT = re.compile(r"^lassnet\.([a-z-]+)/(\d+)$")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: missing, unreadable, damaged, unsafe, or of
    another kind or model. The message names the file and the reason in one line."""


# --------------------------------------------------------------------------- checksums
def _feed(digest, value: Any) -> None:
    """Feed ``value`` into ``digest`` in a canonical, type-tagged form."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous()
        digest.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(value, dict):
        digest.update(f"D{len(value)}".encode())
        for key in sorted(value, key=lambda k: (type(k).__name__, repr(k))):
            _feed(digest, key)
            _feed(digest, value[key])
    elif isinstance(value, (list, tuple)):
        digest.update(f"S{len(value)}".encode())
        for item in value:
            _feed(digest, item)
    elif isinstance(value, np.ndarray):
        digest.update(f"A{value.dtype}{value.shape}".encode() + value.tobytes())
    elif isinstance(value, (bool, int, float, str, bytes, type(None), np.generic)):
        digest.update(f"{type(value).__name__}:{value!r};".encode())
    else:
        raise TypeError(f"cannot checksum a {type(value).__name__} in a checkpoint")


def checksum(payload: dict) -> str:
    """SHA-256 (hex) of a checkpoint dictionary: every tensor's dtype, shape and bytes and
    every other value, in a fixed order. The ``checksum`` entry itself is left out."""
    digest = hashlib.sha256()
    _feed(digest, {k: v for k, v in payload.items() if k != "checksum"})
    return digest.hexdigest()


# --------------------------------------------------------------------------- writing
def save(payload: dict, path: str | os.PathLike, kind: str, version: int = 1) -> Path:
    """Write ``payload`` (tensors and plain data) to ``path`` as a lassnet file of ``kind``.

    Adds ``format``, ``lassnet``, ``torch`` and ``checksum`` entries, then writes atomically.
    Returns the path.

    The file is serialised in memory first and then written as bytes: torch's zip writer,
    writing to a file itself, reports a full disk as "unexpected pos ..."; written here, the
    operating system's own error ("No space left on device") reaches the caller. (It costs
    one file's size in memory while it is written.)
    """
    if kind not in KINDS:
        raise ValueError(f"unknown checkpoint kind {kind!r}; one of {sorted(KINDS)}")
    from . import __version__

    stamped = {
        **payload,
        "format": f"lassnet.{kind}/{version}",
        "lassnet": __version__,
        "torch": str(torch.__version__),
    }
    stamped["checksum"] = checksum(stamped)
    buffer = io.BytesIO()
    torch.save(stamped, buffer)
    with atomic_write(path) as fh:
        fh.write(buffer.getbuffer())
    return Path(path)


# --------------------------------------------------------------------------- reading
def _numpy_globals() -> list:
    """numpy objects a checkpoint may reference for its scalars (e.g. metrics in released
    CLAP files), under both of numpy's module names."""
    core = getattr(np, "_core", None) or np.core
    scalar = core.multiarray.scalar
    return [
        (scalar, "numpy.core.multiarray.scalar"),
        (scalar, "numpy._core.multiarray.scalar"),
        (np.dtype, "numpy.dtype"),
    ] + [
        (getattr(np.dtypes, n), f"numpy.dtypes.{n}")
        for n in dir(getattr(np, "dtypes", object()))
        if n.endswith("DType")
    ]


def _allowed_globals() -> dict[tuple[str, str], object]:
    allowed = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
        ("_codecs", "encode"): codecs.encode,  # how pickle protocol 2 spells bytes
        ("torch", "Size"): torch.Size,
    }
    for obj, dotted in _numpy_globals():
        module, _, name = dotted.rpartition(".")
        allowed[(module, name)] = obj
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only allow-listed globals (tensors, OrderedDict, numpy scalars)."""

    def find_class(self, module, name):
        allowed = _allowed_globals()
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(
                f"Trying to load unsupported GLOBAL {module}.{name} (not a tensor or plain data)"
            )
        return allowed[(module, name)]


_restricted_pickle = types.ModuleType("lassnet_restricted_pickle")
_restricted_pickle.Unpickler = _RestrictedUnpickler
_restricted_pickle.load = lambda file, **kw: _RestrictedUnpickler(file, **kw).load()

#: torch's own advice in its refusal messages, which must not reach a user (it suggests
#: loading with ``weights_only=False``, or allow-listing what the file asks for)
_BOILERPLATE = re.compile(
    r"^(\(\d+\)\s*)?(Weights only load failed|In PyTorch 2\.6|Re-running `torch\.load`|"
    r"Please file an issue|Check the documentation|Alternatively|This file can still be loaded)"
)


def _reason(err: BaseException) -> str:
    """The informative line of a loader's error, without terminal colours or torch's advice
    to load with ``weights_only=False``."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error:" in line:  # torch names the real reason after this
            rest = line.split("WeightsUnpickler error:", 1)[1].strip()
            if not rest and i + 1 < len(lines):
                rest = lines[i + 1]
            if rest:
                return rest.split(". Please use", 1)[0]
    for line in lines:
        if "GLOBAL" in line:
            return line.split(". Please use", 1)[0]
    useful = [line for line in lines if not _BOILERPLATE.match(line)]
    return useful[0] if useful else type(err).__name__


def _unsafe(reason: str) -> bool:
    return "GLOBAL" in reason or "not a tensor or plain data" in reason


def read_file(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """``torch.load`` a file safely (tensors and plain data only); one clear
    :class:`CheckpointError` for a missing, empty, truncated, foreign or unsafe file.

    This reads any torch file (e.g. a released CLAP or AudioSep checkpoint); :func:`load`
    reads lassnet's own files and checks their kind and checksum.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CheckpointError(f"{path} is empty (0 bytes): not a checkpoint")
    allow = getattr(torch.serialization, "safe_globals", None)
    context = allow(_numpy_globals()) if allow is not None else contextlib.nullcontext()
    try:
        with context, warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*pickle protocol.*")
            return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - every loader failure becomes one message
        first = err
    reason = _reason(first)
    if _unsafe(reason):
        raise CheckpointError(_refusal(path, reason)) from None
    if "Unsupported operand" in reason:
        # Perhaps a file written with a pickle protocol newer than the weights-only loader
        # parses: the same allow-list, enforced by a restricted unpickler.
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*pickle protocol.*")
                return torch.load(path, map_location=map_location, weights_only=False,
                                  pickle_module=_restricted_pickle)
        except Exception as err:  # noqa: BLE001
            reason = _reason(err)
            if _unsafe(reason):
                raise CheckpointError(_refusal(path, reason)) from None
    raise CheckpointError(
        f"{path}: cannot read it as a checkpoint (truncated, damaged, or not a torch file: "
        f"{reason})"
    ) from None


def _refusal(path: Path, reason: str) -> str:
    found = re.search(r"GLOBAL ([\w.]+)", reason)
    what = found.group(1) if found else "an object that is not a tensor"
    return (f"{path}: refused to load: it refers to {what}, which is not a tensor or plain "
            "data; lassnet reads weights only and never runs code from a file")


def _describe(payload: Any) -> str:
    """What a dictionary that is not a lassnet file looks like, for the error message."""
    if not isinstance(payload, dict):
        return f"a {type(payload).__name__}, not a lassnet file"
    fmt = payload.get("format")
    if isinstance(fmt, str):
        fmt = _ALIASES.get(fmt, fmt)
        found = _FORMAT.match(fmt)
        if found and found.group(1) in KINDS:
            return KINDS[found.group(1)] + f" (format {fmt})"
        return f"a file of format {fmt!r}"
    keys = payload.get("state_dict", payload)
    keys = [k for k in keys if isinstance(k, str)] if isinstance(keys, dict) else []
    if any(k.startswith(("ss_model.", "query_encoder.")) for k in keys):
        return ("an AudioSep checkpoint; load it with lassnet.audiosep.load_audiosep(path) "
                "or SeparationNet.from_audiosep(path)")
    if any(k.startswith(("audio_branch.", "module.audio_branch.")) for k in keys):
        return "a LAION-CLAP checkpoint; load it with lassnet.query.build('clap', checkpoint=path)"
    return "not a lassnet file (it has no 'format' entry)"


def load(
    path: str | os.PathLike,
    kinds: str | Iterable[str],
    map_location: Any = "cpu",
) -> dict:
    """Read a lassnet file of one of ``kinds`` (e.g. ``"model"`` or ``("model", "train")``).

    Returns the dictionary. Raises :class:`CheckpointError` for a missing or unreadable file,
    an unsafe one, a file of another kind (the message says what it is), and a file whose
    contents do not match its checksum (damaged after it was written). Files written before
    checksums were recorded load without the check.
    """
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    path = Path(path).expanduser()
    payload = read_file(path, map_location)
    fmt = payload.get("format") if isinstance(payload, dict) else None
    fmt = _ALIASES.get(fmt, fmt) if isinstance(fmt, str) else fmt
    found = _FORMAT.match(fmt) if isinstance(fmt, str) else None
    if found is None or found.group(1) not in kinds:
        wanted = " or ".join(KINDS.get(k, k) for k in kinds)
        raise CheckpointError(f"{path} is {_describe(payload)}, not {wanted}")
    recorded = payload.get("checksum")
    if recorded is not None:
        try:
            actual = checksum(payload)
        except TypeError as err:
            raise CheckpointError(f"{path}: unexpected contents ({err})") from None
        if actual != recorded:
            raise CheckpointError(
                f"{path} is damaged: its contents do not match the checksum recorded when it "
                "was written (bytes changed on disk or in transfer); use another copy"
            )
    payload["format"] = fmt
    return payload


# --------------------------------------------------------------------------- state dicts
def load_state(
    module: nn.Module,
    state_dict: dict,
    where: str = "checkpoint",
    *,
    ignore: Iterable[str] = (),
) -> list[str]:
    """Load ``state_dict`` into ``module`` strictly, with one clear error for mismatches.

    Keys named in ``ignore`` (known drift between library versions) are dropped when the
    module does not expect them. Any other missing, unexpected or mis-shaped key raises
    :class:`CheckpointError` naming how many and an example of each. Returns the dropped keys.
    """
    if not isinstance(state_dict, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state_dict.items()
    ):
        raise CheckpointError(f"{where}: the weights must map names to tensors")
    own = module.state_dict()
    dropped = [k for k in ignore if k in state_dict and k not in own]
    state_dict = {k: v for k, v in state_dict.items() if k not in dropped}
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    wrong = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in own.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} shape mismatches (e.g. {wrong[0]})")
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {missing[0]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {unexpected[0]})")
        raise CheckpointError(f"{where} does not match this model: " + "; ".join(parts))
    module.load_state_dict(state_dict)
    return dropped
