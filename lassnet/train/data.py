"""What the trainer reads: the mixture dataset a config describes, and which indices each step
of each rank reads.

Taught in chapter 7 (Training); the mixtures themselves are chapter 6 (Data).

Every mixture is a pure function of its index, and step ``s`` of rank ``r`` (of ``W``)
always reads the indices ``[(s·W + r)·B, (s·W + r + 1)·B)`` (:class:`StepBatches`). So data
loader workers never repeat each other, ranks never overlap, and a resumed run reads exactly
the batches the uninterrupted run would have read.

On a GPU the clips of a finite pool can be rendered once into a memory-mapped file
(:class:`~lassnet.data.RenderedClips`) instead of being made again for every mixture: the
config's ``data_cache`` (``auto``: on CUDA, when it pays; ``on``; ``off``) chooses, and the
batches are bit-identical either way (:func:`build_dataset`).

:mod:`lassnet.data` (and the signal-processing stack behind its synthetic corpus) is imported
only when a dataset is built, so that ``import lassnet.train`` stays quick.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from .config import TrainConfig
from .state import ignore_stop_signals

if TYPE_CHECKING:
    from ..data import MixtureDataset, SegmentDataset

__all__ = ["StepBatches", "build_dataset", "clip_reads", "training_loader", "use_data_cache",
           "validation_loader"]


class StepBatches(Sampler):
    """Batches of dataset indices for steps ``start..steps-1`` of one rank.

    Step ``s`` of rank ``r`` (of ``W``) reads indices ``[(s·W + r)·B, (s·W + r + 1)·B)``.
    """

    def __init__(self, start: int, steps: int, batch_size: int, rank: int = 0, world: int = 1):
        self.start, self.steps, self.batch = start, steps, batch_size
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return max(0, self.steps - self.start)

    def __iter__(self) -> Iterator[list[int]]:
        for step in range(self.start, self.steps):
            first = (step * self.world + self.rank) * self.batch
            yield list(range(first, first + self.batch))


def build_dataset(cfg: TrainConfig, sample_rate: int, split: str, count: int,
                  seed: int, *, device: str | torch.device | None = None,
                  progress: bool = False) -> MixtureDataset | SegmentDataset:
    """The mixture dataset a config describes (see :mod:`lassnet.data`), ``count`` items.

    ``dataset`` names a clip source (``synthetic``, the default; ``esc50``; ``folder``) and
    ``dataset_options`` go to it (:func:`lassnet.data.clip_source`). With lassnet's mixing,
    items hold ``mixture`` and ``target`` ``(1, L)``, a ``caption`` and, when ``use_text_ratio
    < 1``, a ``query_wave`` clip of the target's class. With ``mixing: audiosep`` the training
    split is a :class:`~lassnet.data.SegmentDataset` of captioned segments that the loader's
    collate mixes batch by batch (validation keeps lassnet's fixed mixtures, a yardstick that
    does not depend on the batch).

    The training split's clips come from a :class:`~lassnet.data.RenderedClips` file when
    :func:`use_data_cache` says so for ``device`` (``progress``: show the render's bar); the
    items are the same bytes either way.
    """
    from .. import data

    source = None  # the synthetic corpus of `split`, seeded like the mixtures
    if cfg.dataset != "synthetic" or cfg.dataset_options:
        source = data.clip_source(cfg.dataset, split=split, sample_rate=sample_rate,
                                  **cfg.dataset_options)
    if split == "train" and cfg.data_cache != "off":
        pool = source
        if pool is None:  # what MixtureDataset makes by default, spelled out
            pool = data.SyntheticClips(split, sample_rate, None, count=2**32, seed=seed)
        if isinstance(pool, data.SyntheticClips) and pool.duration is None:
            pool = pool.with_duration(cfg.duration)  # as MixtureDataset would
        if use_data_cache(cfg, pool, count, device):
            source = data.RenderedClips(pool, cfg.data_cache_dir, progress=progress,
                                        workers=cfg.num_workers)
    if cfg.mixing == "audiosep" and split == "train":  # mixed per batch, by the collate
        return data.SegmentDataset(source=source, count=count, sample_rate=sample_rate,
                                   duration=cfg.duration, seed=seed, split=split)
    return data.MixtureDataset(
        source=source,
        count=count,
        sample_rate=sample_rate,
        duration=cfg.duration,
        min_interferers=cfg.min_interferers,
        max_interferers=cfg.max_interferers,
        gain_db=cfg.gain_db,
        seed=seed,
        split=split,
        query_audio=cfg.use_text_ratio < 1.0,
        augment=(data.ClipAugment.from_options(sample_rate, cfg.augment)
                 if cfg.augment and split == "train" else None),
    )


def clip_reads(cfg: TrainConfig, count: int) -> float:
    """How many clips ``count`` training items read, on average: one per segment with
    AudioSep's mixing; with lassnet's, the target, the mean number of interferers and, when
    ``use_text_ratio < 1``, a query clip."""
    if cfg.mixing == "audiosep":
        return float(count)
    per_item = 1 + (cfg.min_interferers + cfg.max_interferers) / 2
    return count * (per_item + (cfg.use_text_ratio < 1.0))


def use_data_cache(cfg: TrainConfig, source, count: int,
                   device: str | torch.device | None = None) -> bool:
    """Whether the training clips of ``source`` (``count`` items) are served from a
    rendered file (:class:`~lassnet.data.RenderedClips`), by the config's ``data_cache``:

    * ``off``: never;
    * ``on``: always; ``ValueError`` (one line) when the source cannot be rendered: an
      unlimited pool (the synthetic corpus without ``dataset_options: {count: N}``), a file
      larger than the free space of ``data_cache_dir``, a source without a known key;
    * ``auto``: on a CUDA ``device``, when the source can be rendered and the run reads more
      clips than the pool holds (:func:`clip_reads`), so that rendering every clip once costs
      less than making clips on the fly; on CUDA, a one-line warning says why not otherwise.

    Taught in chapter 7 (Training).
    """
    from .. import data

    if cfg.data_cache == "off":
        return False
    on_cuda = device is not None and torch.device(device).type == "cuda"
    if cfg.data_cache == "auto" and not on_cuda:
        return False
    problem = _cache_problem(cfg, source, data)
    if cfg.data_cache == "on":
        if problem:
            raise ValueError(f"data_cache: on, but {problem}")
        return True
    reads, pool = clip_reads(cfg, count), len(source)
    if problem is None and reads < pool:
        problem = (f"this run reads about {reads:.0f} clips, fewer than the {pool} of its "
                   "pool, so making them on the fly is cheaper")
    if problem:
        warnings.warn(f"data_cache: auto makes clips on the fly: {problem}", stacklevel=2)
        return False
    return True


def _cache_problem(cfg: TrainConfig, source, data) -> str | None:
    """Why ``source`` cannot be rendered into ``cfg.data_cache_dir``, or ``None``."""
    import shutil
    from pathlib import Path

    if len(source) >= 2**31:
        return ("the synthetic corpus is unlimited; give it a finite pool with "
                "dataset_options: {count: N} (e.g. 14000) or set data_cache: off")
    try:
        data.cache_key(source)
    except ValueError as err:
        return str(err)
    folder = (Path(cfg.data_cache_dir) if cfg.data_cache_dir
              else data.cache_dir(create=False) / "rendered")
    folder = folder.expanduser()
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    need, free = data.rendered_bytes(source), shutil.disk_usage(probe).free
    if need > free:
        return (f"rendering its {len(source)} clips needs {need / 2**30:.1f} GiB and "
                f"{folder} has {free / 2**30:.1f} GiB free; set data_cache_dir to a larger "
                "disk or use a smaller pool")
    return None


def training_loader(cfg: TrainConfig, sample_rate: int, start: int, rank: int = 0,
                    world: int = 1, *, device: str | torch.device | None = None,
                    progress: bool = False) -> DataLoader:
    """The batches of steps ``start..cfg.steps-1`` for ``rank`` of ``world``: collated dicts
    with ``mixture`` and ``target`` ``(B, 1, L)`` and ``caption`` (``B`` captions).

    ``device`` is where the model trains: with ``data_cache: auto`` a CUDA device serves the
    clips from a rendered file (:func:`use_data_cache`; rendered here, before the first
    batch, with a progress bar when ``progress``). The batches are the same either way.

    Its worker processes ignore SIGINT and SIGTERM (:func:`~lassnet.train.state.
    ignore_stop_signals`): a stop sent to the whole process group is the main process's to
    handle."""
    from ..data import AudioSepCollate, AudioSepMixer, collate

    count = cfg.steps * cfg.batch_size * world  # every index any rank reads, once
    dataset = build_dataset(cfg, sample_rate, "train", count, seed=cfg.seed, device=device,
                            progress=progress)
    collate_fn = collate
    if cfg.mixing == "audiosep":  # AudioSep mixes a batch's segments with each other
        low, high = (int(g) for g in cfg.gain_db)
        collate_fn = AudioSepCollate(AudioSepMixer(cfg.max_mix_num, low, high), cfg.batch_size,
                                     cfg.use_text_ratio)
    return DataLoader(
        dataset,
        batch_sampler=StepBatches(start, cfg.steps, cfg.batch_size, rank, world),
        collate_fn=collate_fn,
        num_workers=cfg.num_workers,
        worker_init_fn=ignore_stop_signals if cfg.num_workers else None,
        persistent_workers=False,
    )


def validation_loader(dataset: Dataset, batch_size: int) -> DataLoader:
    """Collated batches of a validation dataset, in order."""
    from ..data import collate

    return DataLoader(dataset, batch_size=batch_size, collate_fn=collate)
