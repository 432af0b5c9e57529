"""Automatic checks for the book's exercises (classroom use; see the book's course guide).

Every exercise asks for one small function that the library already has. Its checker runs the
student's function on random and edge-case inputs (odd lengths, a batch of one, silence, ...)
next to the library's own function, prints ``PASS`` or ``FAIL`` with a hint that names what
is wrong (a shape, a scale, a sign, a phase that was not rotated, a NaN on silence, ...)
without giving the solution away, and returns a :class:`CheckResult`, which is true when every
case agreed. A checker never raises because of the student's code: an exception, including
the ``NotImplementedError`` of an unsolved stub, becomes a ``FAIL`` that names it.

==================  ======================  =======  ====================================
checker             the student writes      chapter  compared with
==================  ======================  =======  ====================================
stft_split          ``split_magphase``      1        :meth:`lassnet.stft.STFT.magphase`
residual_block      ``residual_forward``    2        :class:`lassnet.blocks.ResidualBlock`
film                ``film_forward``        3        :class:`lassnet.film.FiLM` + batch norm
apply_masks         ``rotate_and_mask``     5        :func:`lassnet.masks.apply_masks`
ratio_mask          ``ratio_mask``          5        :func:`lassnet.masks.ideal_ratio_mask`
si_sdr              ``si_sdr_db``           8 (ex.)  :func:`lassnet.metrics.si_sdr`
si_sdri             ``si_sdr_improvement``  8 (ex.)  :func:`lassnet.metrics.si_sdri`
mix_at_snr          ``mix_at_snr``          6 (ex.)  :func:`lassnet.audio.mix_at_snr`
train_step          ``train_step``          7 (ex.)  :meth:`lassnet.train.Trainer.train_step`
==================  ======================  =======  ====================================

Use in a notebook::

    from lassnet.exercises import check_stft_split
    result = check_stft_split(split_magphase)     # prints PASS or FAIL with a hint

and in a test: ``assert check_stft_split(split_magphase, verbose=False)``. :data:`EXERCISES`
lists every exercise with the function it expects and the stub hint of the student version
(``tools/exercises.py`` writes the student and teacher notebooks from the chapters).
"""

from __future__ import annotations

import copy
import tempfile
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CheckResult",
    "Exercise",
    "EXERCISES",
    "check",
    "check_stft_split",
    "check_residual_block",
    "check_film",
    "check_apply_masks",
    "check_ratio_mask",
    "check_si_sdr",
    "check_si_sdri",
    "check_mix_at_snr",
    "check_train_step",
]


# =========================================================================== results
@dataclass
class CheckResult:
    """What a checker found. True (``bool(result)``) when every case agreed with the library.

    Attributes:
        exercise: the exercise's name (a key of :data:`EXERCISES`).
        passed: every case agreed.
        message: the ``PASS ...`` / ``FAIL ...`` line the checker printed.
        cases_passed, cases_total: how many of the checker's cases agreed, of how many.
        failed_case: the name of the first case that did not agree (``None`` on a pass).
        error: the name of the exception the student's function raised, if it raised.
    """

    exercise: str
    passed: bool
    message: str
    cases_passed: int
    cases_total: int
    failed_case: str | None = None
    error: str | None = None

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message


class _Mismatch(Exception):
    """A wrong answer; the message is the hint shown to the student."""


class _StudentError(Exception):
    """The student's function raised ``exc``."""

    def __init__(self, exc: BaseException, fn: Callable):
        super().__init__(str(exc))
        self.exc = exc
        self.fn = fn


class _UseTheLayers(RuntimeError):
    """Raised when a student's function calls the very module it should re-implement."""


def _call(fn: Callable, *args):
    """Call the student's ``fn``; any exception it raises becomes a :class:`_StudentError`."""
    try:
        return fn(*args)
    except _UseTheLayers as exc:
        raise _Mismatch(str(exc)) from None
    except Exception as exc:  # the student's bug, reported as a FAIL, never raised
        raise _StudentError(exc, fn) from None


