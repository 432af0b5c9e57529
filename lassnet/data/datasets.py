"""Real recordings as clip sources: ESC-50 and any folder of clips with a CSV (taught in
chapter 6, "Data").

Both are map-style ``torch`` datasets following the clip-source protocol of
:mod:`lassnet.data.base`, so :class:`~lassnet.data.MixtureDataset` mixes them just as it mixes
the synthetic corpus. Item ``i`` is ``dict(wave=Tensor (1, L) float32, label=str,
caption=str, index=int, path=str)``, the audio read with :func:`lassnet.audio.load_audio`
(mono, resampled to ``sample_rate`` when given).

Bad files (unreadable, empty, NaN/Inf) raise :class:`~lassnet.audio.AudioError` naming the
file with ``on_error="raise"`` (the default). With ``on_error="skip"`` a bad file is logged
(``logging`` channel ``lassnet.data``), counted in ``dataset.skipped``, and replaced by the
next readable clip of the same class, so a long training run neither crashes nor fails
silently. :meth:`FileClips.verify` checks every file up front.
"""

from __future__ import annotations

import csv
import logging
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import torch

from ..audio import AudioError, audio_info, load_audio, pad_or_crop
from .base import LabelledClips
from .download import cache_dir, download, extract
from .outofrecipe import OutOfRecipeClips
from .synthetic import SPLITS, SyntheticClips

__all__ = [
    "FileClips",
    "FolderDataset",
    "ESC50",
    "ESC50_URL",
    "ESC50_SHA256",
    "ESC50_SPLIT_FOLDS",
    "AUDIO_EXTENSIONS",
    "clip_source",
]

log = logging.getLogger("lassnet.data")

#: File extensions :class:`FolderDataset` treats as audio.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".au")

#: Where ESC-50 is published (GitHub's archive of the repository's master branch).
ESC50_URL = "https://github.com/karoldvl/ESC-50/archive/master.zip"
#: SHA-256 of that archive (645,695,005 bytes) as reported by another project that downloaded
#: it. GitHub builds branch archives on demand and does not promise byte-identical files, so if
#: verification fails on a genuine download, pass ``sha256=None`` (or the new value).
ESC50_SHA256 = "805afc618aff80eff0641d51311647871fead5807da68bb18e43a27db47a79ce"
#: The folds of ESC-50 that :func:`clip_source` uses for each split.
ESC50_SPLIT_FOLDS = {"train": (1, 2, 3), "validation": (4,), "test": (5,)}


