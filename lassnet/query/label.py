"""An ablation: one learned embedding per class name instead of a language model.

Taught in chapter 4 (QueryNet), as the baseline that shows what language brings. The
"encoder" is a lookup table trained together with the separator, so it can only answer the
classes it was built with and knows nothing of paraphrases: "an ambulance siren" works only
if it was registered as a caption of ``siren``. Never the default.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from .. import ontology
from .base import QueryEncoder, resolve_device

__all__ = ["LabelEncoder"]


class LabelEncoder(QueryEncoder):
    """A learned embedding per class, looked up by class name or by one of its captions.

    Taught in chapter 4 (QueryNet). Unlike every other back-end it is *trainable*: its table
    takes part in autograd, ``train()`` works, nothing is cached. :class:`lassnet.train.Trainer`
    trains it with the separator (same optimiser and learning rate), and
    :meth:`lassnet.model.LASSModel.save` keeps the trained table in the model file.

    Args:
        classes: class names (default: the synthetic corpus's, :data:`lassnet.ontology.CLASSES`).
        dim: ``D``, the embedding width.
        captions: optional ``class → captions``; each caption then looks up its class
            (default, when ``classes`` is not given either: :data:`lassnet.ontology.CAPTIONS`).
        device: where the table lives (default: CUDA when available, else CPU).
        seed: seed of the table's random initialisation.

    ``embed_text(list of B names or captions) -> (B, D)``, unit norm; an unknown query raises
    ``ValueError``.
    """

    name = "label"
    trainable = True

    def __init__(
        self,
        classes: Sequence[str] | None = None,
        dim: int = 64,
        captions: Mapping[str, Sequence[str]] | None = None,
        device: str | torch.device | None = None,
        seed: int = 0,
    ):
        super().__init__(cache_size=0)
        if classes is None:
            classes = ontology.CLASSES
            if captions is None:
                captions = ontology.CAPTIONS
        if isinstance(classes, str) or not isinstance(classes, Sequence) or not classes:
            raise ValueError("classes must be a non-empty list of class names")
        classes = tuple(classes)
        if len(set(classes)) != len(classes):
            raise ValueError("classes must be distinct")
        if any(not isinstance(c, str) or not c.strip() for c in classes):
            raise ValueError("every class name must be a non-empty string")
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.classes = classes
        self.lookup: dict[str, int] = {name: i for i, name in enumerate(classes)}
        for name, texts in (captions or {}).items():
            if name not in self.lookup:
                raise ValueError(f"captions given for {name!r}, which is not one of the classes")
            for text in texts:
                known = self.lookup.setdefault(text, self.lookup[name])
                if known != self.lookup[name]:
                    raise ValueError(
                        f"caption {text!r} is given for both {classes[known]!r} and {name!r}"
                    )
        self.table = nn.Embedding(len(classes), dim)
        with torch.no_grad():
            gen = torch.Generator().manual_seed(seed)
            self.table.weight.copy_(torch.randn(len(classes), dim, generator=gen))
        self.to(resolve_device(device))
        self._dim = dim
        self._freeze()  # trainable: leaves gradients on, starts in eval mode like the rest

    def _encode_text(self, texts: list[str]) -> torch.Tensor:
        index = []
        for text in texts:
            if text not in self.lookup:
                shown = ", ".join(self.classes[:6]) + (", ..." if len(self.classes) > 6 else "")
                raise ValueError(
                    f"the label encoder does not know {text!r}; it answers only its class "
                    f"names ({shown}) and the captions it was built with"
                )
            index.append(self.lookup[text])
        return self.table(torch.tensor(index, device=self.device))  # (B, D)
