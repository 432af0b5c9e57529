"""Load AudioSep's released separator weights into lassnet's ``audiosep`` preset.

AudioSep's Lightning checkpoints (e.g. ``audiosep_base_4M_steps.ckpt``) hold a ``state_dict``
with the separator under ``ss_model.`` and the CLAP query encoder under ``query_encoder.``.
The separator (``ResUNet30``) has two parts:

* ``ss_model.base.*`` — the ResUNet. Its names map onto ours one to one:

  ==========================================  ===================================
  AudioSep                                    lassnet
  ==========================================  ===================================
  ``base.bn0``                                ``input_norm``
  ``base.pre_conv`` / ``base.after_conv``     ``pre_conv`` / ``post_conv``
  ``base.encoder_block{i}.conv_block1.*``     ``encoders.{i-1}.blocks.0.*``
  ``base.conv_block7a.conv_block1.*``         ``centre.blocks.0.*``
  ``base.decoder_block{i}.conv1``             ``decoders.{i-1}.up``
  ``base.decoder_block{i}.bn1``               ``decoders.{i-1}.norm``
  ``base.decoder_block{i}.conv_block2.*``     ``decoders.{i-1}.blocks.0.*``
  ==========================================  ===================================

  Dropped: ``base.stft.*`` / ``base.istft.*`` (the frozen DFT matrices of its conv-based
  STFT; lassnet uses ``torch.stft``) and ``base.decoder_block{i}.bn2.*`` (never used in its
  forward pass).
* ``ss_model.film.<path>->beta<k>.{weight,bias}`` — one ``Linear(512, C)`` per conditioned
  batch norm, named by its path in the ResUNet (``encoder_block1->conv_block1->beta1`` is the
  β of ``encoder_block1.conv_block1.bn1``). They are stacked, in lassnet's layer order, into
  the single linear layer of :class:`lassnet.film.FiLM`. ``decoder_block{i}->beta2`` (the
  β of the unused ``bn2``) is dropped.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import torch

from . import checkpoint
from .checkpoint import CheckpointError
from .separator import SeparationNet

__all__ = ["ConversionReport", "load_audiosep", "audiosep_to_lassnet_key"]

_BLOCK = re.compile(r"^(encoder_block|decoder_block|conv_block7a)(\d*)\.(.*)$")


def _unknown(key: str) -> CheckpointError:
    return CheckpointError(
        f"unexpected tensor {key!r} in the AudioSep checkpoint: not part of AudioSep's "
        "ResUNet30 (is this a checkpoint of another AudioSep model?)"
    )


@dataclass
class ConversionReport:
    """What :func:`load_audiosep` did with each key of the checkpoint."""

    converted: int = 0
    dropped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    #: the CLAP tensors stored beside the separator (``query_encoder.model.*``, prefix
    #: removed), for comparison with the CLAP checkpoint
    #: (:meth:`lassnet.model.LASSModel.from_audiosep` does)
    query_encoder: dict = field(default_factory=dict, repr=False)

    def summary(self) -> str:
        groups: dict[str, int] = {}
        for key in self.dropped:
            prefix = re.sub(r"\d+", "{i}", key.split(".weight")[0].split(".bias")[0])
            prefix = prefix.split("->")[0] + ("->…" if "->" in key else "")
            groups[prefix] = groups.get(prefix, 0) + 1
        lines = [f"converted {self.converted} tensors"]
        lines += [f"dropped {n:3d} × {p}" for p, n in sorted(groups.items())]
        lines += [f"missing: {k}" for k in self.missing]
        return "\n".join(lines)


def audiosep_to_lassnet_key(key: str) -> str | None:
    """Map a ``base.*`` module path of AudioSep's ResUNet30 to lassnet's, or ``None`` if the
    tensor is not used by lassnet (STFT matrices, the decoders' unused ``bn2``).

    Raises :class:`~lassnet.checkpoint.CheckpointError` for a key ResUNet30 does not have."""
    if key.startswith(("stft.", "istft.")):
        return None
    for old, new in (("bn0.", "input_norm."), ("pre_conv.", "pre_conv."),
                     ("after_conv.", "post_conv.")):
        if key.startswith(old):
            return new + key[len(old):]
    m = _BLOCK.match(key)
    if m is None:
        raise _unknown(key)
    kind, num, rest = m.groups()
    if kind == "conv_block7a":
        if not rest.startswith("conv_block1."):
            raise _unknown(key)
        return "centre.blocks.0." + rest[len("conv_block1."):]
    i = int(num) - 1
    if kind == "encoder_block":
        if not rest.startswith("conv_block1."):
            raise _unknown(key)
        return f"encoders.{i}.blocks.0." + rest[len("conv_block1."):]
    # decoder block
    if rest.startswith("bn2."):
        return None
    if rest.startswith("conv1."):
        return f"decoders.{i}.up." + rest[len("conv1."):]
    if rest.startswith("bn1."):
        return f"decoders.{i}.norm." + rest[len("bn1."):]
    if rest.startswith("conv_block2."):
        return f"decoders.{i}.blocks.0." + rest[len("conv_block2."):]
    raise _unknown(key)


def _film_layer_key(path: str) -> str | None:
    """``encoder_block1->conv_block1->beta1`` → ``encoders.0.blocks.0.bn1`` (lassnet's key)."""
    parts = path.split("->")
    beta = parts[-1]
    if not re.fullmatch(r"beta\d", beta):
        raise _unknown(f"film.{path}")
    module_path = ".".join(parts[:-1] + ["bn" + beta[len("beta"):]])
    mapped = audiosep_to_lassnet_key(module_path + ".weight")
    return None if mapped is None else mapped[: -len(".weight")]


def _read(source) -> dict:
    if isinstance(source, (str, os.PathLike)):
        source = checkpoint.read_file(source)
    if not isinstance(source, dict):
        raise CheckpointError("AudioSep checkpoint must be a path or a state dict")
    state = source.get("state_dict", source)
    if not isinstance(state, dict) or not any(
        isinstance(k, str) and k.startswith(("ss_model.", "base.", "film.")) for k in state
    ):
        raise CheckpointError(
            "no AudioSep separator weights found (expected keys 'ss_model.base.*' and "
            "'ss_model.film.*')"
        )
    return state


def load_audiosep(source) -> tuple[SeparationNet, ConversionReport]:
    """Build the ``audiosep`` preset and fill it from AudioSep's released separator weights.

    ``source`` is a path to a Lightning ``.ckpt`` (e.g. ``audiosep_base_4M_steps.ckpt``) or a
    state dict with ``ss_model.base.*`` / ``ss_model.film.*`` keys (the ``ss_model.`` prefix
    is optional). Returns ``(SeparationNet, ConversionReport)``; the report lists what was
    dropped. Raises :class:`~lassnet.checkpoint.CheckpointError` (a ``ValueError``) if a
    tensor that lassnet needs is absent, unknown, or has the wrong shape.
    """
    state = _read(source)
    report = ConversionReport()
    base, film, origin = {}, {}, {}
    for key, value in state.items():
        short = key[len("ss_model."):] if key.startswith("ss_model.") else key
        if short.startswith("base."):
            new = audiosep_to_lassnet_key(short[len("base."):])
            if new is None:
                report.dropped.append(key)
            else:
                base[new] = value
                origin[new] = key
        elif short.startswith("film."):
            path, _, kind = short[len("film."):].rpartition(".")
            layer = _film_layer_key(path)
            if layer is None:
                report.dropped.append(key)
            else:
                film.setdefault(layer, {})[kind] = value
        else:
            report.dropped.append(key)  # e.g. query_encoder.* (CLAP), handled elsewhere
            if key.startswith("query_encoder.model.") and isinstance(value, torch.Tensor):
                report.query_encoder[key[len("query_encoder.model."):]] = value

    dims = {v["weight"].shape[1] for v in film.values() if "weight" in v}
    if len(dims) != 1:
        raise CheckpointError(
            f"cannot infer the FiLM condition width from the checkpoint: {dims}"
        )
    net = SeparationNet.from_preset("audiosep", condition_dim=dims.pop())
    target = net.state_dict()

    extra = sorted(set(base) - set(target))
    if extra:  # e.g. a seventh encoder block: another architecture than ResUNet30
        raise _unknown(origin[extra[0]])
    new_state = {}
    for key in target:
        if key.startswith("film."):
            continue
        if key in base:
            new_state[key] = base[key]
        else:
            report.missing.append(key)
    weights, biases = [], []
    for key, size in zip(net.film.keys, net.film.sizes, strict=True):
        if key not in film or set(film[key]) != {"weight", "bias"}:
            report.missing.append(f"film β of {key}")
            weights.append(torch.zeros(size, net.config.condition_dim))
            biases.append(torch.zeros(size))
        else:
            weights.append(film[key]["weight"])
            biases.append(film[key]["bias"])
    new_state["film.net.weight"] = torch.cat(weights, dim=0)
    new_state["film.net.bias"] = torch.cat(biases, dim=0)
    if report.missing:
        raise CheckpointError(
            f"AudioSep checkpoint lacks {len(report.missing)} tensors lassnet needs, e.g. "
            + ", ".join(report.missing[:3])
        )
    checkpoint.load_state(net, new_state, "AudioSep checkpoint")
    report.converted = len(new_state)
    return net, report