def _where(exc: BaseException, fn: Callable) -> str:
    """``" (in split_magphase, line 7: `mag = ...`)"``: the student's own line that raised."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return ""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == code.co_filename]
    if not frames:
        return ""
    frame = frames[-1]
    text = f": `{frame.line.strip()}`" if frame.line else ""
    return f" (in {frame.name}, line {frame.lineno}{text})"


#: Hints for exceptions that typical mistakes raise: (exception type name, text in the
#: message, hint). Checked in order; the first match is appended to the FAIL message.
_EXCEPTION_HINTS: list[tuple[str, str, str]] = [
    ("RuntimeError", "must match the size", "two tensors do not broadcast: compare their shapes"),
    ("RuntimeError", "shapes cannot be multiplied", "a matrix product got the wrong shapes"),
    ("TypeError", "not supported between", "an operation got a type it cannot handle"),
]


def _run(
    name: str,
    fn,
    make_cases: Callable[[], Sequence[tuple[str, Callable]]],
    verbose: bool,
    exception_hints: Sequence[tuple[str, str, str]] = (),
) -> CheckResult:
    """Run the cases (``(description, case(fn))`` pairs) and report the first failure.

    The cases are built, and each runs, under its own fixed seed inside
    ``torch.random.fork_rng``: the results do not depend on, and do not change, the caller's
    random state.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        cases = make_cases()
    total = len(cases)
    reference = EXERCISES[name].reference

    def finish(result: CheckResult) -> CheckResult:
        if verbose:
            print(result.message)
        return result

    if not callable(fn):
        return finish(CheckResult(
            name, False, f"FAIL {name}: expected a function, got {type(fn).__name__}", 0, total
        ))
    for index, (description, case) in enumerate(cases):
        where = f"case {index + 1} of {total} ({description})"
        error = None
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(1000 + index)
                case(fn)
            continue
        except _StudentError as err:
            exc = err.exc
            error = type(exc).__name__
            if isinstance(exc, NotImplementedError):
                text = f" ({exc})" if str(exc) else ""
                hint = (f"not implemented yet: your function raised NotImplementedError{text}. "
                        "Replace the `raise` line with your code.")
            else:
                hint = f"your function raised {error}: {exc}{_where(exc, err.fn)}"
                for kind, fragment, extra in [*exception_hints, *_EXCEPTION_HINTS]:
                    if error == kind and fragment in str(exc):
                        hint += f". Hint: {extra}"
                        break
        except _Mismatch as err:
            hint = str(err)
        except Exception as err:  # the output could not even be compared
            hint = (f"could not compare your function's output with the expected one "
                    f"({type(err).__name__}: {err}); check what it returns")
        message = f"FAIL {name} — {where}: {hint}"
        return finish(CheckResult(name, False, message, index, total, description, error))
    names = "; ".join(description for description, _ in cases)
    message = f"PASS {name}: all {total} cases agree with {reference} ({names})"
    return finish(CheckResult(name, True, message, total, total))


# =========================================================================== comparisons
def _as_tensor(value, label: str, expected: torch.Tensor) -> torch.Tensor:
    """The student's output as a detached tensor comparable with ``expected``."""
    if value is None:
        raise _Mismatch(f"{label}: your function returned None; did you forget `return`?")
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    elif isinstance(value, (int, float, np.floating, np.integer)) and expected.dim() == 0:
        value = torch.tensor(float(value))
    if not isinstance(value, torch.Tensor):
        raise _Mismatch(f"{label}: expected a torch.Tensor, got {type(value).__name__}")
    value = value.detach()
    if value.is_complex() and not expected.is_complex():
        raise _Mismatch(f"{label} is complex ({value.dtype}) but should be real-valued")
    if not value.is_floating_point() and not value.is_complex():
        value = value.to(expected.dtype)
    return value


def _shape_hint(got: tuple, expected: tuple) -> str:
    if sorted(got) == sorted(expected):
        return ": the same sizes in another order, so two axes are swapped"
    squeeze = lambda s: tuple(n for n in s if n != 1)  # noqa: E731
    if squeeze(got) == squeeze(expected):
        return ": an axis of size 1 is missing or extra (indexing, squeeze or keepdim)"
    if len(got) < len(expected):
        return (": fewer axes than expected; a sum or mean may have run over an axis that "
                "should stay, or over the whole batch")
    if int(np.prod(got)) == int(np.prod(expected)):
        return ": the same number of values in another layout (a reshape or transpose)"
    return ""


def _close(got: torch.Tensor, expected: torch.Tensor, rtol: float, atol: float) -> bool:
    got = got.to(torch.float64) if not got.is_complex() else got.to(torch.complex128)
    expected = expected.to(got.dtype)
    return bool(torch.allclose(got, expected, rtol=rtol, atol=atol, equal_nan=False))


def _check_shape(label: str, got: torch.Tensor, expected: torch.Tensor) -> None:
    if tuple(got.shape) != tuple(expected.shape):
        raise _Mismatch(
            f"shape mismatch for {label}: expected {tuple(expected.shape)}, got "
            f"{tuple(got.shape)}{_shape_hint(tuple(got.shape), tuple(expected.shape))}"
        )


def _check_finite(label: str, got: torch.Tensor, expected: torch.Tensor, nan_hint: str) -> None:
    bad = ~torch.isfinite(got) & torch.isfinite(expected)
    if bad.any():
        n_nan, n_inf = int(torch.isnan(got).sum()), int(torch.isinf(got).sum())
        raise _Mismatch(f"{label} has {n_nan} NaN and {n_inf} Inf values. Hint: {nan_hint}")


def _diagnose(label: str, got: torch.Tensor, expected: torch.Tensor, rtol: float,
              atol: float) -> str:
    """A hint for a same-shape, finite, wrong answer: sign, scale, or where it is off."""
    if _close(-got, expected, rtol, atol):
        return f"sign error: {label} is the negative of the expected values"
    g = got.to(torch.float64).flatten()
    e = expected.to(torch.float64).flatten()
    energy = float(e @ e)
    if energy > 0 and not got.is_complex():
        k = float(g @ e) / energy
        if abs(k - 1) > 1e-3 and abs(k) > 1e-12 and _close(got, k * expected, rtol, atol):
            return f"wrong scaling: {label} is {k:.4g} × the expected values"
    error = (g - e).abs()
    i = int(error.argmax())
    index = tuple(int(j) for j in np.unravel_index(i, tuple(expected.shape))) if e.numel() > 1 \
        else ()
    return (f"{label} differs from the expected values: largest difference {float(error[i]):.3g} "
            f"at index {index} (expected {float(e[i]):.4g}, got {float(g[i]):.4g})")


