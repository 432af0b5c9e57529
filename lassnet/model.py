"""``LASSModel``: a query encoder joined to a separator (chapters 0, 7 and 8).

The query encoder (:mod:`lassnet.query`) is frozen and is *not* part of the model's weights:
a checkpoint records its name and options and it is rebuilt on load. The separator
(:class:`~lassnet.separator.SeparationNet`) is what training changes. The one exception is a
trainable encoder (the ``label`` ablation, chapter 4): its weights were learned with the
separator, so the file keeps them too (``query_state``) and loading puts them back into the
rebuilt encoder.

:meth:`LASSModel.separate` is the user-facing entry point: any array or tensor, any sample
rate, mono or multichannel, any length, a text or audio query. It streams: the signal is cut
into chunks on a grid where one pass over the whole signal would see the same samples,
frames and pooling windows (:class:`ChunkPlan`), each chunk is resampled, separated and
resampled back on its own and cross-faded into the output, so memory beyond the input and
the output does not grow with the length. :meth:`LASSModel.separate_file` does the same from
file to file (what ``lassnet separate`` runs). :meth:`LASSModel.inspect`
separates one short mono clip in one piece and keeps what the separator predicted on the
way: its magnitude and phase masks (a :class:`Separation`, drawn by
:func:`lassnet.plot.plot_separation`; the introduction's demo).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from . import checkpoint, inference
from .checkpoint import CheckpointError
from .checks import WaveLike, as_waveform
from .masks import ideal_ratio_mask
from .metrics import si_sdr
from .separator import SeparationNet, SeparatorConfig
from .stft import STFT

if TYPE_CHECKING:  # the query package is imported lazily (building an encoder is slow)
    from .query.base import QueryEncoder

__all__ = [
    "LASSModel",
    "Separation",
    "QueryLike",
    "ChunkPlan",
    "plan_chunks",
    "check_chunking",
    "whole_hop_length",
    "MIN_CHUNK_SECONDS",
    "MARGIN_SECONDS",
]

#: A query: a caption, several captions (one embedding each), or an audio clip of the wanted
#: sound (``(L,)`` samples, tensor or array, with its sample rate given separately).
QueryLike = str | Sequence[str] | WaveLike


def whole_hop_length(length: int, stft: STFT) -> int:
    """The length, in samples, to zero-pad a clip of ``length`` samples to before separating
    it: at least the STFT's shortest input, rounded up to a whole number of hops.

    On whole hops every sample lies under as many overlapping windows as in the middle of the
    signal, so the inverse STFT does not amplify masking errors at the end (see
    :meth:`SeparationNet.forward <lassnet.separator.SeparationNet.forward>`). Used by
    :meth:`LASSModel.separate` and :meth:`LASSModel.inspect`.
    """
    padded = max(int(length), stft.min_length)
    return padded + (-padded % stft.hop_length)


#: The shortest ``chunk_seconds`` :meth:`LASSModel.separate` takes.
MIN_CHUNK_SECONDS = 0.5
#: Context, in seconds, separated on each side of a chunk and then cropped away (at least the
#: resampling filters' reach; rounded up to the chunk grid).
MARGIN_SECONDS = 0.25


def _seconds(value, name: str, minimum: float) -> float:
    """``value`` as a float of seconds, finite and at least ``minimum`` (above 0 when the
    minimum is 0); ``ValueError`` naming ``name`` and the bound otherwise."""
    bound = f"at least {minimum:g}" if minimum else "above 0"
    number = (not isinstance(value, bool)
              and isinstance(value, (int, float, np.integer, np.floating)))
    if (not number or not math.isfinite(float(value)) or float(value) < minimum
            or float(value) <= 0):
        raise ValueError(f"{name} must be a finite number of seconds, {bound}, got {value!r}")
    return float(value)


def check_chunking(chunk_seconds, overlap_seconds) -> tuple[float, float]:
    """``(chunk_seconds, overlap_seconds)`` checked as :meth:`LASSModel.separate` takes them:
    finite, ``chunk_seconds >= MIN_CHUNK_SECONDS`` (0.5 s), ``overlap_seconds > 0``; the
    overlap is cut to half a chunk at most. ``ValueError`` naming the value otherwise."""
    chunk = _seconds(chunk_seconds, "chunk_seconds", MIN_CHUNK_SECONDS)
    overlap = _seconds(overlap_seconds, "overlap_seconds", 0.0)
    return chunk, min(overlap, chunk / 2)


@dataclass(frozen=True)
class ChunkPlan:
    """Where :meth:`LASSModel.separate` cuts a long signal, in samples of the input's rate.

    Chunk ``k`` owns ``[k·step, k·step + step + fade)`` (the last one ends at ``length``).
    Neighbours overlap by exactly ``fade`` samples, where the earlier chunk fades out and the
    later fades in along a raised cosine: ``fade_in + fade_out = 1`` sample by sample, and the
    first chunk starts and the last ends without a fade, so the chunks' weights sum to one
    everywhere (no weight array).

    Each chunk is separated with context around what it owns: its :meth:`span` starts at
    least ``margin`` samples earlier, on the grid of ``quantum`` samples, and ends at least
    ``margin`` samples later (clipped at the signal's ends); the context is cropped away
    afterwards. ``quantum`` spans a whole number of the separator's hops at the model's rate,
    ideally of its pooling grid (hop × the U-Net's time factor), and maps to a whole input
    sample (resampling is polyphase over the reduced rates ``sample_rate/g`` and
    ``model_rate/g``, ``g = gcd``). So every chunk sees the resampled samples, the STFT frames
    and the pooling windows of one pass over the whole signal, and away from its edges gives
    what that pass gives. Taught in the introduction (chapter 0).
    """

    length: int
    sample_rate: int
    model_rate: int
    step: int
    fade: int
    margin: int
    quantum: int

    @property
    def count(self) -> int:
        """Number of chunks."""
        return max(1, -(-(self.length - self.fade) // self.step))

    @property
    def width(self) -> int:
        """Samples separated per chunk (every span but those at the signal's ends)."""
        return self.step + self.fade + 2 * self.margin + self.quantum - 1

    def own(self, k: int) -> tuple[int, int]:
        """``(start, stop)``: the samples chunk ``k`` contributes to (fades included)."""
        start = k * self.step
        stop = self.length if k == self.count - 1 else start + self.step + self.fade
        return start, stop

    def span(self, k: int) -> tuple[int, int]:
        """``(start, stop)``: the samples read and separated for chunk ``k``: what it owns,
        ``margin`` or more on each side, starting on the grid; clipped to the signal."""
        start = max(0, self.own(k)[0] - self.margin) // self.quantum * self.quantum
        return start, min(self.length, start + self.width)

    def fades(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(fade_in, fade_out)``, each ``(fade,)``: a raised cosine and one minus it."""
        up = 0.5 - 0.5 * torch.cos(torch.pi * (torch.arange(self.fade, dtype=torch.float64)
                                               + 0.5) / self.fade)
        return up.float(), (1.0 - up).float()


def _reach(orig: int, new: int) -> int:
    """How many samples of ``orig``-rate input one output sample of
    ``torchaudio.functional.resample(·, orig, new)`` reaches on each side (its filter's
    half-width, ``lowpass_filter_width = 6`` zero crossings at a 0.99 roll-off)."""
    g = math.gcd(orig, new)
    a, b = orig // g, new // g
    return math.ceil(6 * a / (0.99 * min(a, b))) + a


def _lcm(a: int, b: int) -> int:
    return a * b // math.gcd(a, b)


def plan_chunks(length: int, sample_rate: int, model_rate: int, hop_length: int,
                chunk_seconds: float = 10.0, overlap_seconds: float = 1.0,
                time_factor: int = 1) -> ChunkPlan:
    """The :class:`ChunkPlan` of a signal of ``length`` samples at ``sample_rate`` Hz for a
    separator working at ``model_rate`` Hz with hop ``hop_length`` whose U-Net pools time by
    ``time_factor`` in all (``SeparatorConfig.time_factor``).

    ``step`` is ``chunk_seconds − overlap_seconds``, ``fade`` is ``overlap_seconds`` (at most
    half a chunk), ``margin`` is :data:`MARGIN_SECONDS` (at least the reach of the two
    resampling filters). The grid ``quantum`` is the pooling grid (0.256 s for ``tiny`` at
    16 kHz, 1.28 s from 44.1 kHz) when it spans at most a chunk, else the hop grid (odd rate
    pairs make both long: 44,101 Hz against 16 kHz gives 32 s and 8 s). Arguments are
    checked as :func:`check_chunking` does.
    """
    chunk, overlap = check_chunking(chunk_seconds, overlap_seconds)
    g = math.gcd(sample_rate, model_rate)
    a, b = sample_rate // g, model_rate // g
    grid = _lcm(b, hop_length * time_factor)  # model samples
    if grid > chunk * model_rate:  # the pooling grid would more than double each chunk
        grid = _lcm(b, hop_length)
    quantum = grid // b * a  # the same span in input samples (a multiple of a)
    step = max(1, round((chunk - overlap) * sample_rate))
    fade = min(max(1, round(overlap * sample_rate)), step)
    reach = max(_reach(sample_rate, model_rate),
                math.ceil(_reach(model_rate, sample_rate) * a / b))
    margin = max(math.ceil(MARGIN_SECONDS * sample_rate), reach)
    return ChunkPlan(int(length), sample_rate, model_rate, step, fade, margin, quantum)


@dataclass
class Separation:
    """One separation and everything needed to look at it (:meth:`LASSModel.inspect`).

    Waves are ``(L,)`` at ``sample_rate``; masks are ``(T, F)`` on the separator's STFT grid
    (frame ``t`` centred at ``t·hop_length`` samples, bin ``f`` at ``freqs[f]`` Hz); all on
    the CPU. ``reference`` is the true sound, when known; ``oracle_mask`` is then the ideal
    ratio mask of the reference in the mixture (chapter 5), the mask a perfect magnitude-only
    separator would predict. Drawn by :func:`lassnet.plot.plot_separation`; taught in the
    introduction (the demo) and chapter 5 (Masks).
    """

    query: str
    sample_rate: int
    mixture: torch.Tensor
    estimate: torch.Tensor
    mag_mask: torch.Tensor
    phase_cos: torch.Tensor
    phase_sin: torch.Tensor
    hop_length: int
    freqs: np.ndarray
    reference: torch.Tensor | None = None
    reference_label: str | None = None
    oracle_mask: torch.Tensor | None = None
    mixture_label: str = "mixture"

    @property
    def phase_angle(self) -> torch.Tensor:
        """``∠P`` in radians, ``(T, F)``: how far the phase mask turns each bin's phase."""
        return torch.atan2(self.phase_sin, self.phase_cos)

    @property
    def scores(self) -> dict[str, float] | None:
        """SI-SDR (dB) of the mixture and of the estimate against the reference, and the
        improvement ``si_sdri``; ``None`` without a reference."""
        if self.reference is None:
            return None
        mix = float(si_sdr(self.mixture, self.reference))
        est = float(si_sdr(self.estimate, self.reference))
        return {"mixture": mix, "estimate": est, "si_sdri": est - mix}


class LASSModel(nn.Module):
    """Query encoder + separator.

    Args:
        separator: the :class:`SeparationNet`; its ``condition_dim`` must equal the encoder's
            ``dim``.
        encoder: a :class:`lassnet.query.QueryEncoder`, or ``None`` to build it lazily from
            ``query_name`` / ``query_options`` the first time a query is embedded.
        query_name, query_options: how to rebuild the encoder (``lassnet.query.build``).
    """

    def __init__(
        self,
        separator: SeparationNet,
        encoder: QueryEncoder | None = None,
        query_name: str = "minilm",
        query_options: dict[str, Any] | None = None,
    ):
        super().__init__()
        self.separator = separator
        self.query_name = query_name
        self.query_options = dict(query_options or {})
        self._encoder = encoder
        self._query_state: dict[str, torch.Tensor] | None = None  # a trained encoder's weights
        self._query_source = "model file"  # where they came from, for messages
        if encoder is not None and encoder.dim != separator.config.condition_dim:
            raise ValueError(
                f"query encoder width {encoder.dim} does not match the separator's "
                f"condition_dim {separator.config.condition_dim}"
            )

    @property
    def sample_rate(self) -> int:
        return self.separator.config.sample_rate

    @property
    def encoder(self) -> QueryEncoder:
        """The frozen query encoder (built on first use)."""
        if self._encoder is None:
            from . import query

            encoder = query.build(self.query_name, **self.query_options)
            if encoder.dim != self.separator.config.condition_dim:
                raise CheckpointError(
                    f"query encoder {self.query_name!r} gives {encoder.dim}-d embeddings "
                    f"but the separator expects {self.separator.config.condition_dim}"
                )
            self._attach(encoder)
        return self._encoder

    def _attach(self, encoder: QueryEncoder) -> None:
        """Use ``encoder``, first loading the trained weights the model file kept for it
        (``query_state``), if any; :class:`CheckpointError` when they do not fit it."""
        if encoder.dim != self.separator.config.condition_dim:
            raise ValueError(
                f"query encoder width {encoder.dim} does not match the separator's "
                f"condition_dim {self.separator.config.condition_dim}"
            )
        if self._query_state is not None:
            if not encoder.trainable:
                raise CheckpointError(
                    f"{self._query_source} keeps trained query-encoder weights, but the "
                    f"encoder given ({encoder.name!r}) is frozen; load it without encoder= "
                    "to rebuild the trained one"
                )
            device = encoder.device
            checkpoint.load_state(encoder, {k: v.to(device) for k, v in
                                            self._query_state.items()},
                                  f"{self._query_source} (query encoder)")
            encoder.eval()
            self._query_state = None
        self._encoder = encoder

    # ------------------------------------------------------------------ queries
    def embed(self, query: QueryLike, sample_rate: int | None = None) -> torch.Tensor:
        """Embed a query: a string, a list of strings, or an audio clip (with ``sample_rate``).

        Returns ``(B, D)`` on the separator's device.
        """
        device = next(self.separator.parameters()).device
        if isinstance(query, str):
            query = [query]
        if isinstance(query, (list, tuple)):
            if not query or any(not isinstance(q, str) or not q.strip() for q in query):
                raise ValueError("query must be a non-empty text (or a list of them)")
            emb = self.encoder.embed_text(list(query))
        elif isinstance(query, (np.ndarray, torch.Tensor)):
            if sample_rate is None:
                raise ValueError("an audio query needs its sample rate (query_sample_rate=...)")
            emb = self.encoder.embed_audio(query, sample_rate)
        else:
            raise ValueError(f"query must be text or an audio array, got {type(query).__name__}")
        return emb.to(device)

    def forward(self, mixture: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        """``separator(mixture (B, 1, L), condition (B, D))`` — the training path."""
        return self.separator(mixture, condition)

    # ------------------------------------------------------------------ separation
    @torch.no_grad()
    def separate(
        self,
        wave: WaveLike,
        sample_rate: int,
        query: QueryLike,
        query_sample_rate: int | None = None,
        chunk_seconds: float = 10.0,
        overlap_seconds: float = 1.0,
        batch_size: int = 1,
        precision: str = "auto",
    ) -> WaveLike:
        """Extract the sound described by ``query`` from ``wave``.

        Args:
            wave: numpy array or tensor, ``(L,)`` mono or ``(C, L)`` channels-first. Each
                channel of a multichannel input is separated with the same query, so a
                stereo input gives a stereo output.
            sample_rate: the rate of ``wave`` (a positive ``int``); each chunk is resampled
                to the model's rate and back on its own.
            query: one text (``"a siren wailing"``, or a list holding one) or one audio clip
                of the wanted sound (then give ``query_sample_rate``). One query per call.
            chunk_seconds, overlap_seconds: the signal is separated in chunks of about
                ``chunk_seconds`` (at least 0.5 s) that overlap by ``overlap_seconds`` (more
                than 0, at most half a chunk) and cross-fade; each chunk is separated with
                0.5 s of context on both sides (:class:`ChunkPlan`). Memory beyond the input
                and the output stays the same whatever the length: with the ``tiny`` preset
                and the defaults, about 30 MB.
            batch_size: chunks (channels of a chunk count one each) separated at once; more
                is not faster on a CPU and costs memory, a GPU may gain from 4-8.
            precision: ``"auto"`` (the faster of the two on this machine, measured once per
                process: :func:`lassnet.inference.choose_precision`), ``"float32"`` or
                ``"bfloat16"`` (the U-Net's convolutions; STFT and masks stay float32).

        Returns the separated sound with the input's type, shape, sample rate and device (a
        numpy input gives float32). Raises ``ValueError`` naming the argument for anything it
        cannot use, and when the separator produces NaN/Inf (weights or an input level it
        cannot handle). For files, :meth:`separate_file` streams from disk to disk.
        """
        x = as_waveform(wave, "wave", layouts=("L", "CL"), dtype=None, finite=False)
        squeeze = x.dim() == 1
        if squeeze:
            x = x[None]  # (C, L)
        if x.shape[0] > x.shape[1]:
            raise ValueError(
                f"wave has shape {tuple(x.shape)}: more channels than samples; pass "
                "(channels, samples), e.g. wave.T for a (samples, channels) array"
            )
        _check_finite_blocks(x, "wave")
        plan, condition = self._prepare(x.shape[-1], sample_rate, query, query_sample_rate,
                                        chunk_seconds, overlap_seconds, batch_size)
        dtype = torch.float32 if isinstance(wave, np.ndarray) else x.dtype
        out = torch.empty(x.shape, dtype=dtype, device=x.device)  # (C, L)

        def write(start: int, block: torch.Tensor) -> None:
            out[:, start : start + block.shape[-1]] = block

        self._stream(lambda start, stop: x[:, start:stop], write, plan, x.shape[0],
                     condition, batch_size, precision)
        if squeeze:
            out = out[0]
        return out.numpy() if isinstance(wave, np.ndarray) else out

    @torch.no_grad()
    def separate_file(
        self,
        source: str | os.PathLike,
        destination: str | os.PathLike,
        query: QueryLike,
        query_sample_rate: int | None = None,
        *,
        subtype: str | None = None,
        chunk_seconds: float = 10.0,
        overlap_seconds: float = 1.0,
        batch_size: int = 1,
        precision: str = "auto",
    ):
        """:meth:`separate` from one audio file to another, streamed: neither file is ever
        held in memory whole, so hours of audio take the memory of a few chunks.

        ``source`` is read chunk by chunk (every channel is separated; the rate is kept);
        the result goes to a temporary file beside ``destination``, written block by block
        and renamed onto it only when complete (:func:`lassnet.audio.AudioWriter`), so an
        error, Ctrl-C or a full disk leaves ``destination`` as it was (``destination`` may be
        ``source``). The format follows ``destination``'s extension; ``subtype`` (``"FLOAT"``,
        ``"PCM_24"``, ...) defaults to the source's where that format takes it, else to the
        format's default (:func:`lassnet.audio.output_format`). Both paths are checked before
        anything is separated. Samples beyond ±1 in an integer subtype are clipped, with one
        warning. Other arguments as :meth:`separate`.

        Returns ``soundfile.info`` of the written file. Raises
        :class:`~lassnet.audio.AudioError` for a source it cannot read, ``ValueError`` for a
        destination it cannot write or a bad argument, ``OSError`` when writing fails.
        """
        from .audio import AudioReader, AudioWriter, output_format

        with AudioReader(source) as reader:
            fmt, subtype = output_format(destination, subtype, like=reader.subtype)
            plan, condition = self._prepare(reader.frames, reader.sample_rate, query,
                                            query_sample_rate, chunk_seconds,
                                            overlap_seconds, batch_size)
            with AudioWriter(destination, reader.sample_rate, reader.channels, fmt,
                             subtype) as writer:
                self._stream(reader.read, lambda start, block: writer.write(block), plan,
                             reader.channels, condition, batch_size, precision)
        import soundfile as sf

        return sf.info(str(destination))

    def _prepare(self, length, sample_rate, query, query_sample_rate, chunk_seconds,
                 overlap_seconds, batch_size) -> tuple[ChunkPlan, torch.Tensor]:
        """Check :meth:`separate`'s arguments; the chunk plan and the query's ``(1, D)``."""
        if (isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer))
                or sample_rate <= 0):
            raise ValueError(
                f"sample_rate must be a positive integer (Hz), got {sample_rate!r}"
            )
        if (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        plan = plan_chunks(length, int(sample_rate), self.sample_rate,
                           self.separator.stft.hop_length, chunk_seconds, overlap_seconds,
                           self.separator.config.time_factor)
        if isinstance(query, (list, tuple)) and len(query) > 1:
            raise ValueError(
                f"separate() takes one query per call, got {len(query)}; call it once per "
                "query"
            )
        _check_weights(self.separator)
        condition = self.embed(query, query_sample_rate)  # (1, D)
        if condition.shape[0] != 1:
            raise ValueError(
                f"separate() takes one query per call, got a batch of {condition.shape[0]} "
                "audio clips; pass one clip (L,)"
            )
        return plan, condition

    def _stream(self, read, write, plan: ChunkPlan, channels: int, condition: torch.Tensor,
                batch_size: int, precision: str) -> None:
        """Separate the signal chunk by chunk along ``plan``.

        ``read(start, stop)`` gives the input's samples ``(C, stop − start)`` (any float
        dtype and device); ``write(start, block (C, n))`` receives the output in order, in
        consecutive blocks covering ``[0, length)``. Each chunk is resampled to the model's
        rate, padded to whole hops, separated by a fused copy of the separator (made once),
        resampled back, cropped to the samples it owns and cross-faded with its neighbour.
        """
        from torchaudio.transforms import Resample

        separator = self.separator
        device = next(separator.parameters()).device
        sr, model_sr = plan.sample_rate, plan.model_rate
        up = down = None
        if sr != model_sr:  # the kernels of torchaudio.functional.resample, built once
            up = Resample(sr, model_sr, dtype=torch.float32).to(device)
            down = Resample(model_sr, sr, dtype=torch.float32).to(device)
        precision = inference.resolve_precision(precision, separator, device)
        fast = separator.fused(channels_last=device.type == "cpu")  # a copy, once per call
        fade_in, fade_out = (w.to(device) for w in plan.fades())
        per_call = max(1, batch_size // channels)  # chunks per batch
        count, pending, k = plan.count, None, 0
        while k < count:
            first, last = plan.span(k)
            group = [k]  # consecutive chunks of one length go through together
            while (len(group) < per_call and group[-1] + 1 < count
                   and _width(plan.span(group[-1] + 1)) == last - first):
                group.append(group[-1] + 1)
            n = last - first
            x = torch.stack([read(*plan.span(j)) for j in group])  # (G, C, n)
            x = x.to(device, torch.float32).reshape(len(group) * channels, n)
            y = up(x) if up is not None else x  # (G·C, n') at the model's rate
            n_model = y.shape[-1]
            y = torch.nn.functional.pad(y, (0, whole_hop_length(n_model, separator.stft)
                                            - n_model))
            parts = [inference.run(fast, y[i : i + batch_size, None], condition, precision)
                     for i in range(0, y.shape[0], batch_size)]
            y = torch.cat(parts)[:, 0, :n_model]  # (G·C, n')
            if not torch.isfinite(y).all():
                raise ValueError(_non_finite_message(x, first / sr))
            y = (down(y) if down is not None else y)[:, :n].reshape(len(group), channels, n)
            for j, out in zip(group, y, strict=True):
                start, stop = plan.own(j)
                span_start = plan.span(j)[0]
                out = out[:, start - span_start : stop - span_start]  # (C, own)
                if j > 0:
                    f = min(plan.fade, out.shape[-1])
                    out[:, :f] = out[:, :f] * fade_in[:f] + pending[:, :f]
                if j < count - 1:
                    write(start, out[:, : plan.step])
                    pending = out[:, plan.step :] * fade_out  # (C, fade)
                else:
                    write(start, out)
            k = group[-1] + 1

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | os.PathLike, **extra) -> None:
        """Write separator config + weights and the query encoder's recipe (atomic, stamped
        and checksummed; see :mod:`lassnet.checkpoint`). A trainable encoder's weights (the
        ``label`` ablation's table, chapter 4) are written too, as ``query_state``; a frozen
        encoder is rebuilt from its recipe and adds nothing."""
        payload = {
            "config": self.separator.config.to_dict(),
            "state_dict": self.separator.state_dict(),
            "query": {"name": self.query_name, "options": self.query_options},
            **extra,
        }
        if self._encoder is not None and self._encoder.trainable:
            payload["query_state"] = self._encoder.state_dict()
        elif self._encoder is None and self._query_state is not None:
            payload["query_state"] = self._query_state  # loaded, not yet put into an encoder
        checkpoint.save(payload, path, kind="model")

    @classmethod
    def load(cls, path: str | os.PathLike, encoder=None, map_location="cpu") -> LASSModel:
        """Load a model saved by :meth:`save`, a training run's ``model.pt`` or its
        ``checkpoint.pt``.

        The query encoder is rebuilt from the recorded recipe unless ``encoder`` is given;
        a trained encoder's weights (``query_state``, written for a trainable encoder) are
        loaded into it, into ``encoder`` too when one is given. Files without them (every
        frozen encoder's, and files written before they were kept) load as before.
        Raises :class:`~lassnet.checkpoint.CheckpointError` for any other file.
        """
        payload = checkpoint.load(path, ("model", "train"), map_location)
        query = payload.get("query")
        if (not isinstance(query, dict) or not isinstance(query.get("name"), str)
                or not isinstance(query.get("options") or {}, dict)):
            raise CheckpointError(f"{path}: the query encoder's recipe is missing or malformed")
        try:
            config = SeparatorConfig.from_dict(payload["config"])
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{path}: bad separator config ({err})") from None
        separator = SeparationNet(config)
        checkpoint.load_state(separator, payload.get("state_dict"), str(path))
        separator.eval()
        query_state = payload.get("query_state")
        if query_state is not None and not (
            isinstance(query_state, dict)
            and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                    for k, v in query_state.items())
        ):
            raise CheckpointError(f"{path}: the query encoder's weights are malformed")
        model = cls(separator, None, query["name"], query.get("options"))
        model._query_state = query_state
        model._query_source = str(path)
        if encoder is not None:
            model._attach(encoder)
        return model

    @classmethod
    def from_audiosep(
        cls,
        separator_checkpoint: str | os.PathLike,
        clap_checkpoint: str | os.PathLike,
        *,
        precision: str = "float32",
        device: str | torch.device | None = None,
        clap_model: str = "HTSAT-base",
    ) -> LASSModel:
        """AudioSep's released model as one :class:`LASSModel` at 32 kHz: its separator and
        its CLAP query encoder, embedding queries as AudioSep's ``models/clap_encoder.py``
        does.

        Args:
            separator_checkpoint: AudioSep's Lightning checkpoint
                (``audiosep_base_4M_steps.ckpt``), converted by
                :func:`lassnet.audiosep.load_audiosep` into the ``audiosep`` preset.
            clap_checkpoint: its CLAP checkpoint
                (``music_speech_audioset_epoch_15_esc_89.98.pt``), read by
                :class:`lassnet.query.clap.CLAPEncoder`. Both are fetched by
                :func:`lassnet.pretrained.fetch_audiosep`.
            precision: the separator's arithmetic, kept as :attr:`precision` for callers to
                pass to :meth:`separate` (``"float32"``: AudioSep's own; ``"bfloat16"``: half
                the bytes per activation, faster on cards with native support, results
                slightly different from float32's; ``"auto"``: whichever is faster here).
            device: where both run (default: CUDA when available, else the CPU).
            clap_model: CLAP's audio tower; AudioSep's ``CLAP_Encoder`` builds
                ``"HTSAT-base"``, and a checkpoint of another size is a ``ValueError``.

        The model saves and loads as a lassnet model file (:meth:`save` / :meth:`load`); the
        CLAP checkpoint is recorded by its path and read again on load. Raises
        :class:`~lassnet.checkpoint.CheckpointError` (a ``ValueError``) for a separator
        checkpoint with missing or unknown tensors, ``ValueError`` for a CLAP checkpoint that
        does not fit. Taught in the chapter "From synthetic to real".
        """
        from . import query
        from .audiosep import load_audiosep
        from .query.base import resolve_device

        if precision not in inference.PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(inference.PRECISIONS)}, "
                             f"got {precision!r}")
        dev = resolve_device(device)
        separator, report = load_audiosep(separator_checkpoint)
        options = {"checkpoint": str(Path(clap_checkpoint).expanduser()), "amodel": clap_model}
        encoder = query.build("clap", device=dev, **options)
        # AudioSep's checkpoint also stores the (frozen) CLAP it was trained with, and its
        # loader lets those tensors replace the CLAP file's: say so if they differ
        clap_state = encoder.model.state_dict()
        differ = [k for k, v in report.query_encoder.items() if k in clap_state and (
            v.shape != clap_state[k].shape or not torch.equal(v.to(clap_state[k]),
                                                              clap_state[k]))]
        if differ:
            import warnings

            warnings.warn(
                f"{len(differ)} CLAP tensors stored in {Path(separator_checkpoint).name} "
                f"differ from {Path(clap_checkpoint).name} (e.g. {differ[0]}); AudioSep's "
                "loader would use the separator checkpoint's, lassnet uses the CLAP file's: "
                "is this the CLAP AudioSep was trained with?", stacklevel=2)
        model = cls(separator.to(dev).eval(), encoder, "clap", options)
        model.precision = precision
        return model

    # ------------------------------------------------------------------ looking inside
    @torch.no_grad()
    def inspect(
        self,
        mixture,
        query: str,
        *,
        reference=None,
        reference_label: str | None = None,
        mixture_label: str = "mixture",
    ) -> Separation:
        """Separate ``mixture`` by a text ``query`` and keep the separator's masks.

        ``mixture``: a mono clip at the model's sample rate, ``(L,)``, ``(1, L)`` or
        ``(1, 1, L)``, tensor or array. It is padded to whole hops (:func:`whole_hop_length`,
        as :meth:`separate` does) and separated in one piece on the separator's device, so
        keep it short (seconds). ``reference``, the true sound (same shape) if known, adds
        the scores and the oracle ideal ratio mask; ``reference_label`` and ``mixture_label``
        name the sounds in figures. Everything returned is on the CPU. The separator's
        train/eval mode is restored afterwards.

        Raises ``ValueError`` for an empty query, a clip that is not mono or not finite, or a
        reference whose shape differs from the mixture's. Taught in the introduction (the
        demo; :func:`lassnet.plot.plot_separation` draws the result).
        """
        wave = _mono(mixture, "mixture")  # (L,) on the CPU
        if not isinstance(query, str) or not query.strip():
            raise ValueError("type a query: a short description of the sound to extract")
        ref = None if reference is None else _mono(reference, "reference")
        if ref is not None and ref.shape != wave.shape:
            raise ValueError(
                f"reference {tuple(ref.shape)} and mixture {tuple(wave.shape)} differ in "
                "shape; pass the true sound of the same clip"
            )
        separator, stft = self.separator, self.separator.stft
        device = next(separator.parameters()).device
        length = wave.shape[-1]
        pad = (0, whole_hop_length(length, stft) - length)
        x = torch.nn.functional.pad(wave, pad)[None, None].to(device)  # (1, 1, L')
        condition = self.embed(query.strip())  # (1, D) on the device
        was_training = separator.training
        separator.eval()
        try:
            out = separator(x, condition, return_masks=True)  # each (1, 1, T, F) / (1, 1, L')
        finally:
            separator.train(was_training)
        oracle = None
        if ref is not None:
            s = stft(torch.nn.functional.pad(ref, pad)[None, None].to(device))  # (1, 1, T, F)
            oracle = ideal_ratio_mask(s, stft(x))[0, 0].cpu()  # (T, F)
        sr = separator.config.sample_rate
        return Separation(
            query=query.strip(),
            sample_rate=sr,
            mixture=wave,
            estimate=out["waveform"][0, 0, :length].cpu(),
            mag_mask=out["mag_mask"][0, 0].cpu(),
            phase_cos=out["phase_cos"][0, 0].cpu(),
            phase_sin=out["phase_sin"][0, 0].cpu(),
            hop_length=stft.hop_length,
            freqs=stft.frequencies(sr).cpu().numpy(),
            reference=ref,
            reference_label=reference_label,
            oracle_mask=oracle,
            mixture_label=mixture_label,
        )


def _width(span: tuple[int, int]) -> int:
    return span[1] - span[0]


def _check_finite_blocks(x: torch.Tensor, name: str, block: int = 1 << 20) -> None:
    """``ValueError`` if ``x (C, L)`` holds NaN or Inf, checked a block at a time (no
    full-length temporary)."""
    for start in range(0, x.shape[-1], block):
        part = x[:, start : start + block]
        if not torch.isfinite(part).all():
            n_nan = sum(int(torch.isnan(x[:, s : s + block]).sum())
                        for s in range(0, x.shape[-1], block))
            n_inf = sum(int(torch.isinf(x[:, s : s + block]).sum())
                        for s in range(0, x.shape[-1], block))
            raise ValueError(f"{name} contains non-finite values ({n_nan} NaN, {n_inf} Inf)")


def _check_weights(separator: nn.Module) -> None:
    """``ValueError`` if any of the separator's weights or statistics is NaN or Inf."""
    bad = [name for name, t in (*separator.named_parameters(), *separator.named_buffers())
           if t.is_floating_point() and not torch.isfinite(t).all()]
    if bad:
        raise ValueError(
            f"the separator's weights hold NaN or Inf ({len(bad)} tensors, e.g. {bad[0]}): "
            "the checkpoint is damaged or its training diverged; use another checkpoint"
        )


def _non_finite_message(chunk: torch.Tensor, seconds: float) -> str:
    peak = float(chunk.abs().max())
    return (
        f"the separator produced NaN or Inf on the audio near {seconds:.1f} s (its peak there "
        f"is {peak:.3g}); scale the input to a peak near 1 (and the result back) and try again"
    )


def _mono(wave, name: str) -> torch.Tensor:
    """``(L,)``, ``(1, L)`` or ``(1, 1, L)`` (tensor or array) → float32 ``(L,)`` on the CPU,
    by :func:`lassnet.checks.as_waveform`'s contract; a clip of several channels is refused."""
    wave = as_waveform(wave, name, layouts=("L", "CL", "BCL")).cpu()
    while wave.dim() > 1 and wave.shape[0] == 1:
        wave = wave[0]
    if wave.dim() != 1:
        raise ValueError(
            f"{name} must be a mono clip (L,) or (1, L), got {tuple(wave.shape)}; "
            "mix the channels down first, e.g. wave.mean(0)"
        )
    return wave