class FileClips(LabelledClips):
    """A clip source backed by audio files: one record per clip (path, classes, caption).

    Subclasses fill ``records`` (a list of dicts with ``path``, ``labels`` (tuple of class
    ids) and ``caption``) and call :meth:`_setup`.

    Args (common to the subclasses):
        sample_rate: resample every clip to this rate (Hz); ``None`` keeps the files' rate,
            which must then be the same for all files (checked on load).
        duration: cut or zero-pad every clip to this many seconds (``None``: as recorded).
        on_error: ``"raise"`` or ``"skip"`` (see the module docstring).
    """

    records: list[dict]

    def _setup(
        self,
        records: list[dict],
        sample_rate: int | None,
        duration: float | None,
        on_error: str,
    ) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f'on_error must be "raise" or "skip", got {on_error!r}')
        self.on_error = on_error
        self.skipped: list[str] = []
        missing = [r for r in records if not Path(r["path"]).is_file()]
        if missing:
            if on_error == "raise":
                names = ", ".join(str(r["path"]) for r in missing[:5])
                more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
                raise AudioError(
                    missing[0]["path"],
                    f"{len(missing)} listed audio file(s) are missing: {names}{more}",
                )
            for r in missing:
                log.warning("skipping %s: no such audio file", r["path"])
                self.skipped.append(str(r["path"]))
            records = [r for r in records if Path(r["path"]).is_file()]
        if not records:
            raise ValueError(f"{type(self).__name__} holds no audio files")
        self.records = records
        self._item_classes = [tuple(r["labels"]) for r in records]
        seen: dict[str, None] = {}
        for labels in self._item_classes:
            for c in labels:
                seen.setdefault(c, None)
        self.classes = tuple(seen)
        self._native_rate: int | None = None
        if sample_rate is None:
            self._native_rate = int(audio_info(records[0]["path"]).samplerate)
        self.sample_rate = int(sample_rate) if sample_rate is not None else self._native_rate
        self.duration = None if duration is None else float(duration)

    def __len__(self) -> int:
        return len(self.records)

    def load(self, index: int) -> torch.Tensor:
        """The audio of item ``index`` as ``(1, L)`` at ``sample_rate``; raises AudioError."""
        record = self.records[self._check_index(index)]
        target_rate = None if self._native_rate is not None else self.sample_rate
        wave, sr = load_audio(record["path"], target_rate, mono=True)
        if sr != self.sample_rate:  # only when files disagree and no sample_rate was given
            raise AudioError(
                record["path"],
                f"sample rate {sr} Hz differs from the dataset's {self.sample_rate} Hz; "
                "pass sample_rate= to resample every clip",
            )
        if self.duration is not None:
            wave = pad_or_crop(wave, int(round(self.duration * self.sample_rate)))
        return wave

    def __getitem__(self, index: int) -> dict:
        index = self._check_index(index)
        try:
            wave = self.load(index)
        except AudioError as err:
            if self.on_error == "raise":
                raise
            index, wave = self._substitute(index, err)
        record = self.records[index]
        return {
            "wave": wave,
            "label": ", ".join(record["labels"]),
            "caption": record["caption"],
            "index": index,
            "path": str(record["path"]),
        }

    def _substitute(self, index: int, err: AudioError) -> tuple[int, torch.Tensor]:
        """Log the bad file, and return the next readable clip with the same classes."""
        self._note_skip(err)
        labels = self._item_classes[index]
        candidates = [i for i in self.indices_of(labels[0]) if self._item_classes[i] == labels]
        start = candidates.index(index)
        for step in range(1, len(candidates)):
            other = candidates[(start + step) % len(candidates)]
            try:
                return other, self.load(other)
            except AudioError as again:
                self._note_skip(again)
        raise AudioError(
            err.path, f"no readable clip of class {', '.join(labels)!s} is left ({err.reason})"
        )

    def _note_skip(self, err: AudioError) -> None:
        if err.path not in self.skipped:
            self.skipped.append(str(err.path))
            log.warning("skipping unusable audio (%d so far): %s", len(self.skipped), err)

    def verify(self, drop: bool = False) -> list[AudioError]:
        """Read every file once; return the problems found (as ``AudioError``s). With
        ``drop=True`` the bad clips are removed from the dataset."""
        problems, keep = [], []
        for i in range(len(self.records)):
            try:
                self.load(i)
                keep.append(self.records[i])
            except AudioError as err:
                problems.append(err)
        if drop and problems:
            for err in problems:
                self._note_skip(err)
            self.records = keep
            self._item_classes = [tuple(r["labels"]) for r in keep]
            self._by_class = None
        return problems


# --------------------------------------------------------------------------------------------
# A folder of clips with a CSV.
# --------------------------------------------------------------------------------------------

_FILE_COLUMNS = ("filename", "file", "file_name", "fname", "path", "audio", "audio_path")
_CAPTION_COLUMNS = ("caption", "captions", "text", "description")
_LABEL_COLUMNS = ("labels", "label", "positive_labels", "category", "class", "classes")