def _compare(labels, got, expected, *, rtol=1e-4, atol=1e-5, mistakes=(), nan_hint="",
             note: str = "") -> None:
    """Compare the student's output(s) with the expected tensor(s); raise :class:`_Mismatch`.

    ``labels``/``expected`` are a name and a tensor, or tuples of them (a function that returns
    several tensors). ``mistakes`` are ``(hint, wrong_output)`` pairs: outputs that typical
    mistakes produce; when the student's output equals one of them, its hint is shown.
    ``note`` is appended to a generic mismatch (something specific to the failing case).
    """
    single = isinstance(labels, str)
    labels = (labels,) if single else tuple(labels)
    expected = (expected,) if single else tuple(expected)
    if single:
        got = (got,)
    else:
        what = ", ".join(labels)
        if got is None:
            raise _Mismatch(f"your function returned None; return the tuple ({what})")
        if not isinstance(got, (tuple, list)):
            raise _Mismatch(f"return a tuple of {len(labels)} tensors ({what}), "
                            f"got {type(got).__name__}")
        if len(got) != len(labels):
            raise _Mismatch(f"return a tuple of {len(labels)} tensors ({what}), "
                            f"got {len(got)} values")
    got = tuple(_as_tensor(g, lab, e) for g, lab, e in zip(got, labels, expected, strict=True))
    for g, lab, e in zip(got, labels, expected, strict=True):
        _check_shape(lab, g, e)
    for g, lab, e in zip(got, labels, expected, strict=True):
        _check_finite(lab, g, e, nan_hint or "avoid dividing by zero (add the small floor ε)")
    scale = [max(1.0, float(e.abs().max())) if e.numel() else 1.0 for e in expected]
    ok = [_close(g, e, rtol, atol * s) for g, e, s in zip(got, expected, scale, strict=True)]
    if all(ok):
        return
    for hint, wrong in mistakes:
        if wrong is None:
            continue
        wrong = (wrong,) if single else tuple(wrong)
        if all(
            w is not None and tuple(w.shape) == tuple(g.shape) and _close(g, w, rtol, atol * s)
            for g, w, s in zip(got, wrong, scale, strict=True)
        ):
            raise _Mismatch(hint)
    first = ok.index(False)
    hint = _diagnose(labels[first], got[first], expected[first], rtol, atol * scale[first])
    raise _Mismatch(hint + (f". {note}" if note else ""))


# =========================================================================== chapter 1
def _stft_cases():
    from .stft import STFT, magphase

    def case(wave, n_fft, hop, note=""):
        def run(fn):
            stft = STFT(n_fft, hop)
            spec = stft(wave)  # (B, C, T, F) complex
            expected = stft.magphase(wave)
            got = _call(fn, spec.clone())
            re, im = spec.real, spec.imag
            power = re * re + im * im
            mag, _, _ = magphase(re, im)
            angle = torch.atan2(im, re)
            mistakes = [
                ("|X| should be the magnitude, not the power |X|² (a square root is missing)",
                 (torch.clamp(power, min=1e-10), expected[1], expected[2])),
                ("cos and sin are swapped: cos∠X belongs to the real part, sin∠X to the "
                 "imaginary part", (expected[0], expected[2], expected[1])),
                ("in silent bins cos∠X and sin∠X should be 0, as lassnet.stft defines them "
                 "(divide the real and imaginary parts by the floored magnitude); "
                 "an angle-based phase gives cos = 1 there",
                 (mag, torch.cos(angle), torch.sin(angle))),
            ]
            _compare(("|X|", "cos∠X", "sin∠X"), got, expected, rtol=1e-4, atol=1e-5,
                     mistakes=mistakes, note=note,
                     nan_hint="silent bins have |X| = 0; floor the squared magnitude at 1e-10 "
                              "before the square root, as the text says")
        return run

    t = torch.arange(8000) / 8000.0
    tone = torch.sin(2 * torch.pi * 440.0 * t)[None, None]
    half = torch.cat([torch.zeros(1, 1, 3000), torch.randn(1, 1, 3000)], dim=-1)
    return [
        ("a random clip, batch of 2", case(torch.randn(2, 1, 4000), 256, 64)),
        ("odd length, batch of 1", case(torch.randn(1, 1, 3001), 512, 128)),
        ("stereo, batch of 3", case(0.1 * torch.randn(3, 2, 2001), 256, 128)),
        ("a loud tone", case(20 * tone, 512, 128)),
        ("silence", case(torch.zeros(1, 1, 2048), 256, 64,
                         note="On silence |X| is the floor and cos = sin = 0")),
        ("silence, then noise", case(half, 256, 64)),
    ]


def check_stft_split(fn, verbose: bool = True) -> CheckResult:
    """Check ``split_magphase(spec) -> (|X|, cos∠X, sin∠X)`` (chapter 1's exercise).

    ``spec`` is a complex spectrogram ``(B, C, T, F)`` from :class:`lassnet.stft.STFT`; the
    three outputs must equal :meth:`STFT.magphase <lassnet.stft.STFT.magphase>`.
    """
    return _run("stft_split", fn, _stft_cases, verbose)


# =========================================================================== chapter 2
def _randomise_batch_norm(bn: nn.BatchNorm2d) -> None:
    """Give a batch norm non-trivial statistics and affine parameters."""
    with torch.no_grad():
        n = bn.num_features
        bn.running_mean.copy_(0.5 * torch.randn(n))
        bn.running_var.copy_(0.5 + torch.rand(n))
        bn.weight.copy_(1.0 + 0.3 * torch.randn(n))
        bn.bias.copy_(0.3 * torch.randn(n))


