"""Training and evaluation mixtures (taught in chapter 6, "Data").

Two recipes, both pure functions of their seeds:

**lassnet's** (:class:`MixtureDataset`, the default of the CPU configs) — a *target* clip plus
one to ``k`` *interferers*, clips of *other* classes:

1. every clip is cut to the segment length (a random crop; 5 s in AudioSep);
2. each interferer is energy-matched to the target, then scaled by a random gain
   ``g ~ U[gain_db]`` dB (so the target-to-interferer ratio is ``-g`` dB);
3. as in AudioSep's code, the sum of the interferers (the *noise*) is energy-matched to the
   target once more and given a second random gain (``normalize_noise=True``), so the
   signal-to-noise ratio of the mixture itself lies in ``[-max_gain, -min_gain]`` dB;
4. ``mixture = target + noise``; if ``max|mixture| > 1`` the mixture, the target and the
   interferers are all scaled by ``0.9 / max|mixture|`` (AudioSep's declipping), so the
   mixture still equals the sum of its parts.

Every item depends only on ``(seed, epoch, index)``: the random choices come from
``np.random.default_rng([seed, epoch, index])``, so results are the same with any number of
``DataLoader`` workers, in any order, and after resuming.

**AudioSep's released recipe** (:class:`AudioSepMixer` over a :class:`SegmentDataset`; the
``audiosep`` training config), as its ``data/waveform_mixers.py`` ``SegmentMixer`` with
``config/audiosep_base.yaml`` (``max_mix_num: 2``, ``lower_db: -10``, ``higher_db: 10``) does
it, at the level of a *batch* of captioned segments:

1. target ``n`` is mixed with the next ``mix_num − 1`` segments of the same batch,
   ``(n + i) mod B`` (one interferer with ``max_mix_num: 2``), whatever their classes;
2. each interferer is divided by ``clamp(sqrt(E(interferer) / max(E(target), 1e-10)), 0.02,
   50)`` (energy matching, clamped) and multiplied by ``10^(g/20)`` with an *integer* ``g``
   drawn from ``randint(-10, 10)``;
3. their sum is matched and gained again the same way;
4. declipping to ``0.9`` of full scale when ``max|mixture| > 1``.

The integers come from Python's ``random`` seeded with the batch's index, as AudioSep's
``training_step`` seeds it (``random.seed(batch_idx)``).

:func:`evaluation_mixtures` draws a fixed evaluation set (chapter 8; with
``return_sources=True`` also the introduction's demo set); :func:`describe_mixture` and
:func:`reference_for` name a mixture's sounds and pick out the true sound of one of them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ..audio import ENERGY_EPS, declip, energy, random_crop, scale_to_snr
from .base import ClipSource
from .synthetic import CLASSES, SyntheticClips

__all__ = [
    "MixtureDataset",
    "SegmentDataset",
    "AudioSepMixer",
    "AudioSepCollate",
    "audiosep_energy_ratio",
    "evaluation_mixtures",
    "describe_mixture",
    "reference_for",
    "collate",
]

_MIX_KEY = 0x6D6978  # mixed into the random stream so mixtures never share clips' streams
#: A crop quieter than this (mean square) is treated as silent and re-drawn (up to 4 tries).
_SILENT_ENERGY = 1e-8


def _pick(rng: np.random.Generator, options: Sequence[int]) -> int:
    """A uniformly random element of a sequence (a ``range`` or a list)."""
    return int(options[int(rng.integers(len(options)))])


class MixtureDataset(Dataset):
    """Mixtures of a target clip and 1..k clips of other classes (a ``torch`` Dataset):
    lassnet's recipe, a variant of AudioSep's (see the module docstring for both).

    Item ``i`` is a dict:

    * ``mixture``, ``target``, ``noise``: float32 tensors ``(1, L)`` with
      ``mixture == target + noise`` (to float rounding), ``noise`` the sum of the interferers;
    * ``caption`` (str): the query; ``label`` (str): the target's class;
    * ``interferer_labels`` (list of str): the interferers' classes; ``n_interferers`` (int);
      ``snr_db`` (float): target-to-noise ratio of the mixture; ``index`` (int);
      ``target_index`` (int): the target's index in the source;
    * with ``query_audio=True``, ``query_wave`` ``(1, L)``: another clip of the target's class
      (for audio queries); with ``return_sources=True``, ``interferers`` ``(k, L)``.

    Because ``k`` varies, batch with :func:`collate` (it keeps the label lists as lists and
    pads ``interferers``): ``DataLoader(dataset, batch_size, collate_fn=collate)``.

    Args:
        source: a labelled clip source (:class:`~lassnet.data.base.ClipSource`); default the
            synthetic corpus of ``split`` (unlimited). A source built with ``duration=None``
            that offers ``with_duration`` (:class:`SyntheticClips`, ``OutOfRecipeClips``)
            makes its clips at exactly the segment length.
        count: number of mixtures (an "epoch").
        sample_rate: Hz; must equal ``source.sample_rate``.
        duration: segment length in seconds (every clip is cropped or zero-padded to it; 5 s
            in the paper).
        min_interferers, max_interferers: ``k`` is uniform in this range.
        gain_db: ``(low, high)``, the range of the random gain of each interferer (and of the
            noise), in dB.
        normalize_noise: re-match the summed interferers to the target with a second gain
            (AudioSep's code does); ``False`` keeps only the per-interferer gains.
        declip: apply AudioSep's declipping (step 4).
        seed: base seed. ``epoch`` (see :meth:`set_epoch`) is folded into every item's seed.
        split: split of the default synthetic source.
        classes: classes to use (default: every class of the source).
        target_classes: if given, item ``i`` has target class
            ``target_classes[i % len(target_classes)]`` (used for evaluation sets).
        query_audio: also return another clip of the target's class as ``query_wave``.
        return_sources: also return the individual interferers.
        augment: a callable ``(wave (1, L), rng) → (1, L)`` applied to every clip after it is
            cropped, before mixing (target, interferers and query clip alike), drawing from
            the item's random stream: a :class:`~lassnet.data.augment.ClipAugment` (training
            only; ``None``: the clips as the source makes them).

    Taught in chapter 6 (Data).
    """

    def __init__(
        self,
        source: ClipSource | None = None,
        count: int = 10_000,
        sample_rate: int = 16000,
        duration: float = 5.0,
        min_interferers: int = 1,
        max_interferers: int = 3,
        gain_db: tuple[float, float] = (-10.0, 10.0),
        normalize_noise: bool = True,
        declip: bool = True,
        seed: int = 0,
        split: str = "train",
        classes: Sequence[str] | None = None,
        target_classes: Sequence[str] | None = None,
        query_audio: bool = False,
        return_sources: bool = False,
        augment: Callable[[torch.Tensor, np.random.Generator], torch.Tensor] | None = None,
    ):
        if source is None:
            source = SyntheticClips(
                split, sample_rate, None, count=2**32, classes=classes or CLASSES, seed=seed
            )
        for attr in ("sample_rate", "classes", "item_classes", "indices_of", "__getitem__"):
            if not hasattr(source, attr):
                raise ValueError(
                    f"source must follow the ClipSource protocol (missing {attr!r}); "
                    "see lassnet.data.base"
                )
        if getattr(source, "duration", 0.0) is None and hasattr(source, "with_duration"):
            source = source.with_duration(duration)  # clips made at the segment length
        if int(source.sample_rate) != int(sample_rate):
            raise ValueError(
                f"source sample rate {source.sample_rate} Hz does not match sample_rate "
                f"{sample_rate} Hz; build the source with sample_rate={sample_rate}"
            )
        if count < 1:
            raise ValueError(f"count must be at least 1, got {count}")
        if not 1 <= min_interferers <= max_interferers:
            raise ValueError(
                "need 1 <= min_interferers <= max_interferers, got "
                f"{min_interferers} and {max_interferers}"
            )
        low, high = (float(g) for g in gain_db)
        if not low <= high:
            raise ValueError(f"gain_db must be (low, high) with low <= high, got {gain_db}")
        classes = tuple(source.classes if classes is None else classes)
        unknown = [c for c in classes if c not in source.classes]
        if unknown:
            raise ValueError(f"classes {unknown} do not occur in the source")
        if len(classes) < 2:
            raise ValueError("need at least two classes to make mixtures")
        if target_classes is not None:
            target_classes = tuple(target_classes)
            bad = [c for c in target_classes if c not in classes]
            if bad or not target_classes:
                raise ValueError(f"target_classes must be non-empty and among classes; bad: {bad}")
        self.source = source
        self.count = int(count)
        self.sample_rate = int(sample_rate)
        self.duration = float(duration)
        self.length = int(round(self.duration * self.sample_rate))
        if self.length < 1:
            raise ValueError(f"duration is too short: {duration} s")
        self.min_interferers = int(min_interferers)
        self.max_interferers = int(max_interferers)
        self.gain_db = (low, high)
        self.normalize_noise = bool(normalize_noise)
        self.declip = bool(declip)
        self.seed = int(seed)
        self.epoch = 0
        self.classes = classes
        self.target_classes = target_classes
        self.query_audio = bool(query_audio)
        self.return_sources = bool(return_sources)
        self.augment = augment

    def __len__(self) -> int:
        return self.count

    def set_epoch(self, epoch: int) -> None:
        """Draw a fresh set of mixtures for ``epoch`` (call before each epoch's ``DataLoader``
        iteration; workers started afterwards see it)."""
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        """The random stream of item ``index`` (for this seed and epoch)."""
        return np.random.default_rng([_MIX_KEY, self.seed, self.epoch, int(index)])

    # -- drawing clips -------------------------------------------------------------------------

    def _crop(self, wave: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """A random segment of ``wave`` ``(1, L)``; re-drawn (up to 4 tries) if silent."""
        best, best_energy = None, -1.0
        for _ in range(4):
            crop = random_crop(wave, self.length, rng)
            e = float(energy(crop).max())
            if e > best_energy:
                best, best_energy = crop, e
            if e > _SILENT_ENERGY or wave.shape[-1] <= self.length:
                break
        return best

    def _draw_index(
        self, class_name: str, rng: np.random.Generator, avoid: set[str], exclude: int | None = None
    ) -> int:
        """An item of ``class_name`` that has none of the classes in ``avoid``."""
        options = self.source.indices_of(class_name)
        index = _pick(rng, options)
        for _ in range(20):  # multi-label sources: look for an item without the target's classes
            if index != exclude and not avoid.intersection(self.source.item_classes(index)):
                return index
            index = _pick(rng, options)
        return index

    def _clip(self, index: int, rng: np.random.Generator) -> tuple[torch.Tensor, dict]:
        item = self.source[index]
        wave = item["wave"]
        if wave.dim() != 2 or wave.shape[0] != 1:
            raise ValueError(f"source items must be mono (1, L), got {tuple(wave.shape)}")
        wave = self._crop(wave.to(torch.float32), rng)
        if self.augment is not None:
            wave = self.augment(wave, rng)
        return wave, item

    # -- the item ------------------------------------------------------------------------------

    def __getitem__(self, index: int) -> dict:
        index = int(index)
        if not 0 <= index < self.count:
            raise IndexError(f"index {index} out of range for {self.count} mixtures")
        rng = self.rng(index)
        if self.target_classes is not None:
            target_class = self.target_classes[index % len(self.target_classes)]
        else:
            target_class = self.classes[int(rng.integers(len(self.classes)))]
        target_index = self._draw_index(target_class, rng, avoid=set())
        target, target_item = self._clip(target_index, rng)
        own = set(self.source.item_classes(target_index))

        # Interferer classes: other classes, without repeats while there are enough.
        others = [c for c in self.classes if c not in own]
        if not others:
            raise ValueError(f"no class other than {sorted(own)} to mix with")
        k = int(rng.integers(self.min_interferers, self.max_interferers + 1))
        if k <= len(others):
            chosen = [others[i] for i in rng.choice(len(others), size=k, replace=False)]
        else:
            chosen = [others[i] for i in rng.integers(len(others), size=k)]

        low, high = self.gain_db
        scaled = []
        for c in chosen:
            wave, _ = self._clip(self._draw_index(c, rng, avoid=own), rng)
            gain_db = rng.uniform(low, high)
            # Energy-matched to the target, then g dB louder: target-to-interferer = -g dB.
            scaled.append(scale_to_snr(target, wave, -gain_db))
        interferers = torch.cat(scaled, dim=0)  # (k, L)
        if self.normalize_noise:
            noise = interferers.sum(dim=0, keepdim=True)
            gain_db = rng.uniform(low, high)
            factor = (energy(target) / energy(noise).clamp_min(ENERGY_EPS)).sqrt() * (
                10.0 ** (gain_db / 20.0)
            )
            interferers = interferers * factor
        noise = interferers.sum(dim=0, keepdim=True)  # (1, L)
        mixture = target + noise
        if self.declip:
            mixture, target, noise, interferers, _ = declip(mixture, target, noise, interferers)

        e_t, e_n = float(energy(target)), float(energy(noise))
        snr_db = 10.0 * np.log10(max(e_t, ENERGY_EPS) / max(e_n, ENERGY_EPS))
        item = {
            "mixture": mixture,
            "target": target,
            "noise": noise,
            "caption": target_item["caption"],
            "label": target_item["label"],
            "interferer_labels": list(chosen),
            "n_interferers": k,
            "snr_db": float(snr_db),
            "index": index,
            "target_index": target_index,
        }
        if self.query_audio:
            query_index = self._draw_index(target_class, rng, avoid=set(), exclude=target_index)
            item["query_wave"], _ = self._clip(query_index, rng)
        if self.return_sources:
            item["interferers"] = interferers
        return item

    def __repr__(self) -> str:
        return (
            f"MixtureDataset(count={self.count}, sample_rate={self.sample_rate}, "
            f"duration={self.duration}, "
            f"interferers={self.min_interferers}..{self.max_interferers}, "
            f"gain_db={self.gain_db}, classes={len(self.classes)}, seed={self.seed}, "
            f"source={type(self.source).__name__})"
        )


def evaluation_mixtures(
    count: int = 14,
    n_interferers: int = 5,
    sample_rate: int = 16000,
    duration: float = 5.0,
    seed: int = 0,
    mixtures_per_target: int = 1,
    *,
    source: ClipSource | None = None,
    classes: Sequence[str] | None = None,
    gain_db: tuple[float, float] = (-10.0, 10.0),
    normalize_noise: bool = True,
    return_sources: bool = False,
) -> list[dict]:
    """The mixtures of the evaluation protocol (chapter 8), from the test split.

    ``count`` target classes are drawn at random (every class once, in random order,
    before any class repeats); each gets ``mixtures_per_target`` mixtures of one of its clips
    with clips of ``n_interferers`` *other* classes (distinct). Returns the list of
    ``count · mixtures_per_target`` :class:`MixtureDataset` items (dicts with
    ``mixture``, ``target``, ``noise``, ``caption``, ``label``, ``interferer_labels``, ...),
    grouped by target class. Deterministic in ``seed``: the same list on every machine.
    With ``return_sources=True`` every item also keeps its interferers ``(k, L)``, as they
    are in the mixture (``mixture == target + interferers.sum(0)``), so that the true sound
    of any class in a mixture is known (:func:`reference_for`; the demo of the introduction).

    Used in chapter 8 (Evaluation) and the introduction's demo; built in chapter 6 (Data).
    """
    if count < 1 or mixtures_per_target < 1:
        raise ValueError(
            f"count and mixtures_per_target must be at least 1, got {count} and "
            f"{mixtures_per_target}"
        )
    if source is None:
        source = SyntheticClips(
            "test", sample_rate, duration, count=2**32, classes=classes or CLASSES, seed=0
        )
    classes = tuple(source.classes if classes is None else classes)
    if n_interferers >= len(classes):
        raise ValueError(
            f"n_interferers={n_interferers} needs at least {n_interferers + 1} classes, "
            f"got {len(classes)}"
        )
    rng = np.random.default_rng([_MIX_KEY, 0xE7A1, int(seed)])
    order: list[str] = []
    while len(order) < count:
        order += [classes[i] for i in rng.permutation(len(classes))]
    targets = [c for c in order[:count] for _ in range(mixtures_per_target)]
    dataset = MixtureDataset(
        source,
        count=len(targets),
        sample_rate=sample_rate,
        duration=duration,
        min_interferers=n_interferers,
        max_interferers=n_interferers,
        gain_db=gain_db,
        normalize_noise=normalize_noise,
        seed=int(seed),
        classes=classes,
        target_classes=targets,
        return_sources=return_sources,
    )
    return [dataset[i] for i in range(len(targets))]


# --------------------------------------------------------------------------- AudioSep's recipe
class SegmentDataset(Dataset):
    """Captioned segments, one clip each (what AudioSep's data loader gives its mixer).

    Item ``i``: ``{"segment": (1, L) float32, "caption", "label", "index"}``, a random crop of
    ``duration`` seconds of a random clip of ``source`` (default: the synthetic corpus of
    ``split``), a pure function of ``(seed, epoch, index)``. Mix batches of them with
    :class:`AudioSepMixer`. Taught in chapter 6 (Data).
    """

    def __init__(
        self,
        source: ClipSource | None = None,
        count: int = 10_000,
        sample_rate: int = 32000,
        duration: float = 5.0,
        seed: int = 0,
        split: str = "train",
    ):
        self._mixtures = MixtureDataset(
            source=source, count=count, sample_rate=sample_rate, duration=duration, seed=seed,
            split=split,
        )  # its clip drawing, cropping and validation, without its mixing

    def __len__(self) -> int:
        return len(self._mixtures)

    @property
    def sample_rate(self) -> int:
        return self._mixtures.sample_rate

    @property
    def duration(self) -> float:
        return self._mixtures.duration

    def set_epoch(self, epoch: int) -> None:
        self._mixtures.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict:
        ds = self._mixtures
        index = int(index)
        if not 0 <= index < len(ds):
            raise IndexError(f"index {index} out of range for {len(ds)} segments")
        rng = ds.rng(index)
        label = ds.classes[int(rng.integers(len(ds.classes)))]
        segment, item = ds._clip(ds._draw_index(label, rng, avoid=set()), rng)
        return {"segment": segment, "caption": item["caption"], "label": item["label"],
                "index": index}


def audiosep_energy_ratio(audio: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """AudioSep's ``get_energy_ratio``: ``clamp(sqrt(E(audio) / max(E(reference), 1e-10)),
    0.02, 50)`` with ``E`` the mean square over the whole tensor; dividing ``audio`` by it
    matches its energy to the reference's, within a factor of 50 either way."""
    ratio = (audio.pow(2).mean() / reference.pow(2).mean().clamp_min(1e-10)).sqrt()
    return ratio.clamp(0.02, 50.0)


