"""The exercise of chapter 3 (FiLM): ``film_forward``.

The student computes ``BN(x) + β`` with ``β = linear(embedding)`` reshaped to ``(B, C, 1, 1)``;
:func:`check_film` compares it with a :class:`lassnet.blocks.FiLMBatchNorm2d` shifted by a
:class:`lassnet.film.FiLM` (batch of one and of three, training mode, a 384-wide embedding, a
zero embedding) and recognises β multiplying, ``1 + β`` scaling, β added before the batch
norm, a forgotten bias, one β for the whole batch, and no shift. The batch norm may be called
on ``x`` alone, not with a FiLM shift (``bn(x, {...})``), and :class:`~lassnet.film.FiLM` itself
is withheld. Taught in chapter 3 (FiLM).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ._runner import CheckResult, Exercise, Withhold, _call, _compare, _run
from .blocks import _randomise_batch_norm


def _film_cases():
    from ..blocks import FiLMBatchNorm2d
    from ..film import FiLM

    def case(batch, dim, channels, size, train=False, zero_embedding=False):
        def run(fn):
            holder = nn.Module()
            holder.bn = FiLMBatchNorm2d(channels)
            _randomise_batch_norm(holder.bn)
            film = FiLM(holder, dim)
            with torch.no_grad():  # FiLM starts with zero bias; make the bias matter
                film.net.bias.copy_(0.5 * torch.randn(channels))
                film.net.weight.mul_(3.0)
            holder.train(train)
            x = torch.randn(batch, channels, *size)
            e = torch.zeros(batch, dim) if zero_embedding else F.normalize(
                torch.randn(batch, dim), dim=1)
            bn, linear = copy.deepcopy(holder.bn), copy.deepcopy(film.net)
            with torch.no_grad():
                expected = holder.bn(x.clone(), film(e))
                normed = copy.deepcopy(holder.bn)(x.clone())  # BN(x), no shift
                beta = film.net(e)[:, :, None, None]  # (B, C, 1, 1)
                no_bias = (e @ film.net.weight.T)[:, :, None, None]
                before = copy.deepcopy(holder.bn)(x + beta)
            got = _call(fn, x.clone(), e.clone(), bn, linear)
            mistakes = [
                ("β multiplies the normalised features; in AudioSep's FiLM it is *added*",
                 normed * beta),
                ("(1 + β) scales the features: that is γ's job; β is a shift, added",
                 normed * (1 + beta)),
                ("β is added *after* the batch norm, not to its input",
                 None if train else before),
                ("the linear layer's bias is part of β (use the layer itself, not only its "
                 "weight)", normed + no_bias),
                ("every example of the batch has its own β (from its own embedding)",
                 normed + beta[:1] if batch > 1 else None),
                ("the query's shift is missing: add β", normed),
            ]
            _compare("BN(x) + β", got, expected, rtol=1e-4, atol=1e-5, mistakes=mistakes)
        return run

    return [
        ("batch of 1, eval mode", case(1, 8, 4, (5, 7))),
        ("batch of 3, eval mode", case(3, 8, 4, (6, 10))),
        ("training mode (batch statistics)", case(2, 16, 6, (4, 9), train=True)),
        ("a 384-wide embedding, odd sizes", case(2, 384, 16, (3, 5))),
        ("a zero embedding (β is the bias alone)", case(2, 8, 4, (5, 6), zero_embedding=True)),
    ]


_FILM_SHAPE_HINT = ("RuntimeError", "must match the size",
                    "β from the linear layer has shape (B, C); give it the shape (B, C, 1, 1) "
                    "so that it broadcasts over frames and bins")


def check_film(fn, progress: bool = True) -> CheckResult:
    """Check ``film_forward(x, embedding, bn, linear) -> BN(x) + β`` (chapter 3's exercise).

    ``x`` is ``(B, C, T, F)``, ``embedding`` ``(B, D)``, ``bn`` a
    :class:`lassnet.blocks.FiLMBatchNorm2d` and ``linear`` the ``Linear(D, C)`` of a
    :class:`lassnet.film.FiLM`; the output must equal ``bn(x, film(embedding))``.
    """
    return _run(FILM, fn, _film_cases, progress, exception_hints=[_FILM_SHAPE_HINT])


FILM = Exercise(
    "film", "film_forward", "03_film", "lassnet.film.FiLM + FiLMBatchNorm2d",
    "β = linear(embedding), one value per channel, added after the batch norm", check_film,
    # The batch norm itself stays callable (bn(x) is part of the answer), but not with a shift.
    teaches=3,
    withheld=(Withhold("lassnet.film.FiLM.forward"),
              Withhold("lassnet.blocks.FiLMBatchNorm2d.forward",
                       allow=lambda self, x, film=None: film is None),
              Withhold("lassnet.blocks.ResidualBlock.forward")),
)
