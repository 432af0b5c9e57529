"""LAION-CLAP as the query encoder (what AudioSep used): text and audio queries, 512-d.

Taught in chapter 4 (QueryNet). CLAP was trained contrastively so that a sound and its
description land close together in one 512-d space; AudioSep conditions its separator on the
text tower during training and can swap in the audio tower at test time.

We use the ``laion-clap`` package's model definitions (its ``clap_module``) but load the
user's checkpoint file ourselves:

* safely — through :func:`lassnet.checkpoint.read_file`: tensors and plain data only (numpy
  scalars too: released files carry a few as metrics), nothing in the file is ever executed.
* strictly — the released checkpoints hold a ``text_branch.embeddings.position_ids`` buffer
  that current ``transformers`` rebuilds instead of storing; that key is dropped and listed in
  :attr:`CLAPEncoder.dropped_keys`. Any other missing, extra or mis-shaped key is an error
  (:func:`lassnet.checkpoint.load_state`).

Queries are embedded as AudioSep's ``models/clap_encoder.py`` embeds them, so that a separator
trained by AudioSep receives the conditions it was trained on:

* text — RoBERTa's tokenizer with ``padding="max_length"``, ``max_length=512`` (RoBERTa's
  whole context) and truncation; a single query is duplicated to a batch of two and the first
  row kept; ``get_text_embedding``; float32. Where AudioSep would silently cut a query longer
  than the context, :class:`CLAPEncoder` refuses it with a ``ValueError`` naming its length.
* audio — resampled to 48 kHz; a clip shorter than 10 s is repeated whole as often as it fits
  and zero-padded (laion-clap's ``repeatpad``); a longer one is cut to a 10-s window at a
  uniformly random offset, as laion-clap's ``get_audio_features`` does for AudioSep
  (``data_truncating="fusion"`` with a non-fusion model keeps only that window). The offset is
  drawn from a generator seeded with ``seed``, so the same call gives the same embedding.

Importing ``laion_clap`` itself fetches three tokenizers from the Hugging Face hub (BERT,
RoBERTa, BART) whether they are needed or not, and retries for minutes without a network, so
only its ``clap_module`` sub-package is imported (the workaround, and the switch that puts
the hub libraries offline, live in :mod:`lassnet._compat.laion_clap`). CLAP's text tower is
RoBERTa: building it reads the ``roberta-base`` tokenizer and weights from the hub (cached
after the first time) or from a ``roberta-base/`` folder in the working directory. Without a
network the hub's cache is used (``offline``).
"""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import torch

from .. import checkpoint
from .._compat.laion_clap import env_offline, hub_offline, hub_reachable, import_clap_module
from ..checkpoint import CheckpointError, load_state
from .base import QueryEncoder, resolve_device

__all__ = [
    "CLAPEncoder",
    "read_checkpoint",
    "describe_checkpoint",
]

#: CLAP's audio rate and clip length (10 s)
CLAP_SAMPLE_RATE = 48000
CLIP_SAMPLES = 480000
#: laion-clap's own text context (tokens), used when it trains CLAP
CONTEXT_LENGTH = 77
#: AudioSep's text context: ``max_length=512`` in its ``CLAP_Encoder.tokenizer``
AUDIOSEP_MAX_TOKENS = 512
#: audio towers by the width of ``audio_branch.patch_embed.proj`` (HTS-AT sizes)
HTSAT_WIDTHS = {96: "HTSAT-tiny", 128: "HTSAT-base", 256: "HTSAT-large"}
#: keys that the released checkpoints store and current transformers no longer expects
KNOWN_DRIFT = ("text_branch.embeddings.position_ids",)


# ---------------------------------------------------------------------------- loading
def read_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a LAION-CLAP checkpoint file safely and return the CLAP model's state dict.

    Taught in chapter 4 (QueryNet). Accepts the released layout (a dict whose
    ``"state_dict"`` has keys prefixed ``module.`` by distributed training) and a bare state
    dict. Raises :class:`~lassnet.checkpoint.CheckpointError` (a ``ValueError``) for a
    missing, unreadable or unsafe file, or one that is not a tensor checkpoint.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise CheckpointError(f"CLAP checkpoint {path} does not exist")
    payload = checkpoint.read_file(path)
    if isinstance(payload, dict) and isinstance(payload.get("state_dict"), dict):
        state = payload["state_dict"]
    else:
        state = payload
    if not isinstance(state, dict) or not state:
        raise CheckpointError(f"{path} holds no state dict (found {type(state).__name__})")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"{path}: the state dict must map names to tensors")
    if all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return dict(state)