class AudioSepMixer:
    """AudioSep's ``SegmentMixer``: mixes a batch of segments with each other.

    Args:
        max_mix_num: sources per mixture at most (target included); ``mix_num`` is drawn from
            ``randint(2, max_mix_num)`` (so 2, one interferer, with AudioSep's config).
        lower_db, higher_db: the integer gain range in dB (AudioSep: -10 and 10).

    ``mixer(segments (B, 1, L), rng) → (mixtures (B, 1, L), targets (B, 1, L))``, ``rng`` a
    :class:`random.Random` (AudioSep seeds Python's generator with the batch index). Every
    draw happens in AudioSep's order, so the same seed gives AudioSep's integers. Taught in
    chapter 6 (Data).
    """

    def __init__(self, max_mix_num: int = 2, lower_db: int = -10, higher_db: int = 10):
        if int(max_mix_num) < 2:
            raise ValueError(f"max_mix_num must be at least 2 (a target and one more), "
                             f"got {max_mix_num}")
        if int(lower_db) > int(higher_db):
            raise ValueError(f"need lower_db <= higher_db, got {lower_db} and {higher_db}")
        self.max_mix_num, self.lower_db, self.higher_db = int(max_mix_num), int(lower_db), \
            int(higher_db)

    def _loudnorm(self, audio: torch.Tensor, reference: torch.Tensor,
                  rng: random.Random) -> torch.Tensor:
        gain_db = rng.randint(self.lower_db, self.higher_db)  # an integer, as AudioSep
        return audio / audiosep_energy_ratio(audio, reference) * 10.0 ** (gain_db / 20.0)

    def __call__(self, segments: torch.Tensor, rng: random.Random):
        if segments.dim() != 3 or segments.shape[1] != 1:
            raise ValueError(f"segments must be (batch, 1, samples), got {tuple(segments.shape)}")
        batch = segments.shape[0]
        mixtures, targets = [], []
        for n in range(batch):
            target = segments[n].clone()  # (1, L)
            noise = torch.zeros_like(target)
            mix_num = rng.randint(2, self.max_mix_num)
            for i in range(1, mix_num):
                noise += self._loudnorm(segments[(n + i) % batch], target, rng)
            noise = self._loudnorm(noise, target, rng)  # the background, matched and gained
            mixture = target + noise
            peak = mixture.abs().max()
            if peak > 1:  # declipping
                target = target * (0.9 / peak)
                mixture = mixture * (0.9 / peak)
            mixtures.append(mixture)
            targets.append(target)
        return torch.stack(mixtures), torch.stack(targets)

    def collate(self, items: Sequence[dict], batch_index: int,
                use_text_ratio: float = 1.0) -> dict:
        """Stack :class:`SegmentDataset` items and mix them, seeded by ``batch_index``:
        ``{"mixture", "target"}`` ``(B, 1, L)``, ``caption`` and ``label`` lists, and
        ``audio_query``: whether AudioSep's hybrid mode would condition this whole batch on
        the targets' audio instead of the captions (its next draw, ``random() >
        use_text_ratio``; never with ``use_text_ratio = 1``, the released setting)."""
        segments = torch.stack([it["segment"] for it in items])  # (B, 1, L)
        rng = random.Random(int(batch_index))
        mixture, target = self(segments, rng)
        return {"mixture": mixture, "target": target,
                "caption": [it["caption"] for it in items],
                "label": [it["label"] for it in items],
                "index": torch.tensor([int(it["index"]) for it in items]),
                "audio_query": rng.random() > use_text_ratio}