def _read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a CSV as dicts. Comment lines starting with ``#`` are skipped; when the header
    itself is such a comment (as in AudioSet's segment lists: ``# YTID, start_seconds, ...``),
    the last comment line before the data is used as the header."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        lines = f.read().splitlines()
    comments = []
    while lines and lines[0].lstrip().startswith("#"):
        comments.append(lines.pop(0))
    if comments and "," in comments[-1]:
        lines.insert(0, comments[-1].lstrip()[1:])
    lines = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
    reader = csv.DictReader(lines, skipinitialspace=True)
    rows = []
    for row in reader:
        rows.append({(k or "").strip(): (v or "").strip() for k, v in row.items()})
    return rows


def _find_column(
    columns: Sequence[str],
    wanted: str | None,
    options: Sequence[str],
    what: str,
    path: Path,
    required: bool = True,
) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            raise ValueError(f"{path}: no column {wanted!r} (columns: {list(columns)})")
        return wanted
    lowered = {c.lower(): c for c in columns}
    for option in options:
        if option in lowered:
            return lowered[option]
    if required:
        raise ValueError(
            f"{path}: cannot find the {what} column among {list(columns)}; "
            f"name it one of {list(options)} or pass {what}_column="
        )
    return None


def _label_names(label_names: Mapping[str, str] | str | os.PathLike | None) -> dict[str, str]:
    """A label code → name map, from a dict or an AudioSet-style CSV (``mid, display_name``)."""
    if label_names is None:
        return {}
    if isinstance(label_names, Mapping):
        return dict(label_names)
    rows = _read_csv(Path(label_names))
    if not rows:
        raise ValueError(f"{label_names}: no rows")
    code = _find_column(
        list(rows[0]), None, ("mid", "code", "id", "label"), "code", Path(label_names)
    )
    name = _find_column(
        list(rows[0]), None, ("display_name", "name", "category"), "name", Path(label_names)
    )
    return {r[code]: r[name] for r in rows}


def _caption_of(labels: Iterable[str]) -> str:
    """``("Dog", "Bark")`` → ``"dog, bark"``; ``"crackling_fire"`` → ``"crackling fire"``."""
    return ", ".join(label.replace("_", " ").strip().lower() for label in labels)


class FolderDataset(FileClips):
    """A folder of audio clips described by a CSV of labels or captions.

    The CSV (``csv``, or the single ``*.csv`` in ``root``, preferring ``metadata.csv``) has a
    file column (``filename``, ``file``, ``path``, ...) and a label column (``labels``,
    ``label``, ``category``, ``positive_labels``, ...) and/or a caption column (``caption``,
    ``text``, ...). Paths are relative to ``root`` (``file_template`` builds them from other
    columns, e.g. ``"Y{YTID}.wav"`` for AudioSet downloads).

    * Multi-label rows (``"dog,bark"``, split on ``label_separator``) keep all their classes;
      their caption joins the class names: ``"dog, bark"``.
    * ``label_names`` maps label codes to names (a dict, or a CSV with ``mid`` and
      ``display_name`` columns, as AudioSet's ``class_labels_indices.csv``).
    * With a caption column the caption is taken as written; without a label column every
      distinct caption is its own class.
    * ``split`` keeps the rows whose ``split_column`` equals it (with a warning, and all rows,
      when the CSV has no such column).

    See :class:`FileClips` for ``sample_rate``, ``duration`` and ``on_error``.
    Taught in chapter 6 (Data).
    """

    def __init__(
        self,
        root: str | os.PathLike,
        csv: str | os.PathLike | None = None,
        sample_rate: int | None = None,
        duration: float | None = None,
        *,
        file_column: str | None = None,
        label_column: str | None = None,
        caption_column: str | None = None,
        file_template: str | None = None,
        label_separator: str = ",",
        label_names: Mapping[str, str] | str | os.PathLike | None = None,
        split: str | None = None,
        split_column: str = "split",
        on_error: str = "raise",
    ):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise ValueError(f"{self.root} is not a folder")
        self.csv_path = self._find_csv(csv)
        rows = _read_csv(self.csv_path)
        if not rows:
            raise ValueError(f"{self.csv_path}: no rows")
        columns = list(rows[0])
        if file_template is None:
            file_column = _find_column(columns, file_column, _FILE_COLUMNS, "file", self.csv_path)
        caption_column = _find_column(
            columns, caption_column, _CAPTION_COLUMNS, "caption", self.csv_path, required=False
        )
        label_column = _find_column(
            columns,
            label_column,
            _LABEL_COLUMNS,
            "label",
            self.csv_path,
            required=caption_column is None,
        )
        names = _label_names(label_names)
        if split is not None:
            if split_column in columns:
                rows = [row for row in rows if row[split_column] == split]
                if not rows:
                    raise ValueError(f"{self.csv_path}: no rows with {split_column} == {split!r}")
            else:
                warnings.warn(
                    f"{self.csv_path} has no {split_column!r} column: every clip is used for "
                    f"split {split!r}; add the column to keep the splits apart",
                    stacklevel=2,
                )
        self.split = split
        records = []
        for row in rows:
            name = file_template.format(**row) if file_template else row[file_column]
            path = Path(name) if Path(name).is_absolute() else self.root / name
            if label_column is not None:
                codes = [c.strip() for c in row[label_column].split(label_separator) if c.strip()]
                labels = tuple(names.get(c, c) for c in codes)
            else:
                labels = (row[caption_column],)
            if not labels:
                raise ValueError(f"{self.csv_path}: row for {name!r} has no label")
            caption = row[caption_column] if caption_column else _caption_of(labels)
            records.append({"path": path, "labels": labels, "caption": caption})
        self._setup(records, sample_rate, duration, on_error)

    def _find_csv(self, csv: str | os.PathLike | None) -> Path:
        if csv is not None:
            path = Path(csv)
            path = path if path.is_absolute() or path.exists() else self.root / path
            if not path.is_file():
                raise ValueError(f"no CSV file at {path}")
            return path
        found = sorted(self.root.glob("*.csv"))
        if not found:
            raise ValueError(f"no CSV of labels in {self.root}; pass csv=<path>")
        if len(found) > 1:
            preferred = [p for p in found if p.name == "metadata.csv"]
            if not preferred:
                raise ValueError(
                    f"several CSV files in {self.root} ({[p.name for p in found]}); pass csv=<path>"
                )
            return preferred[0]
        return found[0]

    def __repr__(self) -> str:
        return (
            f"FolderDataset({str(self.root)!r}, clips={len(self)}, classes={len(self.classes)}, "
            f"sample_rate={self.sample_rate})"
        )


# --------------------------------------------------------------------------------------------
# ESC-50.
# --------------------------------------------------------------------------------------------


class ESC50(FileClips):
    """ESC-50: 2,000 five-second clips (44.1 kHz, mono) of 50 environmental sound classes,
    in five folds. The class names ("dog", "crackling_fire", ...) are the class ids; the
    captions are the names in words ("crackling fire").

    Args:
        root: the folder holding (or to receive) ``ESC-50-master/``; default the cache folder
            (:func:`lassnet.data.download.cache_dir`, overridable with ``LASSNET_CACHE``).
            It is created only when ``download=True`` fetches the archive.
        folds: keep only these folds (1-5); default all.
        sample_rate: resample to this rate (default: 44,100 Hz as recorded).
        duration: cut or pad to this many seconds (default: as recorded, 5 s).
        download: fetch and unpack the archive if it is not there yet (an interrupted
            download resumes on the next call; see :func:`lassnet.data.download`).
        esc10: keep only the ESC-10 subset.
        url, sha256: where the archive comes from and its checksum (:data:`ESC50_URL`,
            :data:`ESC50_SHA256`; ``sha256=None`` skips verification).
        keep_archive: keep the zip after unpacking it.
        on_error, progress: see :class:`FileClips` and :func:`lassnet.data.download`.

    Layout: ``ESC-50-master/meta/esc50.csv`` (columns ``filename, fold, target, category,
    esc10, src_file, take``) and ``ESC-50-master/audio/*.wav``. Taught in chapter 6 (Data).
    """

    folder = "ESC-50-master"

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        folds: Iterable[int] | None = None,
        sample_rate: int | None = None,
        duration: float | None = None,
        *,
        download: bool = False,
        esc10: bool = False,
        url: str = ESC50_URL,
        sha256: str | None = ESC50_SHA256,
        keep_archive: bool = False,
        on_error: str = "raise",
        progress: bool = True,
    ):
        self.root = cache_dir(root, create=False)  # made only when something is downloaded
        self.base = self.root / self.folder
        meta = self.metadata_path(self.root)
        if not meta.is_file():
            if not download:
                raise FileNotFoundError(
                    f"ESC-50 is not in {self.root} (no {meta}); "
                    "pass download=True to fetch it (about 600 MB)"
                )
            self._fetch(url, sha256, keep_archive, progress)
            if not meta.is_file():
                raise ValueError(f"the archive from {url} holds no {self.folder}/meta/esc50.csv")
        rows = _read_csv(meta)
        wanted_folds = None if folds is None else {int(f) for f in folds}
        if wanted_folds is not None and not wanted_folds <= {1, 2, 3, 4, 5}:
            raise ValueError(f"folds must be among 1-5, got {sorted(wanted_folds)}")
        records = []
        for row in rows:
            if wanted_folds is not None and int(row["fold"]) not in wanted_folds:
                continue
            if esc10 and row.get("esc10", "").strip().lower() != "true":
                continue
            category = row["category"]
            records.append(
                {
                    "path": self.base / "audio" / row["filename"],
                    "labels": (category,),
                    "caption": _caption_of([category]),
                    "fold": int(row["fold"]),
                    "target": int(row["target"]),
                }
            )
        self._setup(records, sample_rate, duration, on_error)

    @classmethod
    def metadata_path(cls, root: str | os.PathLike | None = None) -> Path:
        """Where ESC-50's metadata CSV lies (or would lie) under ``root`` (default: the cache
        folder); creates nothing. The dataset is there when this file is."""
        return cache_dir(root, create=False) / cls.folder / "meta" / "esc50.csv"

    def _fetch(self, url: str, sha256: str | None, keep_archive: bool, progress: bool) -> None:
        made = [p for p in (self.root, *self.root.parents) if not p.exists()]  # deepest first
        try:
            archive = download(url, self.root / "ESC-50-master.zip", sha256, progress)
            extract(archive, self.root)
        except BaseException:
            for folder in made:  # a failed first download leaves no empty folders behind
                try:
                    folder.rmdir()
                except OSError:  # not empty: a .part file waits there for the next call
                    break
            raise
        if not keep_archive:
            archive.unlink()

    @property
    def folds(self) -> list[int]:
        """The fold of every item."""
        return [r["fold"] for r in self.records]

    def __getitem__(self, index: int) -> dict:
        item = super().__getitem__(index)
        item["fold"] = self.records[item["index"]]["fold"]
        return item

    def __repr__(self) -> str:
        return f"ESC50({str(self.root)!r}, clips={len(self)}, sample_rate={self.sample_rate})"


