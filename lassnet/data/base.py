"""What every labelled clip collection offers the mixture dataset (taught in chapter 6, "Data").

A *clip source* is a map-style ``torch`` dataset of single sound events with labels:
the synthetic corpus (:class:`~lassnet.data.SyntheticClips`), ESC-50
(:class:`~lassnet.data.ESC50`) or any folder of clips with a CSV
(:class:`~lassnet.data.FolderDataset`). :class:`~lassnet.data.MixtureDataset` builds its
mixtures from any of them through this small protocol:

* ``sample_rate``: the rate (Hz) of the waves it returns;
* ``classes``: every class id that occurs;
* ``len(source)`` and ``source[i]`` → ``dict(wave=Tensor (1, L) float32, label=str,
  caption=str, index=int, ...)``;
* ``item_classes(i)``: the classes of item ``i`` (several for multi-label data), without
  loading any audio;
* ``indices_of(c)``: the indices of the items that contain class ``c``.

:class:`LabelledClips` implements the last two from a per-item list of classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from torch.utils.data import Dataset

__all__ = ["ClipSource", "LabelledClips"]


@runtime_checkable
class ClipSource(Protocol):
    """The protocol of a labelled clip source (see the module docstring)."""

    sample_rate: int
    classes: tuple[str, ...]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> dict: ...

    def item_classes(self, index: int) -> tuple[str, ...]: ...

    def indices_of(self, class_name: str) -> Sequence[int]: ...


class LabelledClips(Dataset):
    """Base class of clip sources. Subclasses either set ``self._item_classes`` (one tuple of
    class ids per item) and ``self.classes`` or override :meth:`item_classes` and
    :meth:`indices_of`."""

    sample_rate: int
    classes: tuple[str, ...]
    _item_classes: list[tuple[str, ...]]

    def _check_index(self, index: int) -> int:
        n = len(self)
        index = int(index)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of {n} items")
        return index

    def item_classes(self, index: int) -> tuple[str, ...]:
        """The class ids of item ``index`` (no audio is loaded)."""
        return self._item_classes[self._check_index(index)]

    def indices_of(self, class_name: str) -> Sequence[int]:
        """The indices of the items that contain ``class_name``."""
        index = getattr(self, "_by_class", None)
        if index is None:
            index = {}
            for i, classes in enumerate(self._item_classes):
                for c in classes:
                    index.setdefault(c, []).append(i)
            self._by_class = index
        if class_name not in index:
            raise ValueError(f"class {class_name!r} does not occur in {type(self).__name__}")
        return index[class_name]

    def class_counts(self) -> dict[str, int]:
        """Number of items of each class."""
        return {c: len(self.indices_of(c)) for c in self.classes}