def _residual_variant(block, x, *, shortcut=True, slope=None, post=False, act_after_sum=False):
    """The output of ``block`` computed with one deliberate mistake (for hints), or ``None``."""
    slope = block.negative_slope if slope is None else slope
    act = (lambda h: F.relu(h)) if slope == 0 else (lambda h: F.leaky_relu(h, slope))  # noqa: E731
    with torch.no_grad():
        if post:  # conv → batch norm → activation, twice (only possible when C_in = C_out)
            if block.conv1.in_channels != block.conv1.out_channels:
                return None
            h = act(block.bn1(block.conv1(x)))
            h = act(block.bn2(block.conv2(h)))
        else:
            h = block.conv1(act(block.bn1(x)))
            h = block.conv2(act(block.bn2(h)))
        out = h + block.shortcut(x) if shortcut else h
        return act(out) if act_after_sum else out


def _residual_cases():
    from .blocks import ResidualBlock

    def case(c_in, c_out, shape, train=False, slope=0.01):
        def run(fn):
            block = ResidualBlock(c_in, c_out, negative_slope=slope)
            _randomise_batch_norm(block.bn1)
            _randomise_batch_norm(block.bn2)
            block.train(train)
            x = torch.randn(shape)
            reference, variants = copy.deepcopy(block), copy.deepcopy(block)
            with torch.no_grad():
                expected = reference(x.clone())

            def forbidden(*args, **kwargs):
                raise _UseTheLayers(
                    "your function called the block itself (block(x) or block.forward); "
                    "compute the output from its layers: block.bn1, block.conv1, block.bn2, "
                    "block.conv2, block.shortcut and block.negative_slope"
                )

            block.forward = forbidden
            x_in = x.clone()
            got = _call(fn, block, x_in)
            if not torch.equal(x_in, x):
                raise _Mismatch("your function changed its input x in place; work on new "
                                "tensors (e.g. avoid inplace=True on x itself)")
            variants.eval()  # the variants only serve as hints; eval keeps them deterministic
            mistakes = []
            if not train:
                mistakes = [
                    ("the shortcut is missing: a residual block adds its input (through "
                     "block.shortcut) to what the two convolutions computed",
                     _residual_variant(variants, x, shortcut=False)),
                    ("negative values are cut to zero: the activation is a LeakyReLU, not a ReLU",
                     _residual_variant(variants, x, slope=0.0)),
                    ("use the block's own LeakyReLU slope, block.negative_slope",
                     _residual_variant(variants, x, slope=0.01) if slope != 0.01 else None),
                    ("wrong order: this block is pre-activation (batch norm and LeakyReLU "
                     "*before* each convolution)", _residual_variant(variants, x, post=True)),
                    ("nothing comes after the sum: the output is the two convolutions' result "
                     "plus the shortcut, with no activation on top",
                     _residual_variant(variants, x, act_after_sum=True)),
                ]
            note = ("In training mode each batch norm normalises with the batch's own "
                    "statistics; call the block's batch-norm layers, do not re-normalise by hand"
                    if train else "")
            _compare("the block's output", got, expected, rtol=1e-4, atol=1e-5,
                     mistakes=mistakes, note=note)
        return run

    return [
        ("4 → 4 channels (identity shortcut), eval mode", case(4, 4, (2, 4, 8, 10))),
        ("3 → 6 channels (1×1-conv shortcut), odd sizes", case(3, 6, (2, 3, 7, 9))),
        ("batch of 1", case(5, 8, (1, 5, 5, 11))),
        ("LeakyReLU slope 0.2", case(4, 4, (2, 4, 6, 6), slope=0.2)),
        ("training mode (batch statistics)", case(4, 6, (3, 4, 6, 8), train=True)),
    ]


def check_residual_block(fn, verbose: bool = True) -> CheckResult:
    """Check ``residual_forward(block, x) -> y`` (chapter 2's exercise).

    ``block`` is a :class:`lassnet.blocks.ResidualBlock` (without FiLM), ``x`` a feature map
    ``(B, C_in, T, F)``; ``y`` must equal ``block(x)``, computed from the block's layers.
    """
    return _run("residual_block", fn, _residual_cases, verbose)


# =========================================================================== chapter 3
def _film_cases():
    from .blocks import FiLMBatchNorm2d
    from .film import FiLM

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


def check_film(fn, verbose: bool = True) -> CheckResult:
    """Check ``film_forward(x, embedding, bn, linear) -> BN(x) + β`` (chapter 3's exercise).

    ``x`` is ``(B, C, T, F)``, ``embedding`` ``(B, D)``, ``bn`` a
    :class:`lassnet.blocks.FiLMBatchNorm2d` and ``linear`` the ``Linear(D, C)`` of a
    :class:`lassnet.film.FiLM`; the output must equal ``bn(x, film(embedding))``.
    """
    return _run("film", fn, _film_cases, verbose, exception_hints=[_FILM_SHAPE_HINT])


