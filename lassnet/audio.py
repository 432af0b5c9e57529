"""Audio in and out, and the small operations every dataset needs (taught in chapter 6, "Data").

* :func:`load_audio` / :func:`save_audio` read and write files with ``soundfile``;
  :func:`load_audio` mixes to mono and resamples on request and raises :class:`AudioError`
  (a ``ValueError`` that names the file) for audio it cannot use: unreadable, empty, or
  holding NaN/Inf.
* :func:`to_mono` and :func:`resample` (``torchaudio.functional.resample``) bring any clip to
  the model's format: mono at the model's sample rate.
* :func:`energy`, :func:`rms`, :func:`match_energy`, :func:`scale_to_snr` and :func:`mix_at_snr`
  set the level of one sound relative to another, as AudioSep does when it builds training
  mixtures; :func:`declip` scales a mixture (and its sources) down when it would clip.
* :func:`pad_or_crop` and :func:`random_crop` cut clips to a fixed length.

Waveforms are ``torch.Tensor`` of shape ``(C, L)`` (channels, samples) unless a function says
otherwise; the level functions accept any shape ``(..., L)`` and work on the last axis.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio.functional as AF

from .checks import as_waveform
from .files import atomic_stream, check_writable

__all__ = [
    "AudioError",
    "load_audio",
    "save_audio",
    "audio_format",
    "output_format",
    "AudioReader",
    "AudioWriter",
    "audio_info",
    "to_mono",
    "resample",
    "energy",
    "rms",
    "db_to_gain",
    "gain_to_db",
    "match_energy",
    "scale_to_snr",
    "mix_at_snr",
    "declip",
    "pad_or_crop",
    "random_crop",
    "ENERGY_EPS",
]

#: Floor added to an energy (mean square) before dividing by it, so that matching the level of
#: a silent clip gives silence instead of NaN. AudioSep uses the same value.
ENERGY_EPS = 1e-10

PathLike = str | os.PathLike


class AudioError(ValueError):
    """Audio that cannot be used: unreadable, empty or non-finite. ``path`` names the file."""

    def __init__(self, path: PathLike | None, reason: str):
        self.path = None if path is None else str(path)
        self.reason = reason
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{reason}")


def _check_source(path: PathLike) -> Path:
    """``path`` as a ``Path`` if it names a regular file; :class:`AudioError` saying what it
    is otherwise (missing, a folder, standard input, a device or pipe)."""
    if str(path) == "-":
        raise AudioError(path, "standard input is not a regular file; give the path of an "
                         "audio file")
    path = Path(path)
    if path.is_dir():
        raise AudioError(path, "is a folder, not an audio file")
    if path.exists() and not path.is_file():
        raise AudioError(path, "is not a regular file (a device or a pipe); give the path of "
                         "an audio file")
    if not path.is_file():
        raise AudioError(path, "no such audio file")
    return path


def _unreadable(path: Path, err: Exception) -> AudioError:
    """The one error for a regular file libsndfile cannot open, with its reason when that
    reason says something (for a file that exists, "does not exist or is not a regular file
    (possibly a pipe?)" only means "not a format it knows")."""
    reason = str(err).split(": ", 1)[-1].strip().rstrip(".")
    if not reason or "possibly a pipe" in reason or "does not exist" in reason:
        reason = "format not recognised"
    return AudioError(path, f"not an audio file soundfile can read ({reason})")


@contextlib.contextmanager
def _quiet_c_stderr():
    """Silence what C libraries print on file descriptor 2 inside the block: libmpg123, asked
    by libsndfile whether random bytes are MP3, prints "Note: Illegal Audio-MPEG-Header" lines
    before the one clear error lassnet gives."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable descriptor 2: nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def audio_info(path: PathLike):
    """The header of an audio file without reading its samples: ``soundfile.info``'s record
    (``.samplerate``, ``.channels``, ``.frames``, ``.duration``, ``.format``, ``.subtype``).

    Raises :class:`AudioError` naming the file when it is missing, a folder, not a regular
    file, or not audio.
    """
    path = _check_source(path)
    try:
        with _quiet_c_stderr():
            return sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError) as err:
        raise _unreadable(path, err) from None


def load_audio(
    path: PathLike,
    sample_rate: int | None = None,
    mono: bool = True,
    *,
    offset: int = 0,
    frames: int = -1,
) -> tuple[torch.Tensor, int]:
    """Read an audio file into a float32 tensor ``(C, L)`` and its sample rate.

    Args:
        path: any file ``soundfile`` reads (WAV, FLAC, OGG, MP3, ...).
        sample_rate: resample to this rate (Hz); ``None`` keeps the file's rate.
        mono: average the channels into one, giving ``(1, L)``.
        offset: first frame to read (in the file's sample rate).
        frames: number of frames to read; ``-1`` reads to the end.

    Returns:
        ``(wave, sr)``: ``wave`` of shape ``(C, L)`` (``C = 1`` when ``mono``), ``sr`` the rate
        of ``wave`` (``sample_rate`` when given).

    Raises:
        AudioError: (a ``ValueError``) naming the file when it is missing, a folder, not a
            regular file, not audio, holds no samples, or holds NaN/Inf.

    Taught in chapter 6 (Data).
    """
    path = _check_source(path)
    try:
        with _quiet_c_stderr():
            data, sr = sf.read(
                str(path), start=int(offset), frames=int(frames), dtype="float32",
                always_2d=True,
            )  # (L, C)
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError) as err:
        raise _unreadable(path, err) from None
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise AudioError(path, "the file holds no audio samples (empty)")
    wave = torch.from_numpy(np.ascontiguousarray(data.T))  # (C, L)
    if not torch.isfinite(wave).all():
        n_bad = int((~torch.isfinite(wave)).sum())
        raise AudioError(path, f"the audio holds {n_bad} non-finite samples (NaN or Inf)")
    if mono:
        wave = to_mono(wave)
    if sample_rate is not None and int(sample_rate) != sr:
        wave = resample(wave, sr, int(sample_rate))
        sr = int(sample_rate)
    return wave, int(sr)


def save_audio(
    path: PathLike,
    wave,
    sample_rate: int,
    subtype: str | None = None,
) -> Path:
    """Write ``wave`` (``(L,)`` or ``(C, L)``, tensor or array) to ``path``, atomically.

    The format follows the file's extension (``.wav``, ``.flac``, ``.ogg``, ... whatever
    ``soundfile`` writes here) and is checked, with ``subtype`` and the destination, before
    anything is written (:func:`output_format`). ``subtype``: the sample format, by default
    16-bit PCM where the format has it (WAV, FLAC, AIFF) and the format's own default
    elsewhere (Vorbis for OGG). With an integer subtype, samples beyond ±1 would wrap
    around, so they are clipped with a warning; pass ``subtype="FLOAT"`` (WAV) to keep them.
    The file goes to a temporary file in the same folder and replaces ``path`` only when
    complete (:func:`lassnet.files.atomic_stream`), so a failure never leaves a truncated
    file, and writing over the input file is safe. Parent folders are created. Returns the
    path. Long signals are better written block by block with :class:`AudioWriter`. Taught in
    chapter 6 (Data).
    """
    if not isinstance(sample_rate, (int, np.integer)) or isinstance(sample_rate, bool) \
            or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    path = Path(path)
    fmt, subtype = output_format(path, subtype)
    try:
        wave = as_waveform(wave, "wave", layouts=("L", "CL")).cpu()
    except ValueError as err:
        raise ValueError(f"refusing to write {path}: {err}") from None
    if wave.dim() == 1:
        wave = wave[None]  # (1, L)
    data = wave.numpy().T  # (L, C)
    if _clips(subtype):
        peak = float(np.abs(data).max())
        if peak > 1.0:
            warnings.warn(
                f"{path}: peak {peak:.3f} exceeds 1.0 and is clipped for {subtype}; "
                "scale the audio down or use subtype='FLOAT'",
                stacklevel=2,
            )
            data = np.clip(data, -1.0, 1.0)
    with atomic_stream(path) as fh:
        sf.write(fh, data, int(sample_rate), subtype=subtype, format=fmt)
    return path


def _clips(subtype: str) -> bool:
    """Whether a subtype stores integers, so that samples beyond ±1 must be clipped."""
    return subtype.startswith("PCM") or subtype in ("ULAW", "ALAW")


def output_format(
    path: PathLike, subtype: str | None = None, like: str | None = None
) -> tuple[str, str]:
    """Check that audio can be written at ``path`` and choose how: ``(format, subtype)``.

    The format follows the extension (:func:`audio_format`). The subtype is ``subtype`` when
    given (it must be one the format takes), else ``like`` (e.g. the input file's subtype,
    so a float file stays float) when the format takes it, else 16-bit PCM when the format
    takes it, else the format's default (Vorbis for OGG, MP3 for MP3). The destination is
    checked too (:func:`lassnet.files.check_writable`): not a folder, not a device, in a
    folder that takes new files. Everything raises ``ValueError`` in one line naming the
    value and the fix, before anything is written. Taught in chapter 6 (Data).
    """
    path = check_writable(path)
    fmt = audio_format(path)
    if subtype is not None:
        if not isinstance(subtype, str) or not sf.check_format(fmt, subtype.upper()):
            raise ValueError(
                f"cannot write {path}: {fmt} files do not take subtype {subtype!r}; "
                f"choose one of {', '.join(sf.available_subtypes(fmt))}"
            )
        return fmt, subtype.upper()
    if like and sf.check_format(fmt, like):
        return fmt, like
    return fmt, ("PCM_16" if sf.check_format(fmt, "PCM_16") else sf.default_subtype(fmt))


class AudioReader:
    """Read an audio file in windows that move forward, without holding the whole file:
    what :meth:`lassnet.model.LASSModel.separate_file` reads hours of audio with.

    ``with AudioReader(path) as reader: reader.read(start, stop)`` gives frames
    ``[start, stop)`` as a float32 tensor ``(C, stop − start)``, every channel, zeros past the
    end. Windows may overlap the previous one but must not start before it: the file is read
    once, in order (so any format ``soundfile`` reads works, seekable or not), and only the
    part of the last window that the next may need is kept. The header's ``sample_rate``,
    ``channels``, ``frames``, ``format`` and ``subtype`` are attributes.

    Raises :class:`AudioError` naming the file when it is missing, a folder, not a regular
    file, not audio or empty (on opening), or when a window holds NaN/Inf or the file cannot
    be read further (on reading). Taught in chapter 6 (Data).
    """

    def __init__(self, path: PathLike):
        self.path = _check_source(path)
        info = audio_info(self.path)
        if info.frames <= 0 or info.channels <= 0:
            raise AudioError(self.path, "the file holds no audio samples (empty)")
        self.sample_rate = int(info.samplerate)
        self.channels = int(info.channels)
        self.frames = int(info.frames)
        self.format = info.format
        self.subtype = info.subtype
        self._file = None
        self._buffer = torch.zeros(self.channels, 0)  # frames [_start, _pos) of the file
        self._start = 0
        self._pos = 0

    def __enter__(self) -> AudioReader:
        try:
            with _quiet_c_stderr():
                self._file = sf.SoundFile(str(self.path))
        except (RuntimeError, sf.LibsndfileError, TypeError, ValueError) as err:
            raise _unreadable(self.path, err) from None
        return self

    def __exit__(self, *exc) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _next(self, count: int) -> torch.Tensor:
        """The next ``count`` frames of the file ``(C, count)``, zero-padded past its end."""
        try:
            data = self._file.read(count, dtype="float32", always_2d=True)  # (n, C)
        except (RuntimeError, sf.LibsndfileError) as err:
            raise AudioError(
                self.path, f"cannot read audio after {self._pos / self.sample_rate:.2f} s "
                f"({err})"
            ) from None
        block = torch.from_numpy(np.ascontiguousarray(data.T))  # (C, n)
        if not torch.isfinite(block).all():
            first = int((~torch.isfinite(block)).any(0).nonzero()[0, 0]) + self._pos
            raise AudioError(
                self.path, f"the audio holds non-finite samples (NaN or Inf), the first at "
                f"{first / self.sample_rate:.3f} s"
            )
        if block.shape[-1] < count:  # the file ended before its header said
            block = torch.nn.functional.pad(block, (0, count - block.shape[-1]))
        self._pos += count
        return block

    def read(self, start: int, stop: int) -> torch.Tensor:
        """Frames ``[start, stop)``, ``(C, stop − start)`` float32 (see the class)."""
        if self._file is None:
            raise RuntimeError("use AudioReader in a with block")
        if start < self._start or stop < start:
            raise ValueError(
                f"AudioReader reads forward: window [{start}, {stop}) after one from "
                f"{self._start}"
            )
        while self._pos < start:  # skip a gap, a block at a time
            self._next(min(start - self._pos, 1 << 20))
            self._buffer, self._start = self._buffer[:, :0], self._pos
        kept = self._buffer[:, start - self._start :]
        if self._pos < stop:
            kept = torch.cat([kept, self._next(stop - self._pos)], dim=-1)
        self._buffer, self._start = kept, start
        return kept[:, : stop - start]


class AudioWriter:
    """Write an audio file block by block, atomically: what
    :meth:`lassnet.model.LASSModel.separate_file` writes hours of audio with.

    ``with AudioWriter(path, sample_rate, channels, format, subtype) as w: w.write(block)``
    with blocks ``(C, n)`` (tensor or array) in order. The frames go to a temporary file beside
    ``path`` that replaces it only when the block ends without an error
    (:func:`lassnet.files.atomic_stream`): a failure, a full disk or Ctrl-C leaves ``path`` as
    it was, and ``path`` may be the file being read. ``format`` and ``subtype`` as
    :func:`output_format` returns them. With an integer subtype samples beyond ±1 are clipped
    and counted, and one warning at the end says how many. Taught in chapter 6 (Data).
    """

    def __init__(self, path: PathLike, sample_rate: int, channels: int, format: str,
                 subtype: str):
        self.path = Path(path)
        self.sample_rate, self.channels = int(sample_rate), int(channels)
        self.format, self.subtype = format, subtype
        self.frames = 0
        self.clipped = 0
        self.peak = 0.0
        self._stack = None
        self._file = None

    def __enter__(self) -> AudioWriter:
        stack = contextlib.ExitStack()
        try:
            fh = stack.enter_context(atomic_stream(self.path))
            self._file = stack.enter_context(sf.SoundFile(
                fh, "w", self.sample_rate, self.channels, self.subtype, format=self.format))
        except BaseException:  # the temporary file goes, the destination stays as it was
            if not stack.__exit__(*sys.exc_info()):
                raise
        self._stack = stack
        return self

    def write(self, block) -> None:
        """Append ``block`` ``(C, n)``."""
        if isinstance(block, torch.Tensor):
            block = block.detach().to("cpu", torch.float32).numpy()
        data = np.ascontiguousarray(np.asarray(block, dtype=np.float32).T)  # (n, C)
        if data.ndim != 2 or data.shape[1] != self.channels:
            raise ValueError(
                f"{self.path}: a block must be ({self.channels}, frames), got "
                f"{tuple(np.shape(block))}"
            )
        if _clips(self.subtype):
            over = np.abs(data) > 1.0
            if over.any():
                self.clipped += int(over.sum())
                self.peak = max(self.peak, float(np.abs(data).max()))
                data = np.clip(data, -1.0, 1.0)
        self._file.write(data)
        self.frames += data.shape[0]

    def __exit__(self, *exc) -> None:
        stack, self._stack, self._file = self._stack, None, None
        stack.__exit__(*exc)
        if exc[0] is None and self.clipped:
            warnings.warn(
                f"{self.path}: {self.clipped} samples beyond ±1 (peak {self.peak:.3g}) were "
                f"clipped for {self.subtype}; write a float subtype (FLOAT, in WAV) to keep "
                "them",
                stacklevel=2,
            )


def audio_format(path: PathLike) -> str:
    """The ``soundfile`` format name (``"WAV"``, ``"FLAC"``, ...) a file extension stands for;
    ``ValueError`` naming the formats this machine writes for anything else."""
    path = Path(path)
    fmt = path.suffix[1:].upper()
    formats = sf.available_formats()
    if fmt not in formats:
        shown = ", ".join("." + f.lower() for f in ("WAV", "FLAC", "OGG", "MP3", "AIFF")
                          if f in formats)
        raise ValueError(
            f"cannot write {path}: {'no' if not fmt else 'unknown'} audio file extension "
            f"{path.suffix!r}; use one of {shown}"
        )
    return fmt


def to_mono(wave: torch.Tensor) -> torch.Tensor:
    """Average the channels: ``(..., C, L)`` → ``(..., 1, L)``. Taught in chapter 6 (Data)."""
    wave = as_waveform(wave, layouts=("...L",), dtype=None, finite=False)
    if wave.dim() < 2:
        raise ValueError(f"wave must have shape (..., channels, samples), got {tuple(wave.shape)}")
    return wave.mean(dim=-2, keepdim=True)


def resample(wave, sample_rate: int, new_sample_rate: int) -> torch.Tensor:
    """Resample ``wave`` ``(..., L)`` from ``sample_rate`` to ``new_sample_rate`` Hz
    (band-limited sinc).

    The output has ``ceil(L · new_sample_rate / sample_rate)`` samples and the same leading
    shape; the input is returned unchanged when the rates are equal. Uses
    ``torchaudio.functional.resample``. Taught in chapter 6 (Data).
    """
    for name, value in (("sample_rate", sample_rate), ("new_sample_rate", new_sample_rate)):
        if not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    wave = as_waveform(wave, layouts=("...L",), dtype=None, finite=False)
    if sample_rate == new_sample_rate:
        return wave
    return AF.resample(wave, int(sample_rate), int(new_sample_rate))


def energy(wave: torch.Tensor) -> torch.Tensor:
    """Mean square over the last axis: ``(..., L)`` → ``(..., 1)``."""
    return wave.pow(2).mean(dim=-1, keepdim=True)


def rms(wave: torch.Tensor) -> torch.Tensor:
    """Root mean square over the last axis: ``(..., L)`` → ``(..., 1)``."""
    return energy(wave).sqrt()


def db_to_gain(db) -> float | torch.Tensor:
    """Amplitude gain of a level change in decibels: ``10 ** (db / 20)``."""
    if isinstance(db, torch.Tensor):
        return torch.pow(10.0, db / 20.0)
    return 10.0 ** (float(db) / 20.0)


def gain_to_db(gain) -> float | torch.Tensor:
    """Level change in decibels of an amplitude gain: ``20 · log10(gain)``."""
    if isinstance(gain, torch.Tensor):
        return 20.0 * torch.log10(gain)
    return 20.0 * math.log10(float(gain))


def match_energy(source: torch.Tensor, reference: torch.Tensor, eps: float = ENERGY_EPS):
    """Scale ``source`` ``(..., L)`` so that its energy equals that of ``reference``.

    ``source · sqrt(E_ref / max(E_src, eps))`` with ``E`` the mean square over the last axis
    (the lengths may differ). A silent ``source`` stays silent and a silent ``reference``
    gives silence: never NaN. Taught in chapter 6 (Data).
    """
    scale = (energy(reference) / energy(source).clamp_min(eps)).sqrt()
    return source * scale


def scale_to_snr(
    target: torch.Tensor, interferer: torch.Tensor, snr_db, eps: float = ENERGY_EPS
) -> torch.Tensor:
    """Scale ``interferer`` so that ``target`` is ``snr_db`` dB louder than it.

    After scaling, ``10 · log10(E_target / E_interferer) = snr_db`` (``E`` = mean square over
    the last axis). AudioSep's "energy-match, then a random gain of g dB" is
    ``scale_to_snr(target, interferer, -g)``. Shapes ``(..., L)``; ``snr_db`` a number or a
    tensor broadcasting against ``(..., 1)``. Returns the scaled interferer. Silent inputs give
    silence, never NaN. Taught in chapter 6 (Data).
    """
    if not isinstance(snr_db, torch.Tensor):
        snr_db = torch.tensor(float(snr_db), dtype=interferer.dtype)
    return match_energy(interferer, target, eps) * db_to_gain(-snr_db)


def mix_at_snr(
    target: torch.Tensor, interferer: torch.Tensor, snr_db, eps: float = ENERGY_EPS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mix ``target`` with ``interferer`` at a signal-to-noise ratio of ``snr_db`` dB.

    Shapes ``(..., L)``, equal. Returns ``(mixture, scaled_interferer)`` where
    ``scaled_interferer = scale_to_snr(target, interferer, snr_db)`` and
    ``mixture = target + scaled_interferer`` exactly. Taught in chapter 6 (Data).
    """
    if target.shape != interferer.shape:
        raise ValueError(
            f"target and interferer must have the same shape, got {tuple(target.shape)} "
            f"and {tuple(interferer.shape)}; crop or pad them first (pad_or_crop)"
        )
    scaled = scale_to_snr(target, interferer, snr_db, eps)
    return target + scaled, scaled


def declip(mixture: torch.Tensor, *others: torch.Tensor, peak: float = 0.9):
    """AudioSep's declipping: if ``max|mixture| > 1``, scale the mixture *and* every tensor in
    ``others`` (its sources) by ``peak / max|mixture|``, so the mixture still equals the sum of
    its sources; otherwise return everything unchanged.

    Returns ``(mixture, *others, factor)`` with ``factor`` the scale applied (1.0 if none).
    Taught in chapter 6 (Data).
    """
    if not 0.0 < peak <= 1.0:
        raise ValueError(f"peak must be in (0, 1], got {peak}")
    top = float(mixture.abs().max()) if mixture.numel() else 0.0
    if top <= 1.0:
        return (mixture, *others, 1.0)
    factor = peak / top
    return (mixture * factor, *(o * factor for o in others), factor)


def _pad_last(wave, length: int):
    """Zero-pad the last axis of a tensor or array to ``length`` samples (at the end)."""
    missing = length - wave.shape[-1]
    if isinstance(wave, torch.Tensor):
        return torch.nn.functional.pad(wave, (0, missing))
    widths = [(0, 0)] * (wave.ndim - 1) + [(0, missing)]
    return np.pad(wave, widths)


def pad_or_crop(wave, length: int, offset: int = 0):
    """Cut ``wave`` ``(..., L)`` to ``length`` samples starting at ``offset``; zero-pad at the
    end when fewer samples remain. Works on tensors and arrays. Taught in chapter 6 (Data)."""
    if length <= 0:
        raise ValueError(f"length must be positive, got {length}")
    if offset < 0:
        raise ValueError(f"offset must be non-negative, got {offset}")
    out = wave[..., offset : offset + length]
    if out.shape[-1] < length:
        out = _pad_last(out, length)
    return out


def random_crop(wave, length: int, rng: np.random.Generator, return_offset: bool = False):
    """A random window of ``length`` samples from ``wave`` ``(..., L)``.

    The offset is uniform in ``[0, L - length]``; a clip shorter than ``length`` is zero-padded
    at the end. ``rng`` is a ``numpy.random.Generator`` so that the crop is reproducible (the
    library never uses global random state). With ``return_offset`` returns
    ``(window, offset)``. Taught in chapter 6 (Data).
    """
    if not isinstance(rng, np.random.Generator):
        raise ValueError("rng must be a numpy.random.Generator, e.g. np.random.default_rng(0)")
    spare = wave.shape[-1] - length
    offset = int(rng.integers(0, spare + 1)) if spare > 0 else 0
    out = pad_or_crop(wave, length, offset)
    return (out, offset) if return_offset else out