class AudioSepCollate:
    """A ``DataLoader`` ``collate_fn`` that mixes each batch of :class:`SegmentDataset` items
    with :class:`AudioSepMixer`, seeded by the batch's index (its first item's index divided
    by the batch size), so that every batch is a pure function of the indices it holds."""

    def __init__(self, mixer: AudioSepMixer, batch_size: int, use_text_ratio: float = 1.0):
        self.mixer, self.batch_size, self.use_text_ratio = mixer, int(batch_size), \
            float(use_text_ratio)

    def __call__(self, items: Sequence[dict]) -> dict:
        batch_index = int(items[0]["index"]) // self.batch_size
        return self.mixer.collate(items, batch_index, self.use_text_ratio)


def _pretty(label: str) -> str:
    return label.replace("_", " ")


def describe_mixture(item: dict) -> str:
    """``"siren + rain, bell"``: a mixture item's target class first, then its interferers'
    classes, in words (for menus and figure titles; the introduction's demo)."""
    others = ", ".join(_pretty(c) for c in item.get("interferer_labels", []))
    return _pretty(item["label"]) + (f" + {others}" if others else "")


def reference_for(item: dict, label: str | None) -> torch.Tensor | None:
    """The true sound ``(L,)`` of class ``label`` in a :class:`MixtureDataset` item, as it is
    in the mixture: the target, or one of the interferers (kept by ``return_sources=True``).

    ``None`` when ``label`` is ``None``, when the mixture holds no clip of that class, or when
    its sources were not kept. Used by the introduction's demo to score a query.
    """
    if label is None:
        return None
    if item.get("label") == label:
        return item["target"].reshape(-1)  # (1, L) -> (L,)
    interferers = item.get("interferers")
    labels = list(item.get("interferer_labels", []))
    if interferers is not None and label in labels:
        return interferers[labels.index(label)]  # (L,)
    return None