# =========================================================================== chapter 5
def _mask_cases():
    from .masks import apply_masks, mask_maps
    from .stft import STFT

    def inputs(shape, n_fft=256, hop=64, silent=False):
        wave = torch.zeros(shape) if silent else torch.randn(shape)
        mag, cos, sin = STFT(n_fft, hop).magphase(wave)  # (B, C, T, F) each
        logits = 2.0 * torch.randn(shape[0], shape[1], 3, *mag.shape[-2:])
        masks = mask_maps(logits)
        return [mag, cos, sin, *masks]

    def case(make, note=""):
        def run(fn):
            args = make()
            expected = apply_masks(*args)
            mag, cos, sin, m, mc, ms = args
            got = _call(fn, *(a.clone() for a in args))
            mistakes = [
                ("phase not rotated: cos∠Ŷ and sin∠Ŷ are the mixture's own; rotate them by ∠P",
                 (expected[0], cos, sin)),
                ("rotated the wrong way (by −∠P): a sign error in the angle-sum identities",
                 (expected[0], cos * mc + sin * ms, sin * mc - cos * ms)),
                ("the magnitude mask should scale only the magnitude, not cos and sin",
                 (expected[0], expected[1] * m, expected[2] * m)),
                ("the magnitude is not clipped at 0: |Ŷ| = relu(|X|·M)",
                 (mag * m, expected[1], expected[2])),
                ("cos∠Ŷ and sin∠Ŷ are swapped", (expected[0], expected[2], expected[1])),
            ]
            _compare(("|Ŷ|", "cos∠Ŷ", "sin∠Ŷ"), got, expected, rtol=1e-4, atol=1e-5,
                     mistakes=mistakes, note=note)
        return run

    def identity():
        args = inputs((2, 1, 2000))
        ones = torch.ones_like(args[0])
        return args[:3] + [ones, ones.clone(), torch.zeros_like(ones)]

    def half_turn():
        args = inputs((1, 1, 2000))
        ones = torch.ones_like(args[0])
        return args[:3] + [ones, -ones, torch.zeros_like(ones)]

    def negative_mask():
        args = inputs((2, 1, 1500))
        args[3] = 1.5 * torch.rand_like(args[0]) - 0.5  # values in [-0.5, 1)
        return args

    def silent_top_bin():
        args = inputs((2, 1, 1800))
        args[4][..., -1] = 0.0
        args[5][..., -1] = 0.0
        return args

    return [
        ("random masks, batch of 2", case(lambda: inputs((2, 1, 4000)))),
        ("odd length, batch of 1", case(lambda: inputs((1, 1, 2999), 512, 128))),
        ("identity mask (M = 1, P = 1)", case(identity, "An identity mask returns the input")),
        ("rotation by π (P = −1)", case(half_turn,
                                        "A rotation by π turns every bin's phase around")),
        ("silence", case(lambda: inputs((1, 1, 2048), silent=True))),
        ("a mask with negative values", case(negative_mask)),
        ("a bin with zero rotation (silenced)", case(silent_top_bin)),
    ]


def check_apply_masks(fn, verbose: bool = True) -> CheckResult:
    """Check ``rotate_and_mask(mag, cos, sin, M, cos_p, sin_p) -> (|Ŷ|, cos∠Ŷ, sin∠Ŷ)``
    (chapter 5's first exercise) against :func:`lassnet.masks.apply_masks`."""
    return _run("apply_masks", fn, _mask_cases, verbose)


def _ratio_cases():
    from .masks import ideal_binary_mask, ideal_ratio_mask
    from .stft import STFT

    def case(shape, target_gain=1.0, noise_gain=1.0, same=False, n_fft=256, hop=64, note=""):
        def run(fn):
            stft = STFT(n_fft, hop)
            target = target_gain * torch.randn(shape)
            noise = noise_gain * torch.randn(shape)
            mixture = target if same else target + noise
            S, X = stft(target), stft(mixture)
            expected = ideal_ratio_mask(S, X)
            got = _call(fn, S.clone(), X.clone())
            s, n, x = S.abs(), (X - S).abs(), X.abs()
            floor = 1e-10
            mistakes = [
                ("the exponent ½ is missing: this is the squared ratio",
                 (s**2 / torch.clamp(s**2 + n**2, min=floor))),
                ("use powers |S|² and |N|² in the ratio, not magnitudes",
                 (s / torch.clamp(s + n, min=floor)) ** 0.5),
                ("the denominator should use the interference N = X − S, not the mixture X",
                 (s**2 / torch.clamp(x**2, min=floor)) ** 0.5),
                ("this is the interference's mask: the numerator belongs to the target S",
                 (n**2 / torch.clamp(s**2 + n**2, min=floor)) ** 0.5),
                ("this is the binary mask; the ratio mask is soft (values between 0 and 1)",
                 ideal_binary_mask(S, X)),
            ]
            _compare("the mask", got, expected, rtol=1e-4, atol=1e-5, mistakes=mistakes,
                     note=note, nan_hint="where |S|² + |N|² is 0 the ratio is 0/0; floor the "
                                         "denominator (at 1e-10) so silence gives 0")
        return run

    return [
        ("random target and interference, batch of 2", case((2, 1, 4000))),
        ("odd length, batch of 1", case((1, 1, 3001), n_fft=512, hop=128)),
        ("a quiet target", case((2, 1, 2000), target_gain=0.05)),
        ("silent target", case((1, 1, 2000), target_gain=0.0)),
        ("no interference (mixture = target)", case((2, 1, 2000), same=True,
                                                    note="With no interference the mask is 1")),
        ("silence everywhere", case((1, 1, 2000), target_gain=0.0, noise_gain=0.0,
                                    note="On silence the mask is 0")),
    ]


