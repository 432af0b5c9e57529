"""What the trainer reads: the mixture dataset a config describes, and which indices each step
of each rank reads.

Taught in chapter 7 (Training); the mixtures themselves are chapter 6 (Data).

Every mixture is a pure function of its index, and step ``s`` of rank ``r`` (of ``W``)
always reads the indices ``[(s·W + r)·B, (s·W + r + 1)·B)`` (:class:`StepBatches`). So data
loader workers never repeat each other, ranks never overlap, and a resumed run reads exactly
the batches the uninterrupted run would have read.

:mod:`lassnet.data` (and the signal-processing stack behind its synthetic corpus) is imported
only when a dataset is built, so that ``import lassnet.train`` stays quick.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from torch.utils.data import DataLoader, Dataset, Sampler

from .config import TrainConfig
from .state import ignore_stop_signals

if TYPE_CHECKING:
    from ..data import MixtureDataset, SegmentDataset

__all__ = ["StepBatches", "build_dataset", "training_loader", "validation_loader"]


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
                  seed: int) -> MixtureDataset | SegmentDataset:
    """The mixture dataset a config describes (see :mod:`lassnet.data`), ``count`` items.

    ``dataset`` names a clip source (``synthetic``, the default; ``esc50``; ``folder``) and
    ``dataset_options`` go to it (:func:`lassnet.data.clip_source`). With lassnet's mixing,
    items hold ``mixture`` and ``target`` ``(1, L)``, a ``caption`` and, when ``use_text_ratio
    < 1``, a ``query_wave`` clip of the target's class. With ``mixing: audiosep`` the training
    split is a :class:`~lassnet.data.SegmentDataset` of captioned segments that the loader's
    collate mixes batch by batch (validation keeps lassnet's fixed mixtures, a yardstick that
    does not depend on the batch).
    """
    from .. import data

    source = None  # the synthetic corpus of `split`, seeded like the mixtures
    if cfg.dataset != "synthetic" or cfg.dataset_options:
        source = data.clip_source(cfg.dataset, split=split, sample_rate=sample_rate,
                                  **cfg.dataset_options)
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
    )


def training_loader(cfg: TrainConfig, sample_rate: int, start: int, rank: int = 0,
                    world: int = 1) -> DataLoader:
    """The batches of steps ``start..cfg.steps-1`` for ``rank`` of ``world``: collated dicts
    with ``mixture`` and ``target`` ``(B, 1, L)`` and ``caption`` (``B`` captions).

    Its worker processes ignore SIGINT and SIGTERM (:func:`~lassnet.train.state.
    ignore_stop_signals`): a stop sent to the whole process group is the main process's to
    handle."""
    from ..data import AudioSepCollate, AudioSepMixer, collate

    count = cfg.steps * cfg.batch_size * world  # every index any rank reads, once
    dataset = build_dataset(cfg, sample_rate, "train", count, seed=cfg.seed)
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
