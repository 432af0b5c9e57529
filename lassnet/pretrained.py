"""AudioSep's released weights: where they are, how big, their SHA-256, and one call to fetch
them (used by :meth:`lassnet.model.LASSModel.from_audiosep` and the chapter "From synthetic to
real").

AudioSep's README points to the ``checkpoint/`` folder of the ``Audio-AGI/AudioSep`` space on
the Hugging Face hub, which holds the two files its ``pipeline.py`` loads:

==========================================  ===============================================
``audiosep_base_4M_steps.ckpt``             the separator (ResUNet30 with its FiLM layers),
                                            a Lightning checkpoint, about 1.26 GB
``music_speech_audioset_epoch_15_esc_89.98.pt``  the CLAP query encoder (HTS-AT base audio
                                            tower, RoBERTa text tower), 2,352,471,003 bytes
==========================================  ===============================================

The SHA-256 of each is the ``oid`` of its Git LFS pointer on the hub (the CLAP file's is the
same in LAION's own ``lukewys/laion_clap`` repository). :func:`fetch_audiosep` downloads both
into the cache folder (:func:`lassnet.data.download.cache_dir`) with
:func:`lassnet.data.download.download`: a progress bar, resume after an interruption, the
checksum verified before a file gets its final name, a cached file reused.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PretrainedFile", "AUDIOSEP_SEPARATOR", "AUDIOSEP_CLAP", "HUB_BASE",
           "fetch", "fetch_audiosep"]

#: The ``checkpoint/`` folder of AudioSep's space on the Hugging Face hub (AudioSep's README).
HUB_BASE = "https://huggingface.co/spaces/Audio-AGI/AudioSep/resolve/main/checkpoint"


@dataclass(frozen=True)
class PretrainedFile:
    """One released file: its name, where to download it, its size in bytes (``None`` where
    only a rounded size is published) and its SHA-256 (``None`` where none is published)."""

    name: str
    url: str
    size: int | None
    sha256: str | None
    about: str


AUDIOSEP_SEPARATOR = PretrainedFile(
    name="audiosep_base_4M_steps.ckpt",
    url=f"{HUB_BASE}/audiosep_base_4M_steps.ckpt",
    size=None,  # the hub lists it as 1.26 GB
    sha256="f8cda01bfd0ebd141eef45d41db7a3ada23a56568465840d3cff04b8010ce82c",
    about="AudioSep's separator (ResUNet30 + FiLM), 4 M training steps, about 1.26 GB",
)
AUDIOSEP_CLAP = PretrainedFile(
    name="music_speech_audioset_epoch_15_esc_89.98.pt",
    url=f"{HUB_BASE}/music_speech_audioset_epoch_15_esc_89.98.pt",
    size=2_352_471_003,
    sha256="51c68f12f9d7ea25fdaaccf741ec7f81e93ee594455410f3bca4f47f88d8e006",
    about="LAION-CLAP (HTS-AT base, RoBERTa), AudioSep's query encoder, 2.35 GB",
)


def fetch(file: PretrainedFile, cache: str | os.PathLike | None = None,
          progress: bool = True, *, url: str | None = None) -> Path:
    """Download one :class:`PretrainedFile` into ``cache`` (default: the cache folder) and
    return its path; a complete, verified copy already there is reused.

    ``url`` replaces the file's own address (a mirror). Without a published SHA-256 the file
    is downloaded unverified, with one warning saying so. Raises
    :class:`lassnet.data.DownloadError` (one line) when the download fails, e.g. offline,
    and ``ValueError`` when the checksum does not match.
    """
    from .data.download import DownloadError, cache_dir, download

    folder = cache_dir(cache) / "audiosep"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"cannot create {folder}: {err.strerror or err}") from None
    if file.sha256 is None:
        warnings.warn(f"{file.name}: no published SHA-256, so the download is not verified "
                      "beyond its length", stacklevel=2)
    source = url or file.url
    try:
        return download(source, folder / file.name, sha256=file.sha256, progress=progress)
    except DownloadError as err:
        first = " ".join(str(err).split())
        raise DownloadError(
            f"cannot fetch {file.name} from {source} ({first}); with no network, download it "
            f"elsewhere and pass its path instead"
        ) from None


def fetch_audiosep(cache: str | os.PathLike | None = None, progress: bool = True, *,
                   base_url: str | None = None) -> tuple[Path, Path]:
    """Download AudioSep's released separator and CLAP checkpoints (3.6 GB together) into
    ``cache`` (default: :func:`lassnet.data.download.cache_dir`, under ``audiosep/``) and
    return ``(separator_checkpoint, clap_checkpoint)``. Cached, verified copies are reused;
    an interrupted download resumes. ``base_url`` replaces :data:`HUB_BASE` (a mirror
    holding the same two files; their checksums are still verified).

    Raises :class:`lassnet.data.DownloadError` (one line) when a file cannot be fetched,
    e.g. without a network. Taught in the chapter "From synthetic to real"; the pair goes to
    :meth:`lassnet.model.LASSModel.from_audiosep`.
    """
    def url(file: PretrainedFile) -> str | None:
        return None if base_url is None else f"{base_url.rstrip('/')}/{file.name}"

    return (fetch(AUDIOSEP_SEPARATOR, cache, progress, url=url(AUDIOSEP_SEPARATOR)),
            fetch(AUDIOSEP_CLAP, cache, progress, url=url(AUDIOSEP_CLAP)))