def check_ratio_mask(fn, verbose: bool = True) -> CheckResult:
    """Check ``ratio_mask(target_spec, mixture_spec) -> IRM`` (chapter 5's second exercise)
    against :func:`lassnet.masks.ideal_ratio_mask` (``p = 2``, ``q = ½``)."""
    return _run("ratio_mask", fn, _ratio_cases, verbose)


# =========================================================================== chapter 8
def _si_sdr_inputs(shape, noise=0.3, gain=1.0, silent=False, perfect=False, dtype=None):
    reference = torch.zeros(shape) if silent else torch.randn(shape)
    estimate = reference.clone() if perfect else reference + noise * torch.randn(shape)
    if silent:
        estimate = noise * torch.randn(shape)
    estimate = gain * estimate
    if dtype is not None:
        estimate, reference = estimate.to(dtype), reference.to(dtype)
    return estimate, reference


def _si_sdr_cases():
    from .metrics import sdr, si_sdr

    def case(note="", **kw):
        def run(fn):
            estimate, reference = _si_sdr_inputs(**kw)
            expected = si_sdr(estimate, reference)
            got = _call(fn, estimate.clone(), reference.clone())
            swapped = si_sdr(reference, estimate)
            mistakes = [
                ("this is the plain SDR: it changes when the estimate is scaled; first scale "
                 "the reference by α, its best fit to the estimate", sdr(estimate, reference)),
                ("estimate and reference are swapped: scale the *reference* by α to fit the "
                 "estimate", swapped),
                ("use 10·log10 of an energy ratio (20·log10 is for amplitude ratios)",
                 2 * expected),
                ("use log10, not the natural logarithm",
                 expected * np.log(10.0)),
            ]
            _compare("SI-SDR", got, expected, rtol=0.0, atol=1e-3, mistakes=mistakes,
                     note=note, nan_hint="a silent reference or a perfect estimate makes an "
                     "energy 0; add ε to the numerator and the denominator as in the formula")
        return run

    return [
        ("a batch of 3 noisy estimates, shape (3, 1, L)", case(shape=(3, 1, 1600))),
        ("odd length, shape (2, L)", case(shape=(2, 999), noise=1.0)),
        ("batch of 1", case(shape=(1, 1, 800), noise=0.05)),
        ("an estimate at a quarter of the volume", case(shape=(2, 1, 1000), gain=0.25,
                                                        note="SI-SDR ignores the volume")),
        ("a negated, louder estimate", case(shape=(2, 1, 1000), gain=-3.0)),
        ("a perfect estimate", case(shape=(2, 1, 1000), perfect=True,
                                    note="A perfect estimate scores 10·log10((‖s‖² + ε) / ε)")),
        ("a silent reference", case(shape=(2, 1, 1000), silent=True,
                                    note="With a silent reference the score is set by ε alone: "
                                         "ε = torch.finfo(dtype).eps, placed as in the formula")),
        ("float64 inputs", case(shape=(2, 1, 1000), dtype=torch.float64)),
    ]


def check_si_sdr(fn, verbose: bool = True) -> CheckResult:
    """Check ``si_sdr_db(estimate, reference) -> scores`` (the exercises chapter) against
    :func:`lassnet.metrics.si_sdr`: inputs ``(..., L)``, one score in dB per signal ``(...)``."""
    return _run("si_sdr", fn, _si_sdr_cases, verbose)


def _si_sdri_cases():
    from .metrics import sdri, si_sdr, si_sdri

    def case(kind, shape):
        def run(fn):
            reference = torch.randn(shape)
            mixture = reference + torch.randn(shape)
            if kind == "mixture":
                estimate = mixture.clone()
            elif kind == "scaled mixture":
                estimate = 0.3 * mixture
            else:
                estimate = reference + 0.2 * torch.randn(shape)
            expected = si_sdri(estimate, reference, mixture)
            got = _call(fn, estimate.clone(), reference.clone(), mixture.clone())
            mistakes = [
                ("sign error: the improvement is the estimate's score *minus* the mixture's",
                 -expected),
                ("this uses the plain SDR; the improvement here is in SI-SDR",
                 sdri(estimate, reference, mixture)),
                ("this is the estimate's SI-SDR alone; subtract the mixture's score",
                 si_sdr(estimate, reference)),
            ]
            note = "Returning the mixture (at any volume) improves nothing: 0 dB" \
                if "mixture" in kind else ""
            _compare("SI-SDRi", got, expected, rtol=0.0, atol=1e-3, mistakes=mistakes, note=note)
        return run

    return [
        ("a good estimate, batch of 3", case("estimate", (3, 1, 1600))),
        ("odd length, batch of 1", case("estimate", (1, 1, 1001))),
        ("the mixture itself", case("mixture", (2, 1, 1000))),
        ("the mixture, quieter", case("scaled mixture", (2, 1, 1000))),
    ]


def check_si_sdri(fn, verbose: bool = True) -> CheckResult:
    """Check ``si_sdr_improvement(estimate, reference, mixture) -> dB`` (the exercises
    chapter) against :func:`lassnet.metrics.si_sdri`."""
    return _run("si_sdri", fn, _si_sdri_cases, verbose)