def describe_checkpoint(state: dict[str, torch.Tensor]) -> dict:
    """Which CLAP a state dict holds: ``{"amodel": name or None, "fusion": bool}``.

    Raises ``ValueError`` when it is not a LAION-CLAP model with a RoBERTa text tower.
    """
    if not any(k.startswith("audio_branch.") for k in state) or not any(
        k.startswith("text_branch.") for k in state
    ):
        raise ValueError(
            "this is not a LAION-CLAP checkpoint (no audio_branch./text_branch. weights); "
            "AudioSep uses music_speech_audioset_epoch_15_esc_89.98.pt"
        )
    if "text_branch.embeddings.word_embeddings.weight" not in state:
        raise ValueError(
            "this CLAP checkpoint's text tower is not RoBERTa; only RoBERTa-based checkpoints "
            "(all released LAION-CLAP ones, and AudioSep's) are supported"
        )
    fusion = any(".fusion_model." in k or "mel_conv" in k for k in state)
    proj = state.get("audio_branch.patch_embed.proj.weight")
    amodel = HTSAT_WIDTHS.get(int(proj.shape[0])) if proj is not None else None
    return {"amodel": amodel, "fusion": fusion}


# ---------------------------------------------------------------------------- the encoder
def _fit_clip(clip: torch.Tensor, start: int | None = None) -> torch.Tensor:
    """One clip ``(L,)`` → exactly 10 s ``(CLIP_SAMPLES,)``, as laion-clap's
    ``get_audio_features`` fits it for AudioSep.

    A longer clip keeps the 10 s from sample ``start`` (``0 ≤ start ≤ L − CLIP_SAMPLES``;
    default: the central 10 s); a shorter one is repeated whole as often as it fits, then
    zero-padded ("repeatpad").
    """
    length = clip.shape[-1]
    if length >= CLIP_SAMPLES:
        if start is None:
            start = (length - CLIP_SAMPLES) // 2
        if not 0 <= start <= length - CLIP_SAMPLES:
            raise ValueError(f"start must lie in [0, {length - CLIP_SAMPLES}], got {start}")
        return clip[start : start + CLIP_SAMPLES]
    repeated = clip.repeat(CLIP_SAMPLES // length)
    return torch.nn.functional.pad(repeated, (0, CLIP_SAMPLES - repeated.shape[-1]))


class CLAPEncoder(QueryEncoder):
    """LAION-CLAP text and audio embeddings, ``D = 512``, from a checkpoint file.

    Taught in chapter 4 (QueryNet).

    Args:
        checkpoint: path of a LAION-CLAP checkpoint (AudioSep:
            ``music_speech_audioset_epoch_15_esc_89.98.pt``, HTS-AT base; or the LAION
            ``630k-best.pt`` / ``630k-audioset-best.pt``, HTS-AT tiny).
        amodel: the audio tower (``"HTSAT-tiny"``, ``"HTSAT-base"``, ...); default: read from
            the checkpoint. A checkpoint of another size is a ``ValueError``.
        device: where to run (default: CUDA when available, else CPU).
        offline: use only local files and the hub's cache for ``roberta-base``; default:
            offline when ``HF_HUB_OFFLINE`` is set or the hub cannot be reached.
        cache_size, batch_size: see :class:`QueryEncoder`.
        seed: seeds the offsets at which clips longer than 10 s are cut (AudioSep's random
            window), so that embeddings are reproducible.

    ``embed_text(B strings) -> (B, 512)``, tokenised as AudioSep does (see the module's
    docstring; :attr:`max_tokens` is 512 with RoBERTa's real context); ``embed_audio(wave
    (B, 1, L), sr) -> (B, 512)``, resampled to 48 kHz and fitted to 10 s. A text longer than
    :attr:`max_tokens` tokens is a ``ValueError``. :attr:`dropped_keys` lists the checkpoint
    keys that were dropped as known drift.
    """

    name = "clap"

    def __init__(
        self,
        checkpoint: str | Path | None = None,
        amodel: str | None = None,
        device: str | torch.device | None = None,
        offline: bool | None = None,
        cache_size: int = 4096,
        batch_size: int = 8,
        seed: int = 0,
    ):
        super().__init__(
            cache_size=cache_size,
            batch_size=batch_size,
            audio_sample_rate=CLAP_SAMPLE_RATE,
            min_audio_seconds=0.1,
        )
        if checkpoint is None:
            raise ValueError(
                "the 'clap' query encoder needs a checkpoint file: "
                "build('clap', checkpoint='music_speech_audioset_epoch_15_esc_89.98.pt') "
                "(AudioSep's, HTS-AT base) or a LAION 630k checkpoint such as 630k-best.pt"
            )
        dev = resolve_device(device)
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            raise CheckpointError(f"CLAP checkpoint {path} does not exist")
        clap_module = import_clap_module()
        state = read_checkpoint(path)
        found = describe_checkpoint(state)
        if found["fusion"]:
            raise ValueError(
                f"{path.name} is a feature-fusion CLAP, which is not supported; use a "
                "non-fusion checkpoint (630k-best.pt, 630k-audioset-best.pt or AudioSep's "
                "music_speech_audioset_epoch_15_esc_89.98.pt)"
            )
        if amodel is None:
            amodel = found["amodel"]
            if amodel is None:
                raise ValueError(
                    f"cannot tell the audio tower of {path.name}; pass amodel='...' "
                    f"(one of {', '.join(clap_module.list_models())})"
                )
        elif found["amodel"] is not None and found["amodel"] != amodel:
            raise ValueError(
                f"{path.name} holds a {found['amodel']} audio tower, not {amodel}: a checkpoint "
                f"of another model size; use amodel={found['amodel']!r} (or leave it out)"
            )
        if amodel not in clap_module.list_models():
            raise ValueError(
                f"unknown CLAP audio tower {amodel!r}; one of {clap_module.list_models()}"
            )
        if offline is None:
            offline = env_offline() or (
                not Path("roberta-base").is_dir() and not hub_reachable()
            )
        model, tokenizer = self._build(clap_module, amodel, bool(offline))
        self.dropped_keys = load_state(
            model, state, f"{path.name} (read as laion-clap's {amodel})", ignore=KNOWN_DRIFT
        )
        vocab = int(state["text_branch.embeddings.word_embeddings.weight"].shape[0])
        if len(tokenizer) != vocab:
            raise ValueError(
                f"the roberta-base tokenizer found has {len(tokenizer)} tokens but the "
                f"checkpoint's text tower has {vocab}; is a stray roberta-base/ folder in "
                "the working directory, or is the hub cache incomplete?"
            )
        self.model = model.to(dev)
        self.tokenizer = tokenizer
        # AudioSep's 512, or fewer where the text tower holds fewer positions (RoBERTa's
        # position ids start after the padding index, so two positions are never used)
        positions = int(state["text_branch.embeddings.position_embeddings.weight"].shape[0])
        self.max_tokens = min(AUDIOSEP_MAX_TOKENS, positions - 2)
        self.seed = int(seed)
        self.amodel = amodel
        self.checkpoint = path
        self._dim = int(model.audio_projection[-1].out_features)
        self._freeze()

    @staticmethod
    def _build(clap_module, amodel: str, offline: bool):
        from transformers import RobertaTokenizer

        try:
            with hub_offline(offline), warnings.catch_warnings(), _quiet_transformers():
                warnings.filterwarnings("ignore", message=".*meshgrid.*")
                model, _ = clap_module.create_model(
                    amodel, "roberta", precision="fp32", device=torch.device("cpu"),
                    enable_fusion=False,
                )
                tokenizer = RobertaTokenizer.from_pretrained("roberta-base")
        except OSError as err:
            where = "the Hugging Face hub is unreachable and its cache" if offline else "the hub"
            raise OSError(
                "CLAP's text tower is built from the 'roberta-base' tokenizer and weights, but "
                f"{where} did not provide them ({err}). Run once with a network (they are "
                "cached under ~/.cache/huggingface), or put a roberta-base/ folder in the "
                "working directory."
            ) from err
        return model, tokenizer

    def token_count(self, text: str) -> int:
        """How many tokens ``text`` takes in CLAP's text tower (``<s>`` and ``</s>``
        included)."""
        return len(self.tokenizer(text)["input_ids"])

    def _encode_text(self, texts: list[str]) -> torch.Tensor:
        for text in texts:
            count = self.token_count(text)
            if count > self.max_tokens:
                raise ValueError(
                    f"the query {_shorten(text)!r} is {count} tokens long; CLAP's text tower "
                    f"reads at most {self.max_tokens} (AudioSep would cut the rest off "
                    "unread): describe the sound in fewer words"
                )
        single = len(texts) == 1
        if single:  # AudioSep embeds one query as a batch of two and keeps the first row
            texts = texts * 2
        tokens = self.tokenizer(
            texts,
            padding="max_length",
            truncation=True,
            max_length=self.max_tokens,
            return_tensors="pt",
        )
        batch = {"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]}
        emb = self.model.get_text_embedding(batch).float()  # (B, 512), on the device
        return emb[:1] if single else emb

    def _encode_audio(self, wave: torch.Tensor) -> torch.Tensor:
        generator = torch.Generator().manual_seed(self.seed)
        clips = []
        for clip in wave:
            start = None
            if clip.shape[-1] > CLIP_SAMPLES:  # AudioSep's random 10-s window, seeded
                overflow = clip.shape[-1] - CLIP_SAMPLES
                start = int(torch.randint(0, overflow + 1, (1,), generator=generator))
            clips.append({"waveform": _fit_clip(clip, start),
                          "longer": torch.tensor([start is not None])})
        return self.model.get_audio_embedding(clips).float()  # (B, 512)


@contextlib.contextmanager
def _quiet_transformers():
    """Without transformers' own "Loading weights" progress bar (the RoBERTa tower is small
    and loads in a moment), restored afterwards."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers is required by laion-clap
        yield
        return
    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


def _shorten(text: str, width: int = 40) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
