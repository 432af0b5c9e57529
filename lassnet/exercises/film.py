"""The exercise of chapter 3 (FiLM): ``film_forward``.

The student computes ``BN(x) + β`` with ``β = linear(embedding)`` reshaped to ``(B, C, 1, 1)``;
:func:`check_film` compares it with a :class:`lassnet.blocks.FiLMBatchNorm2d` shifted by a
:class:`lassnet.film.FiLM` (batch of one and of three, training mode, a 384-wide embedding, a
zero embedding) and recognises β multiplying, ``1 + β`` scaling, β added before the batch
norm, a forgotten bias, one β for the whole batch, and no shift. The batch norm may be called
on ``x`` alone, not with a FiLM shift (``bn(x, {...})``), and :class:`~lassnet.film.FiLM` itself
is withheld. Taught in chapter 3 (FiLM).

The *apply* exercise ``strongest_query`` (on the book's exercises page) asks which unit query
embedding shifts one channel the most; :func:`check_steer` measures the shift the student's
query gives against the largest possible (nothing in the library answers it; the checker's
own answer is withheld).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from ._runner import CheckResult, Exercise, Withhold, _call, _compare, _Mismatch, _run
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


# --------------------------------------------------------------------------- apply: steering
def _best_query(linear: nn.Linear, channel: int) -> torch.Tensor:
    """The checker's answer: the unit vector along row ``channel`` of the weight, ``(D,)``."""
    row = linear.weight[channel].detach()
    return row / row.norm()


def _steer_cases():
    def case(dim, channels, channel):
        def run(fn):
            linear = nn.Linear(dim, channels)
            with torch.no_grad():
                linear.bias.copy_(0.5 * torch.randn(channels))
                best = float(linear(_best_query(linear, channel))[channel])  # ‖W_k‖ + b_k
                worst = float(linear(-_best_query(linear, channel))[channel])
            got = _call(fn, copy.deepcopy(linear), channel)
            if got is None:
                raise _Mismatch("your function returned None; return the query embedding")
            if not isinstance(got, torch.Tensor):
                raise _Mismatch(f"return a torch.Tensor of shape ({dim},), got "
                                f"{type(got).__name__}")
            got = got.detach().to(torch.float32)
            if tuple(got.shape) != (dim,):
                hint = (": the embedding has D values, one per input of the linear layer"
                        if got.numel() == channels else "")
                raise _Mismatch(f"shape mismatch: expected ({dim},), got {tuple(got.shape)}"
                                f"{hint}")
            if not bool(torch.isfinite(got).all()):
                raise _Mismatch("the embedding has NaN or Inf values")
            norm = float(got.norm())
            if abs(norm - 1) > 1e-3:
                raise _Mismatch(f"the embedding's norm is {norm:.4g}: query embeddings are "
                                "unit vectors, so a longer one is not allowed")
            with torch.no_grad():
                shift = float(linear(got)[channel])
            if shift >= best - 1e-3 * max(1.0, abs(best)):
                return
            if shift <= worst + 1e-3:
                raise _Mismatch(f"this query moves channel {channel} *down* as far as it can: "
                                "a sign error")
            raise _Mismatch(f"β[{channel}] = {shift:.4g} with your query; another unit query "
                            f"shifts it further (up to {best:.4g}). Which direction of e makes "
                            "the dot product with one row of the weight largest?")
        return run

    return [
        ("D = 8, C = 4, channel 1", case(8, 4, 1)),
        ("D = C = 6, channel 4", case(6, 6, 4)),
        ("a 384-wide embedding, 16 channels, channel 0", case(384, 16, 0)),
        ("a 512-wide embedding (CLAP's), 32 channels, channel 31", case(512, 32, 31)),
    ]


def check_steer(fn, progress: bool = True) -> CheckResult:
    """Check ``strongest_query(linear, channel) -> e (D,)`` (chapter 3's apply exercise): the
    unit-norm query embedding whose FiLM shift ``β = linear(e)`` is largest in ``channel``.
    The checker measures ``β[channel]`` of the student's query against the largest possible,
    ``‖W[channel]‖ + b[channel]``."""
    return _run(STEER, fn, _steer_cases, progress)


STEER = Exercise(
    "steer", "strongest_query", "exercises", "the largest shift a unit query can give",
    "β_k = W_k · e + b_k; among unit vectors e, which maximises a dot product?", check_steer,
    kind="apply", teaches=3, points=2,
    withheld=(Withhold("lassnet.exercises.film._best_query"),),
)