# =========================================================================== chapter 6
def _mix_cases():
    from .audio import match_energy, mix_at_snr

    def case(shape, snr_db, target_gain=1.0, interferer_gain=1.0, note=""):
        def run(fn):
            target = target_gain * torch.randn(shape)
            # Every example of the batch has its own loudness.
            loudness = torch.rand(*shape[:-1], 1) * 3 + 0.1
            interferer = interferer_gain * loudness * torch.randn(shape)
            expected = mix_at_snr(target, interferer, snr_db)
            t_in, i_in = target.clone(), interferer.clone()
            got = _call(fn, t_in, i_in, snr_db)
            if not (torch.equal(t_in, target) and torch.equal(i_in, interferer)):
                raise _Mismatch("your function changed its inputs in place; return new tensors")
            if (isinstance(got, (tuple, list)) and len(got) == 2
                    and all(isinstance(g, torch.Tensor) and g.shape == target.shape
                            and bool(torch.isfinite(g).all()) for g in got)
                    and not _close(got[0].detach(), target + got[1].detach(), 1e-5, 1e-6)):
                raise _Mismatch("the mixture must be exactly target + scaled interferer")
            matched = match_energy(interferer, target)
            gain = 10 ** (-snr_db / 20)
            wrong = lambda scaled: (target + scaled, scaled)  # noqa: E731
            whole = interferer * (target.pow(2).mean() / interferer.pow(2).mean()).sqrt() * gain
            mistakes = [
                ("sign error: at a positive SNR the interferer must be *quieter* than the target",
                 wrong(matched / gain)),
                ("an amplitude gain is 10^(dB/20); 10^(dB/10) is for powers",
                 wrong(matched * 10 ** (-snr_db / 10))),
                ("match the interferer's energy to the target's first, then apply the gain",
                 wrong(interferer * gain)),
                ("the energies are per signal (mean square over the last axis), not over the "
                 "whole batch", wrong(whole)),
                ("scale the interferer, not the target",
                 (target * gain + matched, matched) if snr_db else None),
            ]
            _compare(("mixture", "scaled interferer"), got, expected, rtol=1e-4, atol=1e-6,
                     mistakes=mistakes, note=note,
                     nan_hint="a silent interferer has energy 0; floor the energy you divide by "
                              "(at 1e-10) so that silence stays silence")
        return run

    return [
        ("0 dB, shape (1, L)", case((1, 4000), 0.0)),
        ("+10 dB, a batch of 3 of different loudness", case((3, 1, 2000), 10.0)),
        ("−5 dB, odd length", case((2, 1, 1999), -5.0)),
        ("a silent interferer", case((2, 1, 1000), 5.0, interferer_gain=0.0,
                                     note="A silent interferer stays silent")),
        ("a silent target", case((2, 1, 1000), 5.0, target_gain=0.0,
                                 note="Against a silent target the interferer is scaled to "
                                      "silence")),
    ]


def check_mix_at_snr(fn, verbose: bool = True) -> CheckResult:
    """Check ``mix_at_snr(target, interferer, snr_db) -> (mixture, scaled_interferer)`` (the
    exercises chapter) against :func:`lassnet.audio.mix_at_snr`."""
    return _run("mix_at_snr", fn, _mix_cases, verbose)


# =========================================================================== chapter 7
class _FixedQueries:
    """A stand-in query encoder: caption ``"q<i>"`` → row ``i`` of a fixed table."""

    def __init__(self, table: torch.Tensor):
        self.table = table
        self.dim = table.shape[1]

    def embed_text(self, captions):
        return self.table[[int(c[1:]) for c in captions]]


#: A separator small enough that a training step takes milliseconds.
_TINY_NET = dict(n_fft=128, hop_length=64, channels=(4, 8), pools=((2, 2), (2, 2)),
                 centre_channels=8)


def _trainer(out_dir: str, encoder: _FixedQueries):
    from .train import TrainConfig, Trainer

    config = TrainConfig(name="exercise", preset="tiny", separator=dict(_TINY_NET), loss="l1",
                         lr=1e-3, warmup_steps=1, batch_size=2, seed=7)
    return Trainer(config, out_dir, device="cpu", encoder=encoder, progress=False, resume=False)