def collate(items: Sequence[dict]) -> dict:
    """Batch a list of dataset items: tensors are stacked (those of different lengths are
    zero-padded at the end, and their lengths returned as ``<key>_lengths``), numbers become
    tensors, strings and anything else stay lists. Use as ``DataLoader(..., collate_fn=collate)``
    for clips of different lengths (ESC-50, folders) or ``return_sources=True`` mixtures.
    """
    if not items:
        raise ValueError("cannot collate an empty batch")
    batch: dict = {}
    for key in items[0]:
        values = [item[key] for item in items]
        first = values[0]
        if isinstance(first, torch.Tensor):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) == 1:
                batch[key] = torch.stack(values)
                continue
            if len({v.shape[:-1] for v in values}) == 1:
                longest = max(v.shape[-1] for v in values)
                batch[key] = torch.stack(
                    [torch.nn.functional.pad(v, (0, longest - v.shape[-1])) for v in values]
                )
            else:  # leading sizes differ too (e.g. a varying number of interferers)
                rows = max(v.shape[0] for v in values)
                longest = max(v.shape[-1] for v in values)
                batch[key] = torch.stack(
                    [
                        torch.nn.functional.pad(
                            v,
                            (0, longest - v.shape[-1])
                            + (0, 0) * (v.dim() - 2)
                            + (0, rows - v.shape[0]),
                        )
                        for v in values
                    ]
                )
            batch[f"{key}_lengths"] = torch.tensor([v.shape[-1] for v in values])
        elif isinstance(first, bool):
            batch[key] = torch.tensor(values)
        elif isinstance(first, (int, np.integer)):
            batch[key] = torch.tensor([int(v) for v in values])
        elif isinstance(first, (float, np.floating)):
            batch[key] = torch.tensor([float(v) for v in values])
        else:
            batch[key] = list(values)
    return batch