# --------------------------------------------------------------------------------------------
# One entry point by name (for configs and the command line).
# --------------------------------------------------------------------------------------------


def clip_source(
    name: str = "synthetic",
    split: str = "train",
    sample_rate: int = 16000,
    **options,
) -> LabelledClips:
    """A clip source by name, for one split, at ``sample_rate``:

    * ``"synthetic"``: :class:`SyntheticClips` (``options``: ``count``, ``classes``, ``seed``,
      ``duration``; by default unlimited, with clips made at the mixtures' segment length);
    * ``"esc50"``: :class:`ESC50`, folds 1-3 / 4 / 5 for train / validation / test
      (:data:`ESC50_SPLIT_FOLDS`; ``options``: ``root``, ``download``, ``folds``, ...);
    * ``"folder"``: :class:`FolderDataset` (``options``: ``root`` (required), ``csv``, ...),
      keeping the rows of the split when the CSV has a ``split`` column;
    * ``"out-of-recipe"``: :class:`~lassnet.data.OutOfRecipeClips`, the same classes made by
      another synthesiser, for testing only (``split`` must be ``"test"``; ``options``:
      ``count``, ``classes``, ``seed``, ``duration``, ``captions``, ``recording``; by default
      unlimited, with clips made at the mixtures' segment length, as for ``"synthetic"``).

    Taught in chapter 6 (Data).
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    key = name.lower().replace("-", "").replace("_", "")
    if key == "synthetic":
        options.setdefault("count", 2**32)
        options.setdefault("duration", None)
        return SyntheticClips(split, sample_rate, **options)
    if key == "esc50":
        options.setdefault("folds", ESC50_SPLIT_FOLDS[split])
        return ESC50(sample_rate=sample_rate, **options)
    if key == "outofrecipe":
        options.setdefault("count", 2**32)
        options.setdefault("duration", None)
        return OutOfRecipeClips(split, sample_rate, **options)
    if key == "folder":
        if "root" not in options:
            raise ValueError('clip_source("folder") needs root=<folder of clips with a CSV>')
        options.setdefault("split", split)
        return FolderDataset(sample_rate=sample_rate, **options)
    raise ValueError(
        f"unknown clip source {name!r}; choose synthetic, out-of-recipe, esc50 or folder"
    )