def _train_cases():
    def case(steps: int, hand_over_eval: bool = False):
        def run(fn):
            batch, dim, length = 2, 8, 1600
            table = F.normalize(torch.randn(batch, dim), dim=1)
            encoder = _FixedQueries(table)
            batches = []
            for _ in range(steps):
                target = 0.5 * torch.randn(batch, 1, length)
                mixture = target + 0.5 * torch.randn(batch, 1, length)
                batches.append(dict(mixture=mixture, target=target,
                                    caption=[f"q{i}" for i in range(batch)]))
            with tempfile.TemporaryDirectory() as ref_dir, tempfile.TemporaryDirectory() as d:
                ref = _trainer(ref_dir, encoder)
                mine = _trainer(d, encoder)
            before = {k: v.clone() for k, v in mine.model.state_dict().items()}
            ref_losses = [ref.train_step(b) for b in batches]
            losses = []
            for b in batches:
                if hand_over_eval:
                    mine.model.eval()
                loss = _call(fn, mine.model, mine.optimizer, b["mixture"].clone(), table.clone(),
                             b["target"].clone())
                losses.append(loss)
            for step, (got, expected) in enumerate(zip(losses, ref_losses, strict=True)):
                if got is None:
                    raise _Mismatch("your function returned None; return the loss as a float "
                                    "(loss.item())")
                if isinstance(got, torch.Tensor):
                    if got.numel() != 1:
                        raise _Mismatch(f"the loss should be one number, got shape "
                                        f"{tuple(got.shape)}: average over the whole batch")
                    got = got.item()
                if not isinstance(got, (int, float)):
                    raise _Mismatch(f"return the loss as a float, got {type(got).__name__}")
                if not np.isfinite(got) or abs(got - expected) > 1e-5 * max(1.0, abs(expected)):
                    raise _Mismatch(
                        f"the loss of step {step + 1} is {got:.6g}, expected {expected:.6g}: "
                        "the loss is the mean absolute error between the separated and the "
                        "target waveforms (AudioSep's L1 loss), computed in training mode"
                    )
            ours, theirs = mine.model.state_dict(), ref.model.state_dict()
            weights = [k for k, _ in mine.model.named_parameters()]
            if all(torch.equal(ours[k], before[k]) for k in weights):
                raise _Mismatch("the weights did not change: after the backward pass the "
                                "optimiser must take its step")
            stats = [k for k in ours if "running" in k]
            wrong_stats = [k for k in stats if not torch.allclose(ours[k], theirs[k], atol=1e-6)]
            if wrong_stats:
                raise _Mismatch("the batch-norm statistics differ (e.g. "
                                f"{wrong_stats[0]}): put the model in training mode first")
            wrong = [k for k in weights if not torch.allclose(ours[k], theirs[k], atol=1e-6,
                                                              rtol=1e-5)]
            if wrong:
                hint = ("gradients from the previous step were added to this step's: clear "
                        "them before the backward pass" if steps > 1 else
                        "check the order: clear the gradients, forward, loss, backward, step")
                raise _Mismatch(f"{len(wrong)} of {len(weights)} weight tensors differ from "
                                f"the library's step (e.g. {wrong[0]}): {hint}")
        return run

    return [
        ("one step", case(1)),
        ("two steps in a row", case(2)),
        ("a model handed over in eval mode", case(1, hand_over_eval=True)),
    ]


def check_train_step(fn, verbose: bool = True) -> CheckResult:
    """Check ``train_step(model, optimizer, mixture, condition, target) -> loss`` (the
    exercises chapter): after the student's step(s) on a small separator, the loss and every
    weight and batch-norm statistic must equal those of :meth:`lassnet.train.Trainer.train_step`
    (L1 loss, AdamW with AMSGrad) from the same start."""
    return _run("train_step", fn, _train_cases, verbose)


# =========================================================================== registry
@dataclass(frozen=True)
class Exercise:
    """One exercise: who checks it, what the student writes, where the book teaches it.

    Attributes:
        name: the key in :data:`EXERCISES` (and the ``exercise`` metadata of its cells).
        function: the name of the function the student writes.
        chapter: the book source (file stem in ``book/``) that holds the exercise.
        reference: the library function the checker compares with.
        hint: the message of the student version's ``NotImplementedError`` stub.
        checker: the ``check_*`` function.
    """

    name: str
    function: str
    chapter: str
    reference: str
    hint: str
    checker: Callable[..., CheckResult]


EXERCISES: dict[str, Exercise] = {
    e.name: e
    for e in [
        Exercise("stft_split", "split_magphase", "01_stft", "lassnet.stft.STFT.magphase",
                 "|X| from the real and imaginary parts with a floor; cos∠X and sin∠X are the "
                 "parts divided by |X|", check_stft_split),
        Exercise("residual_block", "residual_forward", "02_blocks",
                 "lassnet.blocks.ResidualBlock.forward",
                 "(batch norm → LeakyReLU → conv) twice, then add the shortcut of x",
                 check_residual_block),
        Exercise("film", "film_forward", "03_film", "lassnet.film.FiLM + FiLMBatchNorm2d",
                 "β = linear(embedding), one value per channel, added after the batch norm",
                 check_film),
        Exercise("apply_masks", "rotate_and_mask", "05_masks", "lassnet.masks.apply_masks",
                 "scale the magnitude (clipped at 0); rotate the phase with the angle-sum "
                 "identities", check_apply_masks),
        Exercise("ratio_mask", "ratio_mask", "05_masks", "lassnet.masks.ideal_ratio_mask",
                 "(|S|² / (|S|² + |N|²))^½ with N = X − S and a floored denominator",
                 check_ratio_mask),
        Exercise("mix_at_snr", "mix_at_snr", "exercises", "lassnet.audio.mix_at_snr",
                 "match the interferer's energy to the target's, then a gain of −snr_db dB",
                 check_mix_at_snr),
        Exercise("train_step", "train_step", "exercises", "lassnet.train.Trainer.train_step",
                 "train mode, zero the gradients, forward, L1 loss, backward, optimiser step",
                 check_train_step),
        Exercise("si_sdr", "si_sdr_db", "exercises", "lassnet.metrics.si_sdr",
                 "α = (⟨ŝ, s⟩ + ε) / (‖s‖² + ε), then 10·log10 of the energies of α·s and "
                 "α·s − ŝ (each + ε)", check_si_sdr),
        Exercise("si_sdri", "si_sdr_improvement", "exercises", "lassnet.metrics.si_sdri",
                 "the estimate's SI-SDR minus the mixture's, against the same reference",
                 check_si_sdri),
    ]
}


def check(name: str, fn, verbose: bool = True) -> CheckResult:
    """Run the checker of exercise ``name`` (a key of :data:`EXERCISES`) on ``fn``."""
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; choose from {sorted(EXERCISES)}")
    return EXERCISES[name].checker(fn, verbose=verbose)
